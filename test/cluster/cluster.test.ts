// The single-node cluster of hack/cluster.ts, proven with real pods run by kubelet: scheduling,
// readiness, Service routing by cluster DNS (also back to the same pod, and to kube-apiserver as
// the `kubernetes` Service, over TLS with the pod's bound token), logs and exec, the pods' lack of
// any route off the machine, images that buildah pushed, and namespace deletion.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cluster, kubectlOk, TEST_IMAGE } from './fixture.js';

const run = promisify(execFile);

async function apply(objects: object[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

/** Runs a shell command in a pod's (first) container; returns its stdout, failing on a non-zero exit. */
async function shIn(ns: string, pod: string, script: string): Promise<string> {
  return kubectlOk(['exec', `--namespace=${ns}`, pod, '--', 'sh', '-c', script]);
}

const container = (name: string, script: string, extra: object = {}): object => ({
  name,
  image: TEST_IMAGE,
  imagePullPolicy: 'Never',
  command: ['sh', '-c', script],
  ...extra,
});

// Each web pod serves a page naming itself, so a response tells which pod answered.
const SERVE =
  'mkdir -p /www && echo "served by $(hostname)" > /www/index.html && echo "serving as $(hostname)" && ' +
  'exec httpd -f -p 8080 -h /www';

const readiness = { readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 } };

function service(ns: string, name: string, selector: Record<string, string>): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { selector, ports: [{ port: 80, targetPort: 8080 }] },
  };
}

describe('single-node cluster', function () {
  const ns = `cluster-${Math.random().toString(36).slice(2, 7)}`;

  before(async function () {
    await kubectlOk(['create', 'namespace', ns]);
    await apply([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { terminationGracePeriodSeconds: 1, containers: [container('web', SERVE, readiness)] },
          },
        },
      },
      service(ns, 'web', { app: 'web' }),
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'solo', namespace: ns, labels: { app: 'solo' } },
        spec: { terminationGracePeriodSeconds: 1, containers: [container('web', SERVE, readiness)] },
      },
      // The only backend of its Service: a request from it to the Service must come back to it.
      service(ns, 'solo', { app: 'solo' }),
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client', namespace: ns },
        spec: { terminationGracePeriodSeconds: 1, containers: [container('client', 'exec sleep 86400')] },
      },
    ]);
    await kubectlOk([
      'wait',
      `--namespace=${ns}`,
      '--for=condition=Ready',
      'pod/client',
      'pod/solo',
      '--timeout=120s',
    ]);
  });

  after(async function () {
    await cluster().kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('has a Ready node running kubelet v1.34.4', async function () {
    const node = JSON.parse(await kubectlOk(['get', 'node', cluster().nodeName, '--output=json'])) as {
      status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string } };
    };
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).to.equal('True');
    expect(node.status.nodeInfo.kubeletVersion).to.equal('v1.34.4');
  });

  it('makes a 2-replica Deployment with readiness probes Available', async function () {
    const t0 = performance.now();
    await kubectlOk(['rollout', 'status', `--namespace=${ns}`, 'deployment/web', '--timeout=120s']);
    await kubectlOk([
      'wait',
      `--namespace=${ns}`,
      '--for=condition=Available',
      'deployment/web',
      '--timeout=60s',
    ]);
    const ready = await kubectlOk([
      'get',
      `--namespace=${ns}`,
      'deployment/web',
      '--output=jsonpath={.status.readyReplicas}',
    ]);
    expect(ready).to.equal('2');
    console.log(
      `      (rolled out ${((performance.now() - t0) / 1000).toFixed(1)} s after the pods that came first)`,
    );
  });

  it('routes a pod to a Service by <svc>.<ns>.svc.cluster.local and by <svc>.<ns>.svc, reaching both replicas', async function () {
    await kubectlOk(['rollout', 'status', `--namespace=${ns}`, 'deployment/web', '--timeout=120s']);
    const pods = (
      await kubectlOk(['get', 'pods', `--namespace=${ns}`, '--selector=app=web', '--output=name'])
    )
      .trim()
      .split('\n');
    const answers = await shIn(
      ns,
      'client',
      `for i in $(seq 1 20); do timeout 10 wget -q -O- http://web.${ns}.svc.cluster.local/; done; timeout 10 wget -q -O- http://web.${ns}.svc/`,
    );
    const servedBy = new Set(answers.trim().split('\n'));
    expect(servedBy).to.deep.equal(new Set(pods.map((p) => `served by ${p.replace('pod/', '')}`)));
  });

  it('routes a pod through its own Service back to itself (hairpin)', async function () {
    expect(await shIn(ns, 'solo', `timeout 10 wget -q -O- http://solo.${ns}.svc.cluster.local/`)).to.equal(
      'served by solo\n',
    );
  });

  it('lets a pod call the kubernetes Service over TLS with its bound ServiceAccount token', async function () {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    // kubectl's in-cluster config: KUBERNETES_SERVICE_HOST/PORT, the token and ca.crt kubelet mounted.
    const inCluster = JSON.parse(await shIn(ns, 'client', 'kubectl get --raw /version')) as {
      gitVersion: string;
    };
    expect(inCluster.gitVersion).to.equal('v1.34.4');
    expect((await shIn(ns, 'client', 'echo $KUBERNETES_SERVICE_HOST')).trim()).to.equal(
      cluster().network.kubernetesServiceIP,
    );
    // The same by DNS name, which must be in kube-apiserver's certificate.
    const whoami = JSON.parse(
      await shIn(
        ns,
        'client',
        `kubectl --server=https://kubernetes.default.svc --certificate-authority=${sa}/ca.crt ` +
          `--token="$(cat ${sa}/token)" auth whoami --output=json`,
      ),
    ) as { status: { userInfo: { username: string; extra?: Record<string, string[]> } } };
    expect(whoami.status.userInfo.username).to.equal(`system:serviceaccount:${ns}:default`);
    // Bound to the pod by kubelet's TokenRequest, not a legacy Secret token.
    expect(whoami.status.userInfo.extra?.['authentication.kubernetes.io/pod-name']).to.deep.equal(['client']);
  });

  it('serves kubectl logs and kubectl exec', async function () {
    const logs = await kubectlOk(['logs', `--namespace=${ns}`, 'solo']);
    expect(logs).to.equal('serving as solo\n');
    const exec = await kubectlOk(['exec', `--namespace=${ns}`, 'solo', '--', 'cat', '/www/index.html']);
    expect(exec).to.equal('served by solo\n');
  });

  it('gives pods no route off the machine', async function () {
    const { podCIDR, serviceCIDR, gateway } = cluster().network;
    // Destinations only: the pod subnet on-link, the Service range via the gateway, nothing else.
    const routes = await shIn(ns, 'client', 'ip -4 route show');
    const destinations = routes
      .trim()
      .split('\n')
      .map((r) => r.split(' ').slice(0, 3).join(' '))
      .sort();
    expect(destinations).to.deep.equal([`${serviceCIDR} via ${gateway}`, `${podCIDR} dev eth0`].sort());
    expect(await shIn(ns, 'client', 'ip -6 route show')).not.to.match(/^default/m);
    // So a connection to any other address fails before a packet is sent (TEST-NET-3, RFC 5737).
    const outside = await cluster().kubectl([
      'exec',
      `--namespace=${ns}`,
      'client',
      '--',
      'nc',
      '-w',
      '2',
      '203.0.113.1',
      '80',
    ]);
    expect(outside.stderr).to.include('Network is unreachable');
  });

  it('imports and runs an image that buildah pushed as an OCI archive (names in ref.name only)', async function () {
    // How the connectors image arrives: `buildah push <img> oci-archive:<path>:<name>`.
    const name = 'localhost/connectors/cluster-buildah-test:1';
    const dir = await mkdtemp(join(tmpdir(), 'buildah-test-'));
    const archive = join(dir, 'image.tar');
    const { stdout } = await run('buildah', ['from', 'scratch']);
    const working = stdout.trim();
    try {
      await run('buildah', ['copy', working, '/bin/busybox', '/bin/busybox']);
      await run('buildah', ['config', '--entrypoint', '["/bin/busybox"]', working]);
      await run('buildah', ['commit', '--quiet', working, name]);
      await run('buildah', ['push', '--quiet', name, `oci-archive:${archive}:${name}`]);
      expect(await cluster().importImage(archive)).to.deep.equal([name]);
    } finally {
      await run('buildah', ['rm', working]).catch(() => undefined);
      await run('buildah', ['rmi', name]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'from-buildah', namespace: ns },
        spec: {
          restartPolicy: 'Never',
          containers: [
            { name: 'c', image: name, imagePullPolicy: 'Never', args: ['echo', 'hello from buildah'] },
          ],
        },
      },
    ]);
    await kubectlOk([
      'wait',
      `--namespace=${ns}`,
      '--for=jsonpath={.status.phase}=Succeeded',
      'pod/from-buildah',
      '--timeout=60s',
    ]);
    expect(await kubectlOk(['logs', `--namespace=${ns}`, 'from-buildah'])).to.equal('hello from buildah\n');
  });

  it("propagates a privileged pod's mounts below the kubelet root to the host (Bidirectional, as CSI node plugins need)", async function () {
    const root = cluster().kubeletRootDir;
    await apply([
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'mounter', namespace: ns },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            container('mounter', 'exec sleep 86400', {
              securityContext: { privileged: true },
              volumeMounts: [{ name: 'pods', mountPath: `${root}/pods`, mountPropagation: 'Bidirectional' }],
            }),
          ],
          volumes: [{ name: 'pods', hostPath: { path: `${root}/pods`, type: 'Directory' } }],
        },
      },
    ]);
    await kubectlOk(['wait', `--namespace=${ns}`, '--for=condition=Ready', 'pod/mounter', '--timeout=60s']);
    const target = `${root}/pods/propagation-test`;
    const hostSees = async (): Promise<boolean> =>
      (await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${target} `);
    await shIn(ns, 'mounter', `mkdir -p ${target} && mount -t tmpfs propagation-test ${target}`);
    try {
      expect(await hostSees()).to.equal(true);
    } finally {
      await shIn(ns, 'mounter', `umount ${target} && rmdir ${target}`);
    }
    expect(await hostSees()).to.equal(false);
  });

  it('completes the deletion of a namespace that held pods and objects', async function () {
    const doomed = `${ns}-doomed`;
    await kubectlOk(['create', 'namespace', doomed]);
    await apply([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: doomed }, data: { a: 'b' } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: doomed },
        spec: { terminationGracePeriodSeconds: 1, containers: [container('p', 'exec sleep 86400')] },
      },
    ]);
    await kubectlOk(['wait', `--namespace=${doomed}`, '--for=condition=Ready', 'pod/p', '--timeout=120s']);
    const t0 = performance.now();
    await kubectlOk(['delete', 'namespace', doomed, '--wait=true', '--timeout=120s']);
    const gone = await cluster().kubectl(['get', 'namespace', doomed]);
    expect(gone.code).to.not.equal(0);
    expect(gone.stderr).to.include('NotFound');
    console.log(`      (namespace gone ${((performance.now() - t0) / 1000).toFixed(1)} s after the delete)`);
  });
});
