// CONNECT host:port. A listed Connector's https origin is intercepted: TLS is terminated with a
// leaf from the proxy CA and the decrypted connection handed to the internal server, whose requests
// are then served one by one as forward requests (handler.ts intercepted). Any other host gets a
// 403, or with --other-hosts=tunnel an opaque tunnel to an address the destination policy allows
// (destinations.ts). The sockets handed over are kept for the shutdown: from the drain on a new
// CONNECT is refused, and at the end of the grace period every one is cut.

import type { IncomingMessage, Server } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { Logger } from '../machinery/log.js';
import { badRequest, serviceUnavailable } from '../machinery/status.js';
import type { Exchange } from '../registry/proxyexchange.js';
import type { ProxyCertificateAuthority } from '../proxy/ca.js';
import type { DestinationPolicy } from './destinations.js';
import { otherHostRefused, proxyCredentials, type ForwardMode } from './forwarding.js';
import { hasOrigin } from './match.js';
import { parseConnectAuthority, type ProxyCredentials } from './route.js';

export interface ConnectDeps {
  log: Logger;
  ca: ProxyCertificateAuthority;
  otherHosts: 'refuse' | DestinationPolicy;
  connectTimeoutMs: number;
  /** The internal server that parses intercepted TLS connections. */
  intercept: Server;
}

/** An intercepted CONNECT: where its requests go and who asked. */
export interface InterceptSession {
  origin: string;
  credentials: ProxyCredentials;
}

export class ConnectMode {
  private readonly sessions = new WeakMap<Socket, InterceptSession>();
  /** Raw CONNECT sockets (tunnels and intercepted), for shutdown. */
  private readonly sockets = new Set<Duplex>();
  private refusing = false;

  constructor(
    private readonly deps: ConnectDeps,
    private readonly forward: ForwardMode,
  ) {}

  /** The session of an intercepted connection's socket, if it is one. */
  session(socket: Socket): InterceptSession | undefined {
    return this.sessions.get(socket);
  }

  /** Keeps a socket handed over by a CONNECT until it closes. */
  track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => {
      this.deps.log.debug('CONNECT socket error', { error: err.message });
    });
  }

  /** From the drain on: a CONNECT still sent on an open connection is refused (503). */
  refuseNewTunnels(): void {
    this.refusing = true;
  }

  /** At the end of the grace period: closes every CONNECT socket, tunnels and intercepted alike. */
  cutTunnels(): void {
    for (const s of this.sockets) s.destroy();
  }

  async serve(req: IncomingMessage, socket: Duplex, head: Buffer, ex: Exchange): Promise<void> {
    if (this.refusing) throw serviceUnavailable('the proxy is shutting down');
    const authority = parseConnectAuthority(req.url ?? '');
    if (!authority) throw badRequest('CONNECT needs a host:port target');
    ex.target = authority.origin;
    const creds = proxyCredentials(req);
    // Opening a tunnel needs `get` on each Connector. Requests in an intercepted one are then
    // authorized one by one with their method's verb, so a caller granted only `create` on
    // connectors/proxy writes here as through /proxy; an opaque tunnel carries requests nobody
    // sees, so it needs `get` on connectors/proxy as well.
    const candidates = await this.forward.candidates(creds, ex, null);
    if (hasOrigin(candidates, authority.origin)) {
      ex.mode = 'intercept';
      await this.interceptTls(socket, head, authority.hostname, {
        origin: authority.origin,
        credentials: creds,
      });
    } else if (this.deps.otherHosts === 'refuse') {
      throw otherHostRefused(authority.origin);
    } else {
      await this.forward.candidates(creds, ex, 'get');
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
