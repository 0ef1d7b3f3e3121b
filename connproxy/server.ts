// Wiring of the Connectors Proxy: informers, the Secret cache, the caller checks, the proxy CA,
// the plain-HTTP listener (requests and CONNECT) plus the internal server that parses intercepted
// TLS connections, and graceful shutdown (serve on through the shutdown delay, then stop
// accepting, let in-flight requests finish within the grace period, then cut tunnels).

import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import {
  enforceDeadlinesWithoutListening,
  headerDeadlineOptions,
  watchBodyIdle,
} from '../machinery/deadlines.js';
import { healthPaths } from '../machinery/health.js';
import { InflightLimiter } from '../machinery/inflight.js';
import { GracefulShutdown, keepEveryHeaderLine, listen, trackConnections } from '../machinery/lifecycle.js';
import type { Logger } from '../machinery/log.js';
import type { KubeClient } from '../kube/client.js';
import { registryTokenStrategy } from '../proxy/credentials/registry-token.js';
import { defaultPoolLimits, DispatcherCache } from '../proxy/dispatchers.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import { ProxyCertificateAuthority } from './ca.js';
import { publishCaConfigMap } from '../proxy/ca-configmap.js';
import { CallerChecks } from '../kube/callers.js';
import { apiServerAddresses, DestinationPolicy, ownAddresses } from './destinations.js';
import { answerClientError } from './errors.js';
import { ProxyHandler } from './handler.js';
import type { Config } from './options.js';
import { parseRequestTarget } from './route.js';

export interface RunningProxy {
  port: number;
  /**
   * Serves on for the shutdown delay, then stops accepting, waits up to the grace period for
   * in-flight requests, and closes everything.
   */
  shutdown(): Promise<void>;
}

async function proxyCa(config: Config, log: Logger): Promise<ProxyCertificateAuthority> {
  let ca: ProxyCertificateAuthority;
  if (config.proxyCa) {
    try {
      ca = await ProxyCertificateAuthority.load(config.proxyCa.certPem, config.proxyCa.keyPem);
    } catch (err) {
      throw new Error(`--proxy-ca-cert-file/--proxy-ca-key-file: ${(err as Error).message}`);
    }
  } else {
    ca = await ProxyCertificateAuthority.generate();
  }
  const cert = new X509Certificate(ca.certPem);
  const fields = {
    subject: cert.subject,
    fingerprint256: cert.fingerprint256,
    validTo: cert.validToDate.toISOString(),
  };
  if (config.proxyCa) log.info('proxy CA loaded', fields);
  else {
    log.warn(
      'generated a proxy CA for this process (each replica has its own); give --proxy-ca-cert-file and ' +
        '--proxy-ca-key-file so that clients can trust one CA',
      fields,
    );
  }
  if (config.proxyCaOut) {
    await writeFile(config.proxyCaOut, ca.certPem);
    log.info('proxy CA certificate written', { path: config.proxyCaOut });
  }
  return ca;
}

/** What tunnels may reach; kube-apiserver's host is resolved once, here. */
async function destinationPolicy(config: Config, kube: KubeClient, log: Logger): Promise<DestinationPolicy> {
  let apiServer: string[];
  try {
    apiServer = await apiServerAddresses(kube.access.server);
  } catch (err) {
    throw new Error(
      `--other-hosts=tunnel refuses kube-apiserver's address, and its host cannot be resolved ` +
        `(${(err as { code?: string }).code ?? 'error'})`,
    );
  }
  const inputs = {
    serviceRanges: config.serviceClusterIpRanges,
    podRanges: config.clusterCidrs,
    allow: config.allowHosts,
    apiServer,
    own: ownAddresses(),
  };
  if (inputs.serviceRanges.length === 0 || inputs.podRanges.length === 0) {
    log.warn(
      'tunnels may reach the cluster’s Services and Pods: give --service-cluster-ip-range and --cluster-cidr ' +
        'so that they are refused',
    );
  }
  log.info('tunnelling other hosts', { kubeApiserver: apiServer, allowHosts: config.allowHosts.length });
  return new DestinationPolicy(inputs);
}

/**
 * kubelet's probes, never refused for load. A Host naming a Connector makes /healthz a request for
 * its tool (connproxy/route.ts), which counts like any other.
 */
function isHealthProbe(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  if (!healthPaths.has(url.split('?')[0] ?? '')) return false;
  return parseRequestTarget(req.method ?? 'GET', url, req.headers.host).kind === 'health';
}

export async function startProxy(config: Config, kube: KubeClient, log: Logger): Promise<RunningProxy> {
  const ca = await proxyCa(config, log);
  if (config.publishCa) await publishCaConfigMap(kube, config.publishCa, ca.certPem, log);
  const store = new ConnectorStore(kube, log);
  const secrets = new SecretCache(kube, config.secretCacheMs);
  // Forward mode lets callers pick origins: the pool count is bounded, idle ones are closed.
  const pools = new DispatcherCache(config.upstream, {
    limits: { ...defaultPoolLimits, maxPools: config.maxUpstreamPools },
  });
  const otherHosts = config.otherHosts === 'refuse' ? 'refuse' : await destinationPolicy(config, kube, log);
  const callers = new CallerChecks(
    new CachedTokenReviewer(kube, config.authenticationCacheMs, config.tokenAudiences),
    new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log),
  );
  const graceful = new GracefulShutdown(
    { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
  );
  // One budget for the whole process: plain requests, CONNECT tunnels and intercepted requests.
  const limiter = new InflightLimiter(config.limits.maxInflight, log);
  const { headerMs, bodyIdleMs } = config.limits.deadlines;

  // Intercepted connections are handed to this server, which never listens itself.
  const intercept: Server = createServer(headerDeadlineOptions(headerMs));
  // listen() does both for the listening server.
  keepEveryHeaderLine(intercept);
  trackConnections(intercept);
  enforceDeadlinesWithoutListening(intercept, headerMs);
  intercept.keepAliveTimeout = 95_000;
  intercept.requestTimeout = 0;
  const handler = new ProxyHandler({
    log,
    lister: store,
    secrets,
    pools,
    callers,
    ca,
    upstreamCaPem: config.upstreamCaPem,
    otherHosts,
    connectTimeoutMs: config.upstream.connectMs,
    intercept,
    notReady: () => [
      ...graceful.notReady(),
      ...(store.hasSynced ? [] : ['Connector and ConnectorClass informers have not synced']),
    ],
  });
  intercept.on('request', limiter.guard(watchBodyIdle(handler.intercepted, bodyIdleMs, log)));
  intercept.on('clientError', answerClientError(log));

  const http: Server = createServer(
    headerDeadlineOptions(headerMs),
    limiter.guard(watchBodyIdle(handler.request, bodyIdleMs, log), isHealthProbe),
  );
  http.on('connect', limiter.guardConnect(handler.connect));
  // Workloads keep connections to us; ours stay open longer than a client keeps them idle.
  http.keepAliveTimeout = 95_000;
  // Proxied streams may run for a long time; timeouts live on the upstream side instead.
  http.requestTimeout = 0;

  store.start();
  const port = await listen(http, config.port, config.bindAddress, config.limits.listenSockets);
  log.info('serving', { address: config.bindAddress, port, otherHosts: config.otherHosts });

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (shutdownPromise ??= (async () => {
      // Tunnels and intercepted connections go on through the delay, like any connection: a
      // client's next CONNECT may well still be sent here. An opaque tunnel cannot be told to
      // close (a 200 to CONNECT makes the connection the client's byte stream), so it ends when
      // its client ends it, or at the end of the grace period; an intercepted one carries HTTP,
      // whose responses close it like any other. CONNECT sockets count as the listener's
      // connections, so the drain waits for them too.
      await graceful.run(http, {
        inner: [intercept],
        draining: () => {
          handler.refuseNewTunnels();
        },
        cut: () => {
          handler.cutTunnels();
        },
      });
      log.info('listener closed; stopping informers and upstream pools');
      await Promise.all([store.stop(), pools.close(), registryTokenStrategy.close()]);
      log.info('stopped');
    })());

  return { port, shutdown };
}
