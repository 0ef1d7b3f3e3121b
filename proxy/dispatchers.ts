// One keep-alive undici pool per tool origin (and extra CA, for tools with a private CA), created
// on first use and reused by every request to that origin. Timeouts are explicit: a tool that
// accepts a connection and never answers costs a bounded time, not a socket forever.

import { createHash } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { Pool } from 'undici';

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
  ) {}

  /** The pool for `origin`; `ca` (PEM) is trusted in addition to the system's roots. */
  get(origin: string, ca?: string): Pool {
    const key = ca ? `${origin} ${createHash('sha256').update(ca).digest('hex')}` : origin;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.connectionsPerOrigin,
        connect: { timeout: this.timeouts.connectMs, ...(ca ? { ca: [...rootCertificates, ca] } : {}) },
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
        keepAliveTimeout: 30_000,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
