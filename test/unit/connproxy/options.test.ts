// A mistake in the proxy's flags must stop startup with every problem listed at once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError } from '../../../machinery/flags.js';
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

  it('has safe defaults: generate a CA, refuse other hosts, at most 256 upstream pools', () => {
    const c = parseConfig([]);
    expect(c.port).to.equal(8080);
    expect(c.bindAddress).to.equal('0.0.0.0');
    expect(c.proxyCa).to.equal(undefined);
    expect(c.otherHosts).to.equal('refuse');
    expect(c.allowHosts).to.deep.equal([]);
    expect(c.serviceClusterIpRanges).to.deep.equal([]);
    expect(c.clusterCidrs).to.deep.equal([]);
    expect(c.maxUpstreamPools).to.equal(256);
    expect(c.tokenAudiences).to.deep.equal([]);
    expect(c.upstream).to.deep.equal({ connectMs: 5_000, headersMs: 30_000, bodyMs: 300_000 });
    expect(c.shutdownDelayMs).to.equal(0);
    expect(c.limits).to.deep.equal({
      maxInflight: { readOnly: 1500, mutating: 500 },
      deadlines: { headerMs: 30_000, bodyIdleMs: 60_000 },
      listenSockets: 16,
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
      listenSockets: 16,
    });
  });

  it('reads the CA pair, the upstream CAs, audiences, the other-hosts policy and the shutdown delay', () => {
    const c = parseConfig([
      `--proxy-ca-cert-file=${join(dir, 'ca.crt')}`,
      `--proxy-ca-key-file=${join(dir, 'ca.key')}`,
      `--upstream-ca-file=${join(dir, 'ca.crt')}`,
      '--other-hosts=refuse',
      '--authentication-token-audiences=a, b',
      '--port=0',
      '--shutdown-delay-duration=5s',
    ]);
    expect(c.proxyCa?.keyPem).to.equal('key');
    expect(c.upstreamCaPem).to.contain('BEGIN CERTIFICATE');
    expect(c.otherHosts).to.equal('refuse');
    expect(c.tokenAudiences).to.deep.equal(['a', 'b']);
    expect(c.port).to.equal(0);
    expect(c.shutdownDelayMs).to.equal(5_000);
  });

  it('reads the tunnel policy: allowed hosts, the cluster ranges (dual-stack lists), the pool bound', () => {
    const c = parseConfig([
      '--other-hosts=tunnel',
      '--allow-hosts=10.1.2.3:8080, 192.168.0.0/16,[fd00::1]:443',
      '--service-cluster-ip-range=10.96.0.0/12,fd00:10:96::/112',
      '--cluster-cidr=10.244.0.0/16',
      '--max-upstream-pools=16',
    ]);
    expect(c.otherHosts).to.equal('tunnel');
    expect(c.allowHosts.map((a) => [a.cidr.family, a.cidr.bits, a.port])).to.deep.equal([
      [4, 32, 8080],
      [4, 16, undefined],
      [6, 128, 443],
    ]);
    expect(c.serviceClusterIpRanges.map((r) => `${r.family}/${r.bits}`)).to.deep.equal(['4/12', '6/112']);
    expect(c.clusterCidrs.map((r) => `${r.family}/${r.bits}`)).to.deep.equal(['4/16']);
    expect(c.maxUpstreamPools).to.equal(16);
  });

  it('names each tunnel-policy value it cannot use', () => {
    const problems = (argv: string[]): string => {
      try {
        parseConfig(argv);
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigError);
        return (err as ConfigError).problems.join('\n');
      }
      return expect.fail(`accepted ${argv.join(' ')}`);
    };
    const all = problems([
      '--other-hosts=tunnel',
      '--allow-hosts=10.0.0.0/8,host.example:80',
      '--service-cluster-ip-range=10.96.0.0/33',
      '--cluster-cidr=pods',
      '--max-upstream-pools=0',
    ]);
    expect(all).to.contain('--allow-hosts: "host.example:80" is not an IP address or CIDR');
    expect(all).to.contain('--service-cluster-ip-range: "10.96.0.0/33" is not a CIDR');
    expect(all).to.contain('--cluster-cidr: "pods" is not a CIDR');
    expect(all).to.contain('--max-upstream-pools=0 must be a whole number');
    expect(problems(['--allow-hosts=10.0.0.1'])).to.contain(
      '--allow-hosts opens destinations of tunnels only: give --other-hosts=tunnel too',
    );
    expect(problems(['--max-upstream-pools=many'])).to.contain('--max-upstream-pools=many');
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
