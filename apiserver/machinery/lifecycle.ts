// The life of an entry point: parse options (usage and exit 2 on bad ones, exit 0 on --help),
// start, then shut down gracefully on SIGTERM or SIGINT; and the listen/drain steps every server
// shares.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
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
 * Which connections have a response in flight. Node's closeIdleConnections() spares a connection
 * only until its response is `finished`, which is true as soon as end() is called, while the bytes
 * may still be buffered for a slow client; so draining tracks responses until their 'close'
 * (all data flushed) instead. CONNECT and upgraded sockets belong to their handlers.
 */
interface Connections {
  sockets: Set<Duplex>;
  busy: Map<Duplex, number>;
}

const tracked = new WeakMap<Server, Connections>();

function track(server: Server): Connections {
  const c: Connections = { sockets: new Set(), busy: new Map() };
  const event = 'setSecureContext' in server ? 'secureConnection' : 'connection';
  server.on(event, (socket: Duplex) => {
    c.sockets.add(socket);
    socket.once('close', () => {
      c.sockets.delete(socket);
      c.busy.delete(socket);
    });
  });
  // A socket handed to a 'connect' or 'upgrade' handler is that handler's to close. Only servers
  // that attach such a handler (before listen()) get this bookkeeping: any listener makes Node hand
  // the socket over, where it would otherwise close a CONNECT and serve an Upgrade request as an
  // ordinary one, so a listener here alone would leave those sockets unanswered and open forever.
  for (const handedOff of ['connect', 'upgrade']) {
    if (server.listenerCount(handedOff) === 0) continue;
    server.on(handedOff, (_req: IncomingMessage, socket: Duplex) => c.sockets.delete(socket));
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    c.busy.set(socket, (c.busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (c.busy.get(socket) ?? 1) - 1;
      if (left > 0) c.busy.set(socket, left);
      else c.busy.delete(socket);
    });
  });
  tracked.set(server, c);
  return c;
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

/**
 * Stops accepting and lets in-flight requests finish. Clients (kube-apiserver above all) keep
 * keep-alive connections; each is closed once nothing is in flight on it, swept until none is
 * left, and whatever remains is cut when the grace period is over. `extra` lets a server sweep and
 * cut connections of its own (e.g. CONNECT tunnels). The server must have been started by listen().
 */
export async function drain(
  server: Server,
  graceMs: number,
  log: Logger,
  extra: { sweep?: () => void; cut?: () => void } = {},
): Promise<void> {
  log.info('shutting down: draining in-flight requests', { graceMs });
  const connections = tracked.get(server) ?? track(server);
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
  const sweep = (): void => {
    for (const socket of connections.sockets) if (!connections.busy.has(socket)) socket.destroy();
    extra.sweep?.();
  };
  sweep();
  const sweeper = setInterval(sweep, 250);
  const timer = setTimeout(() => {
    log.warn('grace period over; closing the remaining connections');
    extra.cut?.();
    server.closeAllConnections();
  }, graceMs);
  await closed;
  clearInterval(sweeper);
  clearTimeout(timer);
}
