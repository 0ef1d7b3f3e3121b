// Flags are read once; a mistake must stop startup with every problem listed at once, so that an
// operator fixes the Deployment in one round instead of one crash loop per typo.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, parseDuration } from '../../../machinery/flags.js';
import { parseConfig } from '../../../apiserver/options.js';

describe('apiserver/options parseDuration', () => {
  const cases: { value: string; want: number | null }[] = [
    { value: '500ms', want: 500 },
    { value: '10s', want: 10_000 },
    { value: '1.5s', want: 1_500 },
    { value: '5m', want: 300_000 },
    { value: '2h', want: 7_200_000 },
    { value: '0s', want: 0 },
    { value: ' 10s ', want: 10_000 },
    { value: '10', want: null },
    { value: '', want: null },
    { value: 's', want: null },
    { value: '-1s', want: null },
    { value: '1d', want: null },
    { value: '10 s', want: null },
    { value: '1m30s', want: null },
    { value: '1e3ms', want: null },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.value)} → ${String(c.want)}`, () => {
      expect(parseDuration(c.value)).to.equal(c.want);
    });
  }
});

describe('apiserver/options parseConfig', () => {
  let dir: string;
  let cert: string;
  let key: string;
  let tls: string[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'connectors-options-'));
    cert = join(dir, 'tls.crt');
    key = join(dir, 'tls.key');
    writeFileSync(cert, 'CERT PEM');
    writeFileSync(key, 'KEY PEM');
    tls = [`--tls-cert-file=${cert}`, `--tls-private-key-file=${key}`];
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function problems(argv: string[]): string[] {
    try {
      parseConfig(argv);
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    return expect.fail('expected a ConfigError');
  }

  it('fills in the documented defaults and reads the TLS files', () => {
    expect(parseConfig(tls, {})).to.deep.equal({
      bindAddress: '0.0.0.0',
      securePort: 10250,
      tlsCertFile: cert,
      tlsKeyFile: key,
      classApiTls: { caFile: undefined, client: undefined },
      kubeconfig: undefined,
      upstream: { connectMs: 5_000, headersMs: 30_000, bodyMs: 300_000 },
      authenticationCacheMs: 10_000,
      authorizationCacheMs: 10_000,
      secretCacheMs: 10_000,
      tokenAudiences: [],
      shutdownGraceMs: 30_000,
      shutdownDelayMs: 0,
      logLevel: 'info',
      namespace: 'connectors-system',
      builtinProxyServices: new Set([
        'connectors-system/connectors-proxy',
        'connectors-system/connectors-proxy-service',
      ]),
      proxyUrlOverrides: new Map(),
      limits: {
        maxInflight: { readOnly: 1500, mutating: 500 },
        deadlines: { headerMs: 30_000, bodyIdleMs: 60_000 },
        listenSockets: 16,
      },
      expressions: { timeoutMs: 100, memoryBytes: 32 * 1024 * 1024 },
    });
  });

  it('takes its namespace from POD_NAMESPACE', () => {
    expect(parseConfig(tls, { POD_NAMESPACE: 'tools' }).namespace).to.equal('tools');
  });

  it('defaults the built-in proxy Services to its own namespace, and takes repeated ones instead', () => {
    expect([...parseConfig(tls, { POD_NAMESPACE: 'tools' }).builtinProxyServices]).to.deep.equal([
      'tools/connectors-proxy',
      'tools/connectors-proxy-service',
    ]);
    const config = parseConfig([
      ...tls,
      '--builtin-proxy-service=a/proxy',
      '--builtin-proxy-service',
      'b/proxy',
      '--proxy-url-override=tools/signer=https://127.0.0.1:9443/',
      '--proxy-url-override=tools/other=https://10.0.0.1',
    ]);
    expect([...config.builtinProxyServices]).to.deep.equal(['a/proxy', 'b/proxy']);
    expect([...config.proxyUrlOverrides]).to.deep.equal([
      ['tools/signer', 'https://127.0.0.1:9443'],
      ['tools/other', 'https://10.0.0.1'],
    ]);
  });

  it('refuses a custom proxy override that is not https, and a built-in Service that is not ns/name', () => {
    const found = problems([
      ...tls,
      '--proxy-url-override=tools/signer=http://127.0.0.1:9080',
      '--builtin-proxy-service=proxy',
    ]);
    expect(
      found.some((p) =>
        p.startsWith(
          '--proxy-url-override=tools/signer=http://127.0.0.1:9080 must be NAMESPACE/SERVICE=URL with an https URL',
        ),
      ),
    ).to.equal(true);
    expect(
      found.some((p) => p.startsWith('--builtin-proxy-service=proxy must be <namespace>/<name>')),
    ).to.equal(true);
  });

  it('takes every flag', () => {
    const config = parseConfig([
      ...tls,
      '--secure-port=8443',
      '--bind-address=127.0.0.1',
      '--kubeconfig=/etc/kube/config',
      '--upstream-connect-timeout=1s',
      '--upstream-response-timeout=2s',
      '--upstream-idle-timeout=3s',
      '--authentication-cache-ttl=4s',
      '--authorization-cache-ttl=5s',
      '--secret-cache-ttl=6s',
      '--authentication-token-audiences= api , connectors ,',
      '--shutdown-grace-period=7s',
      '--shutdown-delay-duration=5s',
      '--log-level=debug',
      '--max-requests-inflight=10',
      '--max-mutating-requests-inflight=5',
      '--request-header-timeout=15s',
      '--request-body-idle-timeout=90s',
      '--listen-sockets=1',
      '--expression-timeout=250ms',
      '--expression-memory-limit=64Mi',
    ]);
    expect(config).to.deep.include({
      securePort: 8443,
      bindAddress: '127.0.0.1',
      kubeconfig: '/etc/kube/config',
      upstream: { connectMs: 1_000, headersMs: 2_000, bodyMs: 3_000 },
      authenticationCacheMs: 4_000,
      authorizationCacheMs: 5_000,
      secretCacheMs: 6_000,
      tokenAudiences: ['api', 'connectors'],
      shutdownGraceMs: 7_000,
      shutdownDelayMs: 5_000,
      logLevel: 'debug',
      limits: {
        maxInflight: { readOnly: 10, mutating: 5 },
        deadlines: { headerMs: 15_000, bodyIdleMs: 90_000 },
        listenSockets: 1,
      },
      expressions: { timeoutMs: 250, memoryBytes: 64 * 1024 * 1024 },
    });
  });

  it('takes the class API backend TLS files', () => {
    expect(
      parseConfig([
        ...tls,
        `--classapi-ca-file=${cert}`,
        `--classapi-client-cert-file=${cert}`,
        `--classapi-client-key-file=${key}`,
      ]).classApiTls,
    ).to.deep.equal({ caFile: cert, client: { certFile: cert, keyFile: key } });
  });

  it('accepts --secure-port=0 (pick a free port) and a space-separated value', () => {
    expect(parseConfig([...tls, '--secure-port=0']).securePort).to.equal(0);
    expect(parseConfig([...tls, '--secure-port', '9443']).securePort).to.equal(9443);
  });

  const single: { title: string; argv: () => string[]; problem: RegExp }[] = [
    {
      title: 'a port above 65535',
      argv: () => [...tls, '--secure-port=70000'],
      problem: /--secure-port=70000/,
    },
    { title: 'a negative port', argv: () => [...tls, '--secure-port=-1'], problem: /--secure-port=-1/ },
    {
      title: 'a non-numeric port',
      argv: () => [...tls, '--secure-port=https'],
      problem: /--secure-port=https/,
    },
    {
      title: 'a fractional port',
      argv: () => [...tls, '--secure-port=80.5'],
      problem: /--secure-port=80\.5/,
    },
    {
      title: 'a duration without unit',
      argv: () => [...tls, '--upstream-connect-timeout=5'],
      problem: /--upstream-connect-timeout=5 is not a positive duration/,
    },
    {
      title: 'a zero duration',
      argv: () => [...tls, '--secret-cache-ttl=0s'],
      problem: /--secret-cache-ttl=0s is not a positive duration/,
    },
    {
      title: 'a shutdown delay without unit',
      argv: () => [...tls, '--shutdown-delay-duration=5'],
      problem: /--shutdown-delay-duration=5 is not a duration; write e\.g\. 0s, 500ms or 5s/,
    },
    {
      title: 'a negative shutdown delay',
      argv: () => [...tls, '--shutdown-delay-duration=-1s'],
      problem: /--shutdown-delay-duration=-1s is not a duration/,
    },
    {
      title: 'no listening socket',
      argv: () => [...tls, '--listen-sockets=0'],
      problem: /--listen-sockets=0 must be a whole number from 1 to 64/,
    },
    {
      title: 'more listening sockets than the bound',
      argv: () => [...tls, '--listen-sockets=65'],
      problem: /--listen-sockets=65 must be a whole number from 1 to 64/,
    },
    {
      title: 'a non-numeric count of listening sockets',
      argv: () => [...tls, '--listen-sockets=many'],
      problem: /--listen-sockets=many must be a whole number from 1 to 64/,
    },
    {
      title: 'a missing certificate flag',
      argv: () => [`--tls-private-key-file=${key}`],
      problem: /--tls-cert-file is required/,
    },
    {
      title: 'an unreadable key file',
      argv: () => [`--tls-cert-file=${cert}`, `--tls-private-key-file=${join(dir, 'missing.key')}`],
      problem: /--tls-private-key-file=.*missing\.key cannot be read \(ENOENT\)/,
    },
    {
      title: 'a class API client certificate without its key',
      argv: () => [...tls, `--classapi-client-cert-file=${cert}`],
      problem: /--classapi-client-cert-file and --classapi-client-key-file go together/,
    },
    {
      title: 'an unreadable class API CA file',
      argv: () => [...tls, `--classapi-ca-file=${join(dir, 'missing-ca.crt')}`],
      problem: /--classapi-ca-file=.*missing-ca\.crt cannot be read \(ENOENT\)/,
    },
    {
      title: 'an unknown log level',
      argv: () => [...tls, '--log-level=trace'],
      problem: /--log-level=trace/,
    },
    {
      title: 'a budget in flight that is no whole number',
      argv: () => [...tls, '--max-requests-inflight=many'],
      problem: /--max-requests-inflight=many must be a whole number of requests \(0: no limit\)/,
    },
    {
      title: 'a negative budget in flight',
      argv: () => [...tls, '--max-mutating-requests-inflight=-1'],
      problem: /--max-mutating-requests-inflight=-1 must be a whole number/,
    },
    {
      title: 'a zero header deadline',
      argv: () => [...tls, '--request-header-timeout=0s'],
      problem: /--request-header-timeout=0s is not a positive duration/,
    },
    {
      title: 'a header deadline of more than 5 minutes',
      argv: () => [...tls, '--request-header-timeout=6m'],
      problem: /--request-header-timeout=6m must be at most 5m/,
    },
    {
      title: 'an expression time limit over a minute',
      argv: () => [...tls, '--expression-timeout=2m'],
      problem: /--expression-timeout=2m must be from 1ms to 1m/,
    },
    {
      title: 'an expression memory limit that is no quantity',
      argv: () => [...tls, '--expression-memory-limit=64MB'],
      problem: /--expression-memory-limit=64MB must be a quantity from 1Mi to 512Mi/,
    },
    {
      title: 'an expression memory limit over 512Mi',
      argv: () => [...tls, '--expression-memory-limit=1Gi'],
      problem: /--expression-memory-limit=1Gi must be a quantity from 1Mi to 512Mi/,
    },
    {
      title: 'an unknown flag (a typo)',
      argv: () => [...tls, '--secure-prot=8443'],
      problem: /unknown flag --secure-prot/,
    },
  ];
  for (const c of single) {
    it(`reports ${c.title}`, () => {
      const found = problems(c.argv());
      expect(found).to.have.length(1);
      expect(found[0]).to.match(c.problem);
    });
  }

  it('reports every invalid option at once, in one ConfigError with the usage', () => {
    let caught: unknown;
    try {
      parseConfig([
        '--secure-port=99999',
        '--upstream-response-timeout=forever',
        '--authorization-cache-ttl=-5s',
        `--tls-cert-file=${join(dir, 'nope.crt')}`,
        '--log-level=loud',
        '--frobnicate=1',
      ]);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(ConfigError);
    const err = caught as ConfigError;
    const expected = [
      /unknown flag --frobnicate/,
      /--secure-port=99999/,
      /--upstream-response-timeout=forever/,
      /--authorization-cache-ttl=-5s/,
      /--tls-cert-file=.*nope\.crt cannot be read/,
      /--tls-private-key-file is required/,
      /--log-level=loud/,
    ];
    expect(err.problems).to.have.length(expected.length);
    for (const re of expected) {
      expect(
        err.problems.some((p) => re.test(p)),
        `a problem matching ${String(re)}`,
      ).to.be.true;
      expect(err.message).to.match(re);
    }
    expect(err.message).to.include('Usage:');
  });

  // Pending until options.ts rejects them (reported as a source bug): an empty or non-decimal port
  // is silently turned into a number, so `--secure-port=$PORT` with PORT unset listens on a random
  // port instead of failing.
  for (const port of ['', ' ', '0x50']) {
    it(`refuses --secure-port=${JSON.stringify(port)}`, () => {
      const found = problems([...tls, `--secure-port=${port}`]);
      expect(found).to.have.length(1);
      expect(found[0]).to.match(/--secure-port/);
    });
  }
});
