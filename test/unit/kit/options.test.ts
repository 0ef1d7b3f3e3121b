// A custom proxy's flags: what it must be told (the classes it serves, its HTTPS files, whom it
// takes identities from) is refused when missing, all problems at once; the rest has defaults.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { kitUsage, parseKitConfig } from '../../../kit/options.js';
import { ConfigError } from '../../../machinery/flags.js';

describe('kit/options parseKitConfig', () => {
  let dir: string;
  let files: string[];
  const usage = kitUsage('test-proxy', 'dist/test-proxy.js', 'does nothing.');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kit-options-'));
    for (const f of ['tls.crt', 'tls.key', 'ca.crt']) writeFileSync(join(dir, f), 'PEM');
    files = [
      `--tls-cert-file=${join(dir, 'tls.crt')}`,
      `--tls-private-key-file=${join(dir, 'tls.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
    ];
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes the classes and client names as lists, and defaults the rest', () => {
    const config = parseKitConfig(
      [
        ...files,
        '--connector-classes= a, b ,',
        '--allowed-client-names=apiserver',
        '--authentication-token-audiences=x',
      ],
      usage,
    );
    expect(config).to.deep.include({
      connectorClasses: ['a', 'b'],
      allowedClientNames: ['apiserver'],
      port: 8080,
      securePort: 8443,
      bindAddress: '0.0.0.0',
      tokenAudiences: ['x'],
      upstreamCaPem: undefined,
    });
  });

  it('reports every missing requirement at once, with the usage', () => {
    let err: unknown;
    try {
      parseKitConfig([], usage);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    const problems = (err as ConfigError).problems.map((p) => p.split(' ', 1)[0]);
    expect(problems).to.deep.equal([
      '--connector-classes',
      '--allowed-client-names',
      '--tls-cert-file',
      '--tls-private-key-file',
      '--client-ca-file',
    ]);
    expect((err as ConfigError).message).to.contain('Usage: node dist/test-proxy.js');
  });
});
