// Section streaming: 1 GiB down and up through /proxy (TLS), to the same echo tool directly (HTTP,
// and HTTPS for what TLS alone costs), through nginx and through the bare TLS relay (Node's floor
// for a relay), with the server's peak RSS; the baseline build's server beside ours.

import { Agent } from 'undici';
import type { ManagedProcess } from '../../hack/process.js';
import {
  basic,
  bearer,
  GiB,
  median,
  password,
  progress,
  proxyPath,
  rounds,
  times,
  user,
  userPassword,
  type Bench,
} from '../harness.js';
import { startNginxProxy } from '../nginx.js';
import {
  echoTool,
  freshServer,
  nginxTls,
  recordNode,
  startBaselineServer,
  startRelay,
} from '../processes.js';
import { MB } from '../report.js';
import { rssBytes, watchPeakRss } from '../rss.js';
import { download, startEchoToolProcess, upload } from '../streaming.js';

export async function streamingSection(b: Bench): Promise<void> {
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
