// runHttpProxy: a custom HTTP Connectors Proxy is its protocol logic, `handle(ctx)`, plus this.
//
// Two listeners: --port (plain HTTP, for pods in reverse mode, Host c-{name}.{ns} or the path
// /namespaces/{ns}/connectors/{name}/…) and --secure-port (HTTPS with client certificates, for the
// Connectors API server, path form). Each request: one Host → the Connector it names → the method's
// verb (the one method→verb table; others are 405) → the caller (identity.ts: the API server's
// X-Remote-* over mutual TLS, or a reviewed ServiceAccount token) → SubjectAccessReviews → the
// Connector, which must be of a class in --connector-classes, its Secret and CA → the safe tool path
// → handle(ctx), which adds its authentication and calls ctx.forward(), the shared streaming relay
// (registry/tool.ts → proxy/forward.ts). Location headers on the tool's address are mapped back into
// the caller's view and every redirect is relayed rather than followed here, so a redirect never
// leads off the Connector and each hop is authenticated afresh. Health, /metrics, one access log
// line per request (never a query, header value or credential), drain on SIGTERM: machinery's.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { KubeClient } from '../kube/client.js';
import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { CallerChecks } from '../kube/callers.js';
import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import { CachedTokenReviewer, type UserInfo } from '../kube/tokenreview.js';
import { MutualTlsFiles } from '../machinery/certificates.js';
import { serveRequests, type RequestListener } from '../machinery/exchange.js';
import { healthPaths, targetPath, writeHealth } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { ComponentMetrics } from '../machinery/metrics.js';
import { Serving, type RunningServer } from '../machinery/serve.js';
import { badRequest, pathNotFound } from '../machinery/status.js';
import { requireServedMethod, type MethodVerb } from '../machinery/verbs.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { forwardRequestHeaders, type OutgoingHeaders } from '../proxy/headers.js';
import { checkQuery, toolPath } from '../proxy/target.js';
import { subresourceHeader } from '../registry/classproxy.js';
import { exchangeOptions, refName, unauthenticated, type Exchange } from '../registry/proxyexchange.js';
import { connectorTarget, hostHeaderProblem, proxyLocation, tokenHeaderFor } from '../registry/reverse.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import { sendToTool } from '../registry/tool.js';
import { Gate, type ResolvedTool } from './gate.js';
import { callerIdentity } from './identity.js';
import { kitUsage, parseKitConfig, type KitConfig } from './options.js';

/** What a custom proxy's handler gets for one request. */
export interface ProxyContext {
  req: IncomingMessage;
  res: ServerResponse;
  log: Logger;
  /** The caller, authenticated and authorized for `verb` on this Connector. */
  user: UserInfo;
  /** How the caller came: through the Connectors API server, or from a pod with a token. */
  via: 'apiserver' | 'token';
  verb: MethodVerb;
  /** The Connector, its class, its Secret (decoded data) and CA, and its parsed address. */
  tool: ResolvedTool;
  /** The path for the tool (the address's prefix included, every segment checked), without the query. */
  path: string;
  /** The raw query, checked ('' when none). */
  query: string;
  /** The caller's headers that may go to the tool: no credential, identity or hop-by-hop header. */
  headers: OutgoingHeaders;
  /**
   * Sends the request on to the tool and streams the answer back (never buffered): `headers` are
   * added to ctx.headers, `body` replaces the caller's (which is sent as it streams in otherwise).
   */
  forward(init?: { headers?: OutgoingHeaders; body?: Readable | null }): Promise<void>;
}

export interface HttpProxy {
  /** The proxy's name, for its logs and usage text, e.g. `signing-proxy`. */
  name: string;
  /** The entry point, for the usage text, e.g. `dist/examples/signing-proxy/main.js`. */
  entry: string;
  /** One line on what it does to requests. */
  about: string;
  /** The protocol logic: authenticate to the tool, then ctx.forward(). A thrown StatusError is the answer. */
  handle(ctx: ProxyContext): Promise<void>;
}

/** The kit's metrics: requests by class, way in and code, and their durations. */
class KitMetrics extends ComponentMetrics {
  readonly requests = this.counter('requests_total', 'Requests answered, by class, way in and code.', [
    'connector_class',
    'via',
    'code',
  ]);
  readonly duration = this.histogram(
    'request_duration_seconds',
    'Time to the end of the answer, by way in.',
    ['via'],
    [0.005, 0.025, 0.1, 0.5, 1, 5, 30],
  );

  constructor() {
    super('customproxy');
  }
}

/** Starts the proxy with `config` (the entry point's way; tests start it the same). */
export async function startHttpProxy(
  proxy: HttpProxy,
  config: KitConfig,
  kube: KubeClient,
  log: Logger,
): Promise<RunningServer> {
  const store = new ConnectorStore(kube, log);
  const secrets = new SecretCache(kube, config.secretCacheMs);
  const pools = new DispatcherCache(config.upstream);
  const callers = new CallerChecks(
    new CachedTokenReviewer(kube, config.authenticationCacheMs, config.tokenAudiences),
    new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log),
  );
  const classes = new Set(config.connectorClasses);
  const gate = new Gate({ callers, lister: store, secrets, classes });
  const allowed = new Set(config.allowedClientNames);
  const serving = new Serving({
    limits: config.limits,
    timing: { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
    ready: [() => (store.hasSynced ? undefined : 'Connector and ConnectorClass informers have not synced')],
  });
  const metrics = new KitMetrics();
  metrics.inflight(serving.limiter);
  const toolDeps = { secrets, pools, upstreamCaPem: config.upstreamCaPem };

  const serve = async (req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> => {
    const problem = hostHeaderProblem(req.rawHeaders);
    if (problem) throw badRequest(problem);
    const url = req.url ?? '';
    if (!url.startsWith('/'))
      throw badRequest('the request target must be a path (origin-form), not an absolute URL');
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const target = connectorTarget(path, q === -1 ? '' : url.slice(q + 1), req.headers.host);
    if (target === null) {
      if (healthPaths.has(path)) {
        ex.mode = 'health';
        writeHealth(res, path, serving.notReady);
        return;
      }
      if (path === '/metrics') {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
        return;
      }
      throw pathNotFound(
        'this request names no Connector: use the Host c-<name>.<namespace> or the path ' +
          '/namespaces/<namespace>/connectors/<name>/…',
      );
    }
    if (target.kind === 'invalid') throw badRequest(target.message);
    const { ref } = target;
    ex.mode = 'reverse';
    ex.connector = refName(ref);
    const verb = requireServedMethod(req.method, (name, value) => res.setHeader(name, value));

    const tokenHeader = tokenHeaderFor(store, ref);
    const caller = callerIdentity(req, allowed, tokenHeader);
    let user: UserInfo;
    let subresource = 'proxy';
    if (caller.via === 'apiserver') {
      ex.mode = 'apiserver';
      ({ user, subresource } = caller);
    } else {
      if (caller.token === null) {
        throw unauthenticated(
          'present a ServiceAccount token as "Authorization: Bearer <token>" or as the Basic password' +
            (tokenHeader ? ` or in the ${tokenHeader} header` : ''),
        );
      }
      user = await gate.authenticate(caller.token);
    }
    ex.user = user.username;
    await gate.authorize(user, ref, verb, subresource);
    const tool = await gate.resolve(ref);
    const toolPathname = toolPath(tool.address, target.segments);
    checkQuery(target.query);
    ex.target = tool.address.origin;
    ex.path = toolPathname;
    const headers = forwardRequestHeaders(req.headers, {
      names: new Set([subresourceHeader, ...(tokenHeader ? [tokenHeader.toLowerCase()] : [])]),
      prefixes: [],
    });
    const toolPrefix = tool.address.prefix + target.mount.toolBase;
    await proxy.handle({
      req,
      res,
      log,
      user,
      via: caller.via,
      verb,
      tool,
      path: toolPathname,
      query: target.query,
      headers,
      forward: (init = {}) =>
        sendToTool(toolDeps, req, res, {
          resolved: tool,
          address: tool.address,
          path: target.query ? `${toolPathname}?${target.query}` : toolPathname,
          headers: { ...headers, ...init.headers },
          injector: null,
          ...(init.body !== undefined ? { body: init.body } : {}),
          // A redirect goes back to the caller, who follows it through this proxy (the API server
          // does, inside the Connector's path): a hop followed here would carry this request's
          // authentication, which a custom proxy may have bound to the request.
          followRedirects: false,
          mapLocation: (location) =>
            proxyLocation(
              location,
              { origin: tool.address.origin, requestPath: toolPathname, toolPrefix },
              target.mount.proxyBase,
            ),
        }),
    });
  };

  const logged = exchangeOptions('none', log);
  const listener = (via: 'apiserver' | 'token'): RequestListener =>
    serveRequests<Exchange>(
      {
        ...logged,
        accessLog: (req, ex, finished) => {
          const fields = logged.accessLog(req, ex, finished);
          if (fields) {
            metrics.requests.inc({
              connector_class: ex.connector ? connectorClassOf(store, ex.connector, classes) : 'none',
              via,
              code: String(finished.code),
            });
            metrics.duration.observe({ via }, finished.ms / 1000);
          }
          return fields;
        },
      },
      serve,
    );
  const isProbe = (req: IncomingMessage): boolean => {
    const path = targetPath(req);
    return (healthPaths.has(path) || path === '/metrics') && !/^c-/i.test(req.headers.host ?? '');
  };

  // The API server's way in: its client certificate is asked for and judged per request (identity.ts);
  // kubelet's probes connect without one.
  const tls = new MutualTlsFiles(
    { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.clientCaFile },
    log,
  );
  const https = serving.https(tls.context(), serving.guard(listener('apiserver'), isProbe), {
    streams: true,
  });
  tls.start(https);
  const http = serving.http(serving.guard(listener('token'), isProbe), { streams: true });

  store.start();
  return serving.start(http, {
    port: config.port,
    bindAddress: config.bindAddress,
    more: [{ server: https, port: config.securePort }],
    fields: { proxy: proxy.name, connectorClasses: config.connectorClasses },
    release: async () => {
      tls.stop();
      await Promise.all([store.stop(), pools.close()]);
    },
  });
}

/** The class label of a request for a Connector: one of --connector-classes (a bounded set), else `other`. */
function connectorClassOf(store: ConnectorStore, name: string, classes: ReadonlySet<string>): string {
  const [ns = '', n = ''] = name.split('/');
  const cls = store.connector(ns, n)?.spec?.connectorClassName ?? '';
  return classes.has(cls) ? cls : 'other';
}

/** The entry point of a custom HTTP proxy: flags, cluster access, serving, and drain on SIGTERM. */
export function runHttpProxy(proxy: HttpProxy): void {
  const usage = kitUsage(proxy.name, proxy.entry, proxy.about);
  runKubeEntryPoint(
    proxy.name,
    (argv) => parseKitConfig(argv, usage),
    (config, kube, log) => startHttpProxy(proxy, config, kube, log),
  );
}
