// The connectors-csi driver (dist/csi/main.js) from its real entry point, under its shipped
// ServiceAccount and RBAC (manifests/csi/rbac.yaml), against the real kube-apiserver, the Connectors
// Proxy (also under its shipped RBAC, publishing its CA in connectors-system/connectors-proxy-ca) and
// real tools. This test plays kubelet: each NodePublishVolume is shaped exactly like kubelet's for an
// inline ephemeral volume with podInfoOnMount and tokenRequests, with a pod-bound token from a real
// TokenRequest for a real (never scheduled) Pod. Then the tools run with HOME set to the volume, as
// a non-root user (nobody) when the suite runs as root, and none of them ever holds the tool's
// password.
//
// Volumes are real tmpfs mounts when the suite runs as root (the driver's production medium); an
// unprivileged run uses --volume-medium=directory, and the test titles say which.

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createDecipheriv } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import { parseMountInfo } from '../../csi/medium.js';
import { repoRoot, resolveBinaries } from '../../hack/binaries.js';
import { ManagedProcess, registerExitCleanup, type RunResult } from '../../hack/process.js';
import { findBinary, startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import {
  buildWheel,
  debianPython,
  parentPom,
  projectWithParent,
  startPackageRepository,
  type PackageRepository,
} from '../../hack/tools/package-repository.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import { startSonarQube, type SonarQube } from '../../hack/tools/sonarqube.js';
import {
  callError,
  kubeletPublishRequest,
  kubeletVolumeId,
  startCsiDriver,
  type KubeletPod,
  type RunningDriver,
} from '../helpers/csi.js';
import { startProxy } from '../helpers/connproxy.js';
import {
  apply,
  basicAuthSecret,
  clusterConnector,
  connector,
  env,
  eventually,
  knownSecrets,
  kubectlOk,
  namespace,
  secretValue,
  tokenSecret,
} from '../helpers/env.js';

const audience = 'connectors-proxy';
const asRoot = process.getuid?.() === 0;
const medium = asRoot ? 'tmpfs' : 'directory';
const nobody = 65534;

/** The claims of a JWT (no verification: kube-apiserver issued it in this test). */
function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** What kubelet puts in serviceAccount.tokens: the token and its expiry, keyed by audience. */
function kubeletTokens(token: string): Record<string, { token: string; expirationTimestamp: string }> {
  const exp = claims(token)['exp'] as number;
  return { [audience]: { token, expirationTimestamp: new Date(exp * 1000).toISOString() } };
}

/** Runs a tool as a container's non-root user would (as root only; else as ourselves). */
function runAsPodUser(
  binary: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number },
): Promise<RunResult> {
  if (!asRoot) return ManagedProcess.run(binary, args, opts);
  return ManagedProcess.run(
    findBinary('setpriv', 'util-linux'),
    [`--reuid=${nobody}`, `--regid=${nobody}`, '--clear-groups', binary, ...args],
    opts,
  );
}

/** A parent POM in the private Maven repository: resolving it is Maven's first download. */
const parent = { groupId: 'com.example', artifactId: 'connectors-parent', version: '1.0.0' };

/** A container's environment: HOME is the volume; no credential, no CA of any tool, no prompts. */
function podEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
  };
}

/**
 * One request as a client configured with a forward proxy sends it to a plain-http target: the
 * absolute URL to the proxy, with Proxy-Authorization. Answers the status and the body.
 */
function viaProxy(
  proxy: { host: string; port: number; authorization: string },
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: proxy.host,
        port: proxy.port,
        path: url,
        headers: { ...headers, host: new URL(url).host, 'proxy-authorization': proxy.authorization },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Unmounts whatever is still mounted below `root` (a crashed run), so nothing outlives the suite. */
function unmountBelow(root: string): void {
  const mounts = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  for (const m of mounts.filter((m) => m.mountPoint.startsWith(`${root}/`)).reverse()) {
    execFileSync('umount', ['-l', m.mountPoint]);
  }
}

describe(`connectors-csi driver (dist/csi/main.js, ${medium} volumes)`, function () {
  this.timeout(120_000);
  let ns: string;
  let git: GitServer;
  let gitPassword: string;
  let packages: PackageRepository;
  let packagesPassword: string;
  let registry: Registry;
  let registryPassword: string;
  let sonar: SonarQube;
  let sonarToken: string;
  let gitlabTool: EchoTool;
  let gitlabToken: string;
  let harborTool: EchoTool;
  let harborPassword: string;
  let digest: string;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let driver: RunningDriver;
  let kubeletRoot: string;
  /** Undoes what `before` started, newest first, also when it failed half-way. */
  const cleanups: (() => Promise<unknown> | undefined)[] = [];
  const repo = 'org/private.git';
  const pods: Record<'app' | 'stranger', KubeletPod> = {
    app: { namespace: '', name: 'app', uid: '', serviceAccount: 'app' },
    stranger: { namespace: '', name: 'stranger', uid: '', serviceAccount: 'stranger' },
  };
  const tokens: string[] = [];

  /** A fresh pod-bound token for the Connectors Proxy's audience, as kubelet's token manager gets. */
  async function podToken(pod: KubeletPod): Promise<string> {
    const token = await env().sys.cp.createToken(pod.namespace, pod.serviceAccount, {
      audiences: [audience],
      expirationSeconds: 3600,
      boundPod: { name: pod.name, uid: pod.uid },
    });
    tokens.push(token);
    knownSecrets.push(token);
    return token;
  }

  /** Where kubelet asks for the volume `name` of `pod`; kubelet creates the parent, not the target. */
  function targetPath(pod: KubeletPod, volume: string): string {
    const parent = join(kubeletRoot, 'pods', pod.uid, 'volumes', 'kubernetes.io~csi', volume);
    mkdirSync(parent, { recursive: true, mode: 0o755 });
    return join(parent, 'mount');
  }

  function publish(
    pod: KubeletPod,
    volume: string,
    attributes: Record<string, string>,
    token: string,
    d: RunningDriver = driver,
  ): Promise<unknown> {
    return d.client.call(
      'Node',
      'NodePublishVolume',
      kubeletPublishRequest({
        pod,
        volumeId: kubeletVolumeId(pod.uid, volume),
        targetPath: targetPath(pod, volume),
        attributes,
        tokens: kubeletTokens(token),
      }),
    );
  }

  function unpublish(pod: KubeletPod, volume: string, d: RunningDriver = driver): Promise<unknown> {
    return d.client.call('Node', 'NodeUnpublishVolume', {
      volume_id: kubeletVolumeId(pod.uid, volume),
      target_path: targetPath(pod, volume),
    });
  }

  before(async function () {
    this.timeout(180_000);
    gitPassword = secretValue('csi-git-password');
    packagesPassword = secretValue('csi-packages-password');
    registryPassword = secretValue('csi-registry-password');
    git = await startGitServer({ username: 'git-user', password: gitPassword, tls: true });
    cleanups.push(() => git.stop());
    await git.createRepo(repo, { branches: ['main'], tags: [] });
    packages = await startPackageRepository({ username: 'deployer', password: packagesPassword });
    cleanups.push(() => packages.stop());
    await packages.addNpmPackage('connectors-demo', '1.0.0');
    packages.addMavenPom(parent.groupId, parent.artifactId, parent.version, parentPom(parent));
    registry = await startRegistry({ auth: 'token', username: 'reg-user', password: registryPassword });
    cleanups.push(() => registry.stop());
    digest = await registry.push('team/app', '1.0');
    sonarToken = secretValue('csi-sonar-token');
    sonar = await startSonarQube({ token: sonarToken });
    cleanups.push(() => sonar.close());
    gitlabToken = secretValue('csi-gitlab-token');
    gitlabTool = await startEchoTool();
    cleanups.push(() => gitlabTool.close());
    harborPassword = secretValue('csi-harbor-password');
    harborTool = await startEchoTool({ username: 'harbor-user', password: harborPassword });
    cleanups.push(() => harborTool.close());
    await env().sys.installClasses();
    ns = await namespace('csi');
    for (const pod of Object.values(pods)) pod.namespace = ns;
    const cp = env().sys.cp;
    await kubectlOk([
      'apply',
      '-f',
      join(repoRoot(), 'manifests', 'connproxy', 'rbac.yaml'),
      '-f',
      join(repoRoot(), 'manifests', 'csi', 'namespace.yaml'),
      '-f',
      join(repoRoot(), 'manifests', 'csi', 'rbac.yaml'),
    ]);
    const pod = (p: KubeletPod): object => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: ns },
      spec: {
        serviceAccountName: p.serviceAccount,
        containers: [{ name: 'tool', image: 'tool.invalid/tool' }],
      },
    });
    // The "other cluster" of the k8s class is this kube-apiserver, read by a ServiceAccount that may
    // list the pods of the namespace; the Connector trusts its CA.
    const clusterToken = await cp.createToken(ns, 'cluster-reader');
    knownSecrets.push(clusterToken);
    await apply([
      basicAuthSecret(ns, 'git-creds', 'git-user', gitPassword),
      connector(ns, 'git', { connectorClassName: 'git', address: git.url, secret: 'git-creds' }),
      basicAuthSecret(ns, 'packages-creds', 'deployer', packagesPassword),
      connector(ns, 'npm', {
        connectorClassName: 'npm',
        address: packages.npmRegistry,
        secret: 'packages-creds',
      }),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'maven', namespace: ns },
        spec: {
          connectorClassName: 'maven',
          address: packages.mavenRepository,
          params: [{ name: 'useAsMirror', value: 'true' }],
          auth: { name: 'basicAuth', secretRef: { name: 'packages-creds' } },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'registry-creds', namespace: ns },
        type: 'cpaas.io/distribution-registry-token',
        stringData: { username: 'reg-user', password: registryPassword },
      },
      connector(ns, 'registry', {
        connectorClassName: 'oci',
        address: registry.url,
        secret: 'registry-creds',
        authName: 'tokenAuth',
      }),
      ...clusterConnector(ns, 'k8s', clusterToken),
      connector(ns, 'pypi', {
        connectorClassName: 'pypi',
        address: packages.pypiIndex,
        secret: 'packages-creds',
      }),
      tokenSecret(ns, 'sonar-token', 'connectors.cpaas.io/bearer-token', sonarToken),
      connector(ns, 'sonar', {
        connectorClassName: 'sonarqube',
        address: sonar.url,
        secret: 'sonar-token',
        authName: 'tokenAuth',
      }),
      tokenSecret(ns, 'gitlab-token', 'connectors.cpaas.io/gitlab-pat-auth', gitlabToken),
      connector(ns, 'gitlab', {
        connectorClassName: 'gitlab',
        address: gitlabTool.url,
        secret: 'gitlab-token',
        authName: 'patAuth',
      }),
      basicAuthSecret(ns, 'harbor-creds', 'harbor-user', harborPassword),
      connector(ns, 'harbor', {
        connectorClassName: 'harbor',
        address: harborTool.url,
        secret: 'harbor-creds',
      }),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'pod-reader', namespace: ns },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'cluster-reader-reads-pods', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'cluster-reader', namespace: ns }],
      },
      // A class whose configuration has a required param, for the refusal.
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: 'csi-params' },
        spec: {
          address: { name: 'address', type: 'string' },
          configurations: [
            {
              name: 'settings',
              params: [{ name: 'mirrorRepository', type: 'string' }],
              data: { 'settings.txt': 'mirror={{ .configurations.mirrorRepository }}' },
            },
          ],
        },
      },
      connector(ns, 'params', { connectorClassName: 'csi-params', address: 'https://nexus.invalid' }),
      ...Object.values(pods).map((p) => ({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: p.serviceAccount, namespace: ns },
      })),
      ...Object.values(pods).map(pod),
      // The app's ServiceAccount may use the namespace's Connectors (the shipped user role); the
      // stranger has no RBAC at all.
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'app-uses-connectors', namespace: ns },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'connectors-proxy-view',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: ns }],
      },
      // git's fetch over smart HTTP is a POST, authorized as create like any other POST: cloning
      // through the proxy takes the write role too (mounting needs only the view role).
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'app-clones-through-connectors', namespace: ns },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'connectors-proxy-edit',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: ns }],
      },
    ]);
    for (const p of Object.values(pods)) {
      p.uid = (await kubectlOk(['get', 'pod', p.name, '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
    }

    // The Connectors Proxy under its shipped ServiceAccount, accepting tokens for our audience.
    const proxyKubeconfig = await cp.writeKubeconfig(join(cp.dir, 'csi-proxy.kubeconfig'), {
      token: await cp.createToken('connectors-system', 'connectors-proxy', { expirationSeconds: 86_400 }),
    });
    const upstreamCa = join(cp.dir, 'csi-git-ca.crt');
    writeFileSync(upstreamCa, [git.caCertPem ?? '', packages.caCertPem].join('\n'));
    proxy = await startProxy('connectors-proxy-csi', proxyKubeconfig, [
      `--upstream-ca-file=${upstreamCa}`,
      '--publish-ca-configmap=connectors-system/connectors-proxy-ca',
      `--authentication-token-audiences=${audience}`,
    ]);
    cleanups.push(() => proxy.proc.stop());
    // Standing in for the status controller: in a cluster it writes the Connector's own proxy host
    // (http://c-git.<ns>.svc.cluster.local, a Service to the proxy); here the proxy runs on the host,
    // so the address is its path form.
    for (const name of [
      'git',
      'params',
      'npm',
      'maven',
      'registry',
      'cluster',
      'pypi',
      'sonar',
      'gitlab',
      'harbor',
    ]) {
      await kubectlOk([
        'patch',
        'connector',
        name,
        '-n',
        ns,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({
          status: {
            proxy: {
              httpAddress: { url: `http://127.0.0.1:${proxy.port}/namespaces/${ns}/connectors/${name}` },
            },
          },
        }),
      ]);
    }

    kubeletRoot = mkdtempSync('/tmp/csi-kubelet-');
    chmodSync(kubeletRoot, 0o755);
    const unregister = registerExitCleanup(() => {
      unmountBelow(kubeletRoot);
    });
    cleanups.push(() => {
      unmountBelow(kubeletRoot);
      unregister();
      rmSync(kubeletRoot, { recursive: true, force: true });
      return undefined;
    });
    const driverKubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-csi.kubeconfig'), {
      token: await cp.createToken('connectors-csi', 'connectors-csi', { expirationSeconds: 86_400 }),
    });
    driver = await startCsiDriver({
      name: 'connectors-csi',
      logDir: env().sys.logDir,
      kubeconfig: driverKubeconfig,
      args: [`--volume-medium=${medium}`, '--proxy-ca-configmap=connectors-system/connectors-proxy-ca'],
    });
    cleanups.push(() => driver.stop());
  });

  after(async function () {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  describe('NodePublishVolume as kubelet sends it', function () {
    let token: string;
    let target: string;

    before(async function () {
      token = await podToken(pods.app);
      target = targetPath(pods.app, 'connectors');
      // RBAC and the proxy's CA ConfigMap settle within a moment of being created.
      await eventually('the first publish', async () => {
        try {
          await publish(
            pods.app,
            'connectors',
            { connectors: 'git', 'configuration.names': 'gitconfig' },
            token,
          );
          return true;
        } catch {
          return false;
        }
      });
    });

    it(`renders the built-in files and .gitconfig on a ${medium} at target_path, readable by anyone`, function () {
      expect(
        readdirSync(target)
          .filter((f) => !f.startsWith('..'))
          .sort(),
      ).to.deep.equal(
        [
          '.env',
          '.gitconfig',
          'ca.cert',
          'ca.crt',
          'connector.status.proxyAddress',
          'context.proxy.caCert',
          'context.token',
          'http.proxy',
          'https.proxy',
        ].sort(),
      );
      expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal(token);
      expect(readFileSync(join(target, 'ca.crt'), 'utf8')).to.equal(readFileSync(proxy.caFile, 'utf8'));
      expect(readFileSync(join(target, '.gitconfig'), 'utf8')).to.contain(`insteadOf = ${git.url}/`);
      expect(statSync(join(target, '.gitconfig')).mode & 0o777).to.equal(0o644);
      if (medium === 'tmpfs') {
        const mount = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).find(
          (m) => m.mountPoint === target,
        );
        expect(mount).to.deep.include({ fsType: 'tmpfs', source: 'connectors-csi' });
      }
    });

    it('git clone of the original https URL with HOME=<volume> goes through the Connectors Proxy', async function () {
      const work = mkdtempSync(join(kubeletRoot, 'clone-'));
      chmodSync(work, 0o755);
      if (asRoot) chownSync(work, nobody, nobody);
      const dir = join(work, 'app');
      const r = await runAsPodUser(findBinary('git', 'git'), ['clone', '-q', `${git.url}/${repo}`, dir], {
        env: podEnv(target),
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(readFileSync(join(dir, '.git', 'HEAD'), 'utf8')).to.contain('refs/heads/main');
      // The Git server authenticated the Connector's user: the credential came from the Secret, added
      // by the proxy; the volume never held it.
      expect(readFileSync(git.accessLog, 'utf8')).to.match(/ git-user \[.*git-upload-pack/);
      for (const file of readdirSync(target)) {
        if (!file.startsWith('..'))
          expect(readFileSync(join(target, file), 'utf8')).not.to.contain(gitPassword);
      }
    });

    it('a republish replaces the token atomically: a reader sees one whole token or the other', async function () {
      const next = await podToken(pods.app);
      const whole = new Set([token, next]);
      let reading = true;
      let reads = 0;
      const reader = (async () => {
        while (reading) {
          const seen = await readFile(join(target, 'context.token'), 'utf8');
          expect(whole.has(seen), `a reader saw ${seen.length} bytes that are neither token`).to.equal(true);
          reads++;
        }
      })();
      for (let i = 0; i < 20; i++) {
        await publish(
          pods.app,
          'connectors',
          { connectors: 'git', 'configuration.names': 'gitconfig' },
          i % 2 ? token : next,
        );
      }
      reading = false;
      await reader;
      expect(reads).to.be.greaterThan(0);
      expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal(token);
      await publish(pods.app, 'connectors', { connectors: 'git', 'configuration.names': 'gitconfig' }, next);
      expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal(next);
      expect(readFileSync(join(target, '.gitconfig'), 'utf8')).to.contain(
        Buffer.from(`:${next}`).toString('base64'),
      );
      token = next;
    });

    it('a republish that fails (a forged token) answers OK and keeps the files', async function () {
      const forged = `${token.slice(0, -8)}AAAAAAAA`;
      await publish(
        pods.app,
        'connectors',
        { connectors: 'git', 'configuration.names': 'gitconfig' },
        forged,
      );
      expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal(token);
      expect(readFileSync(driver.log, 'utf8')).to.contain(
        'republish failed; the volume keeps its previous files',
      );
    });

    it('NodeUnpublishVolume removes the volume and target_path; twice is fine', async function () {
      await unpublish(pods.app, 'connectors');
      expect(existsSync(target)).to.equal(false);
      expect(
        parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).some((m) => m.mountPoint === target),
      ).to.equal(false);
      await unpublish(pods.app, 'connectors');
    });
  });

  describe('the shipped configurations with the tools’ own clients (HOME=<volume>)', function () {
    /**
     * Publishes a volume (named `volumeName`) of Connector `name` with `configuration`, its params
     * given the volume's own path as `mountPath` when `mountPath` is set, and a writable work dir for
     * the tool.
     */
    async function volume(
      name: string,
      configuration: string,
      opts: { volumeName?: string; mountPath?: boolean } = {},
    ): Promise<{ home: string; work: string }> {
      const volumeName = opts.volumeName ?? name;
      const home = targetPath(pods.app, volumeName);
      await publish(
        pods.app,
        volumeName,
        {
          connectors: name,
          'configuration.names': configuration,
          ...(opts.mountPath
            ? { 'configuration.params': JSON.stringify({ [configuration]: { mountPath: home } }) }
            : {}),
        },
        await podToken(pods.app),
      );
      const work = mkdtempSync(join(kubeletRoot, `${volumeName}-work-`));
      chmodSync(work, 0o755);
      if (asRoot) chownSync(work, nobody, nobody);
      return { home, work };
    }

    /** The Connectors Proxy as the volume's http.proxy names it: host, port, Proxy-Authorization. */
    function volumeProxy(home: string): { host: string; port: number; authorization: string } {
      const url = new URL(readFileSync(join(home, 'http.proxy'), 'utf8'));
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      return {
        host: url.hostname,
        port: Number(url.port),
        authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
      };
    }

    /** What the repository saw: each request authenticated as its own user, none with another. */
    function repositorySaw(path: string): void {
      const seen = packages.requests.filter((r) => r.url.startsWith(path));
      expect(seen.map((r) => [r.user, r.status])).to.deep.include(['deployer', 200]);
    }

    /** The volume holds the token and the proxy CA, never the tool's password. */
    function holdsNoPassword(home: string, password: string): void {
      for (const file of readdirSync(home)) {
        if (file.startsWith('..')) continue;
        const text = readFileSync(join(home, file), 'utf8');
        expect(text, file).not.to.contain(password);
        expect(text, file).not.to.contain(Buffer.from(`deployer:${password}`).toString('base64'));
      }
    }

    it('npm install from a private registry (.npmrc: https-proxy with the token, the proxy CA)', async function () {
      const { home, work } = await volume('npm', 'npmrc');
      writeFileSync(
        join(work, 'package.json'),
        JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { 'connectors-demo': '1.0.0' } }),
      );
      const r = await runAsPodUser(findBinary('npm', 'npm'), ['install', '--no-audit', '--no-fund'], {
        // The volume is read-only for the pod: npm's cache goes elsewhere.
        env: { ...podEnv(home), npm_config_cache: join(work, '.npm'), npm_config_update_notifier: 'false' },
        cwd: work,
        timeoutMs: 120_000,
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(readFileSync(join(work, 'node_modules', 'connectors-demo', 'index.js'), 'utf8')).to.contain(
        'connectors-demo',
      );
      repositorySaw('/npm/connectors-demo');
      repositorySaw('/npm/connectors-demo/-/connectors-demo-1.0.0.tgz');
      holdsNoPassword(home, packagesPassword);
    });

    it('mvn resolves a parent POM from a private repository (settings.xml: proxy, mirror)', async function () {
      const { home, work } = await volume('maven', 'settings');
      writeFileSync(join(work, 'pom.xml'), projectWithParent(parent));
      // The JVM trusts the proxy's CA from the volume (upstream: keytool import of ca.crt).
      const truststore = join(work, 'truststore.p12');
      const keytool = await runAsPodUser(
        findBinary('keytool', 'default-jre-headless'),
        [
          '-importcert',
          '-noprompt',
          '-alias',
          'connectors-proxy',
          '-file',
          join(home, 'ca.crt'),
          '-keystore',
          truststore,
          '-storetype',
          'PKCS12',
          '-storepass',
          'changeit',
        ],
        { env: podEnv(home) },
      );
      expect(keytool.code, keytool.stderr).to.equal(0);
      const r = await runAsPodUser(
        findBinary('mvn', 'maven'),
        ['-B', '-s', join(home, 'settings.xml'), 'validate'],
        {
          env: {
            ...podEnv(home),
            MAVEN_OPTS: `-Djavax.net.ssl.trustStore=${truststore} -Djavax.net.ssl.trustStorePassword=changeit -Dmaven.repo.local=${join(work, 'm2')}`,
          },
          cwd: work,
          timeoutMs: 180_000,
        },
      );
      expect(r.code, r.stdout.slice(-3000)).to.equal(0);
      expect(
        existsSync(
          join(work, 'm2', 'com', 'example', 'connectors-parent', '1.0.0', 'connectors-parent-1.0.0.pom'),
        ),
      ).to.equal(true);
      repositorySaw('/maven/com/example/connectors-parent/1.0.0/connectors-parent-1.0.0.pom');
      holdsNoPassword(home, packagesPassword);
    });

    it('skopeo inspect of a private image (config.json: the proxy host with the token)', async function () {
      const { home, work } = await volume('registry', 'registry-config');
      const r = await runAsPodUser(
        findBinary('skopeo', 'skopeo'),
        [
          'inspect',
          // The Connectors Proxy speaks plain HTTP (buildkitd.toml says the same to BuildKit).
          '--tls-verify=false',
          `docker://127.0.0.1:${proxy.port}/namespaces/${ns}/connectors/registry/team/app:1.0`,
        ],
        {
          // XDG_RUNTIME_DIR: the pod user's own, as in a container. Without it skopeo looks for
          // /run/containers/<uid>/auth.json, and where buildah has run on this host (the image
          // build) /run/containers is root's 0700: "permission denied", not "absent".
          env: { ...podEnv(home), DOCKER_CONFIG: home, XDG_RUNTIME_DIR: work },
          timeoutMs: 60_000,
        },
      );
      expect(r.code, r.stderr).to.equal(0);
      expect((JSON.parse(r.stdout) as { Digest: string }).Digest).to.equal(digest);
      holdsNoPassword(home, registryPassword);
    });

    it('twine upload to a private index (.pypirc: placeholder login, ca_cert; https_proxy from the volume)', async function () {
      const { home, work } = await volume('pypi', 'pypirc', { volumeName: 'pypirc', mountPath: true });
      const wheel = await buildWheel(work, 'connectors-demo', '1.0.0');
      // twine reads no proxy from .pypirc, only from the environment (requests): the volume's https.proxy.
      const r = await runAsPodUser(
        findBinary('twine', 'twine'),
        [
          'upload',
          '--non-interactive',
          '--config-file',
          join(home, '.pypirc'),
          '-r',
          'connectors-pypi',
          wheel,
        ],
        {
          env: { ...podEnv(work), HTTPS_PROXY: readFileSync(join(home, 'https.proxy'), 'utf8') },
          timeoutMs: 60_000,
        },
      );
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      // The index authenticated the Connector's user on the upload: the proxy replaced the placeholder.
      const uploads = packages.requests.filter((q) => q.method === 'POST' && q.url === '/pypi/');
      expect(uploads.map((q) => [q.user, q.status])).to.deep.equal([['deployer', 200]]);
      holdsNoPassword(home, packagesPassword);
    });

    it('pip install of what twine uploaded (pip.conf alone: index-url, proxy with the token, cert)', async function () {
      const { home, work } = await volume('pypi', 'pipconf', { volumeName: 'pipconf', mountPath: true });
      const r = await runAsPodUser(
        debianPython(),
        [
          '-m',
          'pip',
          'install',
          '--no-cache-dir',
          '--disable-pip-version-check',
          '--target',
          join(work, 'site'),
          'connectors-demo==1.0.0',
        ],
        { env: { ...podEnv(work), PIP_CONFIG_FILE: join(home, 'pip.conf') }, timeoutMs: 120_000 },
      );
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(readFileSync(join(work, 'site', 'connectors_demo', '__init__.py'), 'utf8')).to.contain(
        "NAME = 'connectors-demo'",
      );
      repositorySaw('/pypi/simple/connectors-demo/');
      repositorySaw('/pypi/packages/connectors-demo/connectors_demo-1.0.0-py3-none-any.whl');
      holdsNoPassword(home, packagesPassword);
    });

    it('sonar-project.properties: the scanner’s proxy settings reach SonarQube with the token as Basic username', async function () {
      const { home } = await volume('sonar', 'sonar-scanner');
      const props = Object.fromEntries(
        readFileSync(join(home, 'sonar-project.properties'), 'utf8')
          .split('\n')
          .filter((l) => l !== '' && !l.startsWith('#'))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ) as Record<string, string>;
      expect(props['sonar.host.url']).to.equal(sonar.url);
      // As the scanner's JVM sends them: the proxy user as written (percent-encoded), the token.
      const proxy = {
        host: props['sonar.scanner.proxyHost'] ?? '',
        port: Number(props['sonar.scanner.proxyPort']),
        authorization: `Basic ${Buffer.from(`${props['sonar.scanner.proxyUser'] ?? ''}:${props['sonar.scanner.proxyPassword'] ?? ''}`).toString('base64')}`,
      };
      const r = await viaProxy(proxy, `${props['sonar.host.url'] ?? ''}/api/authentication/validate`);
      expect(r).to.deep.equal({ status: 200, body: '{"valid":true}' });
      expect(sonar.requests.at(-1)?.valid).to.equal(true);
      for (const file of readdirSync(home)) {
        if (!file.startsWith('..')) expect(readFileSync(join(home, file), 'utf8')).not.to.contain(sonarToken);
      }
    });

    it('glab config.yml: the API host is the Connector’s proxy, which takes the token as PRIVATE-TOKEN', async function () {
      const { home } = await volume('gitlab', 'gitlabconfig');
      const config = loadAllYaml(readFileSync(join(home, 'config.yml'), 'utf8'))[0] as {
        host: string;
        hosts: Record<string, { api_host: string; api_protocol: string; token: string }>;
      };
      const entry = config.hosts[config.host];
      expect(entry?.token).to.equal(readFileSync(join(home, 'context.token'), 'utf8'));
      // What glab sends for `glab api user`: GET <api_protocol>://<api_host>/api/v4/user, PRIVATE-TOKEN.
      const res = await fetch(`${entry?.api_protocol ?? ''}://${entry?.api_host ?? ''}/api/v4/user`, {
        headers: { 'PRIVATE-TOKEN': entry?.token ?? '' },
      });
      expect(res.status).to.equal(200);
      const seen = gitlabTool.requests.at(-1);
      expect(seen?.url).to.equal('/api/v4/user');
      expect(seen?.headers['private-token']).to.equal(gitlabToken);
    });

    it('harbor-cli config.yaml: its placeholder login, sent through the forward proxy, becomes the Connector’s', async function () {
      const { home } = await volume('harbor', 'harbor-cli-config');
      const config = loadAllYaml(readFileSync(join(home, 'config.yaml'), 'utf8'))[0] as {
        'current-credential-name': string;
        credentials: { name: string; username: string; password: string; serveraddress: string }[];
      };
      const credential = config.credentials.find((c) => c.name === config['current-credential-name']);
      expect(credential?.name).to.equal(`${ns}/harbor`);
      // harbor-cli decrypts the password with HARBOR_ENCRYPTION_KEY (AES-GCM: nonce ‖ ciphertext ‖ tag).
      const key = Buffer.from(readFileSync(join(home, 'HARBOR_ENCRYPTION_KEY'), 'utf8'), 'base64');
      const sealed = Buffer.from(credential?.password ?? '', 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(-16));
      const password = Buffer.concat([
        decipher.update(sealed.subarray(12, -16)),
        decipher.final(),
      ]).toString();
      const login = Buffer.from(`${credential?.username ?? ''}:${password}`).toString('base64');
      const r = await viaProxy(
        volumeProxy(home),
        `${credential?.serveraddress ?? ''}/api/v2.0/users/current`,
        {
          authorization: `Basic ${login}`,
        },
      );
      // The tool takes only its own user's password: the proxy replaced the placeholder.
      expect(r.status, r.body).to.equal(200);
      expect(harborTool.requests.at(-1)?.headers.authorization).to.equal(
        `Basic ${Buffer.from(`harbor-user:${harborPassword}`).toString('base64')}`,
      );
      holdsNoPassword(home, harborPassword);
    });

    it('kubectl against another cluster (kubeconfig: proxy-url with the token, the proxy CA)', async function () {
      const { home, work } = await volume('cluster', 'kubeconfig');
      const { kubectl } = await resolveBinaries();
      const r = await runAsPodUser(kubectl, ['get', 'pods', '-n', ns, '-o', 'name'], {
        env: {
          ...podEnv(home),
          KUBECONFIG: join(home, 'kubeconfig'),
          KUBECACHEDIR: join(work, 'kube-cache'),
        },
      });
      expect(r.code, r.stderr).to.equal(0);
      // Listed with the Connector's token (cluster-reader's), not the pod's, which may not.
      expect(r.stdout.split('\n').sort()).to.deep.equal(['', 'pod/app', 'pod/stranger']);
    });
  });

  describe('refusals: a gRPC error naming the problem, nothing at target_path', function () {
    const refused = async (
      pod: KubeletPod,
      volume: string,
      attributes: Record<string, string>,
    ): Promise<{ code: number; details: string }> => {
      const err = await callError(publish(pod, volume, attributes, await podToken(pod)));
      expect(existsSync(targetPath(pod, volume)), 'something was left at target_path').to.equal(false);
      return err;
    };

    it('a ServiceAccount without RBAC on the Connector: PERMISSION_DENIED naming it', async function () {
      const err = await refused(pods.stranger, 'denied', {
        connectors: 'git',
        'configuration.names': 'gitconfig',
      });
      expect(err.code).to.equal(status.PERMISSION_DENIED);
      expect(err.details).to.equal(
        `connectors.connectors.alauda.io "git" is forbidden: User "system:serviceaccount:${ns}:stranger" cannot get resource "connectors" in API group "connectors.alauda.io" in the namespace "${ns}"`,
      );
    });

    it('a Connector that does not exist: NOT_FOUND', async function () {
      const err = await refused(pods.app, 'ghost', { connectors: 'ghost' });
      expect(err).to.deep.equal({ code: status.NOT_FOUND, details: `connector "${ns}/ghost" not found` });
    });

    it('an unknown configuration name: NOT_FOUND with what the class declares', async function () {
      const err = await refused(pods.app, 'unknown', {
        connectors: 'git',
        'configuration.names': 'settings',
      });
      expect(err).to.deep.equal({
        code: status.NOT_FOUND,
        details: 'configuration "settings" not found: ConnectorClass "git" declares gitconfig',
      });
    });

    it('a required configuration param missing: INVALID_ARGUMENT naming it; given, it renders', async function () {
      const err = await refused(pods.app, 'params', {
        connectors: 'params',
        'configuration.names': 'settings',
      });
      expect(err.code).to.equal(status.INVALID_ARGUMENT);
      expect(err.details).to.contain(
        'configuration "settings" of ConnectorClass "csi-params" needs the param "mirrorRepository"',
      );
      await publish(
        pods.app,
        'params',
        {
          connectors: 'params',
          'configuration.names': 'settings',
          'configuration.params': '{"settings":{"mirrorRepository":"maven-public"}}',
        },
        await podToken(pods.app),
      );
      expect(readFileSync(join(targetPath(pods.app, 'params'), 'settings.txt'), 'utf8')).to.equal(
        'mirror=maven-public',
      );
      await unpublish(pods.app, 'params');
    });

    it('a token for another pod: UNAUTHENTICATED', async function () {
      const err = await callError(
        publish(pods.app, 'swapped', { connectors: 'git' }, await podToken(pods.stranger)),
      );
      expect(err.code).to.equal(status.UNAUTHENTICATED);
      expect(existsSync(targetPath(pods.app, 'swapped'))).to.equal(false);
    });
  });

  describe('--token-source=request (opt-in): the driver mints the token, honouring token.expiration', function () {
    let minting: RunningDriver;

    before(async function () {
      await kubectlOk(['apply', '-f', join(repoRoot(), 'manifests', 'csi', 'rbac-token-request.yaml')]);
      const cp = env().sys.cp;
      minting = await startCsiDriver({
        name: 'connectors-csi-request',
        logDir: env().sys.logDir,
        kubeconfig: join(cp.dir, 'connectors-csi.kubeconfig'),
        args: [
          `--volume-medium=${medium}`,
          '--proxy-ca-configmap=connectors-system/connectors-proxy-ca',
          '--token-source=request',
        ],
      });
    });

    after(async function () {
      await minting.stop();
      await kubectlOk(['delete', '-f', join(repoRoot(), 'manifests', 'csi', 'rbac-token-request.yaml')]);
    });

    it('a pod-bound token of the requested lifetime, which the proxy accepts', async function () {
      const target = targetPath(pods.app, 'minted');
      const request = kubeletPublishRequest({
        pod: pods.app,
        volumeId: kubeletVolumeId(pods.app.uid, 'minted'),
        targetPath: target,
        attributes: { connectors: 'git', 'configuration.names': 'gitconfig', 'token.expiration': '20m' },
      });
      await eventually('a publish with a minted token', async () => {
        try {
          await minting.client.call('Node', 'NodePublishVolume', request);
          return true;
        } catch {
          return false;
        }
      });
      const token = readFileSync(join(target, 'context.token'), 'utf8');
      tokens.push(token);
      knownSecrets.push(token);
      const c = claims(token);
      expect((c['exp'] as number) - (c['iat'] as number)).to.equal(1200);
      expect(c['aud']).to.deep.equal([audience]);
      expect(c['sub']).to.equal(`system:serviceaccount:${ns}:app`);
      expect((c['kubernetes.io'] as { pod?: { uid?: string } }).pod?.uid).to.equal(pods.app.uid);
      const r = await runAsPodUser(findBinary('git', 'git'), ['ls-remote', `${git.url}/${repo}`], {
        env: podEnv(target),
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('refs/heads/main');
      await unpublish(pods.app, 'minted', minting);
    });
  });

  describe('logs', function () {
    it('no token or password ever appears in the driver’s log', function () {
      for (const file of [driver.log, join(env().sys.logDir, 'connectors-csi-request.log')]) {
        const log = readFileSync(file, 'utf8');
        expect(log).to.contain('"msg":"serving"');
        for (const s of [
          ...tokens,
          gitPassword,
          packagesPassword,
          registryPassword,
          sonarToken,
          gitlabToken,
          harborPassword,
        ]) {
          expect(log.includes(s), `a secret leaked into ${file}`).to.equal(false);
          expect(log.includes(Buffer.from(`:${s}`).toString('base64'))).to.equal(false);
        }
      }
    });
  });
});
