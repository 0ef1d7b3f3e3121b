// The resident memory of a process (the server under test), read from /proc.

import { readFileSync } from 'node:fs';

export const MiB = 1024 * 1024;

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Samples the process's RSS until the returned function is called; that returns the peak. */
export function sampleRss(pid: number): () => number {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 20);
  return () => {
    clearInterval(timer);
    return Math.max(peak, rssBytes(pid));
  };
}

export const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
