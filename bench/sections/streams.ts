// Section streams: 1,000 simultaneous 1 MiB downloads through /proxy and through the bare relay
// (Node's floor): errors, and the peak RSS of each round, ours bounded against the bare relay's.

import type { ManagedProcess } from '../../hack/process.js';
import { bearer, median, MiB, progress, proxyPath, rounds, type Bench } from '../harness.js';
import { echoTool, freshServer, startRelay } from '../processes.js';
import { MB } from '../report.js';
import { rssBytes, watchPeakRss } from '../rss.js';
import { concurrentDownloads } from '../streaming.js';

const streams = 1000;

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

export async function streamsSection(b: Bench): Promise<void> {
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
