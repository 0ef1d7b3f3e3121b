// Mocha root hooks of the cluster suite: ONE real single-node cluster (hack/cluster.ts) for all
// its tests, with the test image imported, stopped after them; and proof that the stop left the
// host as the start found it. Start and stop times are printed for the record.
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from '../../hack/binaries.js';
import { hostFootprint, snapshotDiff, startCluster, type Cluster } from '../../hack/cluster.js';
import { buildBusyboxImage } from '../../hack/images.js';

/** busybox plus a static kubectl, for pods that talk to the API server with their own token. */
export const TEST_IMAGE = 'localhost/connectors/cluster-test:1';

let current: Cluster | undefined;
let before: Record<string, string> | undefined;

export function cluster(): Cluster {
  if (!current) throw new Error('the cluster is not running (test/cluster/fixture.ts starts it)');
  return current;
}

/** kubectl with the admin kubeconfig; throws with kubectl's stderr unless it exits 0. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await cluster().kubectl(args, { input, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * A fresh namespace holding the basic-auth Secret `creds` and one Connector that uses it, written
 * through whatever admission the cluster has (the install's webhooks).
 */
export async function namespaceWithConnector(
  ns: string,
  connector: { name: string; className: string; address: string; params?: { name: string; value: string }[] },
): Promise<void> {
  await kubectlOk(['create', 'namespace', ns]);
  const items = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds', namespace: ns },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: 'u', password: 'p' },
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: connector.name, namespace: ns },
      spec: {
        connectorClassName: connector.className,
        address: connector.address,
        auth: {
          name: 'basicAuth',
          secretRef: { name: 'creds' },
          ...(connector.params ? { params: connector.params } : {}),
        },
      },
    },
  ];
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(20 * 60_000); // a cold run builds the Kubernetes binaries and CoreDNS first
    const logDir = join(process.env.CONNECTORS_TEST_LOG_DIR ?? join(repoRoot(), '.test-logs'), 'cluster');
    const { kubectl } = await resolveBinaries();
    const image = await buildBusyboxImage({
      name: TEST_IMAGE,
      extra: [{ path: 'usr/local/bin/kubectl', source: kubectl }],
    });
    before = hostFootprint();
    current = await startCluster({ logDir });
    const t = current.timings;
    const t0 = performance.now();
    await current.importImage(image.archive);
    console.log(
      `  cluster started in ${seconds(t.totalMs)} (binaries ${seconds(t.binariesMs)}, host ${seconds(t.hostMs)}, ` +
        `containerd + control plane ${seconds(t.runtimeAndControlPlaneMs)}, node ${seconds(t.nodeMs)}); ` +
        `test image imported in ${seconds(performance.now() - t0)}; logs in ${logDir}`,
    );
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(3 * 60_000);
    const c = current;
    current = undefined;
    if (!c) return;
    const t0 = performance.now();
    await c.stop();
    console.log(`  cluster stopped in ${seconds(performance.now() - t0)}`);
    if (before !== undefined) {
      const diff = snapshotDiff(before, hostFootprint());
      if (diff.length > 0) throw new Error(`stopping the cluster left the host changed:\n${diff.join('\n')}`);
    }
  },
};
