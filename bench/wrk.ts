// Runs wrk (Debian's, a C load generator on its own core budget) and reads its summary.

import { ManagedProcess } from '../hack/process.js';
import { findBinary } from '../hack/tools/gitserver.js';

export interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
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
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: toMs(p50[1] ?? '0', p50[2] ?? 'ms'),
    p99Ms: toMs(p99[1] ?? '0', p99[2] ?? 'ms'),
    errors: non2xx + sock,
  };
}

export async function wrk(
  url: string,
  opts: { connections: number; seconds: number; headers?: Record<string, string> },
): Promise<LoadResult> {
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const r = await ManagedProcess.run(findBinary('wrk', 'wrk'), args, {
    timeoutMs: (opts.seconds + 30) * 1000,
  });
  if (r.code !== 0) throw new Error(`wrk failed (${String(r.code)}): ${r.stderr}`);
  return parseWrk(r.stdout);
}
