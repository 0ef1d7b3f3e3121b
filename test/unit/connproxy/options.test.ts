// A mistake in the proxy's flags must stop startup with every problem listed at once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError } from '../../../apiserver/machinery/flags.js';
import { parseConfig } from '../../../connproxy/options.js';

describe('connproxy/options parseConfig', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'connproxy-options-'));
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'ca.key'), 'key');
    writeFileSync(join(dir, 'not-pem'), 'hello');
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('has working defaults: generate a CA, tunnel other hosts', () => {
    const c = parseConfig([]);
    expect(c.port).to.equal(8080);
    expect(c.bindAddress).to.equal('0.0.0.0');
    expect(c.proxyCa).to.equal(undefined);
    expect(c.otherHosts).to.equal('tunnel');
    expect(c.tokenAudiences).to.deep.equal([]);
    expect(c.upstream).to.deep.equal({ connectMs: 5_000, headersMs: 30_000, bodyMs: 300_000 });
    expect(c.limits).to.deep.equal({
      maxInflight: { readOnly: 1500, mutating: 500 },
      deadlines: { headerMs: 30_000, bodyIdleMs: 60_000 },
    });
  });

  it('reads the budgets in flight and the client deadlines', () => {
    const c = parseConfig([
      '--max-requests-inflight=0',
      '--max-mutating-requests-inflight=3',
      '--request-header-timeout=10s',
      '--request-body-idle-timeout=1m',
    ]);
    expect(c.limits).to.deep.equal({
      maxInflight: { readOnly: 0, mutating: 3 },
      deadlines: { headerMs: 10_000, bodyIdleMs: 60_000 },
    });
  });

  it('reads the CA pair, the upstream CAs, audiences and the other-hosts policy', () => {
    const c = parseConfig([
      `--proxy-ca-cert-file=${join(dir, 'ca.crt')}`,
      `--proxy-ca-key-file=${join(dir, 'ca.key')}`,
      `--upstream-ca-file=${join(dir, 'ca.crt')}`,
      '--other-hosts=refuse',
      '--authentication-token-audiences=a, b',
      '--port=0',
    ]);
    expect(c.proxyCa?.keyPem).to.equal('key');
    expect(c.upstreamCaPem).to.contain('BEGIN CERTIFICATE');
    expect(c.otherHosts).to.equal('refuse');
    expect(c.tokenAudiences).to.deep.equal(['a', 'b']);
    expect(c.port).to.equal(0);
  });

  it('reports every problem at once', () => {
    try {
      parseConfig([
        `--proxy-ca-cert-file=${join(dir, 'ca.crt')}`,
        `--upstream-ca-file=${join(dir, 'not-pem')}`,
        '--other-hosts=allow',
        '--port=http',
        '--upstream-connect-timeout=5',
        '--bogus=1',
      ]);
      expect.fail('expected a ConfigError');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).to.contain('--proxy-ca-cert-file and --proxy-ca-key-file go together');
      expect(problems).to.contain('holds no PEM certificate');
      expect(problems).to.contain('--other-hosts=allow must be tunnel or refuse');
      expect(problems).to.contain('--port=http');
      expect(problems).to.contain('--upstream-connect-timeout=5');
      expect(problems).to.contain('unknown flag --bogus');
    }
  });

  it('names a file it cannot read', () => {
    expect(() => parseConfig([`--upstream-ca-file=${join(dir, 'missing')}`])).to.throw(
      /cannot be read \(ENOENT\)/,
    );
  });
});
