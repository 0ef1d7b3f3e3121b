// Section http: wrk against the tool directly, nginx (TLS, Basic injected, one worker), the Go
// reverse proxy, our /proxy called directly (TLS), the bare Node TLS relay, each at 50 connections
// and at 1 (the added latency); then through kube-apiserver: a do-nothing endpoint, our /proxy, and
// kube-apiserver's own services/proxy to the same tool process at the same address.

import type { ManagedProcess } from '../../hack/process.js';
import {
  basic,
  bearer,
  failed,
  gvPath,
  measureSideBySide,
  ns,
  onBaseline,
  ours,
  password,
  proxyPath,
  ratio,
  resultOf,
  user,
  warmUp,
  type Bench,
  type Load,
  type ServerRef,
} from '../harness.js';
import {
  currentServer,
  nginxProxy,
  routeKubeTo,
  sectionProcesses,
  startBaselineServer,
  startRelay,
} from '../processes.js';
import type { LoadResult } from '../wrk.js';

export async function httpSection(b: Bench): Promise<void> {
  const nginx = await nginxProxy(b);
  const { started, stopAll } = sectionProcesses();
  const current = currentServer(b);
  let baseServer: (ServerRef & { process: ManagedProcess }) | undefined;
  try {
    const bare = started(await startRelay(b, b.current, b.tool.url, '/data.json')) as { url: string };
    const bareBase = started(await startRelay(b, b.baseline, b.tool.url, '/data.json'));
    const goRelay = started(await startRelay(b, 'go', b.tool.url, '/data.json'));
    baseServer = b.baseline
      ? started(await startBaselineServer(b, b.baseline, 'tool', '/data.json'))
      : undefined;
    const toolDirect: Load = {
      name: 'tool directly (HTTP)',
      url: `${b.tool.url}/data.json`,
      headers: { Authorization: basic(user, password) },
    };
    const viaNginxTls: Load = {
      name: 'nginx TLS proxy, Basic injected (1 worker)',
      url: `${nginx.url}/data.json`,
    };
    const goLoads: Load[] = goRelay
      ? [
          {
            name: 'Go reverse proxy (net/http/httputil), TLS, Basic injected, GOMAXPROCS=1',
            url: `${goRelay.url}/data.json`,
          },
        ]
      : [];
    const oursLoad = ours(b);
    const oursBase = onBaseline(b, oursLoad, baseServer?.url);
    const bareLoad: Load = {
      name: 'bare Node TLS relay: https + undici, Basic injected, nothing else',
      url: `${bare.url}/data.json`,
    };
    const bareBaseLoad = onBaseline(b, bareLoad, bareBase?.url);
    await warmUp(oursLoad, ...oursBase, bareLoad, ...bareBaseLoad);
    await measureSideBySide(b, [
      toolDirect,
      viaNginxTls,
      ...goLoads,
      oursLoad,
      ...oursBase,
      bareLoad,
      ...bareBaseLoad,
    ]);
    const [viaNginx, oursLoaded, floor] = [viaNginxTls, oursLoad, bareLoad].map((l) => resultOf(b, l)) as [
      LoadResult,
      LoadResult,
      LoadResult,
    ];
    b.facts.push(
      ['bare Node TLS relay / nginx TLS proxy (req/s): what Node can reach here', ratio(floor, viaNginx)],
      ['our /proxy / bare Node TLS relay (req/s): what our handler chain leaves', ratio(oursLoaded, floor)],
    );
    for (const l of goLoads) {
      b.facts.push(
        [
          "Go reverse proxy / nginx TLS proxy (req/s): what Go's standard library reaches here",
          ratio(resultOf(b, l), viaNginx),
        ],
        ['our /proxy / Go reverse proxy (req/s)', ratio(oursLoaded, resultOf(b, l))],
      );
    }
    // Added latency is measured unloaded, one request at a time: at 50 connections every p50 above
    // is mostly the time a request waits behind the others (Little's law), not what a hop adds.
    const alone = (l: Load, name: string): Load => ({ ...l, name, load: 1 });
    const directAlone = alone(toolDirect, 'tool directly (HTTP), 1 connection');
    const oursAlone = alone(oursLoad, 'our /proxy, called directly, 1 connection');
    await measureSideBySide(b, [
      directAlone,
      alone(viaNginxTls, 'nginx TLS proxy, 1 connection'),
      oursAlone,
      ...onBaseline(b, oursAlone, baseServer?.url),
    ]);
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
        value: resultOf(b, oursAlone).p50Ms - resultOf(b, directAlone).p50Ms,
        target: 1,
        unit: 'ms',
        atMost: true,
        failedRequests: failed(resultOf(b, oursAlone), resultOf(b, directAlone)),
      },
    );
    await throughKubeApiserver(b, current, baseServer);
  } finally {
    // kube-apiserver goes back to the server the later sections use before the baseline's stops.
    if (baseServer) await routeKubeTo(b, current, baseServer);
    await stopAll();
  }
}

/**
 * Rows through kube-apiserver: our discovery (a do-nothing endpoint) and /proxy, each request
 * authenticated and authorized by kube-apiserver and then by us (SubjectAccessReview, cached);
 * the same /proxy on the baseline (the APIService moved to it for its turns); and kube-apiserver's
 * own services/proxy next to our /proxy to the same tool process at the same address.
 */
async function throughKubeApiserver(
  b: Bench,
  current: ServerRef,
  baseServer: ServerRef | undefined,
): Promise<void> {
  const toCurrent = baseServer ? () => routeKubeTo(b, current, baseServer) : undefined;
  const toBaseline = baseServer ? () => routeKubeTo(b, baseServer, current) : undefined;
  const viaKube = (name: string, path: string): Load => ({
    name,
    url: `${b.sys.cp.server}${path}`,
    headers: bearer(b),
    statuses: true,
    ...(toCurrent ? { before: toCurrent } : {}),
  });
  const doNothing = viaKube('kube-apiserver → our discovery (do-nothing)', gvPath);
  const kubeOurs = viaKube('kube-apiserver → our /proxy', proxyPath('tool', '/data.json'));
  // The tool on this machine's non-loopback address (kube-apiserver refuses to proxy to loopback),
  // reached by both: kube-apiserver's services/proxy (no credential: it injects none, and drops the
  // caller's Authorization once it has authenticated it) and our /proxy (Basic injected).
  const external = b.tool.externalUrl;
  const peers: Load[] = external
    ? [
        {
          name: `kube-apiserver services/proxy → tool at ${new URL(external).hostname} (no credential injected)`,
          url: `${b.sys.cp.server}/api/v1/namespaces/${ns}/services/tool:80/proxy/open/data.json`,
          headers: bearer(b),
          statuses: true,
        },
        viaKube(
          `kube-apiserver → our /proxy → tool at ${new URL(external).hostname} (Basic injected)`,
          proxyPath('tool-external', '/data.json'),
        ),
      ]
    : [];
  await measureSideBySide(b, [
    doNothing,
    kubeOurs,
    ...onBaseline(b, kubeOurs, b.sys.cp.server, toBaseline),
    ...peers,
  ]);
  const [baseline, oursResult] = [resultOf(b, doNothing), resultOf(b, kubeOurs)];
  b.checks.push({
    label: 'through kube-apiserver, p50 ours / do-nothing',
    value: oursResult.p50Ms / baseline.p50Ms,
    target: 1.1,
    unit: '×',
    atMost: true,
    failedRequests: failed(oursResult, baseline),
  });
  const [servicesProxy, oursExternal] = peers.map((l) => resultOf(b, l));
  if (!servicesProxy || !oursExternal) return;
  b.checks.push(
    {
      label: 'through kube-apiserver: our /proxy / its services/proxy (req/s)',
      value: oursExternal.requestsPerSec / servicesProxy.requestsPerSec,
      target: 0.95,
      unit: '×',
      failedRequests: failed(oursExternal, servicesProxy),
    },
    {
      label: 'through kube-apiserver: p50 our /proxy / its services/proxy',
      value: oursExternal.p50Ms / servicesProxy.p50Ms,
      target: 1.05,
      unit: '×',
      atMost: true,
      failedRequests: failed(oursExternal, servicesProxy),
    },
  );
}
