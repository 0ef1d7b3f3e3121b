// `npm run bench`: starts everything it needs on loopback and prints, side by side in one run, the
// numbers behind the project's performance targets, each line with its target and whether
// it is met. Results also go to bench/results/latest.json, latest.md and latest.svg.
//
// Sections, in this order (BENCH_ONLY=<comma list> runs only those named, e.g.
// BENCH_ONLY=connproxy,streaming): http, connproxy, streaming, streams, scale, each in
// bench/sections/<name>.ts, which says what it measures. The harness they share is harness.ts (the
// settings and how a row is measured) and processes.ts (what the rows measure); world.ts sets up
// what they rely on; summary.ts writes the report.
// Numbers are medians of BENCH_ROUNDS rounds (default 3; a wrk round lasts BENCH_SECONDS, default
// 10); rows compared with each other take turns round by round, and each Node process started for
// them is first loaded for 20 s. Peak RSS is the highest of all rounds, errors their sum. The
// sections that report the server's RSS start a fresh server process first, so that it is theirs
// and not what an earlier section left.
// The Node 20 column: every row whose server is one of our Node processes (/proxy directly and
// through kube-apiserver, the Connectors Proxy, the bare relays, the 1 GiB transfers) also runs on
// the code before the Node 24 upgrade (bench/baseline.ts: commit e76c957 on Node 20, prepared once
// into ~/.cache/connectors), as a second process with the same flags, certificates and tool, its
// rounds taking turns with ours; the report prints both and the ratio. BENCH_BASELINE=0 leaves it
// out. The bench fails if a process of ours does not run the Node it should (24 here, 20 there).
// The defaults take about 22 minutes on 2 cores (21.5 measured, 2026-12-06), with the peers (Go,
// services/proxy, the Node 20 column) and the Node 20 column's preparation already cached.
// BENCH_PROFILE=<dir> writes CPU profiles of the aggregated server there, one per server process
// (open them in Chrome DevTools or any .cpuprofile viewer).

import '../hack/require-node.js'; // first: stops an older Node before anything loads
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { repoRoot } from '../hack/binaries.js';
import { startLocalSystem } from '../hack/localsystem.js';
import {
  connections,
  ns,
  profile,
  password,
  rounds,
  sectionNames,
  seconds,
  serverStopGraceMs,
  waitServed,
  type Bench,
  type Runtime,
  type Section,
  user,
  userPassword,
} from './harness.js';
import { startStaticTool } from './nginx.js';
import { recordNode } from './processes.js';
import { machineText } from './report.js';
import { connproxySection } from './sections/connproxy.js';
import { httpSection } from './sections/http.js';
import { scaleSection } from './sections/scale.js';
import { streamingSection } from './sections/streaming.js';
import { streamsSection } from './sections/streams.js';
import { report, writeResults } from './summary.js';
import { benchObjects, externalAddress, preparePeers, setToolPodIp } from './world.js';

function selectedSections(): Section[] {
  const only = process.env.BENCH_ONLY;
  if (!only) return [...sectionNames];
  const names = only.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(sectionNames as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_ONLY: unknown section ${unknown.join(', ')}; choose from ${sectionNames.join(', ')}`,
    );
  }
  return sectionNames.filter((s) => names.includes(s));
}

const sectionRuns: Record<Section, (b: Bench) => Promise<void>> = {
  http: httpSection,
  connproxy: connproxySection,
  streaming: streamingSection,
  streams: streamsSection,
  scale: scaleSection,
};

async function main(): Promise<void> {
  const sections = selectedSections();
  const root = repoRoot();
  const dir = await mkdtemp(join(tmpdir(), 'connectors-bench-'));
  const notes: string[] = [];
  const prepStart = Date.now();
  const peers = await preparePeers(root, sections, notes);
  process.stderr.write(`peers prepared in ${((Date.now() - prepStart) / 1000).toFixed(1)} s\n`);
  process.stderr.write(
    `starting the control plane, the server and a static tool (${sections.join(', ')})…\n`,
  );
  const started = Date.now();
  const serverNodeArgs = [
    ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
  ];
  const sys = await startLocalSystem({
    logDir: join(dir, 'logs'),
    serverArgs: ['--log-level=warn'],
    serverNodeArgs,
  });
  const external = externalAddress();
  if (!external) {
    notes.push(
      'no services/proxy rows: this machine has no non-loopback IPv4 address, and kube-apiserver ' +
        'refuses to proxy to loopback',
    );
  }
  const tool = await startStaticTool(dir, userPassword(user, password), external);
  const tls = new Agent({ connect: { ca: sys.servingCaPem } });
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const objects = benchObjects(tool);
    // First: it creates the namespace and ServiceAccount bench, which the tool's Pod names.
    const token = await sys.cp.createToken(ns, 'bench', { expirationSeconds: 3600 });
    const applied = await sys.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(objects) });
    if (applied.code !== 0) throw new Error(applied.stderr);
    const current: Runtime = {
      label: `Node ${process.versions.node.split('.')[0] ?? ''}`,
      node: process.execPath,
      root,
      version: process.version,
      suffix: '',
    };
    const b: Bench = {
      sys,
      dir,
      tool,
      token,
      tls,
      stops,
      current,
      ...(peers.baseline ? { baseline: peers.baseline } : {}),
      ...(peers.goRelay ? { goRelay: peers.goRelay } : {}),
      serverNodeArgs,
      apiServicePort: Number(new URL(sys.serverUrl).port),
      processes: [],
      notes,
      rows: new Map(),
      transfers: [],
      facts: [],
      checks: [],
    };
    await waitServed(b, 'tool', '/data.json');
    recordNode(b, sys.server, current);
    recordNode(b, sys.classApi, current);
    if (tool.externalUrl) {
      await setToolPodIp(sys, tool.externalUrl);
      await waitServed(b, 'tool-external', '/data.json');
    }

    process.stderr.write(`measuring: ${rounds} rounds × ${seconds} s, ${connections} connections, wrk -t1\n`);
    for (const section of sections) {
      process.stderr.write(`[${section}]\n`);
      await sectionRuns[section](b);
    }
    const machine = machineText(readFileSync('/proc/cpuinfo', 'utf8'), availableParallelism());
    const lines = report(b, sections, machine);
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stderr.write(`took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    await writeResults(join(root, 'bench', 'results'), b, {
      sections,
      machine,
      lines,
      preparationSeconds: peers.seconds,
    });
    if (profile) await sys.stopServer(serverStopGraceMs);
  } finally {
    await Promise.all(stops.map((stop) => stop()));
    await tls.close();
    await tool.process.stop();
    await sys.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
