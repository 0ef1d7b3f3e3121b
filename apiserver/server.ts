// Wiring: informers, authentication trust, caches, the handler chain and the HTTPS listener, served
// and shut down by the serving kit (machinery/serve.ts).

import type { IncomingMessage } from 'node:http';
import type { SecureContextOptions } from 'node:tls';
import type { KubeClient } from '../kube/client.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { noHeaderFilter, type HeaderFilter } from '../proxy/headers.js';
import { proxySubresource } from '../registry/proxy.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import { classApiHandler } from '../registry/classapis.js';
import { CustomProxies } from '../registry/classproxy.js';
import { resourceInterfaceInformer, resourceInterfacesSubresource } from '../registry/resourceinterfaces.js';
import { ExpressionSandbox, expressionSource } from '../expression/index.js';
import { SubresourceCatalog } from '../registry/subresource.js';
import { admissionHandlers, clusterClientCertificate } from './admission.js';
import { createApp } from './app.js';
import { AuthConfigWatcher, type AuthenticationConfig } from './authconfig.js';
import { Authenticator, clientCaBundle, identityHeaders } from './authn.js';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import { watchedKeyPair, WatchedClientTls } from '../machinery/certificates.js';
import { healthPaths, targetPath } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { Serving, type RunningServer } from '../machinery/serve.js';
import { badRequest, methodNotAllowed, refuseHandOff } from '../machinery/status.js';
import { Metrics } from './metrics.js';
import type { Config } from './options.js';

/** kubelet's probes and Prometheus: never refused for load (machinery/inflight.ts). */
function isProbeOrMetrics(req: IncomingMessage): boolean {
  const path = targetPath(req);
  return path === '/metrics' || healthPaths.has(path);
}

export async function startServer(config: Config, kube: KubeClient, log: Logger): Promise<RunningServer> {
  const store = new ConnectorStore(kube, log);
  const resourceInterfaces = resourceInterfaceInformer(kube, log);
  const sandbox = new ExpressionSandbox(config.expressions);
  const secrets = new SecretCache(kube, config.secretCacheMs);
  const pools = new DispatcherCache(config.upstream);
  // Class API backends get Secret data: reached over https only, trusting --classapi-ca-file and
  // presenting the API server's client certificate, which is how our backend knows its caller.
  const classApiTls = new WatchedClientTls('class API backend', config.classApiTls, log);
  const backendPools = new DispatcherCache(config.upstream, { clientTls: () => classApiTls.current });
  // Custom Connectors Proxies get the caller's identity: the same mutual TLS as class API backends.
  const customProxies = new CustomProxies(
    {
      builtinServices: config.builtinProxyServices,
      defaultNamespace: config.namespace,
      overrides: config.proxyUrlOverrides,
    },
    backendPools,
  );
  let droppedHeaders: HeaderFilter = noHeaderFilter;

  // The TLS context follows two sources: the serving certificate files and the client CAs of
  // the authentication ConfigMap. A change of either applies to new handshakes.
  const servingCert = watchedKeyPair('serving certificate', config.tlsCertFile, config.tlsKeyFile, log);
  let trusted: AuthenticationConfig | null = null;
  const secureContext = (): SecureContextOptions => ({
    cert: servingCert.current.certPem,
    key: servingCert.current.keyPem,
    ca: clientCaBundle(trusted),
  });
  // Called by the watchers only after start(), by which time `https` exists.
  const applyTrust = (cfg: AuthenticationConfig): void => {
    droppedHeaders = identityHeaders(cfg);
    trusted = cfg;
    https.setSecureContext(secureContext());
  };
  servingCert.onChange(() => {
    https.setSecureContext(secureContext());
  });
  const trust = new AuthConfigWatcher(kube, log, applyTrust);
  const serving = new Serving({
    limits: config.limits,
    timing: { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
    ready: [
      () => (store.hasSynced ? undefined : 'Connector and ConnectorClass informers have not synced'),
      () => (resourceInterfaces.hasSynced ? undefined : 'the ResourceInterface informer has not synced'),
      () => (trust.config ? undefined : 'kube-system/extension-apiserver-authentication has not been read'),
    ],
  });
  const metrics = new Metrics(serving.limiter);

  const authorizer = new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log);
  const subresources = new SubresourceCatalog(
    [
      proxySubresource({
        lister: store,
        secrets,
        pools,
        droppedHeaders: () => droppedHeaders,
        customProxies,
      }),
      resourceInterfacesSubresource({
        lister: store,
        resourceInterfaces: resourceInterfaces.lister,
        evaluator: sandbox,
        authorizer,
        expressionSource,
      }),
    ],
    classApiHandler({
      lister: store,
      secrets,
      pools,
      backendPools,
      droppedHeaders: () => droppedHeaders,
      defaultNamespace: config.namespace,
      customProxies,
    }),
    store,
  );
  store.onClassChange(() => {
    subresources.invalidate();
  });

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
    notReady: serving.notReady,
  });

  // kube-apiserver proves itself with its front-proxy client certificate, users with client-CA
  // certificates; authn.ts reads the handshake's verdict. Proxied streams may run for a long time.
  const https = serving.https(secureContext(), serving.guard(app, isProbeOrMetrics), { streams: true });
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

  store.start();
  resourceInterfaces.start();
  trust.start();
  servingCert.start();
  classApiTls.start();

  return serving.start(https, {
    port: config.securePort,
    bindAddress: config.bindAddress,
    release: async () => {
      servingCert.stop();
      classApiTls.stop();
      await Promise.all([
        store.stop(),
        resourceInterfaces.stop(),
        trust.stop(),
        pools.close(),
        backendPools.close(),
        sandbox.close(),
      ]);
    },
  });
}
