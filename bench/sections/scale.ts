// Section scale: /proxy on a fresh server, then 10,000 more Connectors: /proxy on one of them and
// round robin over 100 of them (each within the caches' 10 s), with wrk, and the server's RSS once
// they are loaded; then /proxy once more after they are deleted, the reference's other end.

import {
  bearer,
  connectorSpec,
  failed,
  measure,
  measureSideBySide,
  ns,
  ours,
  progress,
  proxyPath,
  waitServed,
  waitStatus,
  warmUp,
  type Bench,
  type Load,
} from '../harness.js';
import { freshServer } from '../processes.js';
import { MB } from '../report.js';
import { rssBytes, watchPeakRss } from '../rss.js';
import { createConnectors, deleteConnectors } from '../scale.js';
import type { LoadResult } from '../wrk.js';

const scaleConnectors = 10_000;
const spreadOver = 100;

export async function scaleSection(b: Bench): Promise<void> {
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
