// `npm run cluster`: the real thing on this machine. Starts the single-node cluster (hack/cluster.ts:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, containerd, CNI,
// kube-proxy, CoreDNS), builds the image and imports it, installs Connectors exactly as the README
// tells, registers the demo Connectors, prints the KUBECONFIG line and what to try, and tears
// everything down on Ctrl-C. Needs root (kubelet, containerd, the bridge).

import './require-node.js'; // first: stops an older Node before anything loads
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from './binaries.js';
import { startCluster } from './cluster.js';
import { installClusterDemo } from './clusterdemo.js';

const root = repoRoot();
const dir = join(root, '.cluster');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the cluster needs root (kubelet, containerd, a network bridge): run it as root, e.g. sudo npm run cluster',
    );
  }
  const started = performance.now();
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  say(
    'Starting the single-node cluster (first run: builds kubelet & co. from the Go modules, several minutes)…',
  );
  const cluster = await startCluster({ logDir: join(dir, 'logs'), log: say });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('\nStopping…');
    await demo?.stop();
    await cluster.stop();
  };
  let demo: Awaited<ReturnType<typeof installClusterDemo>> | undefined;
  try {
    demo = await installClusterDemo(cluster, {
      dir,
      kubectlBinary: (await resolveBinaries()).kubectl,
      log: say,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  process.stdout.write(`
Connectors runs in a real single-node cluster (${seconds}s; logs in .cluster/logs/), installed from
the image ${demo.image.names.join(', ')} with:
${demo.install.commands.map((c) => `  ${c}`).join('\n')}

Try, from the repository root:

  ${demo.exportLine}
${demo.tryLines.map((t) => `  ${t.command}\n      # ${t.note}`).join('\n')}

Press Ctrl-C to stop everything.
`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run cluster failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
