// The Connectors Proxy (dist/connproxy/main.js) from its real entry point, under its own
// ServiceAccount, against the real kube-apiserver (TokenReview, SubjectAccessReview, informers)
// and real tools: `git clone` through reverse and forward (intercepted HTTPS) mode with only a
// ServiceAccount token, `skopeo inspect` of a token-auth registry, and the recording tool showing
// which credential arrived where.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { expect } from 'chai';
import { ManagedProcess } from '../../hack/process.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import { findBinary, startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import {
  apply,
  basicAuthSecret,
  clusterConnector,
  connector,
  connectorClass,
  env,
  eventually,
  kubectl,
  kubectlOk,
  knownSecrets,
  loggedSince,
  namespace,
  registerSecret,
  secretValue,
} from '../helpers/env.js';
import { allowSecret, recordOutput, recordResponse, registerRecorder } from '../helpers/leaks.js';
import { proxyRbac, proxyUser, send, startProxy } from '../helpers/connproxy.js';

interface Echo {
  url: string;
  headers: Record<string, string | undefined>;
}

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A real token with its end replaced: invalid, and as secret as the real one. */
const forge = (token: string): string =>
  registerSecret('a forged ServiceAccount token', `${token.slice(0, -8)}AAAAAAAA`);

/** Writes raw bytes to the proxy and reads until it closes (or `until` matches): for CONNECT. */
function raw(port: number, lines: string[], after?: (text: string) => string | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let text = '';
    let sentAfter = false;
    socket.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      if (after && !sentAfter && text.includes('\r\n\r\n')) {
        const next = after(text);
        if (next !== null) {
          sentAfter = true;
          socket.write(next);
        }
      }
    });
    socket.once('close', () => {
      recordResponse(`connectors-proxy :${port} ${lines[0] ?? ''}`, {}, text);
      resolve(text);
    });
    socket.once('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer; got so far: ${text}`)));
    socket.write(lines.join('\r\n') + '\r\n\r\n');
  });
}

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

describe('Connectors Proxy (dist/connproxy/main.js)', function () {
  this.timeout(60_000);
  let ns: string;
  let git: GitServer;
  let tlsGit: GitServer;
  let registry: Registry;
  let other: EchoTool; // a host that is no Connector's address
  let digest: string;
  let regPassword: string;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let strict: Awaited<ReturnType<typeof startProxy>> | undefined;
  let userToken: string; // RBAC: get on connectors and connectors/proxy
  let halfToken: string; // RBAC: get on connectors only
  let nobodyToken: string; // no RBAC at all
  let proxyKubeconfig: string;
  const repo = 'org/app.git';
  const tokens: string[] = [];

  before(async function () {
    this.timeout(120_000);
    const gitPassword = secretValue('connproxy-git-password');
    regPassword = secretValue('connproxy-registry-password');
    const logDir = env().sys.logDir;
    [git, tlsGit, registry, other] = await Promise.all([
      startGitServer({ username: 'git-user', password: gitPassword, logDir }),
      startGitServer({ username: 'tls-git-user', password: gitPassword, tls: true, logDir }),
      startRegistry({ auth: 'token', username: 'reg-user', password: regPassword, logDir }),
      startEchoTool(),
    ]);
    registerRecorder('connproxy: a host that is no Connector’s', other);
    await git.createRepo(repo, { branches: ['main', 'dev'], tags: ['v1'] });
    await tlsGit.createRepo(repo, { branches: ['main'], tags: [] });
    digest = await registry.push('team/app', '1.0');

    ns = await namespace('connproxy');
    const { tool, toolUser, toolPassword } = env();
    const group = 'connectors.alauda.io';
    await apply([
      connectorClass('http-test'),
      {
        ...(connectorClass('http-test-token-header') as { metadata: object }),
        metadata: {
          name: 'http-test-token-header',
          annotations: { 'connectors.alauda.io/proxy-token-header': 'Private-Token' },
        },
      },
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: 'connproxy-registry' },
        spec: {
          address: { name: 'address', type: 'string' },
          auth: {
            types: [{ name: 'tokenAuth', secretType: 'cpaas.io/distribution-registry-token' }],
          },
        },
      },
      basicAuthSecret(ns, 'git-creds', 'git-user', gitPassword),
      basicAuthSecret(ns, 'tls-git-creds', 'tls-git-user', gitPassword),
      basicAuthSecret(ns, 'tool-creds', toolUser, toolPassword),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'registry-creds', namespace: ns },
        type: 'cpaas.io/distribution-registry-token',
        stringData: { username: 'reg-user', password: regPassword },
      },
      connector(ns, 'git', { address: git.url, secret: 'git-creds' }),
      connector(ns, 'tls-git', { address: tlsGit.url, secret: 'tls-git-creds' }),
      connector(ns, 'echo', { address: tool.url, secret: 'tool-creds' }),
      connector(ns, 'echo-api', { address: `${tool.url}/api`, secret: 'tool-creds' }),
      connector(ns, 'echo-header', {
        connectorClassName: 'http-test-token-header',
        address: tool.url,
        secret: 'tool-creds',
      }),
      connector(ns, 'registry', {
        connectorClassName: 'connproxy-registry',
        address: registry.url,
        secret: 'registry-creds',
        authName: 'tokenAuth',
      }),
      // Users: get on the Connectors and read/write through connectors/proxy (each method is
      // authorized as its own verb: git's fetch is a POST, skopeo's push POST, PATCH and PUT); or
      // get on the Connectors only.
      ...proxyUser(ns, 'user', ['get', 'create', 'update', 'patch']),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'connector-reader', namespace: ns },
        rules: [{ apiGroups: [group], resources: ['connectors'], verbs: ['get'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'connector-reader', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'connector-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'half', namespace: ns }],
      },
      // The proxy's own RBAC.
      ...proxyRbac('connectors-proxy-test', ns, 'connectors-proxy-test'),
    ]);
    const cp = env().sys.cp;
    const proxyToken = await cp.createToken(ns, 'connectors-proxy-test', { expirationSeconds: 86_400 });
    userToken = await cp.createToken(ns, 'user');
    halfToken = await cp.createToken(ns, 'half');
    nobodyToken = await cp.createToken(ns, 'nobody');
    tokens.push(proxyToken, userToken, halfToken, nobodyToken);
    proxyKubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-proxy-test.kubeconfig'), {
      token: proxyToken,
    });
    const upstreamCa = join(cp.dir, 'connproxy-upstream-ca.crt');
    writeFileSync(upstreamCa, tlsGit.caCertPem ?? '');
    // Tunnelling is off by default; on here, for the two loopback tools these tests tunnel to
    // (loopback is refused unless listed).
    proxy = await startProxy('connectors-proxy', proxyKubeconfig, [
      '--other-hosts=tunnel',
      `--allow-hosts=127.0.0.1:${other.port},127.0.0.1:${tool.port}`,
      `--upstream-ca-file=${upstreamCa}`,
      '--shutdown-grace-period=2s',
      `--publish-ca-configmap=${ns}/connectors-proxy-ca`,
    ]);
    // RBAC and the proxy's informers settle within a moment of the objects being created.
    await eventually('the proxy to serve the echo Connector', async () => {
      const r = await send(proxy.port, `/namespaces/${ns}/connectors/echo/ready`, {
        authorization: `Bearer ${userToken}`,
      });
      return r.status === 200;
    });
  });

  after(async function () {
    this.timeout(60_000);
    await Promise.all([
      proxy.proc.stop(),
      strict?.proc.stop(),
      git.stop(),
      tlsGit.stop(),
      registry.stop(),
      other.close(),
    ]);
  });

  it('publishes its CA certificate (never the key) in the ConfigMap clients read', async function () {
    const cm = JSON.parse(
      await kubectlOk(['get', 'configmap', 'connectors-proxy-ca', '-n', ns, '-o', 'json']),
    ) as {
      data: Record<string, string>;
    };
    expect(Object.keys(cm.data)).to.deep.equal(['ca.crt']);
    expect(cm.data['ca.crt']).to.equal(readFileSync(proxy.caFile, 'utf8'));
    expect(cm.data['ca.crt']).not.to.contain('PRIVATE KEY');
  });

  it('serves /healthz and /readyz without credentials', async function () {
    expect((await send(proxy.port, '/healthz')).body).to.equal('ok\n');
    expect((await send(proxy.port, '/readyz')).status).to.equal(200);
  });

  describe('reverse mode', function () {
    it('git clone by path with only a ServiceAccount token as the Basic password', async function () {
      const dir = join(mkdtempSync(join(env().sys.cp.dir, 'clone-')), 'app');
      const url = `http://x:${userToken}@127.0.0.1:${proxy.port}/namespaces/${ns}/connectors/git/${repo}`;
      const r = await ManagedProcess.run(findBinary('git', 'git'), ['clone', '-q', url, dir], {
        env: git.gitEnv,
      });
      recordOutput('git clone through connectors-proxy (reverse)', r);
      expect(r.code, r.stderr).to.equal(0);
      expect(readFileSync(join(dir, '.git', 'HEAD'), 'utf8')).to.contain('refs/heads/main');
      // nginx authenticated the Connector's Git user: the credential came from the Secret.
      expect(readFileSync(git.accessLog, 'utf8')).to.match(/ git-user \[.*git-upload-pack/);
    });

    it('no token is a 401 Status with a Basic challenge', async function () {
      const r = await send(proxy.port, `/namespaces/${ns}/connectors/git/${repo}/info/refs`);
      expect(r.status).to.equal(401);
      expect(r.headers['www-authenticate']).to.equal('Basic realm="connectors-proxy"');
      expect(JSON.parse(r.body)).to.include({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    });

    it('an invalid token is a 401', async function () {
      const forged = forge(userToken);
      const r = await send(proxy.port, `/namespaces/${ns}/connectors/echo/x`, {
        authorization: `Bearer ${forged}`,
      });
      expect(r.status).to.equal(401);
      expect(r.body).to.contain('invalid or expired');
    });

    it('a token without RBAC is a 403 Status; get on the Connector alone is not enough', async function () {
      const none = await send(proxy.port, `/namespaces/${ns}/connectors/echo/x`, {
        authorization: `Bearer ${nobodyToken}`,
      });
      expect(none.status).to.equal(403);
      expect(JSON.parse(none.body)).to.include({ kind: 'Status', reason: 'Forbidden' });
      const half = await send(proxy.port, `/namespaces/${ns}/connectors/echo/x`, {
        authorization: basic('x', halfToken),
      });
      expect(half.status).to.equal(403);
      expect(half.body).to.contain('connectors/proxy');
    });

    it('an unknown Connector is a 404 (after RBAC)', async function () {
      const r = await send(proxy.port, `/namespaces/${ns}/connectors/ghost/x`, {
        authorization: `Bearer ${userToken}`,
      });
      expect(r.status).to.equal(404);
      expect(r.body).to.contain('connectors.connectors.alauda.io \\"ghost\\" not found');
    });

    it('by Host c-<name>.<ns>: the tool gets the Secret’s credential, never the caller’s token or cookie', async function () {
      const { toolUser, toolPassword } = env();
      const r = await send(proxy.port, '/api/v4/projects?page=2', {
        host: `c-echo.${ns}.svc.cluster.local:${proxy.port}`,
        authorization: `Bearer ${userToken}`,
        cookie: 'session=caller',
      });
      expect(r.status, r.body).to.equal(200);
      const echo = JSON.parse(r.body) as Echo;
      expect(echo.url).to.equal('/api/v4/projects?page=2');
      expect(echo.headers.authorization).to.equal(basic(toolUser, toolPassword));
      expect(echo.headers.cookie).to.equal(undefined);
      expect(JSON.stringify(echo.headers)).not.to.contain(userToken);
    });

    it('Secret rotation takes effect for the next requests within seconds, without a restart', async function () {
      this.timeout(60_000);
      const { tool, toolUser, toolPassword } = env();
      const rotated = secretValue('rotated-password');
      allowSecret(tool, rotated);
      const at = (): Promise<{ status: number; body: string }> =>
        send(proxy.port, `/namespaces/${ns}/connectors/echo/rotation`, {
          authorization: `Bearer ${userToken}`,
        });
      try {
        // The tool changes its password and the Secret follows; the proxy reads the Secret again
        // once its short cache (--secret-cache-ttl, 10 s by default) has passed.
        tool.setCredentials({ username: toolUser, password: rotated });
        await apply([basicAuthSecret(ns, 'tool-creds', toolUser, rotated)]);
        const started = Date.now();
        await eventually(
          'the rotated credential to be used',
          async () => (await at()).status === 200,
          30_000,
        );
        this.test!.title += ` (${((Date.now() - started) / 1000).toFixed(1)} s)`;
        const echo = JSON.parse((await at()).body) as Echo;
        expect(echo.headers.authorization).to.equal(basic(toolUser, rotated));
      } finally {
        tool.setCredentials({ username: toolUser, password: toolPassword });
        await apply([basicAuthSecret(ns, 'tool-creds', toolUser, toolPassword)]);
        // Later tests use the original credential: wait until the proxy has it again.
        await eventually(
          'the original credential to be back',
          async () => (await at()).status === 200,
          30_000,
        );
      }
    });

    it('the token header a ConnectorClass declares (Private-Token) is read, and not forwarded', async function () {
      const { toolUser, toolPassword } = env();
      const r = await send(proxy.port, `/namespaces/${ns}/connectors/echo-header/api/v4/user`, {
        'private-token': userToken,
      });
      expect(r.status, r.body).to.equal(200);
      const echo = JSON.parse(r.body) as Echo;
      expect(echo.headers.authorization).to.equal(basic(toolUser, toolPassword));
      expect(echo.headers['private-token']).to.equal(undefined);
      // A class that declares no header: the same header is no token.
      const plain = await send(proxy.port, `/namespaces/${ns}/connectors/echo/api/v4/user`, {
        'private-token': userToken,
      });
      expect(plain.status).to.equal(401);
    });

    it('refuses a path that climbs out of the address prefix', async function () {
      const r = await send(proxy.port, `/namespaces/${ns}/connectors/echo-api/%2e%2e/secret`, {
        authorization: `Bearer ${userToken}`,
      });
      expect(r.status).to.equal(400);
    });

    it('GET /v2/ is answered by the proxy: a Basic challenge without a token, 200 with one', async function () {
      const anonymous = await send(proxy.port, '/v2/');
      expect(anonymous.status).to.equal(401);
      expect(anonymous.headers['www-authenticate']).to.equal('Basic realm="connectors-proxy"');
      const r = await send(proxy.port, '/v2/', { authorization: basic('x', userToken) });
      expect(r.status).to.equal(200);
      expect(r.body).to.equal('{}');
    });

    it('skopeo inspect through /v2/namespaces/<ns>/connectors/<c>/… of a token-auth registry', async function () {
      const home = mkdtempSync(join(env().sys.cp.dir, 'skopeo-'));
      const r = await ManagedProcess.run(
        findBinary('skopeo', 'skopeo'),
        [
          'inspect',
          '--tls-verify=false',
          '--creds',
          `x:${userToken}`,
          `docker://127.0.0.1:${proxy.port}/namespaces/${ns}/connectors/registry/team/app:1.0`,
        ],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home }, timeoutMs: 60_000 },
      );
      recordOutput('skopeo inspect through connectors-proxy', r);
      expect(r.code, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout) as { Digest: string; RepoTags: string[] };
      expect(out.Digest).to.equal(digest);
      expect(out.RepoTags).to.deep.equal(['1.0']);
    });

    it('skopeo copy pushes through the proxy: upload Locations are mapped back into its path', async function () {
      const home = mkdtempSync(join(env().sys.cp.dir, 'skopeo-'));
      const r = await ManagedProcess.run(
        findBinary('skopeo', 'skopeo'),
        [
          'copy',
          '--src-tls-verify=false',
          '--src-creds',
          `reg-user:${regPassword}`,
          `docker://${registry.host}/team/app:1.0`,
          '--dest-tls-verify=false',
          '--dest-creds',
          `x:${userToken}`,
          `docker://127.0.0.1:${proxy.port}/namespaces/${ns}/connectors/registry/team/copied:2.0`,
        ],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home }, timeoutMs: 60_000 },
      );
      recordOutput('skopeo copy through connectors-proxy', r);
      expect(r.code, r.stderr).to.equal(0);
      expect(await registry.tagsList('team/copied')).to.deep.equal(['2.0']);
    });
  });

  describe('forward mode', function () {
    const proxyAuth = (connectors: string, token: string): string => basic(connectors, token);

    it('without Proxy-Authorization: 407 with a proxy challenge, for plain HTTP and CONNECT', async function () {
      const r = await send(proxy.port, `${env().tool.url}/x`);
      expect(r.status).to.equal(407);
      expect(r.headers['proxy-authenticate']).to.equal('Basic realm="connectors-proxy"');
      expect(JSON.parse(r.body)).to.include({ kind: 'Status', code: 407 });
      const text = await raw(proxy.port, [
        `CONNECT 127.0.0.1:${tlsGit.port} HTTP/1.1`,
        `Host: 127.0.0.1:${tlsGit.port}`,
      ]);
      expect(statusOf(text)).to.equal(407);
      expect(text).to.contain('proxy-authenticate: Basic realm="connectors-proxy"');
    });

    it('an invalid token is a 407; a token without RBAC a 403', async function () {
      const forged = forge(userToken);
      const bad = await send(proxy.port, `${env().tool.url}/x`, {
        'proxy-authorization': proxyAuth(`${ns}/echo`, forged),
      });
      expect(bad.status).to.equal(407);
      const none = await send(proxy.port, `${env().tool.url}/x`, {
        'proxy-authorization': proxyAuth(`${ns}/echo`, nobodyToken),
      });
      expect(none.status).to.equal(403);
      const text = await raw(proxy.port, [
        `CONNECT 127.0.0.1:${tlsGit.port} HTTP/1.1`,
        `Proxy-Authorization: ${proxyAuth(`${ns}/tls-git`, nobodyToken)}`,
      ]);
      expect(statusOf(text)).to.equal(403);
    });

    it('plain HTTP to the Connector’s address gets its credential, not the proxy credentials', async function () {
      const { tool, toolUser, toolPassword } = env();
      const r = await send(proxy.port, `${tool.url}/forward/me?x=1`, {
        host: `127.0.0.1:${tool.port}`,
        'proxy-authorization': proxyAuth(`${ns}%2Fecho`, userToken),
      });
      expect(r.status, r.body).to.equal(200);
      const echo = JSON.parse(r.body) as Echo;
      expect(echo.url).to.equal('/forward/me?x=1');
      expect(echo.headers.authorization).to.equal(basic(toolUser, toolPassword));
      expect(echo.headers['proxy-authorization']).to.equal(undefined);
    });

    it('credentials only under the address’s path prefix: elsewhere on the same origin, none', async function () {
      const { tool, toolUser, toolPassword } = env();
      const auth = { 'proxy-authorization': proxyAuth(`${ns}/echo-api`, userToken) };
      const inside = await send(proxy.port, `${tool.url}/api/v4/projects`, auth);
      expect(inside.status, inside.body).to.equal(200);
      expect((JSON.parse(inside.body) as Echo).headers.authorization).to.equal(basic(toolUser, toolPassword));
      const before = tool.requests.length;
      const outside = await send(proxy.port, `${tool.url}/other`, auth);
      expect(outside.status).to.equal(401); // the tool's own answer to a request without credentials
      const seen = tool.requests.slice(before);
      expect(seen).to.have.length(1);
      expect(seen[0]?.headers.authorization).to.equal(undefined);
    });

    it('another host gets no credential (plain HTTP and a CONNECT tunnel)', async function () {
      const auth = proxyAuth(`${ns}/echo`, userToken);
      const r = await send(proxy.port, `${other.url}/elsewhere`, { 'proxy-authorization': auth });
      expect(r.status, r.body).to.equal(200);
      const echo = JSON.parse(r.body) as Echo;
      expect(echo.url).to.equal('/elsewhere');
      expect(echo.headers.authorization).to.equal(undefined);
      expect(echo.headers['proxy-authorization']).to.equal(undefined);
      // The caller's own credential for that host is its business and passes unchanged.
      const callersOwn = secretValue('callers-own-credential');
      allowSecret(other, callersOwn, '/own');
      const own = await send(proxy.port, `${other.url}/own`, {
        'proxy-authorization': auth,
        authorization: `Bearer ${callersOwn}`,
      });
      expect((JSON.parse(own.body) as Echo).headers.authorization).to.equal(`Bearer ${callersOwn}`);

      const before = other.requests.length;
      const text = await raw(
        proxy.port,
        [`CONNECT 127.0.0.1:${other.port} HTTP/1.1`, `Proxy-Authorization: ${auth}`],
        (sofar) =>
          statusOf(sofar) === 200
            ? `GET /tunnelled HTTP/1.1\r\nHost: 127.0.0.1:${other.port}\r\nConnection: close\r\n\r\n`
            : null,
      );
      expect(statusOf(text)).to.equal(200);
      expect(text).to.contain('"url":"/tunnelled"');
      const seen = other.requests.slice(before);
      expect(seen).to.have.length(1);
      expect(seen[0]?.headers.authorization).to.equal(undefined);
    });

    it('git clone over HTTPS with https_proxy: intercepted with the proxy CA, credential injected', async function () {
      const dir = join(mkdtempSync(join(env().sys.cp.dir, 'clone-')), 'app');
      const r = await ManagedProcess.run(
        findBinary('git', 'git'),
        ['clone', '-q', `${tlsGit.url}/${repo}`, dir],
        {
          env: {
            ...tlsGit.gitEnv,
            GIT_SSL_CAINFO: proxy.caFile,
            https_proxy: `http://${ns}%2Ftls-git:${userToken}@127.0.0.1:${proxy.port}`,
            no_proxy: '',
            NO_PROXY: '',
          },
        },
      );
      recordOutput('git clone through connectors-proxy (forward, intercepted)', r);
      expect(r.code, r.stderr).to.equal(0);
      expect(readFileSync(join(dir, '.git', 'HEAD'), 'utf8')).to.contain('refs/heads/main');
      expect(readFileSync(tlsGit.accessLog, 'utf8')).to.match(/ tls-git-user \[.*git-upload-pack/);
    });

    it('the intercepted certificate is the proxy CA’s, not the tool’s', async function () {
      const r = await ManagedProcess.run(findBinary('git', 'git'), ['ls-remote', `${tlsGit.url}/${repo}`], {
        env: {
          ...tlsGit.gitEnv, // trusts the Git server's own CA only
          https_proxy: `http://${ns}%2Ftls-git:${userToken}@127.0.0.1:${proxy.port}`,
          no_proxy: '',
        },
      });
      recordOutput('git ls-remote through connectors-proxy (untrusted CA)', r);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/certificate|SSL/i);
    });
  });

  describe('a Kubernetes cluster as a tool (k8s class)', function () {
    it('kubectl with a kubeconfig pointing at the proxy reaches the cluster with the Connector’s bearer token', async function () {
      // The "other cluster" is the test kube-apiserver itself. The Connector holds a token of a
      // ServiceAccount that may list namespaces, and trusts the cluster's CA through
      // caCertSecretRef; kubectl holds only the proxy CA, a caller token and a dummy user token.
      const cp = env().sys.cp;
      const clusterToken = await cp.createToken(ns, 'cluster-reader');
      tokens.push(clusterToken);
      await apply([
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'connproxy-namespace-reader' },
          rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: `connproxy-namespace-reader-${ns}` },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: 'connproxy-namespace-reader',
          },
          subjects: [{ kind: 'ServiceAccount', name: 'cluster-reader', namespace: ns }],
        },
        ...clusterConnector(ns, 'http-test', clusterToken),
      ]);
      const proxyCa = readFileSync(proxy.caFile, 'utf8');
      const kubeconfig = join(cp.dir, 'via-connectors-proxy.kubeconfig');
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'other',
              cluster: {
                server: cp.server,
                'proxy-url': `http://${ns}%2Fcluster:${userToken}@127.0.0.1:${proxy.port}`,
                'certificate-authority-data': Buffer.from(proxyCa).toString('base64'),
              },
            },
          ],
          users: [{ name: 'nobody', user: { token: secretValue('dummy-user-token') } }],
          contexts: [{ name: 'other', context: { cluster: 'other', user: 'nobody' } }],
          'current-context': 'other',
        }),
      );
      let out = { code: -1, stdout: '', stderr: '' };
      await eventually('kubectl through the proxy', async () => {
        out = await kubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig });
        return out.code === 0;
      });
      expect(out.stdout).to.contain(`namespace/${ns}`);
    });
  });

  describe('--other-hosts=refuse (the default) and --authentication-token-audiences', function () {
    let audienceToken: string;

    before(async function () {
      strict = await startProxy('connectors-proxy-strict', proxyKubeconfig, [
        '--authentication-token-audiences=connectors-proxy',
      ]);
      audienceToken = await env().sys.cp.createToken(ns, 'user', { audiences: ['connectors-proxy'] });
      tokens.push(audienceToken);
    });

    it('accepts only tokens for its audience', async function () {
      const port = strict?.port ?? 0;
      const path = `/namespaces/${ns}/connectors/echo/aud`;
      expect((await send(port, path, { authorization: `Bearer ${userToken}` })).status).to.equal(401);
      expect((await send(port, path, { authorization: `Bearer ${audienceToken}` })).status).to.equal(200);
    });

    it('refuses other hosts with 403, plain HTTP and CONNECT, and still serves the Connector', async function () {
      const port = strict?.port ?? 0;
      const auth = basic(`${ns}/echo`, audienceToken);
      const before = other.requests.length;
      const r = await send(port, `${other.url}/refused`, { 'proxy-authorization': auth });
      expect(r.status).to.equal(403);
      expect(r.body).to.contain('refuses other hosts');
      const text = await raw(port, [
        `CONNECT 127.0.0.1:${other.port} HTTP/1.1`,
        `Proxy-Authorization: ${auth}`,
      ]);
      expect(statusOf(text)).to.equal(403);
      expect(other.requests.length).to.equal(before);
      const ok = await send(port, `${env().tool.url}/allowed`, { 'proxy-authorization': auth });
      expect(ok.status).to.equal(200);
    });
  });

  describe('shutdown', function () {
    // Through the delay the proxy serves as before, so that a workload whose Service routing still
    // points here loses nothing: a tunnel keeps carrying bytes (a 200 to CONNECT made it the
    // client's stream; nothing can be added to it), a new CONNECT is accepted, and every HTTP
    // response, plain or intercepted, closes its connection so that the client's next one goes
    // through the updated endpoints; an intercepted connection closing ends its CONNECT tunnel.
    it('with --shutdown-delay-duration, SIGTERM keeps tunnels and new CONNECTs working through the delay', async function () {
      const upstreamCa = join(env().sys.cp.dir, 'connproxy-upstream-ca.crt');
      const since = Date.now();
      const delayed = await startProxy('connectors-proxy-delay', proxyKubeconfig, [
        '--other-hosts=tunnel',
        `--allow-hosts=127.0.0.1:${other.port}`,
        `--upstream-ca-file=${upstreamCa}`,
        '--shutdown-delay-duration=5s',
      ]);
      const userAuth = { authorization: `Bearer ${userToken}` };
      await eventually('the delayed proxy to serve the echo Connector', async () => {
        return (await send(delayed.port, `/namespaces/${ns}/connectors/echo/ready`, userAuth)).status === 200;
      });
      const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
      /** A reverse-mode GET on the keep-alive connection of `agent`. */
      const viaAgent = (path: string): Promise<{ status: number; connection: string | undefined }> =>
        new Promise((resolve, reject) => {
          httpRequest({ host: '127.0.0.1', port: delayed.port, path, headers: userAuth, agent }, (res) => {
            res.resume();
            res.once('end', () => {
              resolve({ status: res.statusCode ?? 0, connection: res.headers.connection });
            });
          })
            .on('error', reject)
            .end();
        });
      // An opaque tunnel, open before the signal, with a keep-alive request in it.
      const tunnel = netConnect({ host: '127.0.0.1', port: delayed.port });
      let tunnelled = '';
      tunnel.setEncoding('utf8');
      tunnel.on('data', (c: string) => (tunnelled += c));
      const read = async (what: RegExp): Promise<void> => {
        while (!what.test(tunnelled)) {
          if (tunnel.destroyed) throw new Error(`the tunnel closed; read: ${tunnelled}`);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      const auth = basic(`${ns}/echo`, userToken);
      tunnel.write(`CONNECT 127.0.0.1:${other.port} HTTP/1.1\r\nProxy-Authorization: ${auth}\r\n\r\n`);
      await read(/^HTTP\/1\.1 200 .*\r\n\r\n/s);
      const inTunnel = async (path: string): Promise<void> => {
        tunnelled = '';
        tunnel.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${other.port}\r\n\r\n`);
        await read(new RegExp(`"url":"${path}"`));
      };
      await inTunnel('/before');
      const before = await viaAgent(`/namespaces/${ns}/connectors/echo/before`);
      expect(before).to.deep.equal({ status: 200, connection: 'keep-alive' });

      const stopping = delayed.proc.stop(30_000);
      await eventually('/readyz to answer 503', async () => {
        return (await send(delayed.port, '/readyz')).status === 503;
      });
      expect((await send(delayed.port, '/readyz')).body).to.equal('not ready: shutting down\n');
      // The keep-alive connection is answered, and closed after.
      expect(await viaAgent(`/namespaces/${ns}/connectors/echo/during`)).to.deep.equal({
        status: 200,
        connection: 'close',
      });
      // The tunnel opened before the signal still carries requests.
      await inTunnel('/during');
      // A new CONNECT is accepted and intercepted; the answer inside closes the TLS connection,
      // and with it the tunnel.
      const raw = netConnect({ host: '127.0.0.1', port: delayed.port });
      const established = new Promise<void>((resolve, reject) => {
        raw.once('data', (c: Buffer) => {
          if (statusOf(c.toString()) === 200) resolve();
          else reject(new Error(`CONNECT refused: ${c.toString()}`));
        });
        raw.once('error', reject);
      });
      raw.write(
        `CONNECT 127.0.0.1:${tlsGit.port} HTTP/1.1\r\n` +
          `Proxy-Authorization: ${basic(`${ns}/tls-git`, userToken)}\r\n\r\n`,
      );
      await established;
      const rawClosed = new Promise<void>((resolve) =>
        raw.once('close', () => {
          resolve();
        }),
      );
      const answer = await new Promise<string>((resolve, reject) => {
        const tls = tlsConnect({ socket: raw, host: '127.0.0.1', ca: readFileSync(delayed.caFile) });
        let text = '';
        tls.setEncoding('utf8');
        tls.on('data', (c: string) => (text += c));
        tls.once('end', () => {
          resolve(text);
        });
        tls.once('error', reject);
        tls.write(
          `GET /${repo}/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1:${tlsGit.port}\r\n\r\n`,
        );
      });
      await rawClosed;
      recordResponse('connectors-proxy-delay intercepted during the delay', {}, answer);
      expect(statusOf(answer)).to.equal(200);
      expect(answer.split('\r\n\r\n')[0]).to.match(/\r\nConnection: close\r\n/i);
      expect(loggedSince(delayed.log, since), 'all of the above during the delay').not.to.include(
        'shutdown delay over',
      );

      tunnel.end();
      agent.destroy();
      const exit = await stopping;
      expect(exit.code).to.equal(0);
      const logged = loggedSince(delayed.log, since);
      expect(logged).to.include('shutdown delay over');
      expect(logged, 'every connection had ended: nothing was cut').not.to.include(
        'grace period over; closing the remaining connections',
      );
    });

    it('SIGTERM ends an open tunnel after the grace period and exits 0', async function () {
      const socket = netConnect({ host: '127.0.0.1', port: proxy.port });
      const established = new Promise<string>((resolve, reject) => {
        socket.once('data', (c: Buffer) => {
          resolve(c.toString());
        });
        socket.once('error', reject);
      });
      const closed = new Promise<void>((resolve) =>
        socket.once('close', () => {
          resolve();
        }),
      );
      socket.write(
        `CONNECT 127.0.0.1:${other.port} HTTP/1.1\r\n` +
          `Proxy-Authorization: ${basic(`${ns}/echo`, userToken)}\r\n\r\n`,
      );
      expect(statusOf(await established)).to.equal(200);
      const t0 = Date.now();
      const exit = await proxy.proc.stop(15_000);
      await closed;
      expect(exit.code).to.equal(0);
      expect(Date.now() - t0).to.be.within(1_500, 10_000);
      expect(readFileSync(proxy.log, 'utf8')).to.contain('"msg":"stopped"');
    });
  });

  describe('logs', function () {
    it('no password, Secret value or token ever appears in the proxy’s log', function () {
      for (const file of [proxy.log, strict?.log].filter((f): f is string => f !== undefined)) {
        const log = readFileSync(file, 'utf8');
        expect(log.length).to.be.greaterThan(0);
        expect(log).to.contain('generated a proxy CA');
        for (const s of [...knownSecrets, ...tokens]) {
          expect(log.includes(s), `a secret leaked into ${file}`).to.equal(false);
          expect(log.includes(Buffer.from(s).toString('base64'))).to.equal(false);
        }
        expect(log).not.to.match(/Basic [A-Za-z0-9+/=]{8,}/);
        expect(log).not.to.match(/Bearer [A-Za-z0-9._-]{8,}/);
        expect(log).not.to.contain('PRIVATE KEY');
      }
    });
  });
});
