// Wiring of the class API backend: the families, the upstream pools, the HTTPS listener (its
// certificate and client CA reloaded when their files change) and graceful shutdown (serve on
// through the shutdown delay, then stop accepting and let in-flight requests finish within the
// grace period).

import { createServer, type Server } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { watchedCaBundle, watchedKeyPair } from '../machinery/certificates.js';
import { headerDeadlineOptions, watchBodyIdle } from '../machinery/deadlines.js';
import { healthPaths } from '../machinery/health.js';
import { InflightLimiter } from '../machinery/inflight.js';
import { GracefulShutdown, listen } from '../machinery/lifecycle.js';
import type { Logger } from '../machinery/log.js';
import { registryTokenStrategy } from '../proxy/credentials/registry-token.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { createApp } from './app.js';
import { allowedCallers } from './callers.js';
import { gitApi } from './git/api.js';
import { ociApi } from './oci/api.js';
import type { Config } from './options.js';
import { PluginDecoder } from './plugin.js';

export interface RunningBackend {
  port: number;
  /**
   * Serves on for the shutdown delay, then stops accepting, waits up to the grace period for
   * in-flight requests, and closes everything.
   */
  shutdown(): Promise<void>;
}

export async function startBackend(config: Config, log: Logger): Promise<RunningBackend> {
  // The class APIs read small answers (ref advertisements, tag lists); a few connections per tool
  // origin are plenty, and keep one busy Connector from opening hundreds of sockets to its tool.
  const pools = new DispatcherCache(config.upstream, { connectionsPerOrigin: 32 });
  const graceful = new GracefulShutdown(
    { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
  );
  const serving = watchedKeyPair('serving certificate', config.tlsCertFile, config.tlsKeyFile, log);
  const clientCa = watchedCaBundle('client CA', config.clientCaFile, log);
  const secureContext = (): SecureContextOptions => ({
    cert: serving.current.certPem,
    key: serving.current.keyPem,
    ca: clientCa.current,
  });

  const app = createApp({
    log,
    apis: [gitApi, ociApi],
    pools,
    plugin: new PluginDecoder(),
    checkCaller: allowedCallers(config.allowedClientNames),
    notReady: () => graceful.notReady(),
  });
  const handle = app.callback();
  const limiter = new InflightLimiter(config.limits.maxInflight, log);
  const { headerMs, bodyIdleMs } = config.limits.deadlines;
  // The handshake requests a client certificate but does not require one, so that kubelet probes
  // reach /readyz; checkCaller refuses every other path without the API server's certificate.
  const http: Server = createServer(
    {
      ...secureContext(),
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: headerMs,
      ...headerDeadlineOptions(headerMs),
    },
    limiter.guard(
      watchBodyIdle(
        (req, res) => {
          void handle(req, res);
        },
        bodyIdleMs,
        log,
      ),
      // kubelet's probes, never refused for load.
      (req) => healthPaths.has((req.url ?? '').split('?')[0] ?? ''),
    ),
  );
  for (const files of [serving, clientCa]) {
    files.onChange(() => {
      http.setSecureContext(secureContext());
    });
    files.start();
  }
  // The API server keeps idle connections to us; closing ours first would surface as sporadic
  // resets on its side, so ours stay open longer than any client keeps them.
  http.keepAliveTimeout = 95_000;

  const port = await listen(http, config.port, config.bindAddress, config.limits.listenSockets);
  log.info('serving', { address: config.bindAddress, port });

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (shutdownPromise ??= (async () => {
      await graceful.run(http);
      serving.stop();
      clientCa.stop();
      await Promise.all([pools.close(), registryTokenStrategy.close()]);
      log.info('stopped');
    })());

  return { port, shutdown };
}
