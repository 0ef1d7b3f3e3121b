// The idle resident memory of each production process, so that docs/memory.md can cite numbers
// anyone can measure again:
//
//   rm -rf dist && tsc -p tsconfig.json && node dist/hack/idle-rss.js [--idle=30] [--rounds=1]
//
// Starts the local system the integration tests use (etcd, kube-apiserver, the aggregated server
// and the class API backend, hack/localsystem.ts), then the Connectors Proxy, the status
// controller and the CSI driver from their real entry points, each under its shipped
// ServiceAccount and RBAC as the integration tests run them. Once every one is ready (/readyz, or
// the driver's /healthz, which calls its own Probe), nothing is sent to them for --idle seconds;
// then VmRSS is read from /proc/<pid>/status. With --rounds=N the whole run is repeated N times
// (a fresh control plane each time) and the median is printed. The table goes to stdout in MiB.

import './require-node.js'; // first: stops an older Node before anything loads
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { repoRoot } from './binaries.js';
import { startLocalSystem, type LocalSystem } from './localsystem.js';
import { freePort, ManagedProcess } from './process.js';

const root = repoRoot();
const processes = ['apiserver', 'classapi', 'connproxy', 'controller', 'csi'] as const;
type Name = (typeof processes)[number];

/** VmRSS of `pid` in KiB, as the kernel reports it. */
function vmRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib);
}

async function kubectlOk(sys: LocalSystem, args: string[]): Promise<void> {
  const r = await sys.cp.kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
}

/** Polls an http URL until it answers 200. */
function waitHttp(proc: ManagedProcess, url: string): Promise<void> {
  return proc.waitUntil(
    async () => {
      const r = await request(url);
      await r.body.dump();
      return r.statusCode === 200;
    },
    { timeoutMs: 60_000, what: `${proc.name} ${url}` },
  );
}

/** One measurement: every process started, ready, left alone for `idleMs`; RSS in KiB by process. */
async function measureOnce(idleMs: number): Promise<Record<Name, number>> {
  const logDir = mkdtempSync(join(tmpdir(), 'idle-rss-'));
  const sys = await startLocalSystem({ logDir });
  const started: ManagedProcess[] = [];
  try {
    await kubectlOk(sys, [
      'apply',
      '-f',
      join(root, 'manifests', 'connproxy', 'rbac.yaml'),
      '-f',
      join(root, 'manifests', 'controller', 'serviceaccount.yaml'),
      '-f',
      join(root, 'manifests', 'controller', 'rbac.yaml'),
      '-f',
      join(root, 'manifests', 'csi', 'namespace.yaml'),
      '-f',
      join(root, 'manifests', 'csi', 'rbac.yaml'),
    ]);
    const kubeconfig = async (namespace: string, serviceAccount: string): Promise<string> =>
      sys.cp.writeKubeconfig(join(sys.cp.dir, `${serviceAccount}.kubeconfig`), {
        token: await sys.cp.createToken(namespace, serviceAccount, { expirationSeconds: 3600 }),
      });
    const start = (name: string, args: string[], env: NodeJS.ProcessEnv = process.env): ManagedProcess => {
      const proc = ManagedProcess.start({
        name,
        binary: process.execPath,
        args,
        env,
        logFile: join(logDir, `${name}.log`),
      });
      started.push(proc);
      return proc;
    };

    const proxyPort = await freePort();
    const connproxy = start('connectors-proxy', [
      join(root, 'dist', 'connproxy', 'main.js'),
      `--port=${proxyPort}`,
      '--bind-address=127.0.0.1',
      `--kubeconfig=${await kubeconfig('connectors-system', 'connectors-proxy')}`,
      `--proxy-ca-out=${join(sys.cp.dir, 'connectors-proxy-ca.crt')}`,
      '--publish-ca-configmap=connectors-system/connectors-proxy-ca',
    ]);
    const controllerPort = await freePort();
    const controller = start('connectors-controller', [
      join(root, 'dist', 'controller', 'main.js'),
      `--kubeconfig=${await kubeconfig('connectors-system', 'connectors-controller')}`,
      '--bind-address=127.0.0.1',
      `--health-port=${controllerPort}`,
      `--service-url-override=connectors-system/connectors-classapi=${sys.classApiUrl}`,
      ...sys.classApiClientFlags,
    ]);
    const csiDir = mkdtempSync('/tmp/idle-rss-csi-');
    const csiPort = await freePort();
    const csi = start(
      'connectors-csi',
      [
        join(root, 'dist', 'csi', 'main.js'),
        `--kubeconfig=${await kubeconfig('connectors-csi', 'connectors-csi')}`,
        '--volume-medium=directory',
        `--health-port=${csiPort}`,
        '--proxy-ca-configmap=connectors-system/connectors-proxy-ca',
      ],
      { ...process.env, CSI_ENDPOINT: `unix://${join(csiDir, 'csi.sock')}`, NODE_NAME: 'idle-rss' },
    );
    try {
      await Promise.all([
        waitHttp(connproxy, `http://127.0.0.1:${proxyPort}/readyz`),
        waitHttp(controller, `http://127.0.0.1:${controllerPort}/readyz`),
        waitHttp(csi, `http://127.0.0.1:${csiPort}/healthz`),
      ]);
      // startLocalSystem returned once the server and the backend were ready; they idle longest.
      await new Promise((r) => setTimeout(r, idleMs));
      const pids: Record<Name, number | undefined> = {
        apiserver: sys.server.pid,
        classapi: sys.classApi.pid,
        connproxy: connproxy.pid,
        controller: controller.pid,
        csi: csi.pid,
      };
      const rss = {} as Record<Name, number>;
      for (const name of processes) {
        const pid = pids[name];
        if (pid === undefined) throw new Error(`${name} has no pid`);
        rss[name] = vmRssKiB(pid);
      }
      return rss;
    } finally {
      await Promise.all(started.map((p) => p.stop()));
      rmSync(csiDir, { recursive: true, force: true });
    }
  } finally {
    await sys.stop();
    rmSync(logDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { idle: { type: 'string', default: '30' }, rounds: { type: 'string', default: '1' } },
  });
  const idleMs = Number(values.idle) * 1000;
  const rounds = Number(values.rounds);
  if (!(idleMs >= 0) || !Number.isInteger(rounds) || rounds < 1) {
    throw new Error('--idle takes seconds (≥ 0), --rounds a whole number (≥ 1)');
  }
  const runs: Record<Name, number>[] = [];
  for (let i = 0; i < rounds; i++) {
    process.stderr.write(`round ${i + 1}/${rounds}: starting, then ${idleMs / 1000} s idle…\n`);
    runs.push(await measureOnce(idleMs));
  }
  const mib = (kib: number): string => (kib / 1024).toFixed(1);
  const lines = [
    `Idle VmRSS after ${idleMs / 1000} s, MiB (median of ${rounds} run${rounds > 1 ? 's' : ''}; Node ${process.version})`,
    '',
    '| process | VmRSS MiB | runs |',
    '| --- | ---: | --- |',
    ...processes.map((name) => {
      const all = runs.map((r) => r[name]);
      return `| ${name} | ${mib(median(all))} | ${all.map(mib).join(', ')} |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
