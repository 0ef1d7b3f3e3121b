// The life of an entry point: parse options (usage and exit 2 on bad ones, exit 0 on --help),
// start, then shut down gracefully on SIGTERM or SIGINT; and the listen/drain steps every server
// shares.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
      const stop = (signal: string): void => {
        log.info('signal received', { signal });
        running.shutdown().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error('shutdown failed', { error: err });
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => {
        stop('SIGTERM');
      });
      process.once('SIGINT', () => {
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

/** Listens on port (0 picks a free one) and resolves with the port actually bound. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Stops accepting and lets in-flight requests finish. Clients (kube-apiserver above all) keep
 * keep-alive connections; each becomes idle once its request is done, so idle connections are
 * swept until none is left, and whatever remains is cut when the grace period is over. `extra`
 * lets a server sweep and cut connections of its own (e.g. CONNECT tunnels).
 */
export async function drain(
  server: Server,
  graceMs: number,
  log: Logger,
  extra: { sweep?: () => void; cut?: () => void } = {},
): Promise<void> {
  log.info('shutting down: draining in-flight requests', { graceMs });
  const closed = new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  const sweep = (): void => {
    server.closeIdleConnections();
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
