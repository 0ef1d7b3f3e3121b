// Reading cluster access as client-node's KubeConfig would: which file or in-cluster mount
// applies, the current context's server, CA, TLS name and client certificate, a token inline or
// from a file (read again as it rotates), paths relative to the kubeconfig; users the lean reading
// cannot serve go to client-node, and broken kubeconfigs fail at startup naming the field.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import {
  accessSource,
  KubeConfigError,
  loadClusterAccess,
  parseKubeconfig,
  TokenFile,
  type ClusterAccess,
  type Credentials,
} from '../../../kube/config.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A kubeconfig with one context; `cluster` and `user` are its fields as kubeconfig spells them. */
function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'other', cluster: { server: 'https://other:6443' } },
      { name: 'c', cluster: { server: 'https://kube.example:6443/', ...cluster } },
    ],
    users: [{ name: 'u', user }],
    contexts: [
      { name: 'x', context: { cluster: 'c', user: 'u' } },
      { name: 'y', context: { cluster: 'other', user: 'u' } },
    ],
    'current-context': 'x',
  });
}

function lean(text: string, path = '/nowhere/config'): ClusterAccess {
  const parsed = parseKubeconfig(text, path);
  if (parsed.kind !== 'lean') throw new Error(`expected the lean reading, got: ${parsed.reason}`);
  return { ...parsed.access, clientNodeConfig: () => Promise.reject(new Error('unused')) };
}

const text = (v: string | Buffer | undefined): string | undefined =>
  v === undefined ? undefined : Buffer.from(v).toString('utf8');

async function creds(access: ClusterAccess): Promise<Credentials> {
  return access.credentials();
}

describe('kube/config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('the current context of a kubeconfig', () => {
    it('server (no trailing slash), CA data, TLS server name and an inline token', async () => {
      const access = lean(
        kubeconfig(
          { 'certificate-authority-data': b64('CA PEM'), 'tls-server-name': 'kubernetes' },
          { token: 'inline-token' },
        ),
      );
      expect(access.server).to.equal('https://kube.example:6443');
      const c = await creds(access);
      expect(text(c.tls.ca)).to.equal('CA PEM');
      expect(c.tls.servername).to.equal('kubernetes');
      expect(c.tls.rejectUnauthorized).to.equal(true);
      expect(c.headers).to.deep.equal({ authorization: 'Bearer inline-token' });
    });

    it('client certificate and key as data', async () => {
      const c = await creds(
        lean(kubeconfig({}, { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') })),
      );
      expect([text(c.tls.cert), text(c.tls.key)]).to.deep.equal(['CERT', 'KEY']);
      expect(c.headers).to.deep.equal({});
    });

    it('files relative to the kubeconfig’s directory: CA, client certificate, key, tokenFile', async () => {
      mkdirSync(join(dir, 'pki'));
      writeFileSync(join(dir, 'pki', 'ca.crt'), 'CA FROM FILE');
      writeFileSync(join(dir, 'pki', 'client.crt'), 'CERT FROM FILE');
      writeFileSync(join(dir, 'pki', 'client.key'), 'KEY FROM FILE');
      writeFileSync(join(dir, 'token'), 'token-from-file\n');
      const path = join(dir, 'config');
      writeFileSync(
        path,
        kubeconfig(
          { 'certificate-authority': 'pki/ca.crt' },
          {
            'client-certificate': 'pki/client.crt',
            'client-key': join(dir, 'pki', 'client.key'),
            tokenFile: 'token',
          },
        ),
      );
      const access = await loadClusterAccess({ kubeconfig: path });
      expect(access.fallbackReason).to.equal(undefined);
      expect(access.source).to.equal(path);
      const c = await creds(access);
      expect([text(c.tls.ca), text(c.tls.cert), text(c.tls.key)]).to.deep.equal([
        'CA FROM FILE',
        'CERT FROM FILE',
        'KEY FROM FILE',
      ]);
      expect(c.headers).to.deep.equal({ authorization: 'Bearer token-from-file' });
    });

    it('client-node’s spelling token-file works too; an inline token wins over a file', async () => {
      writeFileSync(join(dir, 'token'), 'from-file');
      const path = join(dir, 'config');
      expect((await creds(lean(kubeconfig({}, { 'token-file': 'token' }), path))).headers).to.deep.equal({
        authorization: 'Bearer from-file',
      });
      expect(
        (await creds(lean(kubeconfig({}, { tokenFile: 'token', token: 'inline' }), path))).headers,
      ).to.deep.equal({ authorization: 'Bearer inline' });
    });

    it('insecure-skip-tls-verify turns certificate checks off; plain YAML parses too', async () => {
      const yaml = [
        'apiVersion: v1',
        'clusters:',
        '- name: c',
        '  cluster:',
        '    server: https://10.0.0.1:6443',
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: u',
        '  user: {}',
        'contexts:',
        '- name: x',
        '  context: {cluster: c, user: u}',
        'current-context: x',
      ].join('\n');
      const c = await creds(lean(yaml));
      expect(c.tls.rejectUnauthorized).to.equal(false);
      expect(c.tls.ca).to.equal(undefined);
    });

    it('a context without a user is anonymous', async () => {
      const doc = JSON.parse(kubeconfig({})) as { contexts: { context: Record<string, unknown> }[] };
      delete doc.contexts[0]!.context['user'];
      expect((await creds(lean(JSON.stringify(doc)))).headers).to.deep.equal({});
    });

    it('an http(s) proxy-url is kept', () => {
      expect(lean(kubeconfig({ 'proxy-url': 'http://proxy:3128' })).proxyUrl).to.equal('http://proxy:3128');
    });

    const broken: [string, string, string][] = [
      [
        'no current-context',
        JSON.stringify({ clusters: [], users: [], contexts: [] }),
        'current-context is not set',
      ],
      [
        'a current-context naming nothing',
        kubeconfig({}).replace('"current-context":"x"', '"current-context":"zz"'),
        'current-context "zz" names no context',
      ],
      [
        'a certificate without its key',
        kubeconfig({}, { 'client-certificate-data': b64('C') }),
        'needs both',
      ],
      [
        'a file that is missing',
        kubeconfig({ 'certificate-authority': 'missing.crt' }),
        '/nowhere/missing.crt: ENOENT',
      ],
      ['a server that is no URL', kubeconfig({ server: 'kube.example:6443' }), 'has no http(s) server'],
      ['a SOCKS proxy', kubeconfig({ 'proxy-url': 'socks5://proxy:1080' }), 'only http(s) proxy-url'],
      ['not YAML at all', 'clusters: [', 'is not valid YAML'],
    ];
    for (const [what, doc, message] of broken) {
      it(`${what}: a KubeConfigError naming the file`, () => {
        expect(() => parseKubeconfig(doc, '/nowhere/config'))
          .to.throw(KubeConfigError, message)
          .with.property('message')
          .that.contains('/nowhere/config');
      });
    }
  });

  describe('users only client-node serves', () => {
    const users: [string, Record<string, unknown>, string][] = [
      [
        'exec',
        { exec: { command: 'aws', apiVersion: 'client.authentication.k8s.io/v1' } },
        'an exec credential plugin',
      ],
      ['auth-provider', { 'auth-provider': { name: 'oidc', config: {} } }, 'an auth-provider'],
      ['username/password', { username: 'admin', password: 'pw' }, 'username/password'],
      ['impersonation', { token: 't', as: 'someone' }, 'impersonation'],
    ];
    for (const [what, user, reason] of users) {
      it(`${what} → client-node`, () => {
        const parsed = parseKubeconfig(kubeconfig({}, user), '/nowhere/config');
        expect(parsed).to.deep.equal({ kind: 'fallback', reason: `user "u" uses ${reason}` });
      });
    }

    it('client-node gives each request its credentials (Basic for username/password)', async () => {
      const path = join(dir, 'config');
      writeFileSync(
        path,
        kubeconfig({ 'certificate-authority-data': b64('CA PEM') }, { username: 'admin', password: 'pw' }),
      );
      const access = await loadClusterAccess({ kubeconfig: path });
      expect(access.fallbackReason).to.equal('user "u" uses username/password');
      expect(access.server).to.equal('https://kube.example:6443');
      const c = await creds(access);
      expect(c.headers['authorization']).to.equal(`Basic ${b64('admin:pw')}`);
      expect(text(c.tls.ca)).to.equal('CA PEM');
      // Unchanged TLS material is the same object, so the client keeps its connections.
      expect((await creds(access)).tls).to.equal(c.tls);
    });

    it('several $KUBECONFIG files are merged by client-node, the first file’s context applying', async () => {
      const first = join(dir, 'a');
      const second = join(dir, 'b');
      writeFileSync(first, kubeconfig({}, { token: 'first' }));
      const other = JSON.parse(kubeconfig({}, { token: 'second' })) as Record<string, { name: string }[]>;
      for (const list of ['clusters', 'users', 'contexts']) for (const e of other[list]!) e.name += '-b';
      writeFileSync(second, JSON.stringify(other));
      const access = await loadClusterAccess({ env: { KUBECONFIG: [first, second].join(delimiter) } });
      expect(access.fallbackReason).to.contain('several files');
      expect((await creds(access)).headers).to.deep.equal({ authorization: 'Bearer first' });
    });
  });

  describe('which configuration applies', () => {
    const sa = (): string => {
      const d = join(dir, 'sa');
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'token'), 'sa-token\n');
      writeFileSync(join(d, 'ca.crt'), 'IN-CLUSTER CA');
      return d;
    };
    const home = (): string => {
      mkdirSync(join(dir, 'home', '.kube'), { recursive: true });
      writeFileSync(join(dir, 'home', '.kube', 'config'), kubeconfig({}));
      return join(dir, 'home');
    };
    const cases: [string, () => Parameters<typeof accessSource>[0], () => ReturnType<typeof accessSource>][] =
      [
        [
          '--kubeconfig over everything',
          () => ({ kubeconfig: '/flag', env: { KUBECONFIG: '/env' }, home: home(), serviceAccountDir: sa() }),
          () => ({ kind: 'file', path: '/flag' }),
        ],
        [
          '$KUBECONFIG over ~/.kube/config',
          () => ({ env: { KUBECONFIG: '/env' }, home: home() }),
          () => ({ kind: 'file', path: '/env' }),
        ],
        [
          '$KUBECONFIG with empty entries',
          () => ({ env: { KUBECONFIG: `${delimiter}/env${delimiter}` }, home: home() }),
          () => ({ kind: 'file', path: '/env' }),
        ],
        [
          '$KUBECONFIG naming several files',
          () => ({ env: { KUBECONFIG: ['/a', '/b'].join(delimiter) } }),
          () => ({ kind: 'files', paths: ['/a', '/b'] }),
        ],
        [
          '~/.kube/config over in-cluster',
          () => ({ env: {}, home: home(), serviceAccountDir: sa() }),
          () => ({ kind: 'file', path: join(dir, 'home', '.kube', 'config') }),
        ],
        [
          'in-cluster when the ServiceAccount token is mounted',
          () => ({
            env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
            home: join(dir, 'nohome'),
            serviceAccountDir: sa(),
          }),
          () => ({ kind: 'in-cluster', server: 'https://10.96.0.1:443', dir: join(dir, 'sa') }),
        ],
        [
          'in-cluster over IPv6, and plain HTTP on the well-known port 8080',
          () => ({
            env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '8080' },
            home: join(dir, 'nohome'),
            serviceAccountDir: sa(),
          }),
          () => ({ kind: 'in-cluster', server: 'http://[fd00::1]:8080', dir: join(dir, 'sa') }),
        ],
        [
          'nothing at all',
          () => ({ env: {}, home: join(dir, 'nohome'), serviceAccountDir: join(dir, 'nosa') }),
          () => ({ kind: 'none' }),
        ],
      ];
    for (const [what, opts, want] of cases) {
      it(what, () => {
        expect(accessSource(opts())).to.deep.equal(want());
      });
    }

    it('a mounted token without KUBERNETES_SERVICE_HOST/PORT is a KubeConfigError saying what to do', () => {
      expect(() => accessSource({ env: {}, home: join(dir, 'nohome'), serviceAccountDir: sa() })).to.throw(
        KubeConfigError,
        'give --kubeconfig',
      );
    });

    it('in-cluster: the mounted CA and ServiceAccount token', async () => {
      const access = await loadClusterAccess({
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
        home: join(dir, 'nohome'),
        serviceAccountDir: sa(),
      });
      expect(access.server).to.equal('https://10.96.0.1:443');
      expect(access.source).to.equal('in-cluster');
      const c = await creds(access);
      expect(text(c.tls.ca)).to.equal('IN-CLUSTER CA');
      expect(c.headers).to.deep.equal({ authorization: 'Bearer sa-token' });
    });

    it('nothing at all: anonymous plain HTTP to localhost:8080, as client-node', async () => {
      const access = await loadClusterAccess({ env: {}, home: join(dir, 'nohome'), serviceAccountDir: dir });
      expect(access.server).to.equal('http://localhost:8080');
      expect((await creds(access)).headers).to.deep.equal({});
    });
  });

  describe('TokenFile', () => {
    it('reads the file again once its copy is a minute old, and keeps the last token while it is missing', async () => {
      const path = join(dir, 'token');
      writeFileSync(path, 'one\n');
      let now = 0;
      const file = new TokenFile(path, Buffer.from('one\n'), 60_000, () => now);
      writeFileSync(path, 'two\n');
      now = 59_999;
      expect(await file.current()).to.equal('one');
      now = 60_000;
      expect(await file.current()).to.equal('two');
      writeFileSync(path, 'three');
      now = 90_000;
      expect(await file.current()).to.equal('two');
      now = 120_000;
      expect(await file.current()).to.equal('three');
      now = 200_000;
      rmSync(path); // mid-rotation
      expect(await file.current()).to.equal('three');
    });
  });
});
