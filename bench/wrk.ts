// Runs wrk (Debian's, a C load generator on its own core budget) and reads its summary.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess } from '../hack/process.js';
import { findBinary } from '../hack/tools/gitserver.js';

export interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** With `statuses`: the answers that were not 2xx, counted by status code. */
  failures?: Record<string, number>;
  /** With `statuses`: the status line and the start of the body of the first of them. */
  firstFailure?: string;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  headers?: Record<string, string>;
  /**
   * Request targets sent instead of the URL's path, in turn: several spread the load (one wrk
   * request each, round robin), and an absolute URL makes a forward-proxy request.
   */
  targets?: string[];
  /**
   * Counts the non-2xx answers by status and keeps the first one's body, so that a row with errors
   * says what they were. wrk then hands every response to Lua, which costs wrk CPU: only for rows
   * whose server is far slower than wrk (those through kube-apiserver).
   */
  statuses?: boolean;
}

function toMs(value: string, unit: string): number {
  const n = Number(value);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

export function parseWrk(out: string): LoadResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s)/m.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)/m.exec(out);
  if (!rps || !p50 || !p99) throw new Error(`cannot read wrk output:\n${out}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sock = socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const result: LoadResult = {
    requestsPerSec: Number(rps[1]),
    p50Ms: toMs(p50[1] ?? '0', p50[2] ?? 'ms'),
    p99Ms: toMs(p99[1] ?? '0', p99[2] ?? 'ms'),
    errors: non2xx + sock,
  };
  const failures = [...out.matchAll(/^failed status (\d+): (\d+)$/gm)];
  if (failures.length > 0) {
    result.failures = Object.fromEntries(failures.map((m): [string, number] => [m[1] ?? '', Number(m[2])]));
  }
  const first = /^first failure: (.*)$/m.exec(out)?.[1];
  if (first) result.firstFailure = first;
  return result;
}

// Counted in each thread's Lua state and collected in done(); the first body's excerpt is flattened
// to one line so the summary stays one line per fact.
const statusScript = `
local threads = {}
function setup(thread) table.insert(threads, thread) end
failed = {}
function response(status, headers, body)
  if status < 200 or status > 299 then
    failed[status] = (failed[status] or 0) + 1
    if not first then first = status .. " " .. string.gsub(string.sub(body or "", 1, 300), "%s+", " ") end
  end
end
function done(summary, latency, requests)
  local firstSeen = nil
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("failed")) do io.write("failed status " .. status .. ": " .. n .. "\\n") end
    firstSeen = firstSeen or t:get("first")
  end
  if firstSeen then io.write("first failure: " .. firstSeen .. "\\n") end
end
`;

/**
 * A wrk Lua script sending `targets`. One target is a static request (as fast as no script); more
 * are formatted once per thread and then sent round robin.
 */
function luaScript(targets: string[]): string {
  for (const t of targets) {
    if (!/^[\x21-\x7e]+$/.test(t)) throw new Error(`wrk target must be printable ASCII: ${t}`);
  }
  const list = targets.map((t) => JSON.stringify(t)).join(',\n');
  if (targets.length === 1) return `wrk.path = ${list}\n`;
  return `local targets = {
${list}
}
local requests = {}
local n = 0
function init(args)
  for i, t in ipairs(targets) do requests[i] = wrk.format(nil, t) end
end
function request()
  n = n % #requests + 1
  return requests[n]
end
`;
}

export async function wrk(url: string, opts: WrkOptions): Promise<LoadResult> {
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  const lua = [opts.targets ? luaScript(opts.targets) : '', opts.statuses ? statusScript : ''].join('');
  const dir = lua ? await mkdtemp(join(tmpdir(), 'wrk-')) : undefined;
  try {
    if (dir) {
      const script = join(dir, 'bench.lua');
      await writeFile(script, lua);
      args.push('-s', script);
    }
    args.push(url);
    const r = await ManagedProcess.run(findBinary('wrk', 'wrk'), args, {
      timeoutMs: (opts.seconds + 30) * 1000,
    });
    if (r.code !== 0) throw new Error(`wrk failed (${String(r.code)}): ${r.stderr}`);
    return parseWrk(r.stdout);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
