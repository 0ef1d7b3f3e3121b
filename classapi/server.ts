// Wiring of the class API backend: the families, the upstream pools and the HTTPS listener (its
// certificate and client CA reloaded when their files change), served and shut down by the serving
// kit (machinery/serve.ts).

import { MutualTlsFiles } from '../machinery/certificates.js';
import { healthPaths, targetPath } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { Serving, type RunningServer } from '../machinery/serve.js';
import { registryTokenStrategy } from '../proxy/credentials/registry-token.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { createApp } from './app.js';
import { allowedCallers } from './callers.js';
import { gitApi } from './git/api.js';
import { mysqlApi } from './mysql/api.js';
import { ociApi } from './oci/api.js';
import type { Config } from './options.js';
import { PluginDecoder } from './plugin.js';

export async function startBackend(config: Config, log: Logger): Promise<RunningServer> {
  // The class APIs read small answers (ref advertisements, tag lists); a few connections per tool
  // origin are plenty, and keep one busy Connector from opening hundreds of sockets to its tool.
  const pools = new DispatcherCache(config.upstream, { connectionsPerOrigin: 32 });
  const serving = new Serving({
    limits: config.limits,
    timing: { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
  });
  const tls = new MutualTlsFiles(
    { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.clientCaFile },
    log,
  );

  const app = createApp({
    log,
    apis: [gitApi, ociApi, mysqlApi],
    pools,
    plugin: new PluginDecoder(),
    connectTimeoutMs: config.upstream.connectMs,
    checkCaller: allowedCallers(config.allowedClientNames),
    notReady: serving.notReady,
  });
  // The handshake requests a client certificate but does not require one, so that kubelet probes
  // reach /readyz; checkCaller refuses every other path without the API server's certificate.
  const https = serving.https(
    tls.context(),
    // kubelet's probes, never refused for load.
    serving.guard(app, (req) => healthPaths.has(targetPath(req))),
  );
  tls.start(https);
  return serving.start(https, {
    port: config.port,
    bindAddress: config.bindAddress,
    release: async () => {
      tls.stop();
      await Promise.all([pools.close(), registryTokenStrategy.close()]);
    },
  });
}
