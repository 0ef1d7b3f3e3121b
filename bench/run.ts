// `npm run bench`: starts everything it needs on loopback and prints, side by side in one run, the
// numbers behind the project's performance targets, each line with its target and whether
// it is met. Results also go to bench/results/latest.json, latest.md and latest.svg.
//
// Sections, in this order (BENCH_ONLY=<comma list> runs only those named, e.g.
// BENCH_ONLY=connproxy,streaming):
//   http       wrk against the tool directly, nginx (TLS, Basic injected, one worker), the Go
//              standard library's reverse proxy doing the same (bench/go-relay, GOMAXPROCS=1), our
//              /proxy called directly (TLS), each at 50 connections and at 1 (the added latency), a
//              bare Node TLS relay (bench/bare-relay-main.ts: the floor of Node's stack here), and
//              through kube-apiserver: against a do-nothing endpoint, and beside kube-apiserver's own
//              services/proxy to the same tool process at the same (non-loopback) address
//   connproxy  wrk against the Connectors Proxy in reverse (Host c-tool.bench) and forward
//              (http_proxy) mode, nginx injecting the same credential over plain HTTP, the bare
//              relay over plain HTTP (the floor of Node's stack for it), and the Go reverse proxy
//   streaming  1 GiB down and up through /proxy (TLS), to the same echo tool directly (HTTP, and
//              HTTPS for what TLS alone costs), through nginx and through the bare TLS relay (Node's
//              floor for a relay), with the server's peak RSS
//   streams    1,000 simultaneous 1 MiB downloads through /proxy and through the bare relay (Node's
//              floor): errors, and the peak RSS of each round (bounded: ours against the bare relay's)
//   scale      /proxy on a fresh server, then 10,000 more Connectors: /proxy on one of them and
//              round robin over 100 of them (each within the caches' 10 s; spread over all 10,000
//              every request would be a first one), with wrk, and the server's RSS once they are
//              loaded; then /proxy once more after they are deleted, the reference's other end
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
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { repoRoot } from '../hack/binaries.js';
import { nodeProcesses } from '../hack/runtime.js';
import { freePort, ManagedProcess } from '../hack/process.js';
import { apiServiceName, startLocalSystem, type LocalSystem } from '../hack/localsystem.js';
import { baselineCommit, prepareBaseline } from './baseline.js';
import { cacheRoot } from '../hack/cache.js';
import { startConnectorsProxy } from './connproxy.js';
import { findGo, goRelayBinary } from './gorelay.js';
import { startNginxProxy, startStaticTool, type Nginx } from './nginx.js';
import {
  checkLines,
  machineText,
  MB,
  met,
  rowTable,
  svg,
  table,
  transferTable,
  type Check,
  type Columns,
  type MeasuredRow,
  type TransferRow,
} from './report.js';
import { rssBytes, watchPeakRss } from './rss.js';
import { createConnectors, deleteConnectors } from './scale.js';
import { concurrentDownloads, download, startEchoToolProcess, upload } from './streaming.js';
import { wrk, type LoadResult, type WrkOptions } from './wrk.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const connections = 50;
const processWarmUpSeconds = 20;
const gvPath = '/apis/subresources.connectors.alauda.io/v1alpha1';
const ns = 'bench';
const user = 'bench';
const password = 'bench-password';
const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const streams = 1000;
const scaleConnectors = 10_000;
const spreadOver = 100;
const profile = process.env.BENCH_PROFILE;
// A profile of a long run takes a while to write on exit; give it time before SIGKILL.
const serverStopGraceMs = profile ? 120_000 : undefined;

const sectionNames = ['http', 'connproxy', 'streaming', 'streams', 'scale'] as const;
type Section = (typeof sectionNames)[number];

/**
 * A build of our code and the Node it runs on: this tree on this process's Node (Node 24), or the
 * baseline (bench/baseline.ts: the last commit on Node 20, on Node 20).
 */
interface Runtime {
  /** The column's name, e.g. 'Node 24'. */
  label: string;
  node: string;
  /** The tree whose dist/ holds the entry points. */
  root: string;
  /** process.version its processes must report. */
  version: string;
  /** Appended to the names of its processes and logs, e.g. '-node20'. */
  suffix: string;
}

/** One of our aggregated servers: the one startLocalSystem runs, or a baseline one. */
interface ServerRef {
  url: string;
  port: number;
  pid: number;
}

/** What the sections share: the running system, lazily started helpers, and the results. */
interface Bench {
  sys: LocalSystem;
  dir: string;
  /** nginx serving /data.json: the tool of every wrk row. */
  tool: Nginx & { externalUrl?: string };
  nginx?: Nginx & { httpUrl: string };
  echoUrl?: string;
  /** The caller's token (ServiceAccount bench/bench), for our server and the Connectors Proxy. */
  token: string;
  tls: Agent;
  stops: (() => Promise<unknown>)[];
  current: Runtime;
  /** The Node 20 baseline, unless it could not be prepared (then `notes` says why). */
  baseline?: Runtime;
  /** bench/go-relay's binary and Go version, unless Go is missing (then `notes` says why). */
  goRelay?: { binary: string; goVersion: string };
  /** The aggregated server's Node flags (BENCH_NODE_ARGS, profiling), for the baseline's too. */
  serverNodeArgs: string[];
  /** The port the APIService points kube-apiserver at. */
  apiServicePort: number;
  /** Every process started for the rows: name, pid, and the runtime it reported. */
  processes: string[][];
  /** What was left out and why. */
  notes: string[];
  rows: Map<string, MeasuredRow>;
  transfers: TransferRow[];
  facts: string[][];
  checks: Check[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const userPassword = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');
const basic = (u: string, p: string): string => `Basic ${userPassword(u, p)}`;
const bearer = (b: Bench): Record<string, string> => ({ Authorization: `Bearer ${b.token}` });
const proxyPath = (connector: string, path: string): string =>
  `${gvPath}/namespaces/${ns}/connectors/${connector}/proxy${path}`;
const connectorSpec = (address: string): Record<string, unknown> => ({
  connectorClassName: 'bench-http',
  address,
  auth: { name: 'basicAuth', secretRef: { name: 'tool' } },
});
const times = (x: number): string => `${x.toFixed(2)}×`;
const ratio = (a: LoadResult, b: LoadResult): string => times(a.requestsPerSec / b.requestsPerSec);
const failed = (...results: LoadResult[]): number => results.reduce((a, r) => a + r.errors, 0);
const progress = (line: string): void => {
  process.stderr.write(`  ${line}\n`);
};

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

const wrkOptions = (l: Load): Omit<WrkOptions, 'seconds'> => ({
  connections: l.load ?? connections,
  headers: l.headers ?? {},
  targets: l.targets,
  statuses: l.statuses,
});

/**
 * Load on a Node process that has just started, until it runs at its steady speed. A fresh server
 * gains a third over its first half minute under wrk (rounds of 8 s: 8.7k, 9.3k, 10.3k, 10.8k,
 * 11.0k req/s), while V8 tiers the hot code up and sizes its heap; each row's own 2 s warm-up is
 * not enough for that, and the first rows after a start measured the start.
 */
async function warmUp(...loads: Load[]): Promise<void> {
  for (const l of loads) {
    await l.before?.();
    await wrk(l.url, { ...wrkOptions(l), seconds: processWarmUpSeconds });
  }
}

/**
 * The same row on the baseline build, whose server answers at `origin` (same path, headers and
 * load), or nothing when there is no baseline (or no server of it for this row).
 */
function onBaseline(b: Bench, l: Load, origin: string | undefined, before?: () => Promise<void>): Load[] {
  if (!b.baseline || origin === undefined) return [];
  const url = new URL(l.url);
  return [
    {
      ...l,
      name: `${l.name} [${b.baseline.label}]`,
      url: `${origin}${url.pathname}${url.search}`,
      baselineOf: l.name,
      ...(before ? { before } : {}),
    },
  ];
}

/** The result of a row measured before. */
function resultOf(b: Bench, l: Load): LoadResult {
  const row = b.rows.get(l.name);
  if (!row) throw new Error(`row not measured: ${l.name}`);
  return row.result;
}

/** One wrk row: what it is called and what wrk sends. */
interface Load {
  name: string;
  url: string;
  headers?: Record<string, string>;
  targets?: string[];
  /** Connections (each sends its next request when the answer arrives). */
  load?: number;
  /** Count the non-2xx answers by status (wrk.ts), for rows through kube-apiserver. */
  statuses?: boolean;
  /** The row this one is the baseline build's run of: the report puts it in that row's columns. */
  baselineOf?: string;
  /** Runs before each wrk run of this row (e.g. pointing kube-apiserver at the right server). */
  before?: () => Promise<void>;
}

/**
 * wrk on each of `loads`, side by side: a warm-up each (pools, caches, JIT), then `rounds` rounds
 * in which every load takes its turn, and the medians. Interleaving the rounds puts any drift of a
 * shared VM (a noisy neighbour, a background compaction) on every row alike instead of on
 * whichever row ran during it, so the ratios between the rows hold. Each name is measured once.
 */
async function measureSideBySide(b: Bench, loads: Load[]): Promise<LoadResult[]> {
  const todo = loads.filter((l) => !b.rows.has(l.name));
  for (const l of todo) {
    await l.before?.();
    await wrk(l.url, { ...wrkOptions(l), seconds: 2 });
  }
  const results = new Map<string, LoadResult[]>(todo.map((l) => [l.name, []]));
  for (let i = 0; i < rounds; i++) {
    for (const l of todo) {
      await l.before?.();
      results.get(l.name)?.push(await wrk(l.url, { ...wrkOptions(l), seconds }));
    }
  }
  for (const l of todo) {
    const all = results.get(l.name) ?? [];
    const result: LoadResult = {
      requestsPerSec: median(all.map((r) => r.requestsPerSec)),
      p50Ms: median(all.map((r) => r.p50Ms)),
      p99Ms: median(all.map((r) => r.p99Ms)),
      errors: failed(...all),
    };
    const failures = mergeFailures(all);
    if (failures) result.failures = failures;
    const first = all.find((r) => r.firstFailure)?.firstFailure;
    if (first) result.firstFailure = first;
    progress(`${l.name}: ${result.requestsPerSec.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms`);
    b.rows.set(l.name, { name: l.name, result, ...(l.baselineOf ? { baselineOf: l.baselineOf } : {}) });
  }
  return loads.map((l) => b.rows.get(l.name)?.result as LoadResult);
}

/** The non-2xx answers of several rounds, summed by status; undefined when none were counted. */
function mergeFailures(results: LoadResult[]): Record<string, number> | undefined {
  const counted = results.filter((r) => r.failures);
  if (counted.length === 0) return undefined;
  const sum: Record<string, number> = {};
  for (const r of counted) {
    for (const [status, n] of Object.entries(r.failures ?? {})) sum[status] = (sum[status] ?? 0) + n;
  }
  return sum;
}

async function measure(b: Bench, load: Load): Promise<LoadResult> {
  const [result] = await measureSideBySide(b, [load]);
  return result as LoadResult;
}

const ours = (b: Bench): Load => ({
  name: 'our /proxy, called directly (TLS, bearer token)',
  url: `${b.sys.serverUrl}${proxyPath('tool', '/data.json')}`,
  headers: bearer(b),
});

/** Waits until `path` through Connector `connector` answers 200 (served) or 404 (gone). */
async function waitStatus(
  b: Bench,
  connector: string,
  path: string,
  status: 200 | 404,
  timeoutMs: number,
  server: { url: string; process: ManagedProcess } = { url: b.sys.serverUrl, process: b.sys.server },
): Promise<void> {
  await server.process.waitUntil(
    async () => {
      const r = await request(`${server.url}${proxyPath(connector, path)}`, {
        headers: bearer(b),
        dispatcher: b.tls,
      });
      await r.body.dump();
      return r.statusCode === status;
    },
    {
      timeoutMs,
      what: `${server.process.name} to ${status === 200 ? 'serve' : 'forget'} Connector ${ns}/${connector}`,
      intervalMs: 200,
    },
  );
}

const waitServed = (b: Bench, connector: string, path: string, timeoutMs = 60_000): Promise<void> =>
  waitStatus(b, connector, path, 200, timeoutMs);

/**
 * Records which Node the running process `proc` is (from the binary it executes, /proc/<pid>/exe),
 * and fails the bench unless it is `rt`'s: a column must measure the Node it is named after.
 */
function recordNode(b: Bench, proc: ManagedProcess, rt: Runtime): void {
  const pid = proc.pid as number;
  const [found] = nodeProcesses([pid]);
  if (!found) throw new Error(`${proc.name} (pid ${pid}) is not a running Node process`);
  const { exe, version } = found;
  progress(`${proc.name} (pid ${pid}) runs Node ${version}`);
  b.processes.push([
    proc.name,
    String(pid),
    `Node ${version}${rt === b.baseline ? `, ${baselineCommit}` : ''}`,
  ]);
  if (version !== rt.version) {
    throw new Error(
      `${proc.name} runs Node ${version} (${exe}), but its column is ${rt.label} (${rt.version})`,
    );
  }
}

/** Restarts our server and waits until it serves `connector` again; returns its pid. */
async function freshServer(b: Bench, connector: string, path: string): Promise<number> {
  await b.sys.stopServer(serverStopGraceMs);
  await b.sys.startServer();
  await waitServed(b, connector, path);
  recordNode(b, b.sys.server, b.current);
  return b.sys.server.pid as number;
}

const currentServer = (b: Bench): ServerRef => ({
  url: b.sys.serverUrl,
  port: Number(new URL(b.sys.serverUrl).port),
  pid: b.sys.server.pid as number,
});

/**
 * The baseline's aggregated server, a process of its own beside ours: the same flags (but its
 * port), certificates, kubeconfig and ServiceAccount, reading the same Connectors; ready once it
 * serves `connector`.
 */
async function startBaselineServer(
  b: Bench,
  rt: Runtime,
  connector: string,
  path: string,
): Promise<ServerRef & { process: ManagedProcess }> {
  const port = await freePort();
  const flags = b.sys.serverFlags.map((f) => (f.startsWith('--secure-port=') ? `--secure-port=${port}` : f));
  const name = `connectors-apiserver${rt.suffix}`;
  const proc = ManagedProcess.start({
    name,
    binary: rt.node,
    args: [...b.serverNodeArgs, join(rt.root, 'dist', 'apiserver', 'main.js'), ...flags],
    logFile: join(b.sys.logDir, `${name}.log`),
  });
  const url = `https://127.0.0.1:${port}`;
  try {
    await waitStatus(b, connector, path, 200, 60_000, { url, process: proc });
    recordNode(b, proc, rt);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, port, pid: proc.pid as number, process: proc };
}

/** User and system CPU time of `pid` so far, in clock ticks. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (in parentheses, which may hold spaces): utime and stime
  // are the 14th and 15th of the line, the 12th and 13th after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Points the APIService at `to` (one of our two servers; `from` is the other) and waits until
 * kube-apiserver sends the requests there. It takes the change from an informer, a moment later,
 * and both builds answer alike: which one got a request shows only in their CPU time, so the wait
 * is for a burst through kube-apiserver that costs `to` CPU and `from` next to none.
 */
async function routeKubeTo(b: Bench, to: ServerRef, from: ServerRef): Promise<void> {
  if (b.apiServicePort === to.port) return;
  const patched = await b.sys.cp.kubectl([
    'patch',
    'apiservice',
    apiServiceName,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { service: { port: to.port } } }),
  ]);
  if (patched.code !== 0) throw new Error(patched.stderr);
  b.apiServicePort = to.port;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [to0, from0] = [cpuTicks(to.pid), cpuTicks(from.pid)];
    await wrk(`${b.sys.cp.server}${proxyPath('tool', '/data.json')}`, {
      connections: 10,
      seconds: 1,
      headers: bearer(b),
    });
    const [toTicks, fromTicks] = [cpuTicks(to.pid) - to0, cpuTicks(from.pid) - from0];
    if (toTicks >= 10 && fromTicks * 5 <= toTicks) return;
    if (Date.now() > deadline) {
      throw new Error(
        `kube-apiserver did not move to port ${to.port} within 60 s (CPU ticks of a burst: ` +
          `${toTicks} there, ${fromTicks} on port ${from.port})`,
      );
    }
  }
}

/** A serving certificate for nginx, written once. */
async function nginxTls(b: Bench): Promise<{ certFile: string; keyFile: string }> {
  const tls = { certFile: join(b.dir, 'tls.crt'), keyFile: join(b.dir, 'tls.key') };
  if (!existsSync(tls.certFile)) {
    const serving = await b.sys.cp.issueServingCert(['localhost'], ['127.0.0.1']);
    await writeFile(tls.certFile, serving.certPem);
    await writeFile(tls.keyFile, serving.keyPem);
  }
  return tls;
}

async function nginxProxy(b: Bench): Promise<Nginx & { httpUrl: string }> {
  if (b.nginx) return b.nginx;
  const nginx = await startNginxProxy(b.dir, b.tool.url, userPassword(user, password), await nginxTls(b));
  b.stops.push(() => nginx.process.stop());
  b.nginx = nginx;
  return nginx;
}

/**
 * A relay in its own process, relaying to `toolUrl` (answering `probe` with a 200) and injecting
 * the Basic credential, over TLS (beside /proxy) or plain HTTP (beside the Connectors Proxy):
 * bench/bare-relay-main.ts of a build (`rt`: the floor of Node's stack), or bench/go-relay (the Go
 * standard library's reverse proxy, one process, GOMAXPROCS=1). Undefined when that peer is
 * missing (Go, the baseline).
 */
async function startRelay(
  b: Bench,
  peer: Runtime | 'go' | undefined,
  toolUrl: string,
  probe: string,
  scheme: 'https' | 'http' = 'https',
): Promise<{ url: string; process: ManagedProcess } | undefined> {
  const go = peer === 'go' ? b.goRelay : undefined;
  if (peer === undefined || (peer === 'go' && !go)) return undefined;
  const { certFile, keyFile } = await nginxTls(b);
  const port = await freePort();
  const url = `${scheme}://127.0.0.1:${port}`;
  const tail = [String(port), toolUrl, ...(scheme === 'https' ? [certFile, keyFile] : [])];
  const name = go ? `go-relay-${scheme}` : `bare-relay-${scheme}${(peer as Runtime).suffix}`;
  const proc = ManagedProcess.start({
    name,
    binary: go ? go.binary : (peer as Runtime).node,
    args: go ? tail : [join((peer as Runtime).root, 'dist', 'bench', 'bare-relay-main.js'), ...tail],
    env: {
      ...process.env,
      BENCH_TOOL_AUTHORIZATION: basic(user, password),
      ...(go ? { GOMAXPROCS: '1' } : {}),
    },
    logFile: join(b.sys.logDir, `${name}.log`),
  });
  try {
    await proc.waitUntil(
      async () => {
        const r = await request(`${url}${probe}`, { dispatcher: b.tls });
        await r.body.dump();
        return r.statusCode === 200;
      },
      { timeoutMs: 30_000, what: name },
    );
    if (go) b.processes.push([name, String(proc.pid), `${go.goVersion}, GOMAXPROCS=1`]);
    else recordNode(b, proc, peer as Runtime);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, process: proc };
}

/** The echo tool in its own process, behind Connector bench/echo. */
async function echoTool(b: Bench): Promise<string> {
  if (b.echoUrl) return b.echoUrl;
  const echo = await startEchoToolProcess(b.sys.logDir, { username: user, password });
  b.stops.push(() => echo.process.stop());
  recordNode(b, echo.process, b.current);
  const connector = {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name: 'echo', namespace: ns },
    spec: connectorSpec(echo.url),
  };
  const applied = await b.sys.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(connector) });
  if (applied.code !== 0) throw new Error(applied.stderr);
  b.echoUrl = echo.url;
  await waitServed(b, 'echo', '/bytes/1');
  return echo.url;
}

/** The processes a section starts for its rows, all stopped when it ends. */
function sectionProcesses(): {
  started: <T extends { process: ManagedProcess } | undefined>(p: T) => T;
  stopAll: () => Promise<unknown>;
} {
  const stops: (() => Promise<unknown>)[] = [];
  return {
    started: (p) => {
      if (p) stops.push(() => p.process.stop());
      return p;
    },
    stopAll: () => Promise.all(stops.map((stop) => stop())),
  };
}

async function httpSection(b: Bench): Promise<void> {
  const nginx = await nginxProxy(b);
  const { started, stopAll } = sectionProcesses();
  const current = currentServer(b);
  let baseServer: (ServerRef & { process: ManagedProcess }) | undefined;
  try {
    const bare = started(await startRelay(b, b.current, b.tool.url, '/data.json')) as { url: string };
    const bareBase = started(await startRelay(b, b.baseline, b.tool.url, '/data.json'));
    const goRelay = started(await startRelay(b, 'go', b.tool.url, '/data.json'));
    baseServer = b.baseline
      ? started(await startBaselineServer(b, b.baseline, 'tool', '/data.json'))
      : undefined;
    const toolDirect: Load = {
      name: 'tool directly (HTTP)',
      url: `${b.tool.url}/data.json`,
      headers: { Authorization: basic(user, password) },
    };
    const viaNginxTls: Load = {
      name: 'nginx TLS proxy, Basic injected (1 worker)',
      url: `${nginx.url}/data.json`,
    };
    const goLoads: Load[] = goRelay
      ? [
          {
            name: 'Go reverse proxy (net/http/httputil), TLS, Basic injected, GOMAXPROCS=1',
            url: `${goRelay.url}/data.json`,
          },
        ]
      : [];
    const oursLoad = ours(b);
    const oursBase = onBaseline(b, oursLoad, baseServer?.url);
    const bareLoad: Load = {
      name: 'bare Node TLS relay: https + undici, Basic injected, nothing else',
      url: `${bare.url}/data.json`,
    };
    const bareBaseLoad = onBaseline(b, bareLoad, bareBase?.url);
    await warmUp(oursLoad, ...oursBase, bareLoad, ...bareBaseLoad);
    await measureSideBySide(b, [
      toolDirect,
      viaNginxTls,
      ...goLoads,
      oursLoad,
      ...oursBase,
      bareLoad,
      ...bareBaseLoad,
    ]);
    const [viaNginx, oursLoaded, floor] = [viaNginxTls, oursLoad, bareLoad].map((l) => resultOf(b, l)) as [
      LoadResult,
      LoadResult,
      LoadResult,
    ];
    b.facts.push(
      ['bare Node TLS relay / nginx TLS proxy (req/s): what Node can reach here', ratio(floor, viaNginx)],
      ['our /proxy / bare Node TLS relay (req/s): what our handler chain leaves', ratio(oursLoaded, floor)],
    );
    for (const l of goLoads) {
      b.facts.push(
        [
          "Go reverse proxy / nginx TLS proxy (req/s): what Go's standard library reaches here",
          ratio(resultOf(b, l), viaNginx),
        ],
        ['our /proxy / Go reverse proxy (req/s)', ratio(oursLoaded, resultOf(b, l))],
      );
    }
    // Added latency is measured unloaded, one request at a time: at 50 connections every p50 above
    // is mostly the time a request waits behind the others (Little's law), not what a hop adds.
    const alone = (l: Load, name: string): Load => ({ ...l, name, load: 1 });
    const directAlone = alone(toolDirect, 'tool directly (HTTP), 1 connection');
    const oursAlone = alone(oursLoad, 'our /proxy, called directly, 1 connection');
    await measureSideBySide(b, [
      directAlone,
      alone(viaNginxTls, 'nginx TLS proxy, 1 connection'),
      oursAlone,
      ...onBaseline(b, oursAlone, baseServer?.url),
    ]);
    b.checks.push(
      {
        label: '/proxy vs nginx TLS (req/s, equal cores)',
        value: oursLoaded.requestsPerSec / viaNginx.requestsPerSec,
        target: 0.5,
        unit: '×',
        failedRequests: failed(oursLoaded, viaNginx),
      },
      {
        label: '/proxy added p50 over the tool directly (1 connection)',
        value: resultOf(b, oursAlone).p50Ms - resultOf(b, directAlone).p50Ms,
        target: 1,
        unit: 'ms',
        atMost: true,
        failedRequests: failed(resultOf(b, oursAlone), resultOf(b, directAlone)),
      },
    );
    await throughKubeApiserver(b, current, baseServer);
  } finally {
    // kube-apiserver goes back to the server the later sections use before the baseline's stops.
    if (baseServer) await routeKubeTo(b, current, baseServer);
    await stopAll();
  }
}

/**
 * Rows through kube-apiserver: our discovery (a do-nothing endpoint) and /proxy, each request
 * authenticated and authorized by kube-apiserver and then by us (SubjectAccessReview, cached);
 * the same /proxy on the baseline (the APIService moved to it for its turns); and kube-apiserver's
 * own services/proxy next to our /proxy to the same tool process at the same address.
 */
async function throughKubeApiserver(
  b: Bench,
  current: ServerRef,
  baseServer: ServerRef | undefined,
): Promise<void> {
  const toCurrent = baseServer ? () => routeKubeTo(b, current, baseServer) : undefined;
  const toBaseline = baseServer ? () => routeKubeTo(b, baseServer, current) : undefined;
  const viaKube = (name: string, path: string): Load => ({
    name,
    url: `${b.sys.cp.server}${path}`,
    headers: bearer(b),
    statuses: true,
    ...(toCurrent ? { before: toCurrent } : {}),
  });
  const doNothing = viaKube('kube-apiserver → our discovery (do-nothing)', gvPath);
  const kubeOurs = viaKube('kube-apiserver → our /proxy', proxyPath('tool', '/data.json'));
  // The tool on this machine's non-loopback address (kube-apiserver refuses to proxy to loopback),
  // reached by both: kube-apiserver's services/proxy (no credential: it injects none, and drops the
  // caller's Authorization once it has authenticated it) and our /proxy (Basic injected).
  const external = b.tool.externalUrl;
  const peers: Load[] = external
    ? [
        {
          name: `kube-apiserver services/proxy → tool at ${new URL(external).hostname} (no credential injected)`,
          url: `${b.sys.cp.server}/api/v1/namespaces/${ns}/services/tool:80/proxy/open/data.json`,
          headers: bearer(b),
          statuses: true,
        },
        viaKube(
          `kube-apiserver → our /proxy → tool at ${new URL(external).hostname} (Basic injected)`,
          proxyPath('tool-external', '/data.json'),
        ),
      ]
    : [];
  await measureSideBySide(b, [
    doNothing,
    kubeOurs,
    ...onBaseline(b, kubeOurs, b.sys.cp.server, toBaseline),
    ...peers,
  ]);
  const [baseline, oursResult] = [resultOf(b, doNothing), resultOf(b, kubeOurs)];
  b.checks.push({
    label: 'through kube-apiserver, p50 ours / do-nothing',
    value: oursResult.p50Ms / baseline.p50Ms,
    target: 1.1,
    unit: '×',
    atMost: true,
    failedRequests: failed(oursResult, baseline),
  });
  const [servicesProxy, oursExternal] = peers.map((l) => resultOf(b, l));
  if (!servicesProxy || !oursExternal) return;
  b.checks.push(
    {
      label: 'through kube-apiserver: our /proxy / its services/proxy (req/s)',
      value: oursExternal.requestsPerSec / servicesProxy.requestsPerSec,
      target: 0.95,
      unit: '×',
      failedRequests: failed(oursExternal, servicesProxy),
    },
    {
      label: 'through kube-apiserver: p50 our /proxy / its services/proxy',
      value: oursExternal.p50Ms / servicesProxy.p50Ms,
      target: 1.05,
      unit: '×',
      atMost: true,
      failedRequests: failed(oursExternal, servicesProxy),
    },
  );
}

async function connproxySection(b: Bench): Promise<void> {
  const nginx = await nginxProxy(b);
  const token = basic('x', b.token);
  const probe = { path: `/namespaces/${ns}/connectors/tool/data.json`, authorization: token };
  const { started, stopAll } = sectionProcesses();
  try {
    const proxy = started(await startConnectorsProxy(b.sys, probe));
    recordNode(b, proxy.process, b.current);
    const rt = b.baseline;
    const baseProxy = rt
      ? started(
          await startConnectorsProxy(b.sys, probe, {
            name: `connectors-proxy${rt.suffix}`,
            node: rt.node,
            root: rt.root,
          }),
        )
      : undefined;
    if (rt && baseProxy) recordNode(b, baseProxy.process, rt);
    const bare = started(await startRelay(b, b.current, b.tool.url, '/data.json', 'http')) as { url: string };
    const bareBase = started(await startRelay(b, b.baseline, b.tool.url, '/data.json', 'http'));
    const goRelay = started(await startRelay(b, 'go', b.tool.url, '/data.json', 'http'));
    const viaNginxHttp: Load = {
      name: 'nginx HTTP proxy, Basic injected (1 worker)',
      url: `${nginx.httpUrl}/data.json`,
    };
    const reverseLoad: Load = {
      name: 'Connectors Proxy reverse (Host c-tool.bench, HTTP, token as Basic password)',
      url: `${proxy.url}/data.json`,
      headers: { Host: `c-tool.${ns}`, Authorization: token },
    };
    const forwardLoad: Load = {
      name: 'Connectors Proxy forward (http_proxy, HTTP, Proxy-Authorization)',
      url: proxy.url,
      headers: { Host: new URL(b.tool.url).host, 'Proxy-Authorization': basic(`${ns}/tool`, b.token) },
      targets: [`${b.tool.url}/data.json`],
    };
    const bareLoad: Load = {
      name: 'bare Node HTTP relay: http + undici, Basic injected, nothing else',
      url: `${bare.url}/data.json`,
    };
    const goLoads: Load[] = goRelay
      ? [
          {
            name: 'Go reverse proxy (net/http/httputil), HTTP, Basic injected, GOMAXPROCS=1',
            url: `${goRelay.url}/data.json`,
          },
        ]
      : [];
    const reverseBase = onBaseline(b, reverseLoad, baseProxy?.url);
    const bareBaseLoad = onBaseline(b, bareLoad, bareBase?.url);
    await warmUp(reverseLoad, ...reverseBase, bareLoad, ...bareBaseLoad);
    await measureSideBySide(b, [
      viaNginxHttp,
      reverseLoad,
      ...reverseBase,
      forwardLoad,
      ...onBaseline(b, forwardLoad, baseProxy?.url),
      bareLoad,
      ...bareBaseLoad,
      ...goLoads,
    ]);
    const [viaNginx, reverse, forward, floor] = [viaNginxHttp, reverseLoad, forwardLoad, bareLoad].map((l) =>
      resultOf(b, l),
    ) as [LoadResult, LoadResult, LoadResult, LoadResult];
    b.facts.push(
      ['bare Node HTTP relay / nginx HTTP proxy (req/s): what Node can reach here', ratio(floor, viaNginx)],
      [
        'Connectors Proxy reverse / bare Node HTTP relay (req/s): what its chain leaves',
        ratio(reverse, floor),
      ],
    );
    for (const l of goLoads) {
      b.facts.push(
        ['Go reverse proxy / nginx HTTP proxy (req/s), plain HTTP', ratio(resultOf(b, l), viaNginx)],
        ['Connectors Proxy reverse / Go reverse proxy (req/s)', ratio(reverse, resultOf(b, l))],
      );
    }
    for (const [mode, r] of [
      ['reverse', reverse],
      ['forward', forward],
    ] as const) {
      b.checks.push({
        label: `Connectors Proxy ${mode} vs nginx HTTP (req/s)`,
        value: r.requestsPerSec / viaNginx.requestsPerSec,
        target: 0.5,
        unit: '×',
        failedRequests: failed(r, viaNginx),
      });
    }
  } finally {
    await stopAll();
  }
}

async function streamingSection(b: Bench): Promise<void> {
  const echoUrl = await echoTool(b);
  const through = `${b.sys.serverUrl}${proxyPath('echo', '')}`;
  const plain = new Agent();
  // The same tool serving HTTPS: what TLS alone costs these transfers here, with no hop between.
  const echoTls = await startEchoToolProcess(
    b.sys.logDir,
    { username: user, password },
    {
      ...(await nginxTls(b)),
      ca: b.tls,
    },
  );
  recordNode(b, echoTls.process, b.current);
  const pid = await freshServer(b, 'echo', '/bytes/1');
  // The reference: what nginx, TLS in front and streaming, makes of the same transfers here.
  const nginx = await startNginxProxy(b.dir, echoUrl, userPassword(user, password), await nginxTls(b), {
    name: 'stream-proxy',
    streaming: true,
  });
  const stops: (() => Promise<unknown>)[] = [() => nginx.process.stop(), () => echoTls.process.stop()];
  let peak = 0;
  try {
    // Node's floor for the same transfers: the bare TLS relay (https + undici, nothing else).
    const bare = (await startRelay(b, b.current, echoUrl, '/bytes/1')) as {
      url: string;
      process: ManagedProcess;
    };
    stops.push(() => bare.process.stop());
    // The same transfers through the baseline's server, a fresh process too.
    const base = b.baseline ? await startBaselineServer(b, b.baseline, 'echo', '/bytes/1') : undefined;
    if (base) stops.push(() => base.process.stop());
    for (const [direction, transfer] of [
      ['download', download],
      ['upload', upload],
    ] as const) {
      const direct: number[] = [];
      const directTls: number[] = [];
      const viaNginx: number[] = [];
      const viaBare: number[] = [];
      const ours: number[] = [];
      const viaBase: number[] = [];
      const rss = { before: rssBytes(pid) / MB, peak: 0 };
      const baseRss = base ? { before: rssBytes(base.pid) / MB, peak: 0 } : undefined;
      for (let i = 0; i < rounds; i++) {
        direct.push(await transfer(echoUrl, GiB, { Authorization: basic(user, password) }, plain));
        directTls.push(await transfer(echoTls.url, GiB, { Authorization: basic(user, password) }, b.tls));
        viaNginx.push(await transfer(nginx.url, GiB, {}, b.tls));
        viaBare.push(await transfer(bare.url, GiB, {}, b.tls));
        const watch = watchPeakRss(pid);
        try {
          ours.push(await transfer(through, GiB, bearer(b), b.tls));
        } finally {
          rss.peak = Math.max(rss.peak, watch.stop() / MB);
        }
        if (base && baseRss) {
          const baseWatch = watchPeakRss(base.pid);
          try {
            viaBase.push(await transfer(`${base.url}${proxyPath('echo', '')}`, GiB, bearer(b), b.tls));
          } finally {
            baseRss.peak = Math.max(baseRss.peak, baseWatch.stop() / MB);
          }
        }
      }
      peak = Math.max(peak, rss.peak);
      b.transfers.push(
        { name: `${direction} 1 GiB, echo tool directly (HTTP)`, mibPerSec: median(direct) },
        { name: `${direction} 1 GiB, echo tool directly (HTTPS)`, mibPerSec: median(directTls) },
        {
          name: `${direction} 1 GiB through nginx (TLS, Basic injected, unbuffered)`,
          mibPerSec: median(viaNginx),
        },
        {
          name: `${direction} 1 GiB through the bare Node TLS relay (https + undici, nothing else)`,
          mibPerSec: median(viaBare),
        },
        {
          name: `${direction} 1 GiB through our /proxy (TLS, bearer token)`,
          mibPerSec: median(ours),
          rssMB: rss,
          ...(baseRss ? { baseline: { mibPerSec: median(viaBase), rssMB: baseRss } } : {}),
        },
      );
      progress(
        `1 GiB ${direction}: ${median(ours).toFixed(0)} MiB/s through /proxy, ` +
          `${median(direct).toFixed(0)} MiB/s directly (${median(directTls).toFixed(0)} over HTTPS), ` +
          `${median(viaNginx).toFixed(0)} MiB/s through nginx, ${median(viaBare).toFixed(0)} through the bare relay, server RSS ${rss.before.toFixed(0)} → ${rss.peak.toFixed(0)} MB`,
      );
      b.facts.push(
        [
          `bare Node TLS relay / echo tool directly (HTTPS), 1 GiB ${direction}: what Node can reach here`,
          times(median(viaBare) / median(directTls)),
        ],
        [
          `our /proxy / bare Node TLS relay, 1 GiB ${direction}: what our path leaves`,
          times(median(ours) / median(viaBare)),
        ],
      );
      b.checks.push(
        {
          label: `1 GiB ${direction}: /proxy (TLS) / echo tool directly (HTTP)`,
          value: median(ours) / median(direct),
          target: 0.9,
          unit: '×',
        },
        {
          label: `1 GiB ${direction}: /proxy (TLS) / echo tool directly (HTTPS)`,
          value: median(ours) / median(directTls),
          target: 0.9,
          unit: '×',
        },
      );
    }
  } finally {
    await plain.close();
    await Promise.all(stops.map((stop) => stop()));
  }
  b.checks.push({
    label: 'server peak RSS during the 1 GiB transfers',
    value: peak,
    target: 150,
    unit: 'MB',
    atMost: true,
  });
}

/** Peak RSS of `pid` while `run` runs. */
async function peakRssDuring<T>(pid: number, run: () => Promise<T>): Promise<{ result: T; peakMB: number }> {
  const watch = watchPeakRss(pid);
  try {
    const result = await run();
    return { result, peakMB: watch.stop() / MB };
  } catch (err) {
    watch.stop();
    throw err;
  }
}

async function streamsSection(b: Bench): Promise<void> {
  const echoUrl = await echoTool(b);
  const through = `${b.sys.serverUrl}${proxyPath('echo', '')}`;
  const pid = await freshServer(b, 'echo', '/bytes/1');
  // Node's own floor for this load: the bare relay (no chain at all) in front of the same tool.
  const bare = (await startRelay(b, b.current, echoUrl, '/bytes/1')) as {
    url: string;
    process: ManagedProcess;
  };
  let errors = 0;
  const before = rssBytes(pid) / MB;
  const bareBefore = rssBytes(bare.process.pid as number) / MB;
  const peaks: number[] = [];
  const barePeaks: number[] = [];
  const times: number[] = [];
  const open: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const { result: r, peakMB } = await peakRssDuring(pid, () =>
        concurrentDownloads(through, streams, MiB, bearer(b), b.sys.servingCaPem),
      );
      peaks.push(peakMB);
      errors += r.errors;
      times.push(r.seconds);
      open.push(r.maxOpen);
      if (r.firstError) progress(`${r.errors} of ${streams} downloads failed, e.g.: ${r.firstError}`);
      const floor = await peakRssDuring(bare.process.pid as number, () =>
        concurrentDownloads(bare.url, streams, MiB, {}, b.sys.servingCaPem),
      );
      barePeaks.push(floor.peakMB);
    }
  } finally {
    await bare.process.stop();
  }
  const rounded = (mbs: number[]): string => mbs.map((mb) => mb.toFixed(0)).join(', ');
  const rssText = `server RSS ${before.toFixed(0)} → ${rounded(peaks)} MB (peak of each round)`;
  progress(`${streams} simultaneous downloads: ${errors} errors, ${rssText}`);
  b.facts.push(
    [
      `${streams.toLocaleString('en')} simultaneous 1 MiB downloads through /proxy (one connection each)`,
      `${median(times).toFixed(1)} s, up to ${median(open)} responses open at once, ${rssText}`,
    ],
    [
      `the same through the bare Node TLS relay: what Node itself holds for them`,
      `RSS ${bareBefore.toFixed(0)} → ${rounded(barePeaks)} MB`,
    ],
  );
  b.checks.push({
    label: `${streams.toLocaleString('en')} simultaneous downloads: errors`,
    value: errors,
    target: 0,
    unit: 'errors',
    atMost: true,
  });
  // Bounded (the target: at most 1.5× what Node itself holds), measured against Node's own floor in the same rounds: the bare relay
  // holds a few hundred MB for one burst by itself (TLS records, socket buffers, what the allocator
  // keeps), and its peak wanders ±15% from round to round, so a round-on-round check would be
  // noise. Memory kept per stream (a buffer, listener or socket) adds up round after round in ours
  // and not in the bare relay: 50 KB a stream over three rounds would take ours past 1.5×.
  const peak = Math.max(...peaks);
  const barePeak = Math.max(...barePeaks);
  b.checks.push(
    {
      label: `server peak RSS, ${streams.toLocaleString('en')} simultaneous downloads / the bare Node relay's`,
      value: peak / barePeak,
      target: 1.5,
      unit: '×',
      atMost: true,
    },
    // Our own stricter bar, kept: the target for the 1 GiB transfers is 150 MB, and the bare relay's
    // row shows what it takes for Node to meet it here.
    {
      label: `server peak RSS, ${streams.toLocaleString('en')} simultaneous downloads (our own bar)`,
      value: peak,
      target: 150,
      unit: 'MB',
      atMost: true,
    },
  );
}

async function scaleSection(b: Bench): Promise<void> {
  const many = scaleConnectors.toLocaleString('en');
  // The reference brackets the rows: /proxy on a fresh process just before the Connectors are
  // loaded, and on the rows' own process once they are deleted again; the mean of the two cancels
  // a drift of this shared VM over those minutes, which moved this check by a quarter either way.
  await freshServer(b, 'tool', '/data.json');
  await warmUp(ours(b));
  const before = await measure(b, {
    ...ours(b),
    name: `our /proxy, fresh server, before ${many} more Connectors`,
  });
  // Another fresh process, so that the RSS below is what the Connectors take and not what the load
  // above left.
  const pid = await freshServer(b, 'tool', '/data.json');
  const names = Array.from({ length: scaleConnectors }, (_, i) => `scale-${String(i).padStart(5, '0')}`);
  const rssBefore = rssBytes(pid) / MB;
  const took = await createConnectors(b.sys.cp, ns, names, connectorSpec(b.tool.url));
  await waitServed(b, names[names.length - 1] ?? '', '/data.json', 180_000);
  const rssAfter = rssBytes(pid) / MB;
  progress(`${many} Connectors created in ${took.toFixed(1)} s; server RSS ${rssAfter.toFixed(0)} MB`);
  const path = (name: string): string => proxyPath(name, '/data.json');
  const underLoad = watchPeakRss(pid);
  const oneLoad: Load = {
    name: `our /proxy with ${many} more Connectors, one of them`,
    url: `${b.sys.serverUrl}${path(names[scaleConnectors / 2] ?? '')}`,
    headers: bearer(b),
  };
  await warmUp(oneLoad);
  const [one, spread] = (await measureSideBySide(b, [
    oneLoad,
    {
      name: `our /proxy with ${many} more Connectors, spread over ${spreadOver} of them`,
      url: `${b.sys.serverUrl}/`,
      headers: bearer(b),
      targets: names.filter((_, i) => i % (scaleConnectors / spreadOver) === 0).map(path),
    },
  ])) as [LoadResult, LoadResult];
  const peak = underLoad.stop() / MB;
  const deleted = await deleteConnectors(b.sys.cp, ns, names);
  await waitStatus(b, names[names.length - 1] ?? '', '/data.json', 404, 180_000);
  const afterwards = await measure(b, {
    ...ours(b),
    name: `our /proxy, the same server, after deleting the ${many} Connectors`,
  });
  const reference = (before.p50Ms + afterwards.p50Ms) / 2;
  b.facts.push(
    [`create ${many} Connectors (32 POSTs in parallel)`, `${took.toFixed(1)} s`],
    [`delete them (32 DELETEs in parallel)`, `${deleted.toFixed(1)} s`],
    [
      `server RSS: fresh → ${many} Connectors served → peak under wrk with them`,
      `${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} → ${peak.toFixed(0)} MB`,
    ],
  );
  for (const [which, r] of [
    ['one of them', one],
    [`spread over ${spreadOver}`, spread],
  ] as const) {
    b.checks.push({
      label: `${many} Connectors: /proxy p50 ${which} / without them (before and after)`,
      value: r.p50Ms / reference,
      target: 1.1,
      unit: '×',
      atMost: true,
      failedRequests: failed(r, before, afterwards),
    });
  }
  b.checks.push(
    {
      label: `${many} Connectors: /proxy errors under wrk`,
      value: failed(one, spread),
      target: 0,
      unit: 'errors',
      atMost: true,
    },
    {
      label: `server RSS, fresh process, with ${many} Connectors loaded`,
      value: rssAfter,
      target: 150,
      unit: 'MB',
      atMost: true,
    },
  );
}

const sectionRuns: Record<Section, (b: Bench) => Promise<void>> = {
  http: httpSection,
  connproxy: connproxySection,
  streaming: streamingSection,
  streams: streamsSection,
  scale: scaleSection,
};

/** What the errors of a wrk row were: non-2xx answers by status where counted, else socket errors. */
function failureLine(r: MeasuredRow): string {
  const { errors, failures, firstFailure } = r.result;
  const byStatus = Object.entries(failures ?? {})
    .map(([status, n]) => `${n} × ${status}`)
    .join(', ');
  const counted = Object.values(failures ?? {}).reduce((a, n) => a + n, 0);
  const parts = [byStatus, counted < errors ? `${errors - counted} socket errors or uncounted` : '']
    .filter(Boolean)
    .join(', ');
  return `Errors in "${r.name}": ${parts}${firstFailure ? `; the first: ${firstFailure}` : ''}`;
}

const columnsOf = (b: Bench): Columns => ({ current: b.current.label, baseline: b.baseline?.label ?? '' });

function report(b: Bench, sections: Section[], machine: string): string[] {
  const rows = [...b.rows.values()];
  const columns = b.baseline
    ? `${b.current.label} = ${b.current.version}, this tree; ${b.baseline.label} = ${b.baseline.version}, ` +
      `commit ${baselineCommit} (before the upgrade), same flags, certificates and tool`
    : `Node ${b.current.version}`;
  const out = [
    `Connectors benchmarks — ${machine}; ${columns}; ${rounds} rounds × ${seconds} s, ` +
      `${connections} connections unless named, medians; sections: ${sections.join(', ')}`,
    '',
    ...b.notes.flatMap((n) => [`Note: ${n}`, '']),
  ];
  if (rows.length > 0) {
    out.push(...rowTable(rows, columnsOf(b)), '');
    for (const r of rows.filter((row) => row.result.errors > 0)) out.push(failureLine(r), '');
  }
  if (b.transfers.length > 0) out.push(...transferTable(b.transfers, columnsOf(b)), '');
  if (b.facts.length > 0) out.push(...table(['what', 'result'], b.facts), '');
  if (b.processes.length > 0) out.push(...table(['process', 'pid', 'runs on'], b.processes), '');
  out.push(...checkLines(b.checks));
  return out;
}

/** A non-loopback, non-link-local IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
    }
  }
  return undefined;
}

/**
 * The Node 20 baseline and the Go relay, prepared before anything starts (once: both are cached).
 * Either may be missing; the reason goes into the report's notes.
 */
async function preparePeers(
  root: string,
  sections: Section[],
  notes: string[],
): Promise<{
  baseline?: Runtime;
  goRelay?: { binary: string; goVersion: string };
  seconds: Record<string, number>;
}> {
  const seconds: Record<string, number> = {};
  const out: { baseline?: Runtime; goRelay?: { binary: string; goVersion: string } } = {};
  const cache = cacheRoot();
  if (sections.some((s) => s === 'http' || s === 'connproxy' || s === 'streaming')) {
    const start = Date.now();
    try {
      const prepared = await prepareBaseline({ repo: root, cache, log: progress });
      if ('skipped' in prepared) {
        notes.push(`no Node 20 column: ${prepared.skipped}`);
      } else {
        const { baseline } = prepared;
        out.baseline = {
          label: 'Node 20',
          node: baseline.node,
          root: baseline.root,
          version: baseline.nodeVersion,
          suffix: '-node20',
        };
        Object.assign(seconds, prepared.seconds);
      }
    } catch (err) {
      notes.push(
        `no Node 20 column: its preparation failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    seconds.baseline = (Date.now() - start) / 1000;
  }
  if (sections.some((s) => s === 'http' || s === 'connproxy')) {
    const start = Date.now();
    const go = findGo();
    if (!go) {
      notes.push('no Go reverse proxy rows: no Go toolchain (go on PATH or /usr/local/go/bin/go)');
    } else {
      try {
        const built = await goRelayBinary({ source: join(root, 'bench', 'go-relay'), cache, go });
        out.goRelay = { binary: built.binary, goVersion: built.goVersion };
      } catch (err) {
        notes.push(`no Go reverse proxy rows: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    seconds.goRelay = (Date.now() - start) / 1000;
  }
  for (const n of notes) progress(n);
  return { ...out, seconds };
}

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
    const objects = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'ConnectorClass',
          metadata: { name: 'bench-http' },
          spec: { auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth' }] } },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'tool', namespace: ns },
          type: 'kubernetes.io/basic-auth',
          stringData: { username: user, password },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'tool', namespace: ns },
          spec: connectorSpec(tool.url),
        },
        ...(tool.externalUrl ? servicesProxyObjects(tool.externalUrl) : []),
        // Reads through the Connectors, and the uploads (PUT) of the streaming rows.
        ...['connectors-proxy-view', 'connectors-proxy-edit'].map((role) => ({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: role, namespace: ns },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns }],
        })),
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'bench-discovery' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' },
          subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns }],
        },
      ],
    };
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
    const out = join(root, 'bench', 'results');
    await mkdir(out, { recursive: true });
    const results = {
      date: new Date().toISOString(),
      machine,
      node: {
        [current.label]: current.version,
        ...(b.baseline ? { [b.baseline.label]: `${b.baseline.version}, ${baselineCommit}` } : {}),
      },
      rounds,
      seconds,
      connections,
      sections,
      preparationSeconds: peers.seconds,
      notes,
      processes: b.processes,
      rows: [...b.rows.values()],
      transfers: b.transfers,
      facts: b.facts,
      checks: b.checks.map((c) => ({ ...c, met: met(c) })),
    };
    await writeFile(join(out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
    await writeFile(join(out, 'latest.svg'), svg(b.checks));
    await writeFile(join(out, 'latest.md'), `${lines.join('\n')}\n`);
    if (profile) await sys.stopServer(serverStopGraceMs);
  } finally {
    await Promise.all(stops.map((stop) => stop()));
    await tls.close();
    await tool.process.stop();
    await sys.stop();
  }
}

/**
 * What kube-apiserver's services/proxy needs to reach the tool at `toolUrl` without a
 * kube-controller-manager, scheduler or kubelet (the local control plane has none): a Service
 * without a selector, and its endpoints written by hand. kube-apiserver 1.34 reads Endpoints (later
 * versions read EndpointSlices, so one is written too) and takes an address only if it names a Pod
 * of the namespace whose status lists that IP: a Pod object that never runs stands for the tool, its
 * IP set by setToolPodIp. Also the right to use services/proxy, and Connector tool-external, our
 * /proxy to the same address.
 */
function servicesProxyObjects(toolUrl: string): Record<string, unknown>[] {
  const { hostname, port } = new URL(toolUrl);
  const toolPort = Number(port);
  const targetRef = { kind: 'Pod', name: 'tool', namespace: ns };
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'tool', namespace: ns },
      // ServiceAccount bench exists (createToken); `default` would not, without the controllers.
      spec: {
        serviceAccountName: 'bench',
        automountServiceAccountToken: false,
        containers: [{ name: 'tool', image: 'stands-for-the-bench-tool' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'tool', namespace: ns },
      spec: { ports: [{ port: 80, targetPort: toolPort, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'tool', namespace: ns },
      subsets: [{ addresses: [{ ip: hostname, targetRef }], ports: [{ port: toolPort, protocol: 'TCP' }] }],
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'tool', namespace: ns, labels: { 'kubernetes.io/service-name': 'tool' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostname], conditions: { ready: true }, targetRef }],
      ports: [{ port: toolPort, protocol: 'TCP' }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'bench-services-proxy', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['services/proxy'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'bench-services-proxy', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-services-proxy' },
      subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns }],
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'tool-external', namespace: ns },
      spec: connectorSpec(toolUrl),
    },
  ];
}

/** Writes the tool's address into its Pod's status, as a kubelet would (see servicesProxyObjects). */
async function setToolPodIp(sys: LocalSystem, toolUrl: string): Promise<void> {
  const ip = new URL(toolUrl).hostname;
  const patched = await sys.cp.kubectl([
    'patch',
    'pod',
    'tool',
    '-n',
    ns,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { podIP: ip, podIPs: [{ ip }] } }),
  ]);
  if (patched.code !== 0) throw new Error(patched.stderr);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
