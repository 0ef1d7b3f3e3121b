// The harness the sections share: the run's settings (BENCH_ROUNDS, BENCH_SECONDS, BENCH_PROFILE),
// what a run holds (Bench: the system, the helpers started lazily, the results), and how a row is
// measured: wrk side by side, rounds taking turns, medians, each Node process warmed up first.

import { request, type Agent } from 'undici';
import type { ManagedProcess } from '../hack/process.js';
import type { LocalSystem } from '../hack/localsystem.js';
import type { Nginx } from './nginx.js';
import type { Check, MeasuredRow, TransferRow } from './report.js';
import { wrk, type LoadResult, type WrkOptions } from './wrk.js';

export const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
export const seconds = Number(process.env.BENCH_SECONDS ?? 10);
export const connections = 50;
const processWarmUpSeconds = 20;
export const gvPath = '/apis/subresources.connectors.alauda.io/v1alpha1';
export const ns = 'bench';
export const user = 'bench';
export const password = 'bench-password';
export const GiB = 1024 * 1024 * 1024;
export const MiB = 1024 * 1024;
export const profile = process.env.BENCH_PROFILE;
// A profile of a long run takes a while to write on exit; give it time before SIGKILL.
export const serverStopGraceMs = profile ? 120_000 : undefined;

export const sectionNames = ['http', 'connproxy', 'streaming', 'streams', 'scale'] as const;
export type Section = (typeof sectionNames)[number];

/**
 * A build of our code and the Node it runs on: this tree on this process's Node (Node 24), or the
 * baseline (bench/baseline.ts: the last commit on Node 20, on Node 20).
 */
export interface Runtime {
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
export interface ServerRef {
  url: string;
  port: number;
  pid: number;
}

/** What the sections share: the running system, lazily started helpers, and the results. */
export interface Bench {
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

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export const userPassword = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');
export const basic = (u: string, p: string): string => `Basic ${userPassword(u, p)}`;
export const bearer = (b: Bench): Record<string, string> => ({ Authorization: `Bearer ${b.token}` });
export const proxyPath = (connector: string, path: string): string =>
  `${gvPath}/namespaces/${ns}/connectors/${connector}/proxy${path}`;
export const connectorSpec = (address: string): Record<string, unknown> => ({
  connectorClassName: 'bench-http',
  address,
  auth: { name: 'basicAuth', secretRef: { name: 'tool' } },
});
export const times = (x: number): string => `${x.toFixed(2)}×`;
export const ratio = (a: LoadResult, b: LoadResult): string => times(a.requestsPerSec / b.requestsPerSec);
export const failed = (...results: LoadResult[]): number => results.reduce((a, r) => a + r.errors, 0);
export const progress = (line: string): void => {
  process.stderr.write(`  ${line}\n`);
};

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
export async function warmUp(...loads: Load[]): Promise<void> {
  for (const l of loads) {
    await l.before?.();
    await wrk(l.url, { ...wrkOptions(l), seconds: processWarmUpSeconds });
  }
}

/**
 * The same row on the baseline build, whose server answers at `origin` (same path, headers and
 * load), or nothing when there is no baseline (or no server of it for this row).
 */
export function onBaseline(
  b: Bench,
  l: Load,
  origin: string | undefined,
  before?: () => Promise<void>,
): Load[] {
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
export function resultOf(b: Bench, l: Load): LoadResult {
  const row = b.rows.get(l.name);
  if (!row) throw new Error(`row not measured: ${l.name}`);
  return row.result;
}

/** One wrk row: what it is called and what wrk sends. */
export interface Load {
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
export async function measureSideBySide(b: Bench, loads: Load[]): Promise<LoadResult[]> {
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

export async function measure(b: Bench, load: Load): Promise<LoadResult> {
  const [result] = await measureSideBySide(b, [load]);
  return result as LoadResult;
}

export const ours = (b: Bench): Load => ({
  name: 'our /proxy, called directly (TLS, bearer token)',
  url: `${b.sys.serverUrl}${proxyPath('tool', '/data.json')}`,
  headers: bearer(b),
});

/** Waits until `path` through Connector `connector` answers 200 (served) or 404 (gone). */
export async function waitStatus(
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

export const waitServed = (b: Bench, connector: string, path: string, timeoutMs = 60_000): Promise<void> =>
  waitStatus(b, connector, path, 200, timeoutMs);
