// The Connectors Proxy's request handling, in its three entry points:
//
//   request       reverse mode (Host or path names the Connector), forward mode for plain HTTP
//                 (absolute-form target), the registry ping, health
//   connect       CONNECT host:port: intercepted (TLS terminated with a leaf from the proxy CA,
//                 requests served as forward requests) when it is a listed Connector's https
//                 origin; otherwise a 403, or with --other-hosts=tunnel an opaque tunnel to an
//                 address the destination policy allows (destinations.ts)
//   intercepted   the decrypted requests of an intercepted CONNECT
//
// Each request: method → its verb (the one method→verb table; any other method is a 405) →
// caller's token → TokenReview → SubjectAccessReviews (`get` on the Connector, the method's verb on
// connectors/proxy) → Connector, class and Secret from the shared registry → safe tool path →
// proxy/forward with the Connector's credential. The caller's token never travels further.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { UserInfo } from '../kube/tokenreview.js';
import { hasBody } from '../machinery/body.js';
import {
  serveConnects,
  serveRequests,
  type ConnectListener,
  type ExchangeOptions,
  type RequestListener,
} from '../machinery/exchange.js';
import type { Logger } from '../machinery/log.js';
import { badRequest, pathNotFound, serviceUnavailable, StatusError } from '../machinery/status.js';
import { requireServedMethod, type MethodVerb } from '../machinery/verbs.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import { forward } from '../proxy/forward.js';
import { forwardRequestHeaders, noHeaderFilter, type HeaderFilter } from '../proxy/headers.js';
import { checkQuery, toolPath, type ToolAddress } from '../proxy/target.js';
import {
  connectorCa,
  connectorSecret,
  resolveConnector,
  type ResolvedConnector,
} from '../registry/resolve.js';
import type { SecretSource } from '../registry/secrets.js';
import type { ConnectorLister } from '../registry/store.js';
import type { ProxyCertificateAuthority } from './ca.js';
import { connectorChecks } from '../registry/access.js';
import type { CallerChecks } from '../kube/callers.js';
import { toStatus } from '../registry/errors.js';
import { challengeHeaders, proxyAuthRequired, unauthenticated } from './errors.js';
import { connectorAddresses, hasOrigin, matchAddress } from './match.js';
import type { DestinationPolicy } from './destinations.js';
import {
  callerToken,
  hostHeaderProblem,
  parseConnectAuthority,
  parseProxyAuthorization,
  parseRequestTarget,
  proxyLocation,
  type Mount,
  type ProxyCredentials,
} from './route.js';
import type { ConnectorRef } from '../registry/types.js';
import { writeHealth } from '../machinery/health.js';

/** The ConnectorClass annotation naming a header that carries the caller's token (e.g. Private-Token). */
export const tokenHeaderAnnotation = 'connectors.alauda.io/proxy-token-header';
const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** What forwardRequestHeaders drops as a credential, kept for hosts that are no Connector's. */
const callerOwnHeaders = ['authorization', 'cookie', 'private-token'] as const;

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
  connectTimeoutMs: number;
  /** Why the proxy is not ready, or [] when it is. */
  notReady: () => string[];
  /** The internal server that parses intercepted TLS connections. */
  intercept: Server;
}

/** What one request was, for its access log line. */
interface Exchange {
  mode: 'reverse' | 'forward' | 'intercept' | 'connect' | 'tunnel' | 'ping' | 'health' | 'none';
  connector?: string;
  target?: string;
  path?: string;
  user?: string;
}

/** An intercepted CONNECT: where its requests go and who asked. */
interface InterceptSession {
  origin: string;
  credentials: ProxyCredentials;
}

interface Candidate {
  owner: ResolvedConnector;
  addresses: ToolAddress[];
}

/** A request whose Host header is not one a client would send: 400 (connproxy/route.ts). */
function refuseHostProblem(req: IncomingMessage): void {
  const problem = hostHeaderProblem(req.rawHeaders);
  if (problem) throw badRequest(problem);
}

/** The verb of the request's method, or the 405 (with Allow) for a method that is never served. */
function methodVerb(req: IncomingMessage, res: ServerResponse): MethodVerb {
  return requireServedMethod(req.method, (name, value) => res.setHeader(name, value));
}

function refName(ref: ConnectorRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export class ProxyHandler {
  private readonly sessions = new WeakMap<Socket, InterceptSession>();
  /** Raw CONNECT sockets (tunnels and intercepted), for shutdown. */
  private readonly connectSockets = new Set<Duplex>();
  private refusingTunnels = false;

  readonly request: RequestListener;
  readonly intercepted: RequestListener;
  readonly connect: ConnectListener;

  constructor(private readonly deps: HandlerDeps) {
    this.request = serveRequests(this.exchanges('none'), (req, res, ex) => this.serveRequest(req, res, ex));
    this.intercepted = serveRequests(this.exchanges('intercept'), (req, res, ex) =>
      this.serveIntercepted(req, res, ex),
    );
    const connects = serveConnects(this.exchanges('connect'), (req, socket, head, ex) =>
      this.serveConnect(req, socket, head, ex),
    );
    this.connect = (req, socket, head) => {
      this.connectSockets.add(socket);
      socket.once('close', () => this.connectSockets.delete(socket));
      socket.on('error', (err) => {
        this.deps.log.debug('CONNECT socket error', { error: err.message });
      });
      connects(req, socket, head);
    };
  }

  // --- the request wrapper: errors become Status, one access log line each ----------------------

  private exchanges(mode: Exchange['mode']): ExchangeOptions<Exchange> {
    const { log } = this.deps;
    return {
      log,
      begin: () => ({ mode }),
      status: (err, ex) => toStatus(err, ex.connector ? `Connector ${ex.connector}: ` : '', log),
      statusHeaders: challengeHeaders,
      accessLog: (req, ex, { code, ms }) =>
        ex.mode === 'health'
          ? undefined
          : {
              mode: ex.mode,
              method: req.method,
              connector: ex.connector,
              target: ex.target,
              path: ex.path, // never the query: tools take tokens there
              code,
              user: ex.user,
              ms,
            },
    };
  }

  // --- entry points --------------------------------------------------------------------------

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
        await this.registryPing(req, res, ex);
        return;
      case 'connector':
        ex.mode = 'reverse';
        ex.connector = refName(target.ref);
        await this.reverse(req, res, target, ex, methodVerb(req, res));
        return;
      case 'forward':
        ex.mode = 'forward';
        ex.target = target.origin;
        ex.path = target.path.split('?')[0];
        await this.forwardTo(
          req,
          res,
          target.origin,
          target.path,
          await this.proxyCaller(req, ex, methodVerb(req, res)),
          ex,
        );
        return;
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
    const session = this.sessions.get(req.socket);
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
    const candidates = await this.checkProxyCaller(session.credentials, ex, verb);
    await this.forwardTo(req, res, session.origin, path, candidates, ex);
  }

  // --- shutdown ------------------------------------------------------------------------------

  /** From the drain on: a CONNECT still sent on an open connection is refused (503). */
  refuseNewTunnels(): void {
    this.refusingTunnels = true;
  }

  /** At the end of the grace period: closes every CONNECT socket, tunnels and intercepted alike. */
  cutTunnels(): void {
    for (const s of this.connectSockets) s.destroy();
  }

  // --- reverse mode --------------------------------------------------------------------------

  /** The header a ConnectorClass declares for the caller's token, if any (read from the informer). */
  private tokenHeader(ref: ConnectorRef): string | undefined {
    const className = this.deps.lister.connector(ref.namespace, ref.name)?.spec?.connectorClassName;
    const cls = className ? this.deps.lister.connectorClass(className) : undefined;
    const header = cls?.metadata?.annotations?.[tokenHeaderAnnotation]?.trim();
    return header && headerName.test(header) ? header : undefined;
  }

  /** The caller of a reverse-mode request, from its token; 401 without a valid one. */
  private async reverseCaller(req: IncomingMessage, ex: Exchange, tokenHeader?: string): Promise<UserInfo> {
    const token = callerToken(req.headers, tokenHeader);
    if (!token) {
      throw unauthenticated(
        'present a ServiceAccount token as "Authorization: Bearer <token>" or as the Basic password' +
          (tokenHeader ? ` or in the ${tokenHeader} header` : ''),
      );
    }
    const user = await this.deps.callers.identify(token);
    if (!user) throw unauthenticated('the token is invalid or expired');
    ex.user = user.username;
    return user;
  }

  private async registryPing(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
    await this.reverseCaller(req, ex);
    const body = '{}';
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'docker-distribution-api-version': 'registry/2.0',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async reverse(
    req: IncomingMessage,
    res: ServerResponse,
    target: { ref: ConnectorRef; segments: string[]; query: string; mount: Mount },
    ex: Exchange,
    verb: MethodVerb,
  ): Promise<void> {
    const { ref } = target;
    const tokenHeader = this.tokenHeader(ref);
    const user = await this.reverseCaller(req, ex, tokenHeader);
    await this.deps.callers.authorize(user, connectorChecks([ref], verb));

    const resolved = resolveConnector(this.deps.lister, ref.namespace, ref.name);
    const address = resolved.address;
    const path = toolPath(address, target.segments);
    checkQuery(target.query);
    const toolPrefix = address.prefix + target.mount.toolBase;
    const filter: HeaderFilter = tokenHeader
      ? { names: new Set([tokenHeader.toLowerCase()]), prefixes: [] }
      : noHeaderFilter;
    ex.target = address.origin;
    ex.path = path;
    await this.send(req, res, resolved, address, target.query ? `${path}?${target.query}` : path, {
      headers: forwardRequestHeaders(req.headers, filter),
      mapLocation: (location) =>
        proxyLocation(
          location,
          { origin: address.origin, requestPath: path, toolPrefix },
          target.mount.proxyBase,
        ),
    });
  }

  // --- forward mode ----------------------------------------------------------------------------

  /** Proxy-Authorization → the caller's Connectors, checked. 407 without it, 403 without RBAC. */
  private async proxyCaller(req: IncomingMessage, ex: Exchange, verb: MethodVerb): Promise<Candidate[]> {
    const creds = parseProxyAuthorization(req.headers['proxy-authorization']);
    if (!creds) {
      throw proxyAuthRequired(
        'send Proxy-Authorization Basic with "<namespace>/<name>[,…]" as username and a ServiceAccount token ' +
          'as password, e.g. https_proxy=http://<namespace>%2F<name>:<token>@<proxy>',
      );
    }
    if ('problem' in creds) throw proxyAuthRequired(creds.problem);
    return this.checkProxyCaller(creds, ex, verb);
  }

  /** `verb` on connectors/proxy: the request's method's; null for a CONNECT (see CallerChecks). */
  private async checkProxyCaller(
    creds: ProxyCredentials,
    ex: Exchange,
    verb: MethodVerb | null,
  ): Promise<Candidate[]> {
    ex.connector = creds.connectors.map(refName).join(',');
    const user = await this.deps.callers.identify(creds.token);
    if (!user) throw proxyAuthRequired('the token is invalid or expired');
    ex.user = user.username;
    await this.deps.callers.authorize(user, connectorChecks(creds.connectors, verb));
    return creds.connectors.map((ref) => {
      const owner = resolveConnector(this.deps.lister, ref.namespace, ref.name);
      return { owner, addresses: connectorAddresses(owner) };
    });
  }

  /** A forward-mode request to `origin` + `target` (raw path and query). */
  private async forwardTo(
    req: IncomingMessage,
    res: ServerResponse,
    origin: string,
    target: string,
    candidates: Candidate[],
    ex: Exchange,
  ): Promise<void> {
    const q = target.indexOf('?');
    const rawPath = q === -1 ? target : target.slice(0, q);
    const query = q === -1 ? '' : target.slice(q + 1);
    const match = matchAddress(candidates, origin, rawPath);
    if (match) {
      const name = `${match.owner.connector.metadata?.namespace ?? ''}/${match.owner.connector.metadata?.name ?? ''}`;
      ex.connector = name;
      const path = toolPath(match.address, match.segments);
      checkQuery(query);
      await this.send(req, res, match.owner, match.address, query ? `${path}?${query}` : path, {
        headers: forwardRequestHeaders(req.headers),
      });
      return;
    }
    const policy = this.deps.otherHosts;
    if (policy === 'refuse') throw otherHostRefused(origin);
    ex.connector = undefined;
    const url = new URL(origin);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const connectTo = await policy.destination(url.hostname.replace(/^\[(.*)\]$/, '$1'), port);
    // Some other host: passed on as a plain proxy would, with the caller's own credentials for it
    // (their business; ours travel in Proxy-Authorization), and never a Connector's credential.
    const headers = forwardRequestHeaders(req.headers);
    for (const name of callerOwnHeaders) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    await forward(
      this.deps.pools,
      {
        method: req.method ?? 'GET',
        origin,
        prefix: '',
        path: target,
        headers,
        body: hasBody(req.headers) ? req : null,
        injector: null,
        ca: this.deps.upstreamCaPem,
        connectTo,
        relayRedirects: true,
      },
      res,
    );
  }

  /**
   * Sends a request to a Connector's tool with its credential and CA. A redirect that leaves the
   * address is relayed unfollowed: the caller may follow it, through this proxy's rules.
   */
  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    resolved: ResolvedConnector,
    address: ToolAddress,
    path: string,
    opts: { headers: ReturnType<typeof forwardRequestHeaders>; mapLocation?: (location: string) => string },
  ): Promise<void> {
    const [secret, connectorCaPem] = await Promise.all([
      connectorSecret(this.deps.secrets, resolved.connector),
      connectorCa(this.deps.secrets, resolved.connector),
    ]);
    const ca = [this.deps.upstreamCaPem, connectorCaPem].filter(Boolean).join('\n') || undefined;
    await forward(
      this.deps.pools,
      {
        method: req.method ?? 'GET',
        origin: address.origin,
        prefix: address.prefix,
        path,
        headers: opts.headers,
        body: hasBody(req.headers) ? req : null,
        injector: secret?.injector ?? null,
        ca,
        mapLocation: opts.mapLocation,
        relayRedirects: true,
      },
      res,
    );
  }

  // --- CONNECT -------------------------------------------------------------------------------

  private async serveConnect(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ex: Exchange,
  ): Promise<void> {
    if (this.refusingTunnels) throw serviceUnavailable('the proxy is shutting down');
    const authority = parseConnectAuthority(req.url ?? '');
    if (!authority) throw badRequest('CONNECT needs a host:port target');
    ex.target = authority.origin;
    const creds = parseProxyAuthorization(req.headers['proxy-authorization']);
    if (!creds) {
      throw proxyAuthRequired(
        'send Proxy-Authorization Basic with "<namespace>/<name>[,…]" as username and a ServiceAccount ' +
          'token as password, e.g. https_proxy=http://<namespace>%2F<name>:<token>@<proxy>',
      );
    }
    if ('problem' in creds) throw proxyAuthRequired(creds.problem);
    // Opening a tunnel needs `get` on each Connector. Requests in an intercepted one are then
    // authorized one by one with their method's verb, so a caller granted only `create` on
    // connectors/proxy writes here as through /proxy; an opaque tunnel carries requests nobody
    // sees, so it needs `get` on connectors/proxy as well.
    const candidates = await this.checkProxyCaller(creds, ex, null);
    if (hasOrigin(candidates, authority.origin)) {
      ex.mode = 'intercept';
      await this.interceptTls(socket, head, authority.hostname, {
        origin: authority.origin,
        credentials: creds,
      });
    } else if (this.deps.otherHosts === 'refuse') {
      throw otherHostRefused(authority.origin);
    } else {
      await this.checkProxyCaller(creds, ex, 'get');
      ex.mode = 'tunnel';
      const address = await this.deps.otherHosts.destination(authority.hostname, authority.port);
      await this.tunnel(socket, head, authority.hostname, address, authority.port);
    }
  }

  private async interceptTls(
    socket: Duplex,
    head: Buffer,
    hostname: string,
    session: InterceptSession,
  ): Promise<void> {
    const context = await this.deps.ca.secureContextFor(hostname);
    if (socket.destroyed) return;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
    });
    this.sessions.set(tls, session);
    tls.on('error', (err: Error) => {
      // Typically a client that does not trust the proxy CA: it says so on its side.
      this.deps.log.debug('intercepted TLS connection failed', {
        target: session.origin,
        error: err.message,
      });
    });
    this.deps.intercept.emit('connection', tls);
  }

  /** An opaque tunnel to `address`, the IP the policy allowed for `host`: nothing is resolved again. */
  private tunnel(socket: Duplex, head: Buffer, host: string, address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const upstream = netConnect({ host: address, port, timeout: this.deps.connectTimeoutMs });
      const fail = (err: Error & { code?: string }): void => {
        upstream.destroy();
        reject(serviceUnavailable(`${host}:${port} cannot be reached (${err.code ?? err.name})`));
      };
      upstream.once('timeout', () => {
        fail(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
      });
      upstream.once('error', fail);
      upstream.once('connect', () => {
        upstream.off('error', fail);
        upstream.setTimeout(0);
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        socket.pipe(upstream);
        upstream.pipe(socket);
        resolve();
      });
    });
  }
}

function otherHostRefused(origin: string): StatusError {
  return new StatusError(
    403,
    'Forbidden',
    `${origin} is not the address of a Connector named in Proxy-Authorization, and this proxy refuses other hosts`,
  );
}
