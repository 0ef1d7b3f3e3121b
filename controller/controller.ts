// Wiring of the status controller: informers for Connectors and ConnectorClasses (keys.ts turns
// their events into keys), one work queue and --workers reconcilers (reconcile.ts), the Secret
// poller (secrets.ts), status writes and Events (status.ts), leader election (leader.ts), and its
// own port for /healthz, /readyz and /metrics (machinery/healthserver.ts, metrics.ts); and shutdown, in order.

import { WatchedClientTls } from '../machinery/certificates.js';
import type { Logger } from '../machinery/log.js';
import type { KubeClient } from '../kube/client.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { SecretCache } from '../registry/secrets.js';
import { connectorInformers } from '../registry/store.js';
import { AddressResolver } from './addresses.js';
import type { CaRead, ConnectorDeps, SecretRead } from './connector.js';
import { enqueueAll, enqueueOnChange, type KeySources } from './keys.js';
import { AlwaysLeader, kubeLeaseStore, LeaderElector } from './leader.js';
import { ControllerMetrics } from './metrics.js';
import { startHealthServer } from '../machinery/healthserver.js';
import type { Config } from './options.js';
import { Prober } from './probe.js';
import { ensureProxyService } from './proxyservice.js';
import { WorkQueue } from './queue.js';
import { Reconciler } from './reconcile.js';
import { SecretPoller, SecretReader } from './secrets.js';
import { StatusWriter } from './status.js';

export interface RunningController {
  /** Port of /healthz, /readyz and /metrics. */
  port: number;
  shutdown(): Promise<void>;
}

/** The HTTP clients of the probes: tools directly, class API backends with mutual TLS. */
function probeClients(config: Config, log: Logger) {
  const timeouts = {
    connectMs: Math.min(5000, config.probeTimeoutMs),
    headersMs: config.probeTimeoutMs,
    bodyMs: config.probeTimeoutMs,
  };
  const pools = new DispatcherCache(timeouts, { connectionsPerOrigin: 4 });
  // Class API backends are reached as the API server reaches them: over https, trusting their CA
  // and presenting a client certificate the backend allows (it receives Secret data).
  const classApiTls = new WatchedClientTls('class API backend', config.classApiTls, log);
  const classApiPools = new DispatcherCache(timeouts, {
    connectionsPerOrigin: 4,
    clientTls: () => classApiTls.current,
  });
  classApiTls.start();
  return {
    prober: new Prober({ pools, classApiPools, timeoutMs: config.probeTimeoutMs }),
    close: async () => {
      classApiTls.stop();
      await Promise.allSettled([pools.close(), classApiPools.close()]);
    },
  };
}

export async function startController(
  config: Config,
  kube: KubeClient,
  log: Logger,
): Promise<RunningController> {
  const metrics = new ControllerMetrics();
  const { connectors, classes } = connectorInformers(kube, log);
  const queue = new WorkQueue();
  const reader = new SecretReader(kube);
  const poller = new SecretPoller(
    reader,
    config.secretPollIntervalMs,
    (owner) => {
      queue.add(owner);
    },
    log,
  );
  // The CA bundle lookup is the server's (registry/secrets.ts); a 1 s TTL only merges the reads of
  // one reconcile round, so a fixed CA shows at the next probe.
  const cas = new SecretCache(kube, 1000);
  const probes = probeClients(config, log);
  const addresses = new AddressResolver(config.namespace, config.serviceUrlOverrides);
  const deps: ConnectorDeps = {
    connectorClass: (name) => classes.get(name),
    readSecret: async (namespace, name): Promise<SecretRead> => {
      const read = await reader.read(namespace, name);
      if (read.found) poller.noteVersion(`${namespace}/${name}`, read.resourceVersion ?? '');
      else if (read.reason === 'NotFound') poller.noteVersion(`${namespace}/${name}`, '');
      return read;
    },
    caBundle: async (connector): Promise<CaRead> => {
      const ref = connector.spec?.caCertSecretRef?.name;
      if (!ref) return { ok: true, pem: undefined };
      const found = await cas.caBundle(connector.metadata?.namespace ?? '', ref);
      return found.found ? { ok: true, pem: found.pem } : { ok: false, message: found.message };
    },
    probes: probes.prober,
    addresses,
    ensureProxyService: (connector, target) => ensureProxyService(kube, connector, target),
  };

  let leading = false;
  const keys: KeySources = { connectors, classes, queue, poller, leading: () => leading };
  const startLeading = (): void => {
    leading = true;
    metrics.leader.set(1);
    enqueueAll(keys);
    poller.start();
  };
  const elector = config.leaderElect
    ? new LeaderElector({
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        store: kubeLeaseStore(kube, config.namespace, config.leaseName),
        log,
        onStartedLeading: startLeading,
        onStoppedLeading: () => {
          leading = false;
          metrics.leader.set(0);
          void poller.stop();
        },
      })
    : new AlwaysLeader(startLeading);
  const isLeader = (): boolean => leading && elector.isLeader();
  enqueueOnChange(keys);

  const reconciler = new Reconciler({
    connectors,
    classes,
    queue,
    poller,
    deps,
    prober: probes.prober,
    addresses,
    status: new StatusWriter({ kube, log, metrics, identity: config.identity, isLeader }),
    metrics,
    log,
    probeIntervalMs: config.probeIntervalMs,
    isLeader,
  });
  let stopping = false;
  const health = await startHealthServer({
    port: config.healthPort,
    bindAddress: config.bindAddress,
    notReady: () => {
      if (stopping) return ['shutting down'];
      return connectors.hasSynced && classes.hasSynced ? [] : ['informers not synced'];
    },
    metrics: metrics.registry,
  });

  connectors.start();
  classes.start();
  const workers = reconciler.run(config.workers);
  elector.start();
  log.info('controller started', {
    healthPort: health.port,
    identity: config.identity,
    leaderElect: config.leaderElect,
    probeIntervalMs: config.probeIntervalMs,
    namespace: config.namespace,
  });

  return {
    port: health.port,
    async shutdown() {
      stopping = true;
      leading = false;
      reconciler.stop();
      queue.shutDown();
      await elector.stop();
      await poller.stop();
      await workers;
      await Promise.allSettled([connectors.stop(), classes.stop(), probes.close()]);
      await health.close();
      log.info('controller stopped');
    },
  };
}
