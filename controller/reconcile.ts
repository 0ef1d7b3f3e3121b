// The reconcile of one key, and the workers that take keys from the queue. A Connector's status is
// computed from the informer's copy and the world as it is now (its Secret, its class, the tool's
// probes) and written only when it changed; the key is then scheduled again after
// --probe-interval, with ±10 % jitter so that 1,000 Connectors do not probe in lockstep. A failed
// reconcile is retried with the queue's backoff. Only the leader reconciles: a stand-by drops the
// keys it is given, and the next leader queues everything.

import type { Logger } from '../machinery/log.js';
import type { Informer } from '../kube/informer.js';
import type { Connector, ConnectorClass } from '../registry/types.js';
import type { AddressResolver } from './addresses.js';
import { connectorStatus, referencedSecrets, type ConnectorDeps } from './connector.js';
import { connectorClassStatus } from './connectorclass.js';
import type { ControllerMetrics } from './metrics.js';
import type { Prober } from './probe.js';
import type { WorkQueue } from './queue.js';
import type { SecretPoller } from './secrets.js';
import type { StatusWriter } from './status.js';

export interface ReconcilerOptions {
  connectors: Informer<Connector>;
  classes: Informer<ConnectorClass>;
  queue: WorkQueue;
  poller: SecretPoller;
  deps: ConnectorDeps;
  prober: Prober;
  addresses: AddressResolver;
  status: StatusWriter;
  metrics: ControllerMetrics;
  log: Logger;
  probeIntervalMs: number;
  isLeader: () => boolean;
}

export class Reconciler {
  private stopping = false;

  constructor(private readonly opts: ReconcilerOptions) {}

  /** Runs `count` workers until the queue shuts down; resolves when the last has returned. */
  async run(count: number): Promise<void> {
    await Promise.allSettled(Array.from({ length: count }, () => this.worker()));
  }

  /** Workers still waiting for the informers give up (the queue's shutdown ends the others). */
  stop(): void {
    this.stopping = true;
  }

  private async worker(): Promise<void> {
    const { queue, metrics, log, isLeader, connectors, classes } = this.opts;
    while (!(connectors.hasSynced && classes.hasSynced) && !this.stopping) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        if (!isLeader()) continue; // a stand-by drops keys; the next leader enqueues everything
        await this.reconcile(key);
        queue.forget(key);
        metrics.reconciles.inc({ kind: key.split('/')[0], result: 'ok' });
      } catch (err) {
        metrics.reconciles.inc({ kind: key.split('/')[0], result: 'error' });
        const delay = queue.addRateLimited(key);
        log.warn('reconcile failed; retrying with backoff', { key, error: err, retryInMs: delay });
      } finally {
        queue.done(key);
      }
    }
  }

  private async reconcile(key: string): Promise<void> {
    const { connectors, classes, queue, poller, metrics, status } = this.opts;
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
      await status.write(c, await connectorStatus(c, this.opts.deps), 'Connector');
    } else {
      const cls = classes.get(a);
      if (!cls) {
        queue.remove(key);
        return;
      }
      const desired = await connectorClassStatus(cls, {
        addresses: this.opts.addresses,
        reachable: (url) => this.opts.prober.reachable(url),
      });
      await status.write(cls, desired, 'ConnectorClass');
    }
    queue.schedule(key, Math.round(this.opts.probeIntervalMs * (0.9 + Math.random() * 0.2)));
  }
}
