// The backend's flags: defaults, every flag, and every mistake reported at once with its fix. It
// serves HTTPS with mutual TLS only: its certificate, key, client CA and allowed names are required.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, HelpRequested } from '../../../machinery/flags.js';
import { parseConfig } from '../../../classapi/options.js';

const apiServer = 'system:serviceaccount:connectors-system:connectors-apiserver';

describe('classapi/options parseConfig', function () {
  let dir: string;
  let files: { cert: string; key: string; ca: string };
  let tls: string[];

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'connectors-classapi-options-'));
    files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
    for (const file of Object.values(files)) writeFileSync(file, 'PEM'); // only readability is checked here
    tls = [
      `--tls-cert-file=${files.cert}`,
      `--tls-private-key-file=${files.key}`,
      `--client-ca-file=${files.ca}`,
      `--allowed-client-names=${apiServer}`,
    ];
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('has defaults for everything but the TLS files and allowed names', function () {
    expect(parseConfig(tls)).to.deep.equal({
      bindAddress: '0.0.0.0',
      port: 8443,
      tlsCertFile: files.cert,
      tlsKeyFile: files.key,
      clientCaFile: files.ca,
      allowedClientNames: [apiServer],
      upstream: { connectMs: 5_000, headersMs: 20_000, bodyMs: 20_000 },
      shutdownGraceMs: 10_000,
      shutdownDelayMs: 0,
      logLevel: 'info',
      limits: {
        maxInflight: { readOnly: 100, mutating: 20 },
        deadlines: { headerMs: 30_000, bodyIdleMs: 60_000 },
        listenSockets: 16,
      },
    });
  });

  it('reads every flag', function () {
    expect(
      parseConfig([
        ...tls,
        '--allowed-client-names= a , spiffe://cluster.local/ns/x/sa/y ,',
        '--port=0',
        '--bind-address=127.0.0.1',
        '--upstream-connect-timeout=500ms',
        '--upstream-response-timeout=1m',
        '--shutdown-grace-period=2s',
        '--shutdown-delay-duration=1.5s',
        '--log-level=debug',
        '--max-requests-inflight=7',
        '--max-mutating-requests-inflight=0',
        '--request-header-timeout=5s',
        '--request-body-idle-timeout=2m',
      ]),
    ).to.deep.equal({
      bindAddress: '127.0.0.1',
      port: 0,
      tlsCertFile: files.cert,
      tlsKeyFile: files.key,
      clientCaFile: files.ca,
      allowedClientNames: ['a', 'spiffe://cluster.local/ns/x/sa/y'],
      upstream: { connectMs: 500, headersMs: 60_000, bodyMs: 60_000 },
      shutdownGraceMs: 2_000,
      shutdownDelayMs: 1_500,
      logLevel: 'debug',
      limits: {
        maxInflight: { readOnly: 7, mutating: 0 },
        deadlines: { headerMs: 5_000, bodyIdleMs: 120_000 },
        listenSockets: 16,
      },
    });
  });

  it('requires the TLS files and allowed names: there is no plain-HTTP mode', function () {
    let caught: unknown;
    try {
      parseConfig([`--client-ca-file=${join(dir, 'missing.crt')}`]);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(ConfigError);
    expect((caught as ConfigError).problems.join('\n'))
      .to.match(/--tls-cert-file is required: the backend serves HTTPS only/)
      .and.match(/--tls-private-key-file is required/)
      .and.match(/--client-ca-file=.*missing\.crt cannot be read \(ENOENT\)/)
      .and.match(/--allowed-client-names is required/);
  });

  it('reports every invalid option together, each with the fix', function () {
    let caught: unknown;
    try {
      parseConfig([
        ...tls,
        '--port=70000',
        '--upstream-response-timeout=soon',
        '--log-level=verbose',
        '--secure-port=1',
        'extra',
      ]);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).to.have.length(5);
    expect(problems.join('\n'))
      .to.match(/--port=70000 must be a port number/)
      .and.match(/--upstream-response-timeout=soon is not a positive duration; write e\.g\. 500ms/)
      .and.match(/--log-level=verbose must be one of/)
      .and.match(/unknown flag --secure-port/)
      .and.match(/unexpected argument "extra"/);
    expect((caught as ConfigError).message).to.include('Usage: node dist/classapi/main.js');
  });

  it('--help asks for the usage', function () {
    expect(() => parseConfig(['--help'])).to.throw(HelpRequested, /--allowed-client-names/);
  });
});
