// Connectors where its users run it: in pods the real kubelet starts, with the tokens kubelet
// issues, through restarts and upgrades. The install of install.test.ts again (hack/clusterdemo.ts:
// the image, `kubectl apply -k manifests/`, hack/certificates.sh, the demo's Git server and HTTP
// tool on the host, named in the cluster by the Services of namespace `tools`), then:
//   - a non-root Pod clones a private repository with only what its connectors-csi volume holds,
//     and keeps fetching after kubelet republished the volume with a fresh token;
//   - a Pod without RBAC waits with our PermissionDenied, and starts once a RoleBinding exists;
//   - a deleted Pod's token is refused, its mount and tmpfs gone;
//   - no request fails while the API server and the Connectors Proxy are restarted or lose a
//     replica; the controller's Lease moves on when its leader goes; the CSI DaemonSet is updated
//     under a Pod that holds a volume.
// The token lifetime is the shortest kube-apiserver allows (600 s; kubelet renews at 80 %), so the
// republish check runs last and waits for what is left of it while the other tests run.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { load } from 'js-yaml';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import { randomBytes } from 'node:crypto';
import { repoRoot, resolveBinaries } from '../../hack/binaries.js';
import {
  hostToolService,
  installClusterDemo,
  toolsNamespace,
  type ClusterDemo,
} from '../../hack/clusterdemo.js';
import { startControlPlane, type ControlPlane } from '../../hack/controlplane.js';
import { startPackageRepository, type PackageRepository } from '../../hack/tools/package-repository.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import { startMariaDb, type MariaDbServer } from '../../hack/tools/mariadb.js';
import { demoNamespace, demoToolProxy } from '../../hack/demo.js';
import { csiNamespace, systemNamespace } from '../../hack/install.js';
import { cluster, kubectlOk, TEST_IMAGE } from './fixture.js';
import { docBlock, shellCommands } from '../helpers/docs.js';

const ns = demoNamespace;
const productImage = 'ghcr.io/connectors/connectors:0.1.0';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type KubeObject = Record<string, unknown>;

interface PodStatus {
  metadata: { name: string; uid: string; deletionTimestamp?: string; creationTimestamp: string };
  status: {
    phase: string;
    podIP?: string;
    startTime?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      ready: boolean;
      restartCount: number;
      state: { waiting?: { reason: string }; running?: { startedAt: string } };
    }[];
  };
}

/**
 * A Pod example of docs/csi.md, as it stands: the YAML block after `<!-- cluster-test: <id> -->`.
 * The page shows what these tests run.
 */
function docExample(id: string): string {
  const block = docBlock(id);
  if (block.lang !== 'yaml') throw new Error(`${block.doc}:${block.line}: the block "${id}" is no YAML`);
  return block.text;
}

async function applyDocExample(id: string): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], docExample(id));
}

async function apply(objects: KubeObject[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk(['get', ...args, '-o', 'json'])) as T;
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | false>,
  everyMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The connectors-csi volume as docs/csi.md shows it: read-only, Connectors by name. */
function connectorsVolume(connectors: string, configurations?: string): KubeObject {
  return {
    name: 'connectors',
    csi: {
      driver: 'connectors-csi',
      readOnly: true,
      volumeAttributes: {
        connectors,
        ...(configurations ? { 'configuration.names': configurations } : {}),
      },
    },
  };
}

/** A non-root Pod with the volume at /home/connectors (its HOME). */
function podWithVolume(opts: {
  name: string;
  serviceAccount: string;
  image: string;
  script: string;
  volume: KubeObject;
  extraVolumes?: KubeObject[];
  extraMounts?: KubeObject[];
}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: opts.name, namespace: ns },
    spec: {
      serviceAccountName: opts.serviceAccount,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      securityContext: { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true },
      containers: [
        {
          name: 'main',
          image: opts.image,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', opts.script],
          env: [{ name: 'HOME', value: '/home/connectors' }],
          volumeMounts: [{ name: 'connectors', mountPath: '/home/connectors' }, ...(opts.extraMounts ?? [])],
        },
      ],
      volumes: [opts.volume, ...(opts.extraVolumes ?? [])],
    },
  };
}

async function pod(name: string): Promise<PodStatus | undefined> {
  const r = await cluster().kubectl(['get', 'pod', name, '-n', ns, '-o', 'json']);
  if (r.code !== 0) {
    if (r.stderr.includes('NotFound')) return undefined;
    throw new Error(`kubectl get pod ${name}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as PodStatus;
}

async function waitRunning(name: string, timeoutMs = 120_000): Promise<PodStatus> {
  return explained(name, `Pod ${ns}/${name} to be Running and Ready`, timeoutMs, async () => {
    const p = await pod(name);
    if (p?.status.phase === 'Failed' || p?.status.phase === 'Succeeded')
      throw new Error(`Pod ${name} ended (${p.status.phase}): ${await logs(name)}`);
    return p?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  });
}

/** waitFor, and on a timeout what `kubectl describe` says of the Pod (its events above all). */
async function explained<T>(
  name: string,
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | false>,
): Promise<T> {
  try {
    return await waitFor(what, timeoutMs, check);
  } catch (err) {
    const describe = await cluster().kubectl(['describe', 'pod', name, '-n', ns]);
    throw new Error(`${String(err)}\n${describe.stdout}${describe.stderr}\n${await logs(name)}`);
  }
}

async function logs(name: string, namespace = ns): Promise<string> {
  const r = await cluster().kubectl(['logs', '-n', namespace, name, '--all-containers']);
  return r.stdout + r.stderr;
}

async function exec(name: string, script: string): Promise<string> {
  return kubectlOk(['exec', '-n', ns, name, '--', 'sh', '-c', script]);
}

async function deletePod(name: string, namespace = ns): Promise<void> {
  await kubectlOk([
    'delete',
    'pod',
    name,
    '-n',
    namespace,
    '--ignore-not-found',
    '--wait=true',
    '--timeout=120s',
  ]);
}

/** The host's mount table lines under a pod's kubelet directory. */
function podMounts(uid: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(`/pods/${uid}/`));
}

interface TokenClaims {
  iat: number;
  exp: number;
  'kubernetes.io'?: { pod?: { name: string } };
}

function jwtClaims(token: string): TokenClaims {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
}

async function podsOf(namespace: string, app: string): Promise<PodStatus[]> {
  const list = await getJson<{ items: PodStatus[] }>([
    'pods',
    '-n',
    namespace,
    '-l',
    `app.kubernetes.io/name=${app}`,
  ]);
  return list.items;
}

const ready = (p: PodStatus): boolean =>
  !p.metadata.deletionTimestamp &&
  (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

async function waitReplicasReady(namespace: string, app: string, count: number): Promise<void> {
  await waitFor(`${count} ready ${app} pods and no terminating one`, 240_000, async () => {
    const pods = await podsOf(namespace, app);
    return pods.length === count && pods.every(ready);
  });
}

interface ConnectorState {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; message?: string }[];
    proxy?: { httpAddress: { url: string } };
  };
}

/**
 * What Kubernetes does to a Deployment's replicas in an upgrade and a node drain, while a load runs
 * (started at t0): `kubectl rollout restart` to the end, then a graceful `kubectl delete pod` of one
 * replica until its successor is Ready; then the load goes on until it has run 60 s.
 */
async function disrupt(deployment: string, t0: number): Promise<void> {
  await sleep(3_000);
  await kubectlOk(['-n', systemNamespace, 'rollout', 'restart', `deployment/${deployment}`]);
  await kubectlOk(['-n', systemNamespace, 'rollout', 'status', `deployment/${deployment}`, '--timeout=240s']);
  await waitReplicasReady(systemNamespace, deployment, 2);
  const victim = (await podsOf(systemNamespace, deployment))[0]?.metadata.name ?? '';
  await deletePod(victim, systemNamespace);
  await waitReplicasReady(systemNamespace, deployment, 2);
  while (Date.now() - t0 < 60_000) await sleep(1_000);
}

/** Counts of what a load client saw. */
interface LoadCount {
  total: number;
  byStatus: Record<string, number>;
  errors: string[];
}

function formatCount(c: LoadCount, seconds: number): string {
  const statuses = Object.entries(c.byStatus)
    .map(([s, n]) => `${n}× ${s}`)
    .join(', ');
  return `${c.total} requests in ${seconds.toFixed(0)} s (${statuses}${c.errors.length ? `; ${c.errors.length} errors` : ''})`;
}

describe('workloads in the real cluster', function () {
  this.timeout(15 * 60_000);
  let demo: ClusterDemo;
  const cleanups: (() => Promise<void>)[] = [];
  // The clone Pod of the first test, checked again by the last one.
  let builder: { uid: string; token: string; seenAt: number } | undefined;
  // The token the mysql-session Pod logged in with first, for the republish check of `last`.
  let mysqlSession: { password: string } | undefined;

  before(async function () {
    const dir = mkdtempSync(join(tmpdir(), 'connectors-cluster-workloads-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    });
    demo = await installClusterDemo(cluster(), {
      dir,
      kubectlBinary: (await resolveBinaries()).kubectl,
      log: (line) => {
        console.log(`      ${line}`);
      },
    });
    cleanups.push(() => demo.stop());
    // The shortest token lifetime kube-apiserver accepts, so kubelet renews within the suite.
    const driver = await getJson<KubeObject & { spec: { tokenRequests: { expirationSeconds: number }[] } }>([
      'csidriver',
      'connectors-csi',
    ]);
    for (const t of driver.spec.tokenRequests) t.expirationSeconds = 600;
    await kubectlOk(['replace', '--force', '-f', '-'], JSON.stringify(driver));
    // docs/csi.md's first Pod example brings the pipeline's ServiceAccount `builder` and its RBAC.
  });

  after(async function () {
    for (const stop of cleanups.reverse()) await stop();
  });

  it('a non-root Pod clones a private repository with only what its connectors-csi volume holds', async function () {
    await applyDocExample('builder');
    const p = await explained('builder', 'the clone to finish', 180_000, async () => {
      const s = await pod('builder');
      if (s?.status.phase === 'Failed') throw new Error(`the clone failed: ${await logs('builder')}`);
      return s?.status.phase === 'Running' &&
        (await cluster().kubectl(['exec', '-n', ns, 'builder', '--', 'test', '-e', '/work/cloned'])).code ===
          0
        ? s
        : undefined;
    });
    expect(await logs('builder')).to.match(/origin\/develop/);
    expect(demo.gitAddress).to.equal('http://git.tools.svc.cluster.local');
    // What the Pod holds: the rendered .gitconfig and its own token, never the Git password.
    const files = await exec(
      'builder',
      'id -u; ls -a /home/connectors; cat /home/connectors/* 2>/dev/null; env',
    );
    expect(files).to.match(/^1000\n/);
    expect(files).to.contain('.gitconfig');
    expect(files.includes(demo.gitCredentials.password), 'the Git password reached the Pod').to.equal(false);
    const token = (await exec('builder', 'cat /home/connectors/context.token')).trim();
    const claims = jwtClaims(token);
    expect(claims['kubernetes.io']?.pod?.name).to.equal('builder');
    builder = { uid: p.metadata.uid, token, seenAt: Date.now() };
  });

  it('kubectl connectors resolve, run by a ServiceAccount with only connectors-resourceinterfaces-view, prints a WorkspaceBinding that clones in a Pod', async function () {
    // docs/resourceinterfaces.md, as shown: the RBAC, the commands, their output, the Pod.
    await applyDocExample('resolve-rbac');
    const token = await cluster().controlPlane.createToken(ns, 'pipeline');
    const bin = mkdtempSync(join(tmpdir(), 'connectors-plugin-'));
    cleanups.push(() => {
      rmSync(bin, { recursive: true, force: true });
      return Promise.resolve();
    });
    symlinkSync(join(repoRoot(), 'dist', 'cli', 'main.js'), join(bin, 'kubectl-connectors'));
    symlinkSync((await resolveBinaries()).kubectl, join(bin, 'kubectl'));
    const kubeconfig = await cluster().controlPlane.writeKubeconfig(join(bin, 'pipeline.kubeconfig'), {
      token,
    });
    const run = (command: string): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(
          'bash',
          ['-c', command],
          {
            env: {
              PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
              KUBECONFIG: kubeconfig,
              HOME: bin,
            },
          },
          (err, stdout, stderr) => {
            resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
          },
        );
      });
    const [list = '', resolveCommand = ''] = shellCommands(docBlock('resolve').text);
    // RBAC reaches the authorizers a moment after the RoleBinding is written.
    const listed = await waitFor(
      'the pipeline ServiceAccount to list the ResourceInterfaces',
      30_000,
      async () => {
        const r = await run(list);
        return r.code === 0 ? r : undefined;
      },
    );
    expect(listed.stdout).to.match(/^gitcoderepository\s+GitCodeRepository\s+repository,revision\?/m);
    const resolved = await run(resolveCommand);
    expect(resolved.code, resolved.stderr).to.equal(0);
    const printed = load(resolved.stdout) as {
      params: { name: string; value: string }[];
      workspaces: ({ name: string } & KubeObject)[];
    };
    expect(printed).to.deep.equal(load(docBlock('resolve-output').text));
    expect(resolved.stdout.split('\n')[0]).to.equal(docBlock('resolve-output').text.split('\n')[0]);

    // The Pod of the page is the printed binding as Tekton mounts it, with the printed params.
    const shownPod = load(docExample('resolve-pod')) as {
      spec: { volumes: ({ name: string } & KubeObject)[]; containers: { args: string[] }[] };
    };
    const binding = printed.workspaces.find((w) => w.name === 'git-basic-auth');
    const volumeSource = Object.fromEntries(Object.entries(binding ?? {}).filter(([k]) => k !== 'name'));
    expect(shownPod.spec.volumes.find((v) => v.name === 'ws-git-basic-auth')).to.deep.equal({
      name: 'ws-git-basic-auth',
      ...volumeSource,
    });
    const script = shownPod.spec.containers[0]?.args[0] ?? '';
    for (const p of printed.params) expect(script).to.contain(p.value);
    await applyDocExample('resolve-pod');
    cleanups.push(() => deletePod('resolved-clone'));
    const done = await explained(
      'resolved-clone',
      'the clone of the resolved workspace',
      180_000,
      async () => {
        const s = await pod('resolved-clone');
        if (s?.status.phase === 'Failed')
          throw new Error(`the clone failed: ${await logs('resolved-clone')}`);
        return s?.status.phase === 'Succeeded' ? s : undefined;
      },
    );
    expect(done.status.phase).to.equal('Succeeded');
    expect(await logs('resolved-clone')).to.contain("Switched to a new branch 'develop'");
  });

  it('without RBAC a Pod waits in ContainerCreating with our PermissionDenied, and starts once a RoleBinding exists', async function () {
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'newcomer', namespace: ns } },
      podWithVolume({
        name: 'newcomer',
        serviceAccount: 'newcomer',
        image: TEST_IMAGE,
        volume: connectorsVolume('demo-tool'),
        script: 'cat /home/connectors/.env >/dev/null && exec sleep 3600',
      }),
    ]);
    const uid = (await pod('newcomer'))?.metadata.uid;
    const event = await waitFor('a FailedMount event', 120_000, async () => {
      const events = await getJson<{ items: { reason: string; message: string }[] }>([
        'events',
        '-n',
        ns,
        '--field-selector',
        'involvedObject.name=newcomer',
      ]);
      return events.items.find((e) => e.reason === 'FailedMount');
    });
    expect(event.message).to.contain('code = PermissionDenied');
    expect(event.message).to.contain(`"demo-tool" is forbidden`);
    const waiting = await pod('newcomer');
    expect(waiting?.status.containerStatuses?.[0]?.state.waiting?.reason).to.equal('ContainerCreating');

    await apply(
      ['connectors-proxy-view'].map((role) => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `newcomer-${role}`, namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'newcomer', namespace: ns }],
      })),
    );
    const t0 = Date.now();
    const started = await waitRunning('newcomer', 180_000);
    console.log(
      `      started ${((Date.now() - t0) / 1000).toFixed(0)} s after the RoleBinding, not recreated`,
    );
    expect(started.metadata.uid, 'the same Pod, retried by kubelet').to.equal(uid);
    await deletePod('newcomer');
  });

  it('a deleted Pod’s token is refused by the Connectors Proxy within the authentication cache TTL, its mount and tmpfs gone', async function () {
    await apply([
      podWithVolume({
        name: 'short-lived',
        serviceAccount: 'builder',
        image: TEST_IMAGE,
        volume: connectorsVolume('demo-tool'),
        script: 'exec sleep 3600',
      }),
    ]);
    const p = await waitRunning('short-lived');
    const token = (await exec('short-lived', 'cat /home/connectors/context.token')).trim();
    expect(podMounts(p.metadata.uid).some((m) => m.includes('kubernetes.io~csi/connectors/mount'))).to.equal(
      true,
    );
    const proxies = (await podsOf(systemNamespace, 'connectors-proxy')).filter(ready);
    expect(proxies).to.have.length(2);
    // Straight to each replica (each has its own cache), reverse mode, as a Pod would call it.
    const call = async (ip: string): Promise<number> => {
      const r = await request(`http://${ip}:8080/namespaces/${ns}/connectors/demo-tool/whoami`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await r.body.dump();
      return r.statusCode;
    };
    for (const proxy of proxies) expect(await call(proxy.status.podIP ?? '')).to.equal(200);

    await deletePod('short-lived');
    const gone = Date.now();
    const ttlMs = 10_000; // --authentication-cache-ttl's default, as the manifest leaves it
    for (const proxy of proxies) {
      await waitFor(
        `replica ${proxy.metadata.name} to refuse the deleted Pod's token`,
        ttlMs + 5_000,
        async () => {
          return (await call(proxy.status.podIP ?? '')) === 401;
        },
      );
    }
    console.log(
      `      refused by both replicas ${((Date.now() - gone) / 1000).toFixed(1)} s after the Pod was gone`,
    );
    expect(podMounts(p.metadata.uid), 'mounts of the deleted Pod').to.deep.equal([]);
    expect(
      existsSync(join(cluster().kubeletRootDir, 'pods', p.metadata.uid)),
      'its kubelet directory',
    ).to.equal(false);
  });

  describe('no failed request during upgrades', function () {
    it('through kube-apiserver to the API server: rollout restart, then a graceful delete of one replica', async function () {
      const cp = cluster().controlPlane;
      const agent = new Agent({
        connect: { ca: cp.caCertPem, cert: cp.admin.certPem, key: cp.admin.keyPem },
      });
      const count: LoadCount = { total: 0, byStatus: {}, errors: [] };
      let stop = false;
      const worker = async (): Promise<void> => {
        while (!stop) {
          try {
            const r = await request(`${cluster().server}${demoToolProxy}/load`, { dispatcher: agent });
            await r.body.dump();
            count.byStatus[r.statusCode] = (count.byStatus[r.statusCode] ?? 0) + 1;
          } catch (err) {
            count.errors.push(String(err));
          }
          count.total++;
        }
      };
      const t0 = Date.now();
      const workers = Array.from({ length: 4 }, () => worker());
      try {
        await disrupt('connectors-apiserver', t0);
      } finally {
        stop = true;
        await Promise.all(workers);
        await agent.close();
      }
      console.log(`      ${formatCount(count, (Date.now() - t0) / 1000)}`);
      expect(count.errors).to.deep.equal([]);
      expect(Object.keys(count.byStatus)).to.deep.equal(['200']);
      expect(count.total).to.be.greaterThan(100);
    });

    it('a client Pod through the Connectors Proxy: rollout restart, then a graceful delete of one replica', async function () {
      // A Node client in the product image (it has node), keep-alive as Node's fetch does, with the
      // token of its connectors-csi volume; it stops when /tmp/stop appears and prints its counts.
      const script = [
        "const fs = require('node:fs');",
        `const url = 'http://connectors-proxy.${systemNamespace}.svc.cluster.local/namespaces/${ns}/connectors/demo-tool/load';`,
        'const count = { total: 0, byStatus: {}, errors: [] };',
        'async function worker() {',
        "  while (!fs.existsSync('/tmp/stop')) {",
        "    const token = fs.readFileSync('/home/connectors/context.token', 'utf8').trim();",
        '    try {',
        '      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });',
        '      await r.arrayBuffer();',
        '      count.byStatus[r.status] = (count.byStatus[r.status] ?? 0) + 1;',
        '    } catch (err) { count.errors.push(String(err.cause ?? err)); }',
        '    count.total++;',
        '  }',
        '}',
        "Promise.all([worker(), worker(), worker(), worker()]).then(() => console.log('RESULT ' + JSON.stringify(count)));",
      ].join('\n');
      await apply([
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'load-client', namespace: ns },
          data: { 'load.js': script },
        },
        podWithVolume({
          name: 'load-client',
          serviceAccount: 'builder',
          image: productImage,
          volume: connectorsVolume('demo-tool'),
          extraVolumes: [
            { name: 'script', configMap: { name: 'load-client' } },
            { name: 'tmp', emptyDir: {} },
          ],
          extraMounts: [
            { name: 'script', mountPath: '/script' },
            { name: 'tmp', mountPath: '/tmp' },
          ],
          script: 'exec node /script/load.js',
        }),
      ]);
      await waitRunning('load-client');
      const t0 = Date.now();
      await disrupt('connectors-proxy', t0);
      await exec('load-client', 'touch /tmp/stop');
      const result = await waitFor('the load client to report', 60_000, async () => {
        const m = /^RESULT (.*)$/m.exec(await logs('load-client'));
        return m?.[1];
      });
      const count = JSON.parse(result) as LoadCount;
      console.log(`      ${formatCount(count, (Date.now() - t0) / 1000)}`);
      expect(count.errors).to.deep.equal([]);
      expect(Object.keys(count.byStatus)).to.deep.equal(['200']);
      expect(count.total).to.be.greaterThan(100);
      await deletePod('load-client');
    });
  });

  it('deleting the leader controller’s Pod hands the Lease to the other replica, and a Connector changed meanwhile converges', async function () {
    interface Lease {
      spec: {
        holderIdentity?: string;
        leaseDurationSeconds: number;
        acquireTime?: string;
        leaseTransitions?: number;
      };
    }
    const lease = async (): Promise<Lease> =>
      getJson<Lease>(['lease', 'connectors-controller', '-n', systemNamespace]);
    await waitReplicasReady(systemNamespace, 'connectors-controller', 2);
    const before = await lease();
    const leader = before.spec.holderIdentity ?? '';
    const controllers = (await podsOf(systemNamespace, 'connectors-controller')).map((p) => p.metadata.name);
    expect(controllers).to.include(leader);
    const other = controllers.find((n) => n !== leader);

    const deleted = Date.now();
    await kubectlOk(['delete', 'pod', leader, '-n', systemNamespace, '--wait=false']);
    // Meanwhile, the demo tool's Connector moves to another path of the tool.
    await kubectlOk([
      'patch',
      'connector',
      'demo-tool',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { address: `${demo.toolAddress}/moved` } }),
    ]);
    const after = await waitFor(
      'another holder of the Lease',
      before.spec.leaseDurationSeconds * 1000 + 10_000,
      async () => {
        const l = await lease();
        return l.spec.holderIdentity && l.spec.holderIdentity !== leader ? l : undefined;
      },
    );
    const handedOverMs = Date.now() - deleted;
    console.log(
      `      ${after.spec.holderIdentity} took the Lease ${(handedOverMs / 1000).toFixed(1)} s after ${leader}'s Pod was deleted`,
    );
    // The leader releases the Lease when its Pod is deleted; whichever controller asks first takes it:
    // the other replica, or the ReplicaSet's replacement if it starts before the other's next retry.
    const controllersNow = (await podsOf(systemNamespace, 'connectors-controller')).map(
      (p) => p.metadata.name,
    );

    // Only the leader writes status: observedGeneration catching up is the new leader's work.
    const converged = async (): Promise<void> => {
      await waitFor('the status of demo-tool to reach its generation, Ready', 120_000, async () => {
        const c = await getJson<ConnectorState>(['connector', 'demo-tool', '-n', ns]);
        return (
          c.status?.observedGeneration === c.metadata.generation &&
          c.status.conditions?.some((cond) => cond.type === 'Ready' && cond.status === 'True')
        );
      });
    };
    await converged();
    await kubectlOk([
      'patch',
      'connector',
      'demo-tool',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { address: `${demo.toolAddress}/api` } }),
    ]);
    await converged();
    await waitReplicasReady(systemNamespace, 'connectors-controller', 2);
    // Checked once demo-tool is back where the other tests expect it.
    expect([other, ...controllersNow]).to.include(after.spec.holderIdentity);
    expect(handedOverMs).to.be.lessThan(before.spec.leaseDurationSeconds * 1000);
  });

  it('the CSI DaemonSet is updated while a Pod holds a volume: its files stay readable and the new driver republishes them', async function () {
    await apply([
      podWithVolume({
        name: 'reader',
        serviceAccount: 'builder',
        image: TEST_IMAGE,
        volume: connectorsVolume('demo-tool'),
        // Reads the files five times a second and says so when a read fails.
        script:
          'while :; do cat /home/connectors/.env /home/connectors/context.token >/dev/null || echo READ-FAILED; ' +
          'sleep 0.2; done',
      }),
    ]);
    await waitRunning('reader');
    const generation = async (): Promise<string> =>
      (await exec('reader', 'readlink /home/connectors/..data')).trim();
    const first = await generation();
    const old = (await podsOf(csiNamespace, 'connectors-csi')).map((p) => p.metadata.name);
    await kubectlOk(['-n', csiNamespace, 'rollout', 'restart', 'daemonset/connectors-csi']);
    await kubectlOk(['-n', csiNamespace, 'rollout', 'status', 'daemonset/connectors-csi', '--timeout=240s']);
    const fresh = await waitFor('the new driver Pod to be Ready', 120_000, async () => {
      const pods = (await podsOf(csiNamespace, 'connectors-csi')).filter(
        (p) => !old.includes(p.metadata.name),
      );
      return pods.length === 1 && pods.every(ready) ? pods[0] : undefined;
    });
    const startedAt = Date.parse(fresh.status.startTime ?? '');
    // kubelet republishes about every 90 s; the new driver writes a new generation of the files.
    const republished = await waitFor(
      'the new driver to republish the volume',
      240_000,
      async () => {
        const g = await generation();
        return g !== first ? g : undefined;
      },
      2_000,
    );
    console.log(`      files republished (${first} → ${republished}) by ${fresh.metadata.name}`);
    // The generation's name is the time it was written (csi/writer.ts): after the new driver started.
    const stamp = /^\.\.(\d{4}-\d\d-\d\dT\d\d)_(\d\d)_(\d\d)_(\d{3})Z\./.exec(republished);
    expect(stamp, `generation name ${republished}`).to.not.equal(null);
    const [, dateHour, minute, second, ms] = stamp ?? [];
    expect(Date.parse(`${dateHour}:${minute}:${second}.${ms}Z`)).to.be.at.least(startedAt);
    const reader = await pod('reader');
    expect(reader?.status.containerStatuses?.[0]?.restartCount).to.equal(0);
    expect(await logs('reader')).to.not.contain('READ-FAILED');
    await deletePod('reader');
  });

  describe('other clients in pods, configured only by the files their volume rendered', function () {
    let registry: Registry;
    let mariadb: MariaDbServer;
    const databasePassword = randomBytes(12).toString('base64url');
    let packages: PackageRepository;
    let other: ControlPlane;
    const registryPassword = randomBytes(12).toString('base64url');
    const packagesPassword = randomBytes(12).toString('base64url');
    let digest: string;
    const stops: (() => Promise<void>)[] = [];

    before(async function () {
      const host = cluster().network.gateway;
      registry = await startRegistry({
        auth: 'token',
        username: 'reg-user',
        password: registryPassword,
        host,
      });
      stops.push(() => registry.stop());
      digest = await registry.push('team/app', '1.0');
      packages = await startPackageRepository({
        username: 'deployer',
        password: packagesPassword,
        host,
        serviceName: `packages.${toolsNamespace}.svc.cluster.local`,
      });
      stops.push(() => packages.stop());
      await packages.addNpmPackage('connectors-demo', '1.0.0');
      // docs/mysql.md's database: Debian's MariaDB on the bridge, an account only the Connector has.
      mariadb = await startMariaDb({ host });
      // Stopped with the whole suite: `last` logs in again once the token is republished.
      cleanups.push(() => mariadb.stop());
      await mariadb.sql(
        `CREATE DATABASE orders; CREATE TABLE orders.orders (id INT PRIMARY KEY); ` +
          `INSERT INTO orders.orders VALUES (1), (2), (3); ` +
          `CREATE USER 'orders'@'%' IDENTIFIED BY '${databasePassword}'; ` +
          `GRANT ALL ON orders.* TO 'orders'@'%';`,
      );
      // "Another cluster": a second kube-apiserver on the bridge, read by a ServiceAccount of its own.
      other = await startControlPlane({ bindAddress: host, lowPorts: true, serviceCIDR: '10.97.0.0/24' });
      stops.push(() => other.stop());
      const otherToken = await other.createToken('elsewhere', 'reader'); // makes both
      for (const args of [
        ['create', 'clusterrole', 'namespace-reader', '--verb=get,list', '--resource=namespaces'],
        [
          'create',
          'clusterrolebinding',
          'reader',
          '--clusterrole=namespace-reader',
          '--serviceaccount=elsewhere:reader',
        ],
      ]) {
        const r = await other.kubectl(args);
        expect(r.code, r.stderr).to.equal(0);
      }
      await apply([
        ...hostToolService('registry', host, registry.port),
        ...hostToolService('packages', host, packages.port, 443),
        ...hostToolService('mariadb', host, mariadb.port, 3306),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'orders-db', namespace: ns },
          type: 'kubernetes.io/basic-auth',
          stringData: { username: 'orders', password: databasePassword },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'orders-db', namespace: ns },
          spec: {
            connectorClassName: 'mysql',
            address: `mysql://mariadb.${toolsNamespace}.svc.cluster.local:3306`,
            auth: { name: 'basicAuth', secretRef: { name: 'orders-db' } },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'registry-creds', namespace: ns },
          type: 'cpaas.io/distribution-registry-token',
          stringData: { username: 'reg-user', password: registryPassword },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'registry', namespace: ns },
          spec: {
            connectorClassName: 'oci',
            address: `http://registry.${toolsNamespace}.svc.cluster.local`,
            auth: {
              name: 'tokenAuth',
              secretRef: { name: 'registry-creds' },
              params: [{ name: 'repository', value: 'team/app' }],
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'packages-creds', namespace: ns },
          type: 'kubernetes.io/basic-auth',
          stringData: { username: 'deployer', password: packagesPassword },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'packages-ca', namespace: ns },
          stringData: { 'ca.crt': packages.caCertPem },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'npm', namespace: ns },
          spec: {
            connectorClassName: 'npm',
            address: packages.npmRegistry,
            auth: { name: 'basicAuth', secretRef: { name: 'packages-creds' } },
            caCertSecretRef: { name: 'packages-ca' },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'other-cluster-token', namespace: ns },
          type: 'connectors.cpaas.io/bearer-token',
          stringData: { token: otherToken },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'other-cluster-ca', namespace: ns },
          stringData: { 'ca.crt': other.caCertPem },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'other-cluster', namespace: ns },
          spec: {
            connectorClassName: 'k8s',
            address: other.server,
            auth: { name: 'bearerTokenAuth', secretRef: { name: 'other-cluster-token' } },
            caCertSecretRef: { name: 'other-cluster-ca' },
          },
        },
      ]);
      // What the connectors-csi volume needs of a Connector: the proxy address in its status.
      for (const name of ['registry', 'npm', 'other-cluster', 'orders-db']) {
        const status = await waitFor(`Connector ${name} to have a proxy address`, 120_000, async () => {
          const c = await getJson<ConnectorState>(['connector', name, '-n', ns]);
          return c.status?.proxy?.httpAddress.url ? c.status : undefined;
        });
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        expect(ready?.status, `${name}: ${ready?.message ?? ''}`).to.equal('True');
      }
    });

    after(async function () {
      for (const stop of stops.reverse()) await stop();
    });

    /** Runs docs/csi.md's one-shot client Pod to its end; returns its log. */
    const runClient = async (name: string): Promise<string> => {
      await applyDocExample(name);
      const phase = await explained(name, `Pod ${name} to end`, 180_000, async () => {
        const p = await pod(name);
        return p?.status.phase === 'Succeeded' || p?.status.phase === 'Failed' ? p.status.phase : undefined;
      });
      const out = await logs(name);
      expect(phase, out).to.equal('Succeeded');
      await deletePod(name);
      return out;
    };

    it('skopeo copies an image through the Connectors Proxy (the registry’s token flow), with config.json', async function () {
      const out = await runClient('skopeo');
      expect((JSON.parse(out.slice(out.indexOf('{'))) as { Digest: string }).Digest).to.equal(digest);
      expect(await registry.tagsList('team/app')).to.include('copied');
    });

    it('npm install from a private npm repository, with .npmrc', async function () {
      const before = packages.requests.length;
      const out = await runClient('npm');
      expect(out).to.contain('connectors-demo');
      // The status controller probes the same repository meanwhile (its liveness probe carries no
      // credential): only npm's own requests are the client's.
      const seen = packages.requests.slice(before).filter((r) => r.userAgent.startsWith('npm/'));
      expect(seen.map((r) => r.url)).to.include('/npm/connectors-demo');
      expect(
        seen.every((r) => r.user === 'deployer'),
        'every request carried the Connector’s credential',
      ).to.equal(true);
    });

    it('kubectl get against another API server through a k8s Connector, with kubeconfig', async function () {
      const out = await runClient('kubectl');
      expect(out).to.contain('namespace/elsewhere');
    });

    it('mysql through the MySQL proxy, with my.cnf: the token is the password, the database’s never reaches the pod', async function () {
      // docs/mysql.md's Pod as it stands: MYSQL_HOME at the volume, nothing else.
      await kubectlOk(['apply', '-f', '-'], docExample('mysql-pod'));
      const phase = await explained('report', 'Pod report to end', 180_000, async () => {
        const p = await pod('report');
        return p?.status.phase === 'Succeeded' || p?.status.phase === 'Failed' ? p.status.phase : undefined;
      });
      const out = await logs('report');
      expect(phase, out).to.equal('Succeeded');
      expect(out).to.match(/^3$/m);
      await deletePod('report');

      // A Pod that stays: its my.cnf holds the token and no database password; the `last` suite runs
      // mysql in it again once kubelet has republished the volume with a fresh token.
      const session = load(docExample('mysql-pod')) as {
        metadata: { name: string };
        spec: { restartPolicy?: string; containers: { name: string; command: string[] }[] };
      };
      session.metadata.name = 'mysql-session';
      delete session.spec.restartPolicy;
      const container = session.spec.containers[0];
      if (!container) throw new Error('docs/mysql.md: the Pod has no container');
      container.command = ['sleep', 'infinity'];
      await kubectlOk(['apply', '-f', '-'], JSON.stringify(session));
      await waitRunning('mysql-session');
      const cnf = await exec('mysql-session', 'cat "$MYSQL_HOME/my.cnf"');
      expect(cnf).to.not.contain(databasePassword);
      const password = /^password = (.+)$/m.exec(cnf)?.[1] ?? '';
      expect(jwtClaims(password).exp, 'my.cnf carries the pod’s ServiceAccount token').to.be.a('number');
      expect(await exec('mysql-session', 'mysql -N -e "select current_user()"')).to.match(/^orders@/m);
      mysqlSession = { password };

      // The MySQL proxy logged neither the database password nor the token.
      const r = await cluster().kubectl([
        'logs',
        '-n',
        systemNamespace,
        '-l',
        'app.kubernetes.io/name=connectors-mysql-proxy',
        '--tail=-1',
      ]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.not.contain(databasePassword);
      expect(r.stdout).to.not.contain(password);
    });

    it('curl through the Connectors Proxy with the built-in .env', async function () {
      const before = demo.tool.requests.length;
      const out = await runClient('curl');
      expect((JSON.parse(out.slice(out.indexOf('{'))) as { url: string }).url).to.equal('/api/hello');
      const seen = demo.tool.requests.slice(before).filter((r) => r.url === '/api/hello');
      expect(seen).to.have.length(1);
      const { username, password } = demo.toolCredentials;
      expect(seen[0]?.headers.authorization).to.equal(
        `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
      );
    });
  });

  // Mocha runs a suite's own tests before its nested suites: in a suite of its own, placed last, this
  // wait for kubelet's renewal overlaps everything above.
  describe('last', function () {
    it('kubelet republishes the volume with a fresh token before the old one expires, and git fetch keeps working', async function () {
      if (!builder) throw new Error('the clone test did not run');
      const old = jwtClaims(builder.token);
      const fresh = await waitFor(
        'a fresh token in the builder Pod’s volume',
        (old.exp - Date.now() / 1000) * 1000 + 60_000,
        async () => {
          const t = (await exec('builder', 'cat /home/connectors/context.token')).trim();
          return t !== builder?.token ? { token: t, at: Date.now() } : undefined;
        },
        5_000,
      );
      const claims = jwtClaims(fresh.token);
      console.log(
        `      token renewed ${(fresh.at / 1000 - old.iat).toFixed(0)} s after it was issued, ` +
          `${(old.exp - fresh.at / 1000).toFixed(0)} s before it expired`,
      );
      expect(fresh.at / 1000).to.be.lessThan(old.exp);
      expect(claims.iat).to.be.greaterThan(old.iat);
      expect(await exec('builder', 'git -C /work/app fetch origin 2>&1 && echo FETCHED')).to.contain(
        'FETCHED',
      );
      const uid = builder.uid;
      await deletePod('builder');
      expect(podMounts(uid)).to.deep.equal([]);

      // The MySQL session Pod's my.cnf was republished too; the fresh token logs in.
      if (!mysqlSession) throw new Error('the mysql test did not run');
      const before = mysqlSession.password;
      const expiresIn = jwtClaims(before).exp * 1000 - Date.now();
      const renewed = await waitFor(
        'a fresh token in mysql-session’s my.cnf',
        expiresIn + 60_000,
        async () => {
          const cnf = await exec('mysql-session', 'cat "$MYSQL_HOME/my.cnf"');
          const password = /^password = (.+)$/m.exec(cnf)?.[1];
          return password && password !== before ? password : undefined;
        },
      );
      expect(jwtClaims(renewed).iat).to.be.greaterThan(jwtClaims(before).iat);
      expect(await exec('mysql-session', 'mysql -N -e "select count(*) from orders.orders"')).to.match(
        /^3$/m,
      );
      await deletePod('mysql-session');
    });
  });
});
