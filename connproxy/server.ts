// Wiring of the Connectors Proxy: informers, the Secret cache, the caller checks, the proxy CA,
// the plain-HTTP listener (requests and CONNECT) plus the internal server that parses intercepted
// TLS connections, served and shut down by the serving kit (machinery/serve.ts), which at the end
// of the grace period cuts the tunnels.

import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import { healthPaths, targetPath } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { Serving, type RunningServer } from '../machinery/serve.js';
import type { KubeClient } from '../kube/client.js';
import { registryTokenStrategy } from '../proxy/credentials/registry-token.js';
import { defaultPoolLimits, DispatcherCache } from '../proxy/dispatchers.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import { ProxyCertificateAuthority } from '../proxy/ca.js';
import { publishCaConfigMap } from '../proxy/ca-configmap.js';
import { CallerChecks } from '../kube/callers.js';
import { apiServerAddresses, DestinationPolicy, ownAddresses } from './destinations.js';
import { answerClientError } from './errors.js';
import { ProxyHandler } from './handler.js';
import type { Config } from './options.js';
import { parseRequestTarget } from './route.js';

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
  if (!healthPaths.has(targetPath(req))) return false;
  return parseRequestTarget(req.method ?? 'GET', req.url ?? '', req.headers.host).kind === 'health';
}

export async function startProxy(config: Config, kube: KubeClient, log: Logger): Promise<RunningServer> {
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
  const serving = new Serving({
    limits: config.limits,
    timing: { delayMs: config.shutdownDelayMs, graceMs: config.shutdownGraceMs },
    log,
    ready: [() => (store.hasSynced ? undefined : 'Connector and ConnectorClass informers have not synced')],
  });
  // Intercepted connections are handed to this server, which never listens itself.
  const intercept = serving.innerServer({ streams: true });
  const handler = new ProxyHandler({
    log,
    lister: store,
    secrets,
    pools,
    callers,
    ca,
    upstreamCaPem: config.upstreamCaPem,
    otherHosts,
    builtinProxy: { services: config.builtinProxyServices, namespace: config.namespace },
    connectTimeoutMs: config.upstream.connectMs,
    intercept,
    notReady: serving.notReady,
  });
  // One budget for the whole process: plain requests, CONNECT tunnels and intercepted requests.
  intercept.on('request', serving.guard(handler.intercepted));
  intercept.on('clientError', answerClientError(log));

  // Proxied streams may run for a long time; timeouts live on the upstream side instead.
  const http = serving.http(serving.guard(handler.request, isHealthProbe), { streams: true });
  http.on('connect', serving.limiter.guardConnect(handler.connect));

  store.start();
  // Tunnels and intercepted connections go on through the delay, like any connection: a client's
  // next CONNECT may well still be sent here. An opaque tunnel cannot be told to close (a 200 to
  // CONNECT makes the connection the client's byte stream), so it ends when its client ends it, or
  // at the end of the grace period; an intercepted one carries HTTP, whose responses close it like
  // any other. CONNECT sockets count as the listener's connections, so the drain waits for them too.
  return serving.start(http, {
    port: config.port,
    bindAddress: config.bindAddress,
    fields: { otherHosts: config.otherHosts },
    draining: () => {
      handler.refuseNewTunnels();
    },
    cut: () => {
      handler.cutTunnels();
    },
    release: async () => {
      await Promise.all([store.stop(), pools.close(), registryTokenStrategy.close()]);
    },
  });
}
