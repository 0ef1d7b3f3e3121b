// The life of an entry point: parse options (usage and exit 2 on bad ones, exit 0 on --help),
// start, then shut down gracefully on SIGTERM or SIGINT; and the listen/shutdown steps every server
// shares.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, HelpRequested } from './flags.js';
import { createLogger, type LogLevel, type Logger } from './log.js';

export interface Stoppable {
  shutdown(): Promise<void>;
}

export function runEntryPoint<C extends { logLevel: LogLevel }>(
  component: string,
  parse: (argv: string[]) => C,
  start: (config: C, log: Logger) => Promise<Stoppable>,
): void {
  let config: C;
  try {
    config = parse(process.argv.slice(2));
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.message);
      process.exit(0);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, base: { component } });
  start(config, log).then(
    (running) => {
      let stopping = false;
      // Both signals stay handled for good: without a listener, a second SIGTERM or a Ctrl-C
      // during the shutdown delay or the drain would kill the process (Node's default) and fail
      // the very requests the shutdown is there to finish.
      const stop = (signal: string): void => {
        if (stopping) {
          log.info('signal received; already shutting down', { signal });
          return;
        }
        stopping = true;
        log.info('signal received', { signal });
        running.shutdown().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error('shutdown failed', { error: err });
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => {
        stop('SIGTERM');
      });
      process.on('SIGINT', () => {
        stop('SIGINT');
      });
    },
    (err: unknown) => {
      process.stderr.write(
        `${component} failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}

/**
 * A connection a server serves HTTP on, and what it has in flight. Node's closeIdleConnections()
 * spares a connection only until its response is `finished`, which is true as soon as end() is
 * called, while the bytes may still be buffered for a slow client; so a shutdown tracks responses
 * until their 'close' (all data flushed) instead.
 */
interface Connection {
  responses: Set<ServerResponse>;
  /** performance.now() when its last response closed, or when it was accepted. */
  quietSince: number;
}

interface Connections {
  /** CONNECT and upgraded sockets are not here: they belong to their handlers. */
  open: Map<Duplex, Connection>;
  /** From the shutdown signal on: every response not yet sent closes its connection. */
  closing: boolean;
}

const tracked = new WeakMap<Server, Connections>();

function track(server: Server): Connections {
  const known = tracked.get(server);
  if (known) return known;
  const c: Connections = { open: new Map(), closing: false };
  const event = 'setSecureContext' in server ? 'secureConnection' : 'connection';
  server.on(event, (socket: Duplex) => {
    c.open.set(socket, { responses: new Set(), quietSince: performance.now() });
    socket.once('close', () => c.open.delete(socket));
  });
  // A socket handed to a 'connect' or 'upgrade' handler is that handler's to close. Only servers
  // that attach such a handler (before listen()) get this bookkeeping: any listener makes Node hand
  // the socket over, where it would otherwise close a CONNECT and serve an Upgrade request as an
  // ordinary one, so a listener here alone would leave those sockets unanswered and open forever.
  for (const handedOff of ['connect', 'upgrade']) {
    if (server.listenerCount(handedOff) === 0) continue;
    server.on(handedOff, (_req: IncomingMessage, socket: Duplex) => c.open.delete(socket));
  }
  // First of the 'request' listeners: a handler may answer at once (a health probe, a 429), and
  // whether the connection stays open is decided when the response head is written.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    if (c.closing) res.shouldKeepAlive = false;
    const conn = c.open.get(req.socket);
    if (!conn) return;
    conn.responses.add(res);
    res.once('close', () => {
      conn.responses.delete(res);
      if (conn.responses.size === 0) conn.quietSince = performance.now();
    });
  });
  tracked.set(server, c);
  return c;
}

/**
 * For a server that never listens but serves connections handed to it by another's handlers
 * (the Connectors Proxy's intercepted TLS): tracks them as listen() tracks its server's, so that a
 * shutdown closes them alike (ShutdownHooks.inner).
 */
export function trackConnections(server: Server): void {
  track(server);
}

/**
 * Node keeps the first maxHeadersCount (2000) header lines of a request and drops the rest without
 * a word, so authentication and header hygiene would judge a head other than the one kube-apiserver
 * (which has no such count) saw and forwarded. With no count, every line is kept; the head stays
 * bounded by its size (--max-http-header-size, 16 KiB), past which Node answers 431.
 */
export function keepEveryHeaderLine(server: Server): void {
  server.maxHeadersCount = 0;
}

/** The listening sockets a server accepts on besides its own (listen() with sockets > 1). */
const moreListeners = new WeakMap<Server, NetServer[]>();

/**
 * What a net.Server keeps of its options and applies to every socket it accepts. Node sets these
 * as the server's own properties; the types do not declare them.
 */
interface AcceptOptions {
  allowHalfOpen: boolean;
  pauseOnConnect: boolean;
  noDelay: boolean;
  keepAlive: boolean;
  /** In seconds (the constructor takes milliseconds). */
  keepAliveInitialDelay: number;
  highWaterMark: number;
}

function listenOn(server: NetServer, port: number, host: string, reusePort: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, reusePort }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Listens on port (0 picks a free one) and resolves with the port actually bound.
 *
 * libuv accepts one connection per listening socket per event-loop turn (libuv#3696), and a turn
 * of a server streaming at full speed takes tens of milliseconds: a burst of new connections then
 * waits in the listen queue, past clients' connect timeouts. With `sockets` > 1, as many sockets
 * share the port (SO_REUSEPORT; the kernel spreads new connections over them), each accepts in
 * every turn, and each hands its connections to `server`, which serves them all as its own.
 */
export async function listen(server: Server, port: number, host: string, sockets = 1): Promise<number> {
  keepEveryHeaderLine(server);
  track(server);
  const bound = await listenOn(server, port, host, sockets > 1);
  const own = server as unknown as AcceptOptions;
  const more: NetServer[] = [];
  moreListeners.set(server, more);
  try {
    for (let i = 1; i < sockets; i++) {
      const listener = new NetServer(
        {
          allowHalfOpen: own.allowHalfOpen,
          pauseOnConnect: own.pauseOnConnect,
          noDelay: own.noDelay,
          keepAlive: own.keepAlive,
          keepAliveInitialDelay: own.keepAliveInitialDelay * 1000,
          highWaterMark: own.highWaterMark,
        },
        (socket) => server.emit('connection', socket),
      );
      more.push(listener);
      await listenOn(listener, bound, host, true);
    }
  } catch (err) {
    for (const s of [server, ...more]) s.close();
    throw err;
  }
  return bound;
}

/** How often a shutdown looks for connections to close. */
const sweepMs = 250;

/**
 * How long a connection must have had nothing in flight before a shutdown closes it. A keep-alive
 * client sends its next request on a connection as soon as the last response is in: closed at that
 * moment, the request would meet the close and fail. A moment later the connection has either
 * carried that request (whose response then closes it) or gone quiet, and closing it races only a
 * request sent in the very same instant, as any keep-alive timeout does; HTTP clients retry those.
 */
const quietMs = 1_000;

/**
 * From now on, every response on `servers` that has not been sent yet closes its connection, and a
 * connection with nothing in flight for quietMs is closed; returns the function that stops the
 * sweeps.
 */
function closeConnections(servers: Server[]): () => void {
  const all = servers.map(track);
  for (const c of all) {
    c.closing = true;
    for (const conn of c.open.values()) {
      for (const res of conn.responses) if (!res.headersSent) res.shouldKeepAlive = false;
    }
  }
  const sweep = (): void => {
    const now = performance.now();
    for (const c of all) {
      for (const [socket, conn] of c.open) {
        if (conn.responses.size === 0 && now - conn.quietSince >= quietMs) socket.destroy();
      }
    }
  };
  sweep();
  const sweeper = setInterval(sweep, sweepMs);
  return () => {
    clearInterval(sweeper);
  };
}

export interface ShutdownHooks {
  /** Servers fed connections by the listening server's handlers (trackConnections()). */
  inner?: Server[];
  /** More listening servers of the process (started by listen()), delayed and drained alike. */
  listeners?: Server[];
  /** When the drain begins (the Connectors Proxy refuses new CONNECT tunnels from then on). */
  draining?: () => void;
  /** When the grace period is over: close what no server tracks (CONNECT tunnels). */
  cut?: () => void;
}

/**
 * Stops accepting and lets in-flight requests finish. Clients (kube-apiserver above all) keep
 * keep-alive connections: every response closes its connection from now on, a connection that
 * has gone quiet is closed, and whatever remains is cut when the grace period is over. The
 * listening server must have been started by listen().
 */
export async function drain(
  server: Server,
  graceMs: number,
  log: Logger,
  hooks: Pick<ShutdownHooks, 'inner' | 'cut'> = {},
): Promise<void> {
  log.info('shutting down: draining in-flight requests', { graceMs });
  // net.Server's close() stops accepting and calls back once every connection has ended; http's
  // own close() would first run closeIdleConnections(), with the truncation described above. Each
  // listening socket counts the connections it accepted.
  const closed = Promise.all(
    [server, ...(moreListeners.get(server) ?? [])].map(
      (listener) =>
        new Promise<void>((resolve) => {
          NetServer.prototype.close.call(listener, () => {
            resolve();
          });
        }),
    ),
  );
  const stopSweeping = closeConnections([server, ...(hooks.inner ?? [])]);
  const timer = setTimeout(() => {
    log.warn('grace period over; closing the remaining connections');
    hooks.cut?.();
    server.closeAllConnections();
  }, graceMs);
  await closed;
  stopSweeping();
  clearTimeout(timer);
}

export interface ShutdownTiming {
  /** --shutdown-delay-duration: how long to go on serving after the signal, before the drain. */
  delayMs: number;
  /** --shutdown-grace-period: how long in-flight requests may then take. */
  graceMs: number;
}

/**
 * The shutdown of a server, as kube-apiserver's (--shutdown-delay-duration, then the drain).
 * kube-proxy and kube-apiserver's aggregator learn that a terminating pod's endpoint is gone a few
 * seconds after the pod got SIGTERM, and until then keep sending it new connections, which a
 * server that stopped accepting at once would refuse. So for the delay the server goes on
 * accepting and serving; /readyz answers 503 (kubelet marks the pod NotReady), every response
 * closes its connection, so that a keep-alive client (kube-apiserver's proxy transport, git, Node
 * clients) opens a new one, which the updated endpoints send to another replica, and connections
 * gone quiet are closed. Then the drain.
 */
export class GracefulShutdown {
  private begun = false;

  constructor(
    private readonly timing: ShutdownTiming,
    private readonly log: Logger,
  ) {}

  /** What /readyz reports: nothing until the shutdown has begun. */
  notReady(): string[] {
    return this.begun ? ['shutting down'] : [];
  }

  /** The delay, then the drain of `server` (listening, started by listen()). */
  async run(server: Server, hooks: ShutdownHooks = {}): Promise<void> {
    this.begun = true;
    const { delayMs, graceMs } = this.timing;
    const listeners = [server, ...(hooks.listeners ?? [])];
    if (delayMs > 0) {
      const stopSweeping = closeConnections([...listeners, ...(hooks.inner ?? [])]);
      this.log.info(
        'shutting down: serving on while the endpoints are updated; /readyz answers 503, every response closes its connection',
        { delayMs },
      );
      await sleep(delayMs);
      stopSweeping();
      this.log.info('shutdown delay over', { delayMs });
    }
    hooks.draining?.();
    await Promise.all(listeners.map((l) => drain(l, graceMs, this.log, l === server ? hooks : {})));
  }
}
