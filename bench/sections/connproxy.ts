// Section connproxy: wrk against the Connectors Proxy in reverse (Host c-tool.bench) and forward
// (http_proxy) mode, beside nginx injecting the same credential over plain HTTP, the bare Node
// relay over plain HTTP (the floor of Node's stack for it) and the Go reverse proxy.

import { startConnectorsProxy } from '../connproxy.js';
import {
  basic,
  failed,
  measureSideBySide,
  ns,
  onBaseline,
  ratio,
  resultOf,
  warmUp,
  type Bench,
  type Load,
} from '../harness.js';
import { nginxProxy, recordNode, sectionProcesses, startRelay } from '../processes.js';
import type { LoadResult } from '../wrk.js';

export async function connproxySection(b: Bench): Promise<void> {
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
