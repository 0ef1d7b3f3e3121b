// The serving kit: how every process makes its listener, says whether it is ready, and stops.
//
//   servers     HTTP or HTTPS, bounding clients alike: the request head's deadline (over TLS the
//               handshake's too), the request body's idle deadline, one in-flight budget for the
//               process (health probes exempt), keep-alive longer than any client keeps a
//               connection idle, every header line kept (lifecycle.ts keepEveryHeaderLine)
//   readiness   /readyz lists what is not ready: the shutdown once it has begun, then whatever
//               each process waits for (informers, trust)
//   life        listen on --listen-sockets sockets, serve; on shutdown, serve on through
//               --shutdown-delay-duration, drain within --shutdown-grace-period (lifecycle.ts
//               GracefulShutdown), then release what the process holds; once, however often asked
//
// Health itself is answered by each process's chain (health.ts writeHealth), where it knows which
// requests are probes.

import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { enforceDeadlinesWithoutListening, headerDeadlineOptions, watchBodyIdle } from './deadlines.js';
import type { ServingLimits } from './flags.js';
import type { RequestListener } from './exchange.js';
import { InflightLimiter } from './inflight.js';
import {
  GracefulShutdown,
  keepEveryHeaderLine,
  listen,
  trackConnections,
  type ShutdownHooks,
  type Stoppable,
  type ShutdownTiming,
} from './lifecycle.js';
import type { LogFields, Logger } from './log.js';

/** Why the process is not ready yet, or undefined once it is. */
export type ReadinessCheck = () => string | undefined;

/**
 * A started server: its port, and its shutdown, which serves on for the shutdown delay, then stops
 * accepting, waits up to the grace period for in-flight requests, and releases everything; the same
 * promise however often called.
 */
export interface RunningServer extends Stoppable {
  port: number;
  /** The ports of StartOptions.more, in order. */
  morePorts: number[];
}

export interface ServingOptions {
  limits: ServingLimits;
  /** --shutdown-delay-duration and --shutdown-grace-period. */
  timing: ShutdownTiming;
  log: Logger;
  /** What must hold before /readyz answers 200, besides not shutting down. */
  ready?: readonly ReadinessCheck[];
}

export interface ServerOptions {
  /**
   * Requests may stream for as long as they like (a relayed download): no whole-request timeout;
   * the timeouts then live on the upstream side. Otherwise Node's (300 s) stays.
   */
  streams?: boolean;
}

export interface StartOptions extends Pick<ShutdownHooks, 'draining' | 'cut'> {
  port: number;
  bindAddress: string;
  /** More fields of the 'serving' log line. */
  fields?: LogFields;
  /** More listeners of the process (a custom proxy's https beside its http), served and drained alike. */
  more?: { server: Server; port: number }[];
  /** After the listener has closed: stops informers and watchers, closes upstream pools. */
  release: () => Promise<void>;
}

/**
 * Clients keep idle connections to us (kube-apiserver for 90 s): a server that closed them first
 * would race their next request, which surfaces as sporadic resets and 503s on their side.
 */
const keepAliveTimeoutMs = 95_000;

export class Serving {
  /** One budget for the whole process: every listener, CONNECT tunnels, intercepted requests. */
  readonly limiter: InflightLimiter;
  private readonly graceful: GracefulShutdown;
  private readonly inner: Server[] = [];

  constructor(private readonly opts: ServingOptions) {
    this.limiter = new InflightLimiter(opts.limits.maxInflight, opts.log);
    this.graceful = new GracefulShutdown(opts.timing, opts.log);
  }

  /** What /readyz reports; [] when ready. */
  readonly notReady = (): string[] => [
    ...this.graceful.notReady(),
    ...(this.opts.ready ?? []).flatMap((check) => check() ?? []),
  ];

  /**
   * `listener` within the in-flight budget and the body's idle deadline; `exempt` requests (kubelet's
   * probes, Prometheus) are never refused for load, so that kubelet never restarts a pod for being
   * busy and its load stays visible.
   */
  guard(listener: RequestListener, exempt?: (req: IncomingMessage) => boolean): RequestListener {
    return this.limiter.guard(
      watchBodyIdle(listener, this.opts.limits.deadlines.bodyIdleMs, this.opts.log),
      exempt,
    );
  }

  /** A plain HTTP server for `listener` (already guarded). */
  http(listener: RequestListener, opts: ServerOptions = {}): Server {
    return this.tune(createHttpServer(headerDeadlineOptions(this.headerMs), listener), opts);
  }

  /**
   * An HTTPS server for `listener` (already guarded). It requests a client certificate but never
   * requires one: callers without one (token users, kubelet's probes) must still connect, and the
   * chain judges the certificate. The request head's deadline bounds the handshake before it too.
   */
  https(tls: SecureContextOptions, listener: RequestListener, opts: ServerOptions = {}): HttpsServer {
    const server = createHttpsServer(
      {
        ...tls,
        requestCert: true,
        rejectUnauthorized: false,
        handshakeTimeout: this.headerMs,
        ...headerDeadlineOptions(this.headerMs),
      },
      listener,
    );
    return this.tune(server, opts);
  }

  /**
   * A server that never listens but serves connections another's handlers hand it (the Connectors
   * Proxy's intercepted TLS): bounded and drained like the listening one.
   */
  innerServer(opts: ServerOptions = {}): Server {
    const server = this.tune(createHttpServer(headerDeadlineOptions(this.headerMs)), opts);
    // listen() does both for the listening server.
    keepEveryHeaderLine(server);
    trackConnections(server);
    enforceDeadlinesWithoutListening(server, this.headerMs);
    this.inner.push(server);
    return server;
  }

  /**
   * Listens on `server` (made here; its 'connect' and 'upgrade' listeners attached) and returns
   * the port and the process's one shutdown.
   */
  async start(server: Server, opts: StartOptions): Promise<RunningServer> {
    const { log } = this.opts;
    const port = await listen(server, opts.port, opts.bindAddress, this.opts.limits.listenSockets);
    const more = opts.more ?? [];
    const morePorts: number[] = [];
    for (const m of more) {
      morePorts.push(await listen(m.server, m.port, opts.bindAddress, this.opts.limits.listenSockets));
    }
    log.info('serving', {
      address: opts.bindAddress,
      port,
      ...(morePorts.length > 0 ? { morePorts } : {}),
      ...opts.fields,
    });
    let stopped: Promise<void> | undefined;
    const shutdown = (): Promise<void> =>
      (stopped ??= (async () => {
        await this.graceful.run(server, {
          inner: this.inner,
          listeners: more.map((m) => m.server),
          draining: opts.draining,
          cut: opts.cut,
        });
        log.info('listener closed; releasing informers, watchers and upstream pools');
        await opts.release();
        log.info('stopped');
      })());
    return { port, morePorts, shutdown };
  }

  private get headerMs(): number {
    return this.opts.limits.deadlines.headerMs;
  }

  private tune<S extends Server>(server: S, opts: ServerOptions): S {
    server.keepAliveTimeout = keepAliveTimeoutMs;
    if (opts.streams) server.requestTimeout = 0;
    return server;
  }
}
