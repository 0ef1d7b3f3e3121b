// `npm run bench`: starts everything it needs on loopback and prints, side by side in one run, the
// numbers behind the spec's performance targets (SPEC §8), each line with its target and whether
// it is met. Results also go to bench/results/latest.json, latest.md and latest.svg.
//
// Sections, in this order (BENCH_ONLY=<comma list> runs only those named, e.g.
// BENCH_ONLY=connproxy,streaming):
//   http       wrk against the tool directly, nginx (TLS, Basic injected, one worker), our /proxy
//              called directly (TLS), each at 50 connections and at 1 (the added latency), a bare
//              Node TLS relay (bench/bare-relay-main.ts: the floor of Node's stack here), and
//              through kube-apiserver against a do-nothing endpoint
//   connproxy  wrk against the Connectors Proxy in reverse (Host c-tool.bench) and forward
//              (http_proxy) mode, nginx injecting the same credential over plain HTTP, and the bare
//              relay over plain HTTP (the floor of Node's stack for it)
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
// and not what an earlier section left. The defaults take about 12 minutes on 2 cores.
// BENCH_PROFILE=<dir> writes CPU profiles of the aggregated server there, one per server process
// (open them in Chrome DevTools or any .cpuprofile viewer).

import '../hack/require-node.js'; // first: stops an older Node before anything loads
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { repoRoot } from '../hack/binaries.js';
import { freePort, ManagedProcess } from '../hack/process.js';
import { startLocalSystem, type LocalSystem } from '../hack/localsystem.js';
import { startConnectorsProxy } from './connproxy.js';
import { startNginxProxy, startStaticTool, type Nginx } from './nginx.js';
import { checkLines, MB, met, svg, table, type Check } from './report.js';
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

interface Row {
  name: string;
  result: LoadResult;
}

interface Transfer {
  name: string;
  mibPerSec: number;
  /** The server's RSS before the first round and at its peak, for transfers through it. */
  rssMB?: { before: number; peak: number };
}

/** What the sections share: the running system, lazily started helpers, and the results. */
interface Bench {
  sys: LocalSystem;
  dir: string;
  /** nginx serving /data.json: the tool of every wrk row. */
  tool: Nginx;
  nginx?: Nginx & { httpUrl: string };
  echoUrl?: string;
  /** The caller's token (ServiceAccount bench/bench), for our server and the Connectors Proxy. */
  token: string;
  tls: Agent;
  stops: (() => Promise<unknown>)[];
  rows: Map<string, Row>;
  transfers: Transfer[];
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
  for (const l of loads) await wrk(l.url, { ...wrkOptions(l), seconds: processWarmUpSeconds });
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
}

/**
 * wrk on each of `loads`, side by side: a warm-up each (pools, caches, JIT), then `rounds` rounds
 * in which every load takes its turn, and the medians. Interleaving the rounds puts any drift of a
 * shared VM (a noisy neighbour, a background compaction) on every row alike instead of on
 * whichever row ran during it, so the ratios between the rows hold. Each name is measured once.
 */
async function measureSideBySide(b: Bench, loads: Load[]): Promise<LoadResult[]> {
  const todo = loads.filter((l) => !b.rows.has(l.name));
  for (const l of todo) await wrk(l.url, { ...wrkOptions(l), seconds: 2 });
  const results = new Map<string, LoadResult[]>(todo.map((l) => [l.name, []]));
  for (let i = 0; i < rounds; i++) {
    for (const l of todo) results.get(l.name)?.push(await wrk(l.url, { ...wrkOptions(l), seconds }));
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
    b.rows.set(l.name, { name: l.name, result });
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

/** Waits until our server serves `path` through Connector `connector` with a 200. */
/** Waits until `path` through Connector `connector` answers 200 (served) or 404 (gone). */
async function waitStatus(
  b: Bench,
  connector: string,
  path: string,
  status: 200 | 404,
  timeoutMs: number,
): Promise<void> {
  await b.sys.server.waitUntil(
    async () => {
      const r = await request(`${b.sys.serverUrl}${proxyPath(connector, path)}`, {
        headers: bearer(b),
        dispatcher: b.tls,
      });
      await r.body.dump();
      return r.statusCode === status;
    },
    {
      timeoutMs,
      what: `the server to ${status === 200 ? 'serve' : 'forget'} Connector ${ns}/${connector}`,
      intervalMs: 200,
    },
  );
}

const waitServed = (b: Bench, connector: string, path: string, timeoutMs = 60_000): Promise<void> =>
  waitStatus(b, connector, path, 200, timeoutMs);

/** Restarts our server and waits until it serves `connector` again; returns its pid. */
async function freshServer(b: Bench, connector: string, path: string): Promise<number> {
  await b.sys.stopServer(serverStopGraceMs);
  await b.sys.startServer();
  await waitServed(b, connector, path);
  return b.sys.server.pid as number;
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
 * bench/bare-relay-main.ts in its own process, relaying to `toolUrl` (answering `probe` with a 200),
 * over TLS (the floor of /proxy) or plain HTTP (that of the Connectors Proxy).
 */
async function startBareRelay(
  b: Bench,
  toolUrl: string,
  probe: string,
  scheme: 'https' | 'http' = 'https',
): Promise<{ url: string; process: ManagedProcess }> {
  const { certFile, keyFile } = await nginxTls(b);
  const port = await freePort();
  const url = `${scheme}://127.0.0.1:${port}`;
  const proc = ManagedProcess.start({
    name: 'bare-relay',
    binary: process.execPath,
    args: [
      join(repoRoot(), 'dist', 'bench', 'bare-relay-main.js'),
      String(port),
      toolUrl,
      ...(scheme === 'https' ? [certFile, keyFile] : []),
    ],
    env: { ...process.env, BENCH_TOOL_AUTHORIZATION: basic(user, password) },
    logFile: join(b.sys.logDir, 'bare-relay.log'),
  });
  await proc.waitUntil(
    async () => {
      const r = await request(`${url}${probe}`, { dispatcher: b.tls });
      await r.body.dump();
      return r.statusCode === 200;
    },
    { timeoutMs: 10_000, what: 'the bare relay' },
  );
  return { url, process: proc };
}

/** The echo tool in its own process, behind Connector bench/echo. */
async function echoTool(b: Bench): Promise<string> {
  if (b.echoUrl) return b.echoUrl;
  const echo = await startEchoToolProcess(b.sys.logDir, { username: user, password });
  b.stops.push(() => echo.process.stop());
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

async function httpSection(b: Bench): Promise<void> {
  const nginx = await nginxProxy(b);
  const bare = await startBareRelay(b, b.tool.url, '/data.json');
  const toolDirect: Load = {
    name: 'tool directly (HTTP)',
    url: `${b.tool.url}/data.json`,
    headers: { Authorization: basic(user, password) },
  };
  const viaNginxTls: Load = {
    name: 'nginx TLS proxy, Basic injected (1 worker)',
    url: `${nginx.url}/data.json`,
  };
  const bareLoad: Load = {
    name: 'bare Node TLS relay: https + undici, Basic injected, nothing else',
    url: `${bare.url}/data.json`,
  };
  let viaNginx: LoadResult, oursLoaded: LoadResult, floor: LoadResult;
  try {
    await warmUp(ours(b), bareLoad);
    [, viaNginx, oursLoaded, floor] = (await measureSideBySide(b, [
      toolDirect,
      viaNginxTls,
      ours(b),
      bareLoad,
    ])) as [LoadResult, LoadResult, LoadResult, LoadResult];
  } finally {
    await bare.process.stop();
  }
  b.facts.push(
    ['bare Node TLS relay / nginx TLS proxy (req/s): what Node can reach here', ratio(floor, viaNginx)],
    ['our /proxy / bare Node TLS relay (req/s): what our handler chain leaves', ratio(oursLoaded, floor)],
  );
  // Added latency is measured unloaded, one request at a time: at 50 connections every p50 above is
  // mostly the time a request waits behind the others (Little's law), not what a hop adds.
  const alone = (l: Load, name: string): Load => ({ ...l, name, load: 1 });
  const [directAlone, , oursAlone] = (await measureSideBySide(b, [
    alone(toolDirect, 'tool directly (HTTP), 1 connection'),
    alone(viaNginxTls, 'nginx TLS proxy, 1 connection'),
    alone(ours(b), 'our /proxy, called directly, 1 connection'),
  ])) as [LoadResult, LoadResult, LoadResult];
  const [kubeBaseline, kubeOurs] = (await measureSideBySide(b, [
    {
      name: 'kube-apiserver → our discovery (do-nothing)',
      url: `${b.sys.cp.server}${gvPath}`,
      headers: bearer(b),
      statuses: true,
    },
    {
      name: 'kube-apiserver → our /proxy',
      url: `${b.sys.cp.server}${proxyPath('tool', '/data.json')}`,
      headers: bearer(b),
      statuses: true,
    },
  ])) as [LoadResult, LoadResult];
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
      value: oursAlone.p50Ms - directAlone.p50Ms,
      target: 1,
      unit: 'ms',
      atMost: true,
      failedRequests: failed(oursAlone, directAlone),
    },
    {
      label: 'through kube-apiserver, p50 ours / do-nothing',
      value: kubeOurs.p50Ms / kubeBaseline.p50Ms,
      target: 1.1,
      unit: '×',
      atMost: true,
      failedRequests: failed(kubeOurs, kubeBaseline),
    },
  );
}

async function connproxySection(b: Bench): Promise<void> {
  const nginx = await nginxProxy(b);
  const token = basic('x', b.token);
  const proxy = await startConnectorsProxy(b.sys, {
    path: `/namespaces/${ns}/connectors/tool/data.json`,
    authorization: token,
  });
  const bare = await startBareRelay(b, b.tool.url, '/data.json', 'http');
  const reverseLoad: Load = {
    name: 'Connectors Proxy reverse (Host c-tool.bench, HTTP, token as Basic password)',
    url: `${proxy.url}/data.json`,
    headers: { Host: `c-tool.${ns}`, Authorization: token },
  };
  const bareLoad: Load = {
    name: 'bare Node HTTP relay: http + undici, Basic injected, nothing else',
    url: `${bare.url}/data.json`,
  };
  try {
    await warmUp(reverseLoad, bareLoad);
    const [viaNginx, reverse, forward, floor] = (await measureSideBySide(b, [
      { name: 'nginx HTTP proxy, Basic injected (1 worker)', url: `${nginx.httpUrl}/data.json` },
      reverseLoad,
      {
        name: 'Connectors Proxy forward (http_proxy, HTTP, Proxy-Authorization)',
        url: proxy.url,
        headers: { Host: new URL(b.tool.url).host, 'Proxy-Authorization': basic(`${ns}/tool`, b.token) },
        targets: [`${b.tool.url}/data.json`],
      },
      bareLoad,
    ])) as [LoadResult, LoadResult, LoadResult, LoadResult];
    b.facts.push(
      ['bare Node HTTP relay / nginx HTTP proxy (req/s): what Node can reach here', ratio(floor, viaNginx)],
      [
        'Connectors Proxy reverse / bare Node HTTP relay (req/s): what its chain leaves',
        ratio(reverse, floor),
      ],
    );
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
    await Promise.all([proxy.process.stop(), bare.process.stop()]);
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
  const pid = await freshServer(b, 'echo', '/bytes/1');
  // The reference: what nginx, TLS in front and streaming, makes of the same transfers here.
  const nginx = await startNginxProxy(b.dir, echoUrl, userPassword(user, password), await nginxTls(b), {
    name: 'stream-proxy',
    streaming: true,
  });
  // Node's floor for the same transfers: the bare TLS relay (https + undici, nothing else).
  const bare = await startBareRelay(b, echoUrl, '/bytes/1');
  let peak = 0;
  try {
    for (const [direction, transfer] of [
      ['download', download],
      ['upload', upload],
    ] as const) {
      const direct: number[] = [];
      const directTls: number[] = [];
      const viaNginx: number[] = [];
      const viaBare: number[] = [];
      const ours: number[] = [];
      const rss = { before: rssBytes(pid) / MB, peak: 0 };
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
    await Promise.all([nginx.process.stop(), echoTls.process.stop(), bare.process.stop()]);
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
  const bare = await startBareRelay(b, echoUrl, '/bytes/1');
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
  // Bounded, as SPEC §8 asks, measured against Node's own floor in the same rounds: the bare relay
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
    // Our own stricter bar, kept: SPEC §8 sets 150 MB for the 1 GiB transfers, and the bare relay's
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
function failureLine(r: Row): string {
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

function report(b: Bench, sections: Section[], machine: string): string[] {
  const rows = [...b.rows.values()];
  const out = [
    `Connectors benchmarks — ${machine}; ${rounds} rounds × ${seconds} s, ${connections} connections unless named, medians; ` +
      `sections: ${sections.join(', ')}`,
    '',
  ];
  if (rows.length > 0) {
    const body = rows.map((r) => [
      r.name,
      r.result.requestsPerSec.toFixed(0),
      r.result.p50Ms.toFixed(2),
      r.result.p99Ms.toFixed(2),
      r.result.errors,
    ]);
    out.push(...table(['what', 'req/s', 'p50 ms', 'p99 ms', 'errors'], body), '');
    for (const r of rows.filter((row) => row.result.errors > 0)) out.push(failureLine(r), '');
  }
  if (b.transfers.length > 0) {
    const body = b.transfers.map((t) => [
      t.name,
      t.mibPerSec.toFixed(0),
      t.rssMB ? `${t.rssMB.before.toFixed(0)} → ${t.rssMB.peak.toFixed(0)}` : '–',
    ]);
    out.push(...table(['what', 'MiB/s', 'server RSS MB, before → peak'], body), '');
  }
  if (b.facts.length > 0) out.push(...table(['what', 'result'], b.facts), '');
  out.push(...checkLines(b.checks));
  return out;
}

async function main(): Promise<void> {
  const sections = selectedSections();
  const root = repoRoot();
  const dir = await mkdtemp(join(tmpdir(), 'connectors-bench-'));
  process.stderr.write(
    `starting the control plane, the server and a static tool (${sections.join(', ')})…\n`,
  );
  const started = Date.now();
  const sys = await startLocalSystem({
    logDir: join(dir, 'logs'),
    serverArgs: ['--log-level=warn'],
    serverNodeArgs: [
      ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
    ],
  });
  const tool = await startStaticTool(dir, userPassword(user, password));
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
    const applied = await sys.cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(objects) });
    if (applied.code !== 0) throw new Error(applied.stderr);
    const token = await sys.cp.createToken(ns, 'bench', { expirationSeconds: 3600 });
    const b: Bench = {
      sys,
      dir,
      tool,
      token,
      tls,
      stops,
      rows: new Map(),
      transfers: [],
      facts: [],
      checks: [],
    };
    await waitServed(b, 'tool', '/data.json');

    process.stderr.write(`measuring: ${rounds} rounds × ${seconds} s, ${connections} connections, wrk -t1\n`);
    for (const section of sections) {
      process.stderr.write(`[${section}]\n`);
      await sectionRuns[section](b);
    }
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
    const lines = report(b, sections, machine);
    process.stdout.write(`${lines.join('\n')}\n`);
    process.stderr.write(`took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    const out = join(root, 'bench', 'results');
    await mkdir(out, { recursive: true });
    const results = {
      date: new Date().toISOString(),
      machine,
      rounds,
      seconds,
      connections,
      sections,
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

main().catch((err: unknown) => {
  process.stderr.write(`npm run bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
