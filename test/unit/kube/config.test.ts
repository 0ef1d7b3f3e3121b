// Reading cluster access as kubectl does: which file or in-cluster mount applies, several
// $KUBECONFIG files merged (the first to set a name wins), the current context's server, CA, TLS
// name and client certificate, a token inline or from a file (read again as it rotates),
// username/password, impersonation, exec credential plugins (real scripts, run as kubectl runs
// them), paths relative to the kubeconfig; and broken kubeconfigs fail at startup naming the field.

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import { accessSource, loadClusterAccess } from '../../../kube/config.js';
import {
  KubeConfigError,
  TokenFile,
  type ClusterAccess,
  type Credentials,
} from '../../../kube/credentials.js';
import { parseKubeconfig } from '../../../kube/kubeconfig.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const execV1 = 'client.authentication.k8s.io/v1';

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

function read(text: string, path = '/nowhere/config'): ClusterAccess {
  return parseKubeconfig(text, path);
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
      const access = read(
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
        read(kubeconfig({}, { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') })),
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
      const access = loadClusterAccess({ kubeconfig: path });
      expect(access.source).to.equal(path);
      const c = await creds(access);
      expect([text(c.tls.ca), text(c.tls.cert), text(c.tls.key)]).to.deep.equal([
        'CA FROM FILE',
        'CERT FROM FILE',
        'KEY FROM FILE',
      ]);
      expect(c.headers).to.deep.equal({ authorization: 'Bearer token-from-file' });
    });

    it('the spelling token-file works too; an inline token wins over a file', async () => {
      writeFileSync(join(dir, 'token'), 'from-file');
      const path = join(dir, 'config');
      expect((await creds(read(kubeconfig({}, { 'token-file': 'token' }), path))).headers).to.deep.equal({
        authorization: 'Bearer from-file',
      });
      expect(
        (await creds(read(kubeconfig({}, { tokenFile: 'token', token: 'inline' }), path))).headers,
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
      const c = await creds(read(yaml));
      expect(c.tls.rejectUnauthorized).to.equal(false);
      expect(c.tls.ca).to.equal(undefined);
    });

    it('a context without a user is anonymous', async () => {
      const doc = JSON.parse(kubeconfig({})) as { contexts: { context: Record<string, unknown> }[] };
      delete doc.contexts[0]!.context['user'];
      expect((await creds(read(JSON.stringify(doc)))).headers).to.deep.equal({});
    });

    it('--context picks another context; the context says the namespace; a context not there is named', () => {
      const doc = JSON.parse(kubeconfig({})) as {
        contexts: { name: string; context: Record<string, unknown> }[];
      };
      doc.contexts[1]!.context['namespace'] = 'team-b';
      const path = join(dir, 'config');
      writeFileSync(path, JSON.stringify(doc));
      const current = loadClusterAccess({ kubeconfig: path });
      expect([current.server, current.context, current.namespace]).to.deep.equal([
        'https://kube.example:6443',
        'x',
        undefined,
      ]);
      const other = loadClusterAccess({ kubeconfig: path, context: 'y' });
      expect([other.server, other.context, other.namespace]).to.deep.equal([
        'https://other:6443',
        'y',
        'team-b',
      ]);
      expect(() => loadClusterAccess({ kubeconfig: path, context: 'z' })).to.throw(
        KubeConfigError,
        `kubeconfig ${path}: has no context "z" (its contexts: x, y)`,
      );
      expect(() =>
        loadClusterAccess({ context: 'x', env: {}, home: join(dir, 'nohome'), serviceAccountDir: dir }),
      ).to.throw(KubeConfigError, 'context "x" is given, but there is no kubeconfig');
    });

    it('an http(s) proxy-url is kept', () => {
      expect(read(kubeconfig({ 'proxy-url': 'http://proxy:3128' })).proxyUrl).to.equal('http://proxy:3128');
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
      [
        'an auth-provider (gone from kubectl since 1.26)',
        kubeconfig({}, { 'auth-provider': { name: 'oidc', config: { 'id-token': 'x' } } }),
        'user "u" uses auth-provider "oidc", which kubectl no longer supports (since 1.26): use the exec credential plugin',
      ],
      [
        'a token and username/password',
        kubeconfig({}, { token: 't', username: 'admin', password: 'pw' }),
        'has both a token and username/password',
      ],
      ['a password without a username', kubeconfig({}, { password: 'pw' }), 'has a password but no username'],
      [
        'groups to impersonate without a user',
        kubeconfig({}, { token: 't', 'as-groups': ['g'] }),
        'without as: impersonation names a user first',
      ],
      [
        'an exec plugin of a removed apiVersion',
        kubeconfig({}, { exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1alpha1' } }),
        'use one of client.authentication.k8s.io/v1, client.authentication.k8s.io/v1beta1',
      ],
      [
        'an exec plugin that needs a terminal',
        kubeconfig({}, { exec: { command: 'x', apiVersion: execV1, interactiveMode: 'Always' } }),
        'interactiveMode: Always',
      ],
      [
        'an exec plugin without a command',
        kubeconfig({}, { exec: { apiVersion: execV1 } }),
        'exec plugin without a command',
      ],
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

  describe('username/password and impersonation', () => {
    it('username/password: Basic', async () => {
      const c = await creds(read(kubeconfig({}, { username: 'admin', password: 'pw' })));
      expect(c.headers).to.deep.equal({ authorization: `Basic ${b64('admin:pw')}` });
    });

    it('as, as-uid, as-groups and as-user-extra: Impersonate-* headers, extra keys %-encoded', async () => {
      const c = await creds(
        read(
          kubeconfig(
            {},
            {
              token: 't',
              as: 'jane',
              'as-uid': '1234',
              'as-groups': ['dev', 'ops'],
              'as-user-extra': { scopes: ['view', 'edit'], 'example.org/ünit a%': ['x'] },
            },
          ),
        ),
      );
      expect(c.headers).to.deep.equal({
        authorization: 'Bearer t',
        'impersonate-user': 'jane',
        'impersonate-uid': '1234',
        'impersonate-group': ['dev', 'ops'],
        'impersonate-extra-scopes': ['view', 'edit'],
        'impersonate-extra-example.org%2F%C3%BCnit%20a%25': ['x'],
      });
    });
  });

  describe('exec credential plugins', function () {
    this.timeout(20_000);

    /** An exec plugin: a shell script in `dir` that counts its runs in `runs`. */
    function plugin(name: string, body: string): string {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\necho run >> "${join(dir, 'runs')}"\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    }
    const runs = (): number => {
      try {
        return readFileSync(join(dir, 'runs'), 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    };
    const credential = (status: Record<string, unknown>, apiVersion = execV1): string =>
      `cat <<'EOF'\n${JSON.stringify({ apiVersion, kind: 'ExecCredential', status })}\nEOF`;
    const withExec = (
      exec: Record<string, unknown>,
      cluster: Record<string, unknown> = {},
    ): ClusterAccess => {
      const path = join(dir, 'config');
      writeFileSync(path, kubeconfig(cluster, { exec: { apiVersion: execV1, ...exec } }));
      return loadClusterAccess({ kubeconfig: path });
    };
    const inAnHour = (): string => new Date(Date.now() + 3_600_000).toISOString();

    it('runs the command with its args and env; the token is kept until it expires', async () => {
      plugin(
        'token.sh',
        'printf \'{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s-%s","expirationTimestamp":"%s"}}\' ' +
          `"${execV1}" "$1" "$SUFFIX" "$EXPIRES"`,
      );
      const access = withExec({
        command: './token.sh',
        args: ['from-arg'],
        env: [
          { name: 'SUFFIX', value: 'from-env' },
          { name: 'EXPIRES', value: inAnHour() },
        ],
      });
      const first = await creds(access);
      expect(first.headers).to.deep.equal({ authorization: 'Bearer from-arg-from-env' });
      expect(await creds(access)).to.equal(first);
      expect(runs()).to.equal(1);
    });

    it('runs it again once the token has expired', async () => {
      plugin('expired.sh', credential({ token: 'short-lived', expirationTimestamp: '2000-01-01T00:00:00Z' }));
      const access = withExec({ command: join(dir, 'expired.sh') });
      await creds(access);
      await creds(access);
      expect(runs()).to.equal(2);
    });

    it('a token without expiry is kept until kube-apiserver refuses it (401), then the plugin runs again', async () => {
      plugin('forever.sh', credential({ token: 'until-refused' }));
      const access = withExec({ command: join(dir, 'forever.sh') });
      const used = await creds(access);
      await creds(access);
      expect(runs()).to.equal(1);
      expect(access.rejected?.(used)).to.equal(true);
      const fresh = await creds(access);
      expect(runs()).to.equal(2);
      expect(fresh).not.to.equal(used);
      // A late 401 for the old credentials does not throw away the fresh ones.
      access.rejected?.(used);
      expect(await creds(access)).to.equal(fresh);
      expect(runs()).to.equal(2);
    });

    it('concurrent requests share one run', async () => {
      plugin('slow.sh', `sleep 0.3\n${credential({ token: 'shared' })}`);
      const access = withExec({ command: join(dir, 'slow.sh') });
      const all = await Promise.all([creds(access), creds(access), creds(access)]);
      expect(all.map((c) => c.headers['authorization'])).to.deep.equal(Array(3).fill('Bearer shared'));
      expect(runs()).to.equal(1);
    });

    it('a client certificate and key from the plugin; the TLS object stays the same while they do', async () => {
      plugin(
        'cert.sh',
        credential({
          clientCertificateData: 'CERT PEM',
          clientKeyData: 'KEY PEM',
          expirationTimestamp: '2000-01-01T00:00:00Z',
        }),
      );
      const access = withExec({ command: join(dir, 'cert.sh') }, { 'certificate-authority-data': b64('CA') });
      const first = await creds(access);
      expect([text(first.tls.cert), text(first.tls.key), text(first.tls.ca)]).to.deep.equal([
        'CERT PEM',
        'KEY PEM',
        'CA',
      ]);
      expect(first.headers).to.deep.equal({});
      const second = await creds(access);
      expect(runs()).to.equal(2);
      expect(second.tls).to.equal(first.tls);
    });

    it('v1beta1; with provideClusterInfo, KUBERNETES_EXEC_INFO describes the cluster', async () => {
      const beta = 'client.authentication.k8s.io/v1beta1';
      plugin(
        'info.sh',
        `printf '%s' "$KUBERNETES_EXEC_INFO" > "${join(dir, 'info.json')}"\n${credential({ token: 'beta' }, beta)}`,
      );
      const access = withExec(
        { command: join(dir, 'info.sh'), apiVersion: beta, provideClusterInfo: true },
        {
          'certificate-authority-data': b64('CA'),
          'tls-server-name': 'kubernetes',
          extensions: [{ name: 'client.authentication.k8s.io/exec', extension: { audience: 'a' } }],
        },
      );
      expect((await creds(access)).headers).to.deep.equal({ authorization: 'Bearer beta' });
      expect(JSON.parse(readFileSync(join(dir, 'info.json'), 'utf8'))).to.deep.equal({
        apiVersion: beta,
        kind: 'ExecCredential',
        spec: {
          interactive: false,
          cluster: {
            server: 'https://kube.example:6443',
            'tls-server-name': 'kubernetes',
            'certificate-authority-data': b64('CA'),
            config: { audience: 'a' },
          },
        },
      });
    });

    it('for a user at a terminal (the plugin): interactive only with a terminal on stdin; Always needs one', async () => {
      plugin(
        'user.sh',
        `printf '%s' "$KUBERNETES_EXEC_INFO" > "${join(dir, 'info.json')}"\n${credential({ token: 't' })}`,
      );
      const path = join(dir, 'config');
      writeFileSync(
        path,
        kubeconfig(
          {},
          { exec: { apiVersion: execV1, command: './user.sh', interactiveMode: 'IfAvailable' } },
        ),
      );
      expect(
        (await creds(loadClusterAccess({ kubeconfig: path, userAtTerminal: true }))).headers,
      ).to.deep.equal({
        authorization: 'Bearer t',
      });
      // mocha's stdin is no terminal
      expect(JSON.parse(readFileSync(join(dir, 'info.json'), 'utf8'))).to.have.nested.property(
        'spec.interactive',
        false,
      );
      writeFileSync(
        path,
        kubeconfig({}, { exec: { apiVersion: execV1, command: './user.sh', interactiveMode: 'Always' } }),
      );
      expect(() => loadClusterAccess({ kubeconfig: path, userAtTerminal: true })).to.throw(
        KubeConfigError,
        'needs a terminal (interactiveMode: Always), and stdin is none',
      );
    });

    it('a token or client certificate in the kubeconfig wins over exec, which then never runs', async () => {
      plugin('unused.sh', credential({ token: 'from-exec' }));
      const path = join(dir, 'config');
      writeFileSync(
        path,
        kubeconfig({}, { token: 'inline', exec: { apiVersion: execV1, command: join(dir, 'unused.sh') } }),
      );
      expect((await creds(loadClusterAccess({ kubeconfig: path }))).headers).to.deep.equal({
        authorization: 'Bearer inline',
      });
      expect(runs()).to.equal(0);
    });

    const failures: [string, string, Record<string, unknown>, string][] = [
      ['fails', 'echo "the-secret-it-printed" >&2\nexit 3', {}, 'exited with code 3'],
      ['prints no JSON', 'echo hello', {}, 'printed no ExecCredential (not JSON)'],
      [
        'answers another apiVersion',
        `cat <<'EOF'\n{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}}\nEOF`,
        {},
        'printed ExecCredential of client.authentication.k8s.io/v1beta1, not the ExecCredential of client.authentication.k8s.io/v1 ',
      ],
      [
        'gives nothing',
        `cat <<'EOF'\n{"apiVersion":"${execV1}","kind":"ExecCredential","status":{}}\nEOF`,
        {},
        'gave neither a token nor a client certificate',
      ],
    ];
    for (const [what, body, exec, message] of failures) {
      it(`a plugin that ${what}: a KubeConfigError saying so, without its args or stderr`, async () => {
        plugin('bad.sh', body);
        const access = withExec({ command: join(dir, 'bad.sh'), args: ['--secret-arg'], ...exec });
        try {
          await creds(access);
          expect.fail('expected a KubeConfigError');
        } catch (err) {
          expect(err).to.be.instanceOf(KubeConfigError);
          expect((err as Error).message).to.contain(`exec plugin "${join(dir, 'bad.sh')}" ${message}`);
          expect((err as Error).message).not.to.match(/secret/);
        }
      });
    }

    it('a command that is not installed: its installHint', async () => {
      const access = withExec({
        command: 'no-such-plugin-anywhere',
        installHint: 'install it with: get-plugin',
      });
      try {
        await creds(access);
        expect.fail('expected a KubeConfigError');
      } catch (err) {
        expect((err as Error).message).to.contain(
          'exec plugin "no-such-plugin-anywhere" was not found: install it with: get-plugin',
        );
      }
    });
  });

  describe('several $KUBECONFIG files, merged as kubectl merges them', () => {
    /** A kubeconfig file of named entries; relative paths in it are relative to its directory. */
    function file(name: string, doc: Record<string, unknown>): string {
      mkdirSync(join(dir, name), { recursive: true });
      const path = join(dir, name, 'config');
      writeFileSync(path, JSON.stringify(doc));
      return path;
    }
    const load = (...paths: string[]): ClusterAccess =>
      loadClusterAccess({ env: { KUBECONFIG: paths.join(delimiter) } });

    it('the first file to set current-context, or a name, wins; each file’s paths are its own', async () => {
      writeFileSync(join(dir, 'token-a'), 'token-from-a');
      const a = file('a', {
        clusters: [{ name: 'shared', cluster: { server: 'https://first:6443' } }],
        users: [{ name: 'me', user: { tokenFile: '../token-a' } }],
      });
      mkdirSync(join(dir, 'b'));
      writeFileSync(join(dir, 'b', 'ca.crt'), 'CA OF B');
      const b = file('b', {
        'current-context': 'work',
        clusters: [
          { name: 'shared', cluster: { server: 'https://second:6443' } },
          { name: 'only-b', cluster: { server: 'https://b:6443', 'certificate-authority': 'ca.crt' } },
        ],
        users: [{ name: 'me', user: { token: 'from-b' } }],
        contexts: [
          { name: 'work', context: { cluster: 'shared', user: 'me' } },
          { name: 'other', context: { cluster: 'only-b', user: 'me' } },
        ],
      });
      const c = file('c', {
        'current-context': 'other',
        contexts: [{ name: 'work', context: { cluster: 'none' } }],
      });
      const access = load(a, b, c);
      expect(access.server).to.equal('https://first:6443');
      expect(access.source).to.equal([a, b, c].join(delimiter));
      expect((await creds(access)).headers).to.deep.equal({ authorization: 'Bearer token-from-a' });

      const switched = file('d', { 'current-context': 'other' });
      const viaB = load(switched, a, b);
      expect(viaB.server).to.equal('https://b:6443');
      expect(text((await creds(viaB)).tls.ca)).to.equal('CA OF B');
    });

    it('a file that does not exist is skipped; none at all is a KubeConfigError', () => {
      const a = file('a', JSON.parse(kubeconfig({})) as Record<string, unknown>);
      expect(load(join(dir, 'missing'), a).server).to.equal('https://kube.example:6443');
      expect(() => load(join(dir, 'missing'), join(dir, 'gone'))).to.throw(
        KubeConfigError,
        'none of the KUBECONFIG files exists',
      );
    });

    it('an error names the file the entry came from', () => {
      const a = file('a', { 'current-context': 'x', contexts: [{ name: 'x', context: { cluster: 'c' } }] });
      const b = file('b', { clusters: [{ name: 'c', cluster: { server: 'ftp://nope' } }] });
      expect(() => load(a, b)).to.throw(
        KubeConfigError,
        `kubeconfig ${b}: cluster "c" has no http(s) server`,
      );
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
      const access = loadClusterAccess({
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
        home: join(dir, 'nohome'),
        serviceAccountDir: sa(),
      });
      expect(access.server).to.equal('https://10.96.0.1:443');
      expect(access.source).to.equal('in-cluster');
      expect(access.namespace).to.equal(undefined);
      writeFileSync(join(sa(), 'namespace'), 'team-a\n');
      expect(
        loadClusterAccess({
          env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
          home: join(dir, 'nohome'),
          serviceAccountDir: sa(),
        }).namespace,
      ).to.equal('team-a');
      const c = await creds(access);
      expect(text(c.tls.ca)).to.equal('IN-CLUSTER CA');
      expect(c.headers).to.deep.equal({ authorization: 'Bearer sa-token' });
    });

    it('nothing at all: anonymous plain HTTP to localhost:8080', async () => {
      const access = loadClusterAccess({ env: {}, home: join(dir, 'nohome'), serviceAccountDir: dir });
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
