// The Connectors Proxy's request handling, in its three entry points, each served through the one
// request wrapper (machinery/exchange.ts; accesslog.ts says what its lines carry):
//
//   request       reverse mode (Host or path names the Connector; reverse.ts), forward mode for
//                 plain HTTP (absolute-form target; forwarding.ts), the registry ping, health
//   connect       CONNECT host:port: intercepted or tunnelled (connect.ts)
//   intercepted   the decrypted requests of an intercepted CONNECT, served as forward requests
//
// Each request: method → its verb (the one method→verb table; any other method is a 405) →
// caller's token → TokenReview → SubjectAccessReviews (`get` on the Connector, the method's verb on
// connectors/proxy) → Connector, class and Secret from the shared registry → safe tool path →
// proxy/forward with the Connector's credential (tool.ts). The caller's token never travels further.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { CallerChecks } from '../kube/callers.js';
import {
  serveConnects,
  serveRequests,
  type ConnectListener,
  type RequestListener,
} from '../machinery/exchange.js';
import { writeHealth } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { badRequest, pathNotFound } from '../machinery/status.js';
import { requireServedMethod, type MethodVerb } from '../machinery/verbs.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import type { SecretSource } from '../registry/secrets.js';
import type { BuiltinProxy } from '../registry/classproxy.js';
import type { ConnectorLister } from '../registry/store.js';
import { exchangeOptions, refName, type Exchange } from '../registry/proxyexchange.js';
import type { ProxyCertificateAuthority } from '../proxy/ca.js';
import { ConnectMode } from './connect.js';
import type { DestinationPolicy } from './destinations.js';
import { ForwardMode, proxyCredentials } from './forwarding.js';
import { ReverseMode } from './reverse.js';
import { parseRequestTarget } from './route.js';
import { hostHeaderProblem } from '../registry/reverse.js';

export interface HandlerDeps {
  log: Logger;
  lister: ConnectorLister;
  secrets: SecretSource;
  pools: DispatcherCache;
  callers: CallerChecks;
  ca: ProxyCertificateAuthority;
  /** Extra CAs (PEM) trusted for every tool. */
  upstreamCaPem: string | undefined;
  /** Hosts that are no listed Connector's: refused, or tunnelled to what the policy allows. */
  otherHosts: 'refuse' | DestinationPolicy;
  /** Connectors of classes with a proxy of their own are refused (registry/classproxy.ts). */
  builtinProxy: BuiltinProxy;
  connectTimeoutMs: number;
  /** Why the proxy is not ready, or [] when it is. */
  notReady: () => string[];
  /** The internal server that parses intercepted TLS connections. */
  intercept: Server;
}

/** A request whose Host header is not one a client would send: 400 (registry/reverse.ts). */
function refuseHostProblem(req: IncomingMessage): void {
  const problem = hostHeaderProblem(req.rawHeaders);
  if (problem) throw badRequest(problem);
}

/** The verb of the request's method, or the 405 (with Allow) for a method that is never served. */
function methodVerb(req: IncomingMessage, res: ServerResponse): MethodVerb {
  return requireServedMethod(req.method, (name, value) => res.setHeader(name, value));
}

export class ProxyHandler {
  readonly request: RequestListener;
  readonly intercepted: RequestListener;
  readonly connect: ConnectListener;
  private readonly reverse: ReverseMode;
  private readonly forward: ForwardMode;
  private readonly tunnels: ConnectMode;

  constructor(private readonly deps: HandlerDeps) {
    this.reverse = new ReverseMode(deps);
    this.forward = new ForwardMode(deps);
    this.tunnels = new ConnectMode(deps, this.forward);
    this.request = serveRequests(exchangeOptions('none', deps.log), (req, res, ex) =>
      this.serveRequest(req, res, ex),
    );
    this.intercepted = serveRequests(exchangeOptions('intercept', deps.log), (req, res, ex) =>
      this.serveIntercepted(req, res, ex),
    );
    const connects = serveConnects(exchangeOptions('connect', deps.log), (req, socket, head, ex) =>
      this.tunnels.serve(req, socket, head, ex),
    );
    this.connect = (req, socket, head) => {
      this.tunnels.track(socket);
      connects(req, socket, head);
    };
  }

  /** From the drain on: a CONNECT still sent on an open connection is refused (503). */
  refuseNewTunnels(): void {
    this.tunnels.refuseNewTunnels();
  }

  /** At the end of the grace period: closes every CONNECT socket, tunnels and intercepted alike. */
  cutTunnels(): void {
    this.tunnels.cutTunnels();
  }

  private async serveRequest(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
    refuseHostProblem(req);
    const target = parseRequestTarget(req.method ?? 'GET', req.url ?? '/', req.headers.host);
    switch (target.kind) {
      case 'health':
        ex.mode = 'health';
        writeHealth(res, target.path, this.deps.notReady);
        return;
      case 'registry-ping':
        ex.mode = 'ping';
        await this.reverse.registryPing(req, res, ex);
        return;
      case 'connector':
        ex.mode = 'reverse';
        ex.connector = refName(target.ref);
        await this.reverse.serve(req, res, target, ex, methodVerb(req, res));
        return;
      case 'forward': {
        ex.mode = 'forward';
        ex.target = target.origin;
        ex.path = target.path.split('?')[0];
        const verb = methodVerb(req, res);
        const candidates = await this.forward.candidates(proxyCredentials(req), ex, verb);
        await this.forward.serve(req, res, target.origin, target.path, candidates, ex);
        return;
      }
      case 'invalid':
        throw badRequest(target.message);
      case 'none':
        throw pathNotFound(
          'this request names no Connector: use the Host c-<name>.<namespace>, the path ' +
            '/namespaces/<namespace>/connectors/<name>/…, or this proxy as http_proxy/https_proxy',
        );
    }
  }

  private async serveIntercepted(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
    refuseHostProblem(req);
    const session = this.tunnels.session(req.socket);
    if (!session) throw badRequest('not an intercepted connection');
    const verb = methodVerb(req, res);
    let path = req.url ?? '/';
    if (!path.startsWith('/')) {
      // An absolute-form target inside the tunnel must name the tunnel's own origin.
      const abs = parseRequestTarget(req.method ?? 'GET', path, undefined);
      if (abs.kind !== 'forward' || abs.origin !== session.origin) {
        throw badRequest(`requests in this tunnel go to ${session.origin} only`);
      }
      path = abs.path;
    }
    ex.target = session.origin;
    ex.path = path.split('?')[0];
    const candidates = await this.forward.candidates(session.credentials, ex, verb);
    await this.forward.serve(req, res, session.origin, path, candidates, ex);
  }
}
