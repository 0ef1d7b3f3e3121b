// Entry point of the aggregated API server.

import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from './machinery/log.js';
import { ConfigError, parseConfig } from './options.js';
import { startServer } from './server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, base: { component: 'connectors-apiserver' } });
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

  const server = await startServer(config, kc, log);
  const stop = (signal: string): void => {
    log.info('signal received', { signal });
    server.shutdown().then(
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
}

main().catch((err: unknown) => {
  process.stderr.write(
    `connectors-apiserver failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
