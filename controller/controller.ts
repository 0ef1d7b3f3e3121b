// Wiring of the status controller: informers for Connectors and ConnectorClasses, one work queue,
// N workers, the Secret poller, status writes through the status subresource (only when the status
// changed), Events on Ready transitions, leader election, and /healthz, /readyz, /metrics.
//
// Level-triggered: a key says only "look at this object again"; the reconcile reads the object from
// the informer cache and the world (Secret, tool) as they are now. Keys come from informer events
// (spec changes: generation; class annotations), from the Secret poller, and from the periodic
// re-probe every --probe-interval (with ±10 % jitter so 1,000 Connectors do not probe in lockstep).
// Our own status writes come back as informer updates with an unchanged generation and are ignored,
// which is what keeps a tool whose error message changes on every probe from looping.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiException, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { WatchedClientTls } from '../machinery/certificates.js';
import type { Logger } from '../machinery/log.js';
import { DispatcherCache } from '../proxy/dispatchers.js';
import { SecretCache } from '../registry/secrets.js';
import type { KubeClient } from '../kube/client.js';
import { connectorInformers } from '../registry/store.js';
import { crdGroup, crdVersion, type Connector, type ConnectorClass } from '../registry/types.js';
import { AddressResolver, proxyResolverAnnotation } from './addresses.js';
import { nextStatus, type Condition, type StatusWithConditions } from './conditions.js';
import {
  connectorStatus,
  referencedSecrets,
  type CaRead,
  type ConnectorDeps,
  type SecretRead,
} from './connector.js';
import { connectorClassStatus } from './connectorclass.js';
import { AlwaysLeader, kubeLeaseStore, LeaderElector } from './leader.js';
import type { Config } from './options.js';
import { Prober } from './probe.js';
import { WorkQueue } from './queue.js';
import { SecretPoller, SecretReader } from './secrets.js';
import { ensureProxyService } from './proxyservice.js';

export interface RunningController {
  /** Port of /healthz, /readyz and /metrics. */
  port: number;
  shutdown(): Promise<void>;
}

type StatusObject = (Connector | ConnectorClass) & { status?: StatusWithConditions };

const connectorKey = (ns: string, name: string): string => `connector/${ns}/${name}`;
const classKey = (name: string): string => `class/${name}`;

/** Seconds precision, as metav1.Time. */
const nowTime = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'connectors_controller_reconciles_total',
    help: 'Reconciles, by kind (connector, class) and result (ok, error).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'connectors_controller_status_writes_total',
    help: 'Status subresource writes, by kind; none when nothing changed.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'connectors_controller_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });
  readonly polledSecrets = new Gauge({
    name: 'connectors_controller_polled_secrets',
    help: 'Distinct Secrets polled for changes.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

export async function startController(
  config: Config,
  kube: KubeClient,
  log: Logger,
): Promise<RunningController> {
  // Its writes (status, Events, the Lease, proxy Services) and the Secret poller still go through
  // client-node; the informers and the CA bundle lookup use the lean client, as the server does.
  const kc = await kube.access.clientNodeConfig();
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const metrics = new ControllerMetrics();

  const { connectors, classes } = connectorInformers(kube, log);
  const synced = (): boolean => connectors.hasSynced && classes.hasSynced;

  const queue = new WorkQueue();
  const reader = new SecretReader(kc);
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
  const pools = new DispatcherCache(
    {
      connectMs: Math.min(5000, config.probeTimeoutMs),
      headersMs: config.probeTimeoutMs,
      bodyMs: config.probeTimeoutMs,
    },
    { connectionsPerOrigin: 4 },
  );
  // Class API backends are reached as the API server reaches them: over https, trusting their CA
  // and presenting a client certificate the backend allows (it receives Secret data).
  const classApiTls = new WatchedClientTls('class API backend', config.classApiTls, log);
  const classApiPools = new DispatcherCache(
    {
      connectMs: Math.min(5000, config.probeTimeoutMs),
      headersMs: config.probeTimeoutMs,
      bodyMs: config.probeTimeoutMs,
    },
    { connectionsPerOrigin: 4, clientTls: () => classApiTls.current },
  );
  classApiTls.start();
  const prober = new Prober({ pools, classApiPools, timeoutMs: config.probeTimeoutMs });
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
    probes: prober,
    addresses,
    ensureProxyService: (connector, target) => ensureProxyService(core, connector, target),
  };

  let leading = false;
  const elector = config.leaderElect
    ? new LeaderElector({
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        store: kubeLeaseStore(kc, config.namespace, config.leaseName),
        log,
        onStartedLeading: () => {
          startLeading();
        },
        onStoppedLeading: () => {
          stopLeading();
        },
      })
    : new AlwaysLeader(() => {
        startLeading();
      });
  const isLeader = (): boolean => leading && elector.isLeader();

  function enqueueAll(): void {
    for (const c of classes.list()) queue.add(classKey(c.metadata?.name ?? ''));
    for (const c of connectors.list()) {
      queue.add(connectorKey(c.metadata?.namespace ?? '', c.metadata?.name ?? ''));
    }
  }

  function startLeading(): void {
    leading = true;
    metrics.leader.set(1);
    enqueueAll();
    poller.start();
  }

  function stopLeading(): void {
    leading = false;
    metrics.leader.set(0);
    void poller.stop();
  }

  // --- informer events → keys ---------------------------------------------------------------------
  // What a change must bump to matter: the spec (generation), and for classes the proxy-resolver
  // annotation. Status-only updates (our own writes) change neither.
  const seen = new Map<string, string>();
  const fingerprint = (o: Connector | ConnectorClass, withResolver: boolean): string =>
    `${o.metadata?.generation ?? ''}|${withResolver ? (o.metadata?.annotations?.[proxyResolverAnnotation] ?? '') : ''}|${o.metadata?.uid ?? ''}`;

  const onConnector = (c: Connector, deleted = false): void => {
    const key = connectorKey(c.metadata?.namespace ?? '', c.metadata?.name ?? '');
    if (deleted) {
      seen.delete(key);
      queue.remove(key);
      poller.track(key, []);
      return;
    }
    const fp = fingerprint(c, false);
    if (seen.get(key) === fp) return;
    seen.set(key, fp);
    if (leading) queue.add(key);
  };
  const onClass = (cls: ConnectorClass, deleted = false): void => {
    const name = cls.metadata?.name ?? '';
    const key = classKey(name);
    if (deleted) {
      seen.delete(key);
      queue.remove(key);
    } else {
      const fp = fingerprint(cls, true);
      if (seen.get(key) === fp) return;
      seen.set(key, fp);
      if (leading) queue.add(key);
    }
    if (!leading) return;
    for (const c of connectors.list()) {
      if (c.spec?.connectorClassName === name)
        queue.add(connectorKey(c.metadata?.namespace ?? '', c.metadata?.name ?? ''));
    }
  };
  connectors.on('add', (c) => {
    onConnector(c);
  });
  connectors.on('update', (c) => {
    onConnector(c);
  });
  connectors.on('delete', (c) => {
    onConnector(c, true);
  });
  classes.on('add', (c) => {
    onClass(c);
  });
  classes.on('update', (c) => {
    onClass(c);
  });
  classes.on('delete', (c) => {
    onClass(c, true);
  });

  // --- writes -------------------------------------------------------------------------------------

  async function emitEvent(obj: StatusObject, kind: string, ready: Condition): Promise<void> {
    const ns = obj.metadata?.namespace ?? 'default';
    const name = obj.metadata?.name ?? '';
    const now = new Date();
    try {
      await core.createNamespacedEvent({
        namespace: ns,
        body: {
          metadata: { name: `${name}.${now.getTime().toString(16)}`, namespace: ns },
          involvedObject: {
            apiVersion: `${crdGroup}/${crdVersion}`,
            kind,
            name,
            ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
            ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
          },
          type: ready.status === 'True' ? 'Normal' : 'Warning',
          reason: ready.reason ?? (ready.status === 'True' ? 'Ready' : 'NotReady'),
          message: ready.message ?? `${kind} is ready`,
          source: { component: 'connectors-controller' },
          reportingComponent: 'connectors-controller',
          reportingInstance: config.identity,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      log.debug('event not recorded', { error: err });
    }
  }

  /** Writes `status` if it differs from what `obj` has; returns whether it wrote. */
  async function writeStatus(
    obj: StatusObject,
    desired: StatusWithConditions,
    kind: 'Connector' | 'ConnectorClass',
  ): Promise<boolean> {
    const next = nextStatus(obj.status, desired, nowTime());
    if (!next) return false;
    // The Lease may have moved on while we probed: only the leader writes.
    if (!isLeader()) return false;
    const body = { ...obj, status: next };
    const name = obj.metadata?.name ?? '';
    try {
      if (kind === 'Connector') {
        await custom.replaceNamespacedCustomObjectStatus({
          group: crdGroup,
          version: crdVersion,
          namespace: obj.metadata?.namespace ?? '',
          plural: 'connectors',
          name,
          body,
        });
      } else {
        await custom.replaceClusterCustomObjectStatus({
          group: crdGroup,
          version: crdVersion,
          plural: 'connectorclasses',
          name,
          body,
        });
      }
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return false; // deleted meanwhile
      throw err;
    }
    metrics.statusWrites.inc({ kind: kind === 'Connector' ? 'connector' : 'class' });
    const before = obj.status?.conditions?.find((c) => c.type === 'Ready');
    const after = next.conditions?.find((c) => c.type === 'Ready');
    log.info('status updated', {
      kind,
      namespace: obj.metadata?.namespace,
      name,
      ready: after?.status,
      reason: after?.reason,
      identity: config.identity,
    });
    if (after && (before?.status !== after.status || before.reason !== after.reason)) {
      void emitEvent(obj, kind, after);
    }
    return true;
  }

  // --- reconcile ----------------------------------------------------------------------------------

  const jittered = (): number => Math.round(config.probeIntervalMs * (0.9 + Math.random() * 0.2));

  async function reconcile(key: string): Promise<void> {
    const [kind, a = '', b = ''] = key.split('/');
    if (kind === 'connector') {
      const c = connectors.get(b, a);
      if (!c) {
        queue.remove(key);
        poller.track(key, []);
        return;
      }
      poller.track(
        key,
        referencedSecrets(c).map((s) => `${a}/${s}`),
      );
      metrics.polledSecrets.set(poller.size);
      const desired = await connectorStatus(c, deps);
      await writeStatus(c, desired, 'Connector');
    } else {
      const cls = classes.get(a);
      if (!cls) {
        queue.remove(key);
        return;
      }
      const desired = await connectorClassStatus(cls, {
        addresses,
        reachable: (url) => prober.reachable(url),
      });
      await writeStatus(cls, desired, 'ConnectorClass');
    }
    queue.schedule(key, jittered());
  }

  const waitForSync = async (): Promise<void> => {
    while (!synced() && !stopping) await new Promise((r) => setTimeout(r, 100));
  };

  let stopping = false;
  async function worker(): Promise<void> {
    await waitForSync();
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        if (!isLeader()) continue; // a stand-by drops keys; the next leader enqueues everything
        await reconcile(key);
        queue.forget(key);
        metrics.reconciles.inc({ kind: key.split('/')[0], result: 'ok' });
      } catch (err) {
        metrics.reconciles.inc({ kind: key.split('/')[0], result: 'error' });
        const delay = queue.addRateLimited(key);
        log.warn('reconcile failed; retrying with backoff', {
          key,
          error: err instanceof ApiException ? `${err.code}: ${String(err.body).slice(0, 300)}` : err,
          retryInMs: delay,
        });
      } finally {
        queue.done(key);
      }
    }
  }

  // --- health -------------------------------------------------------------------------------------
  const health: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      const ok = synced() && !stopping;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'informers not synced');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    health.once('error', reject);
    health.listen(config.healthPort, config.bindAddress, () => {
      resolve();
    });
  });
  const port = (health.address() as AddressInfo).port;

  connectors.start();
  classes.start();
  const workers = Array.from({ length: config.workers }, () => worker());
  elector.start();
  log.info('controller started', {
    healthPort: port,
    identity: config.identity,
    leaderElect: config.leaderElect,
    probeIntervalMs: config.probeIntervalMs,
    namespace: config.namespace,
  });

  return {
    port,
    async shutdown() {
      stopping = true;
      leading = false;
      queue.shutDown();
      await elector.stop();
      await poller.stop();
      await Promise.allSettled(workers);
      classApiTls.stop();
      await Promise.allSettled([connectors.stop(), classes.stop(), pools.close(), classApiPools.close()]);
      health.closeAllConnections();
      await new Promise<void>((resolve) =>
        health.close(() => {
          resolve();
        }),
      );
      log.info('controller stopped');
    },
  };
}
