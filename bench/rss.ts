// A process's resident memory from /proc, for "the server's RSS stays flat" rows.

import { readFileSync, writeFileSync } from 'node:fs';

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** The current RSS of `pid` in bytes. */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS') * 1024;
}

/**
 * Watches the peak RSS of `pid` (bytes) from now, when it is `before`, until `stop()`. VmRSS is
 * sampled every 100 ms; where the kernel lets us reset the high-water mark (writing 5 to
 * /proc/<pid>/clear_refs, our own child), VmHWM also catches a spike between two samples.
 */
export function watchPeakRss(pid: number): { before: number; stop(): number } {
  let hwm = true;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    hwm = false;
  }
  const before = rssBytes(pid);
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 100);
  return {
    before,
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid), hwm ? statusKb(pid, 'VmHWM') * 1024 : 0);
    },
  };
}
