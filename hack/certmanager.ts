// cert-manager for the cluster tests, as host processes beside the cluster: its controller (for
// the SelfSigned and CA Issuers that manifests/cert-manager/ uses) and its cainjector (which fills
// the caBundle of the APIService and both webhook configurations from their
// cert-manager.io/inject-ca-from annotation), both with the cluster's admin kubeconfig, after its
// CRDs. Host processes rather than pods: cert-manager's images come from a registry this machine
// cannot reach, and what the test proves is what cert-manager does through the API, which is the
// same from either place. cert-manager's webhook is not run: it only validates and defaults
// cert-manager's own objects (Issuers, Certificates), which manifests/cert-manager/ writes
// complete; the CRDs' schemas still check them.
// Binaries and CRDs: hack/build-cert-manager.sh.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.js';
import type { Cluster } from './cluster.js';
import { ManagedProcess } from './process.js';

export interface CertManager {
  /** The folder with controller, cainjector and crds/ (hack/build-cert-manager.sh). */
  readonly dir: string;
  /** Stops both processes, then deletes the CRDs (and with them every cert-manager object) and the leader Leases. */
  stop(): Promise<void>;
}

/** Namespace of the leader election Leases, and of the Secrets that ClusterIssuers refer to. */
const controlNamespace = 'kube-system';
const leases = ['cert-manager-controller', 'cert-manager-cainjector-leader-election'] as const;

export function buildCertManager(): Promise<string> {
  return runBuildScript(join(repoRoot(), 'hack', 'build-cert-manager.sh'), 'cert-manager');
}

export async function startCertManager(cluster: Cluster): Promise<CertManager> {
  const dir = await buildCertManager();
  const crdDir = join(dir, 'crds');
  const kubectl = async (args: string[]): Promise<void> => {
    const r = await cluster.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  };
  // Server-side: the Issuer CRDs are larger than the last-applied annotation of a client-side
  // apply may be (262144 bytes).
  await kubectl(['apply', '--server-side', '-f', crdDir]);
  const crds = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `crd/${f.replace(/\.yaml$/, '').replace(/^(.*?)_(.*)$/, '$2.$1')}`);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds]);

  // -v=2: what each one did (issued, injected), in its log in the cluster's log folder.
  const common = [
    `--kubeconfig=${cluster.kubeconfig}`,
    `--leader-election-namespace=${controlNamespace}`,
    '-v=2',
  ];
  const controller = ManagedProcess.start({
    name: 'cert-manager-controller',
    binary: join(dir, 'controller'),
    args: [...common, `--cluster-resource-namespace=${controlNamespace}`],
    logFile: join(cluster.logDir, 'cert-manager-controller.log'),
  });
  const cainjector = ManagedProcess.start({
    name: 'cert-manager-cainjector',
    binary: join(dir, 'cainjector'),
    args: common,
    logFile: join(cluster.logDir, 'cert-manager-cainjector.log'),
  });

  // Each takes its Lease just before it starts its controllers; a process that dies first fails
  // this at once with its last log lines.
  try {
    for (const [proc, lease] of [
      [controller, leases[0]],
      [cainjector, leases[1]],
    ] as const) {
      await proc.waitUntil(
        async () => (await cluster.kubectl(['get', 'lease', '-n', controlNamespace, lease])).code === 0,
        {
          timeoutMs: 60_000,
          intervalMs: 500,
          what: `${proc.name} to hold the Lease ${controlNamespace}/${lease}`,
        },
      );
    }
  } catch (error) {
    await Promise.all([controller.stop(), cainjector.stop()]);
    throw error;
  }

  let stopped = false;
  return {
    dir,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await Promise.all([controller.stop(), cainjector.stop()]);
      await kubectl(['delete', '-f', crdDir, '--ignore-not-found', '--wait=true', '--timeout=120s']);
      await kubectl(['delete', 'lease', '-n', controlNamespace, ...leases, '--ignore-not-found']);
    },
  };
}
