// One keep-alive undici pool per tool origin (and extra CA, for tools with a private CA), created
// on first use and reused by every request to that origin. Timeouts are explicit: a tool that
// accepts a connection and never answers costs a bounded time, not a socket forever.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { buildConnector, errors, Pool } from 'undici';
import type { ClientTls } from '../apiserver/machinery/certificates.js';

// undici keeps each connection's HTTP/1 parser under this symbol (lib/core/symbols.js).
const { kParser } = createRequire(import.meta.url)('undici/lib/core/symbols.js') as { kParser: symbol };

interface PausableParser {
  paused: boolean;
  resume(): void;
}

/**
 * undici 7.30 throws an AssertionError from its socket 'end' listener, where nobody can catch it
 * and the process dies, when a tool closes the connection after a `Connection: close` response
 * while the caller holds the body back, so that the parser is paused (nodejs/undici#5360, fixed by
 * #5474 after 7.30). This sees 'end' first: a paused parser goes on with what it already holds,
 * which completes a whole body; a body still short of its end fails here as undici itself fails a
 * connection that closes early, and undici's listener never meets the paused parser. Remove with
 * the undici upgrade that carries #5474.
 */
function guardPausedEnd(socket: Socket): void {
  const emit = socket.emit.bind(socket);
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'end') {
      const parser = (socket as unknown as Record<symbol, PausableParser | null | undefined>)[kParser];
      if (parser?.paused) parser.resume();
      if (parser?.paused) {
        socket.destroy(new errors.SocketError('other side closed'));
        return true;
      }
    }
    return emit(event, ...args);
  }) as typeof socket.emit;
}

export interface UpstreamTimeouts {
  /** TCP + TLS connect. */
  connectMs: number;
  /** From the request being sent to the response headers. */
  headersMs: number;
  /** Between two chunks of the response body. */
  bodyMs: number;
}

export class DispatcherCache {
  private readonly pools = new Map<string, Pool>();

  constructor(
    private readonly timeouts: UpstreamTimeouts,
    private readonly connectionsPerOrigin = 256,
    /**
     * TLS material every connection presents and trusts, asked at every new connection so that
     * reloaded files apply without dropping pools; a new object means new material.
     */
    private readonly clientTls?: () => ClientTls,
  ) {}

  /** The pool for `origin`; `ca` (PEM) is trusted in addition to the system's roots. */
  get(origin: string, ca?: string): Pool {
    const key = ca ? `${origin} ${createHash('sha256').update(ca).digest('hex')}` : origin;
    let pool = this.pools.get(key);
    if (!pool) {
      const connectorFor = this.connectors(ca);
      pool = new Pool(origin, {
        connections: this.connectionsPerOrigin,
        connect: (options, callback) => {
          connectorFor()(options, (...result) => {
            if (result[1]) guardPausedEnd(result[1]);
            callback(...result);
          });
        },
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
        keepAliveTimeout: 30_000,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** The connector for new connections: one, or one per version of the client TLS material. */
  private connectors(ca: string | undefined): () => buildConnector.connector {
    const build = (tls: ClientTls): buildConnector.connector => {
      const cas = [ca, tls.ca].filter((pem): pem is string => pem !== undefined);
      return buildConnector({
        timeout: this.timeouts.connectMs,
        ...(cas.length > 0 ? { ca: [...rootCertificates, ...cas] } : {}),
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

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
