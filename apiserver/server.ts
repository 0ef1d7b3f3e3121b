// Wiring: informers, authentication trust, caches, the handler chain and the HTTPS listener, plus
// graceful shutdown (serve on through the shutdown delay, then stop accepting and let in-flight
// streams finish within the grace period).

import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { KubeClient } from '../kube/client.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { noHeaderFilter, type HeaderFilter } from '../proxy/headers.js';
import { proxySubresource } from '../registry/proxy.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import { classApiHandler } from '../registry/classapis.js';
import { SubresourceCatalog } from '../registry/subresource.js';
import { admissionHandlers, clusterClientCertificate } from './admission.js';
import { createApp } from './app.js';
import { AuthConfigWatcher, type AuthenticationConfig } from './authconfig.js';
import { Authenticator, clientCaBundle, identityHeaders } from './authn.js';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import { watchedKeyPair, WatchedClientTls } from '../machinery/certificates.js';
import { headerDeadlineOptions, watchBodyIdle } from '../machinery/deadlines.js';
import { healthPaths } from '../machinery/health.js';
import { InflightLimiter } from '../machinery/inflight.js';
import { GracefulShutdown, listen } from '../machinery/lifecycle.js';
import type { Logger } from '../machinery/log.js';
import { badRequest, methodNotAllowed, refuseHandOff } from '../machinery/status.js';
import { Metrics } from './metrics.js';
import type { Config } from './options.js';

export interface RunningServer {
  port: number;
  /**
   * Serves on for the shutdown delay, then stops accepting, waits up to the grace period for
   * in-flight requests, and closes everything.
   */
  shutdown(): Promise<void>;
}

/** kubelet's probes and Prometheus: never refused for load (machinery/inflight.ts). */
function isProbeOrMetrics(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path === '/metrics' || healthPaths.has(path);
}

export async function startServer(config: Config, kube: KubeClient, log: Logger): Promise<RunningServer> {
  const store = new ConnectorStore(kube, log);
  const secrets = new SecretCache(kube, config.secretCacheMs);
  const pools = new DispatcherCache(config.upstream);
  // Class API backends get Secret data: reached over https only, trusting --classapi-ca-file and
  // presenting the API server's client certificate, which is how our backend knows its caller.
  const classApiTls = new WatchedClientTls('class API backend', config.classApiTls, log);
  const backendPools = new DispatcherCache(config.upstream, { clientTls: () => classApiTls.current });
  const limiter = new InflightLimiter(config.limits.maxInflight, log);
  const metrics = new Metrics(limiter);
  const graceful = new GracefulShutdown(
    { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
  );
  let droppedHeaders: HeaderFilter = noHeaderFilter;

  // The TLS context follows two sources: the serving certificate files and the client CAs of
  // the authentication ConfigMap. A change of either applies to new handshakes.
  const serving = watchedKeyPair('serving certificate', config.tlsCertFile, config.tlsKeyFile, log);
  let trusted: AuthenticationConfig | null = null;
  const secureContext = (): SecureContextOptions => ({
    cert: serving.current.certPem,
    key: serving.current.keyPem,
    ca: clientCaBundle(trusted),
  });
  // Called by the watchers only after start(), by which time `https` exists.
  const applyTrust = (cfg: AuthenticationConfig): void => {
    droppedHeaders = identityHeaders(cfg);
    trusted = cfg;
    https.setSecureContext(secureContext());
  };
  serving.onChange(() => {
    https.setSecureContext(secureContext());
  });
  const trust = new AuthConfigWatcher(kube, log, applyTrust);

  const subresources = new SubresourceCatalog(
    [proxySubresource({ lister: store, secrets, pools, droppedHeaders: () => droppedHeaders })],
    classApiHandler({
      lister: store,
      secrets,
      pools,
      backendPools,
      droppedHeaders: () => droppedHeaders,
      defaultNamespace: config.namespace,
    }),
    store,
  );
  store.onClassChange(() => {
    subresources.invalidate();
  });

  const authorizer = new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log);
  const app = createApp({
    log,
    metrics,
    authenticator: new Authenticator(
      () => trust.config,
      new CachedTokenReviewer(kube, config.authenticationCacheMs, config.tokenAudiences),
      log,
    ),
    authorizer,
    subresources,
    admission: admissionHandlers(store, authorizer),
    admissionFromCluster: (req) => clusterClientCertificate(req.socket, trust.config),
    notReady: () => [
      ...graceful.notReady(),
      ...(store.hasSynced ? [] : ['Connector and ConnectorClass informers have not synced']),
      ...(trust.config ? [] : ['kube-system/extension-apiserver-authentication has not been read']),
    ],
  });

  // requestCert: kube-apiserver proves itself with its front-proxy client certificate, users with
  // client-CA certificates. Callers without one (token users, kubelet probes) must still connect,
  // so the handshake never rejects; authn.ts reads its verdict.
  const { headerMs, bodyIdleMs } = config.limits.deadlines;
  const https: Server = createServer(
    {
      ...secureContext(),
      requestCert: true,
      rejectUnauthorized: false,
      // The request head's deadline bounds the TLS handshake before it as well.
      handshakeTimeout: headerMs,
      ...headerDeadlineOptions(headerMs),
    },
    limiter.guard(watchBodyIdle(app, bodyIdleMs, log), isProbeOrMetrics),
  );
  // kube-apiserver never sends CONNECT to an aggregated server: answer one, rather than drop it.
  https.on(
    'connect',
    refuseHandOff(
      methodNotAllowed('CONNECT is not served here; this server answers Kubernetes API paths only'),
    ),
  );
  // Nothing here upgrades a connection, and kube-apiserver turns any answer to an Upgrade request
  // other than 101 or an error into a 503: served as an ordinary request, it would reach the tool
  // and act there while the caller saw a failure. Refused before anything is sent.
  https.on(
    'upgrade',
    refuseHandOff(badRequest('upgrading the connection is not supported; send the request without Upgrade')),
  );
  // kube-apiserver keeps idle connections for 90 s; closing them earlier surfaces as sporadic 503s.
  https.keepAliveTimeout = 95_000;
  // Proxied streams may run for a long time; timeouts live on the upstream side instead.
  https.requestTimeout = 0;

  store.start();
  trust.start();
  serving.start();
  classApiTls.start();

  const port = await listen(https, config.securePort, config.bindAddress, config.limits.listenSockets);
  log.info('serving', { address: config.bindAddress, port });

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (shutdownPromise ??= (async () => {
      await graceful.run(https);
      log.info('listener closed; stopping informers and upstream pools');
      serving.stop();
      classApiTls.stop();
      await Promise.all([store.stop(), trust.stop(), pools.close(), backendPools.close()]);
      log.info('stopped');
    })());

  return { port, shutdown };
}
