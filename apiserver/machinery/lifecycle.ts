// The life of an entry point: parse options (usage and exit 2 on bad ones, exit 0 on --help),
// start, then shut down gracefully on SIGTERM or SIGINT.

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
