// One keep-alive undici pool per tool origin (and extra CA, for tools with a private CA), created
// on first use and reused by every request to that origin. Timeouts are explicit: a tool that
// accepts a connection and never answers costs a bounded time, not a socket forever. Pools are
// bounded too: one that served nothing for a while is closed, and past a maximum count the least
// recently used one is, so callers who pick origins (the Connectors Proxy's forward mode) cannot
// grow the heap by asking for many. A closed pool finishes the requests it already has.

import { createHash } from 'node:crypto';
import { getCACertificates } from 'node:tls';
import { buildConnector, Pool } from 'undici';
import type { ClientTls } from '../machinery/certificates.js';

export interface UpstreamTimeouts {
  /** TCP + TLS connect. */
  connectMs: number;
  /** From the request being sent to the response headers. */
  headersMs: number;
  /** Between two chunks of the response body. */
  bodyMs: number;
}

export interface PoolLimits {
  /** Most pools kept at once; past it the least recently used one is closed. */
  maxPools: number;
  /** A pool with nothing in flight that nobody asked for this long is closed. */
  idleMs: number;
}

export const defaultPoolLimits: PoolLimits = { maxPools: 256, idleMs: 60_000 };

export interface DispatcherOptions {
  /** Connections kept per pool (default 256). */
  connectionsPerOrigin?: number;
  limits?: PoolLimits;
  /** The clock of the idle sweep (tests). */
  now?: () => number;
  /**
   * TLS material every connection presents and trusts, asked at every new connection so that
   * reloaded files apply without dropping pools; a new object means new material.
   */
  clientTls?: () => ClientTls;
}

interface Entry {
  pool: Pool;
  lastUsed: number;
}

export class DispatcherCache {
  /** In least-recently-used order: a Map iterates in insertion order, and get() re-inserts. */
  private readonly pools = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | undefined;

  private readonly connectionsPerOrigin: number;
  private readonly limits: PoolLimits;
  private readonly now: () => number;
  private readonly clientTls: (() => ClientTls) | undefined;

  constructor(
    private readonly timeouts: UpstreamTimeouts,
    options: DispatcherOptions = {},
  ) {
    this.connectionsPerOrigin = options.connectionsPerOrigin ?? 256;
    this.limits = options.limits ?? defaultPoolLimits;
    this.now = options.now ?? Date.now;
    this.clientTls = options.clientTls;
  }

  /**
   * The pool for `origin`; `ca` (PEM) is trusted in addition to Node's default CAs. `connectTo`
   * (an IP address) is where its connections go instead of resolving the origin's host, which
   * stays the Host header and the TLS server name: what was checked is what is reached.
   */
  get(origin: string, ca?: string, connectTo?: string): Pool {
    let key = ca ? `${origin} ${createHash('sha256').update(ca).digest('hex')}` : origin;
    if (connectTo !== undefined) key += ` @${connectTo}`;
    const now = this.now();
    const entry = this.pools.get(key);
    if (entry) {
      this.pools.delete(key);
      entry.lastUsed = now;
      this.pools.set(key, entry);
      return entry.pool;
    }
    const pool = this.create(origin, ca, connectTo);
    this.pools.set(key, { pool, lastUsed: now });
    for (const [oldest, { pool: evicted }] of this.pools) {
      if (this.pools.size <= this.limits.maxPools) break;
      this.pools.delete(oldest);
      this.retire(evicted);
    }
    this.sweeper ??= setInterval(() => {
      this.sweep();
    }, this.limits.idleMs / 2).unref();
    return pool;
  }

  /** How many pools are kept now (closing ones excluded). */
  get size(): number {
    return this.pools.size;
  }

  /** Closes the pools idle for longer than the limit; the timer calls it every half idle period. */
  sweep(): void {
    const cutoff = this.now() - this.limits.idleMs;
    for (const [key, { pool, lastUsed }] of this.pools) {
      if (lastUsed > cutoff) break; // LRU order: every later entry was used more recently
      const { size, queued } = pool.stats;
      if (size > 0 || queued > 0) continue; // a long response still streaming is not idle
      this.pools.delete(key);
      this.retire(pool);
    }
    if (this.pools.size === 0) this.stopSweeper();
  }

  async close(): Promise<void> {
    this.stopSweeper();
    const pools = [...this.pools.values()].map((e) => e.pool);
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }

  private stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Graceful: undici's close() lets queued and running requests finish, then ends the sockets. */
  private retire(pool: Pool): void {
    pool.close().catch(() => undefined);
  }

  private create(origin: string, ca: string | undefined, connectTo: string | undefined): Pool {
    const connectorFor = this.connectors(ca);
    return new Pool(origin, {
      connections: this.connectionsPerOrigin,
      connect: (options, callback) => {
        const target = connectTo === undefined ? options : { ...options, hostname: connectTo };
        connectorFor()(target, callback);
      },
      // The relay reads HTTP/1.1 heads as raw lists and relays hop-by-hop semantics of HTTP/1.1;
      // undici 8 would otherwise switch to HTTP/2 when a tool's TLS offers it (the connector's
      // ALPN below is what the tool sees).
      allowH2: false,
      headersTimeout: this.timeouts.headersMs,
      bodyTimeout: this.timeouts.bodyMs,
      keepAliveTimeout: 30_000,
    });
  }

  /** The connector for new connections: one, or one per version of the client TLS material. */
  private connectors(ca: string | undefined): () => buildConnector.connector {
    const build = (tls: ClientTls): buildConnector.connector => {
      const cas = [ca, tls.ca].filter((pem): pem is string => pem !== undefined);
      return buildConnector({
        timeout: this.timeouts.connectMs,
        // Offer HTTP/1.1 alone in ALPN: undici speaks whatever the tool picks, whatever the pool's
        // allowH2 says, and a tool that prefers h2 (kube-apiserver, any Go server) picks it.
        allowH2: false,
        // A `ca` option replaces Node's list; the default one is what a pool without extra CAs
        // trusts: Node's bundled roots, or the system store under --use-system-ca, plus
        // NODE_EXTRA_CA_CERTS. (tls.rootCertificates is the bundled roots alone.)
        ...(cas.length > 0 ? { ca: [...getCACertificates('default'), ...cas] } : {}),
        ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      });
    };
    const provider = this.clientTls;
    if (!provider) {
      const connector = build({});
      return () => connector;
    }
    let last: { tls: ClientTls; connector: buildConnector.connector } | undefined;
    return () => {
      const tls = provider();
      if (last?.tls !== tls) last = { tls, connector: build(tls) };
      return last.connector;
    };
  }
}
