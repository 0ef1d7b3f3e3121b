// `node dist/hack/cluster-up.js`: starts the single-node cluster of hack/cluster.ts, prints the
// KUBECONFIG line, and tears everything down on Ctrl-C or SIGTERM.
//
//   node dist/hack/cluster-up.js [--log-dir=DIR]   run until interrupted (logs: .cluster-logs/)
//   node dist/hack/cluster-up.js --cycles=N         N start/stop cycles in a row, each checked to
//                                                   leave the host as it found it; prints timings
import './require-node.js';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from './binaries.js';
import { hostFootprint, snapshotDiff, startCluster, type Cluster } from './cluster.js';
import { stopGracefullyOnSignal } from './process.js';

const { values } = parseArgs({
  options: { 'log-dir': { type: 'string' }, cycles: { type: 'string' } },
});
const logDir = values['log-dir'] ?? join(repoRoot(), '.cluster-logs');
const log = (line: string): void => {
  process.stderr.write(`[cluster] ${line}\n`);
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

async function start(): Promise<Cluster> {
  const cluster = await startCluster({ logDir, log });
  const t = cluster.timings;
  log(
    `started in ${seconds(t.totalMs)} (binaries ${seconds(t.binariesMs)}, host ${seconds(t.hostMs)}, ` +
      `containerd + control plane ${seconds(t.runtimeAndControlPlaneMs)}, node ${seconds(t.nodeMs)}); logs in ${logDir}`,
  );
  return cluster;
}

if (values.cycles !== undefined) {
  const cycles = Number(values.cycles);
  for (let i = 1; i <= cycles; i++) {
    const before = hostFootprint();
    const cluster = await start();
    const t0 = performance.now();
    await cluster.stop();
    log(`cycle ${i}/${cycles}: stopped in ${seconds(performance.now() - t0)}`);
    const diff = snapshotDiff(before, hostFootprint());
    if (diff.length > 0) {
      log(`cycle ${i} left the host changed:\n${diff.join('\n')}`);
      process.exit(1);
    }
  }
  log(`${cycles} cycles, host unchanged after each`);
} else {
  const cluster = await start();
  stopGracefullyOnSignal(async () => {
    log('stopping');
    const t0 = performance.now();
    await cluster.stop();
    log(`stopped in ${seconds(performance.now() - t0)}`);
  });
  process.stdout.write(`export KUBECONFIG=${cluster.kubeconfig}\n`);
  log('Ctrl-C stops the cluster and undoes every change to this machine');
  // Children are unref'd: this timer is what keeps the process (and so the cluster) alive.
  setInterval(() => undefined, 1 << 30);
}
