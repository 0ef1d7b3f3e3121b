// Leader election through a coordination.k8s.io/v1 Lease, with client-go's rules: a candidate takes
// the Lease when it is free (no holder, or released) or when the holder has not renewed it for
// leaseDuration as measured on the candidate's own clock (from when it last saw the record change,
// so clock skew between replicas does not matter); every write carries the resourceVersion it read,
// so two candidates can never both win. The leader renews every retryPeriod and steps down when it
// has not managed to renew for renewDeadline (< leaseDuration): it stops writing before anyone else
// may take over. On shutdown the leader releases the Lease so that a successor starts at once.

import type { Logger } from '../machinery/log.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { resourcePath, type Lease } from '../kube/objects.js';

export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date | undefined;
  renewTime: Date | undefined;
  leaseTransitions: number;
}

export class LeaseConflict extends Error {
  constructor() {
    super('the Lease changed since it was read');
    this.name = 'LeaseConflict';
  }
}

/** Where the Lease lives; the Kubernetes implementation is kubeLeaseStore. */
export interface LeaseStore {
  get(): Promise<{ record: LeaseRecord; resourceVersion: string } | null>;
  /** Throws LeaseConflict if it exists already. */
  create(record: LeaseRecord): Promise<void>;
  /** Throws LeaseConflict if the Lease is no longer at `resourceVersion`. */
  update(record: LeaseRecord, resourceVersion: string): Promise<void>;
}

/** MicroTime, as kube-apiserver insists on it: RFC 3339 with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function kubeLeaseStore(kube: KubeClient, namespace: string, name: string): LeaseStore {
  const ref = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespace };
  const conflict = (err: unknown): never => {
    if (err instanceof KubeApiError && (err.status === 409 || err.status === 422)) throw new LeaseConflict();
    throw err;
  };
  const body = (record: LeaseRecord, resourceVersion?: string): Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      holderIdentity: record.holderIdentity,
      leaseDurationSeconds: record.leaseDurationSeconds,
      leaseTransitions: record.leaseTransitions,
      ...(record.acquireTime ? { acquireTime: microTime(record.acquireTime) } : {}),
      ...(record.renewTime ? { renewTime: microTime(record.renewTime) } : {}),
    },
  });
  return {
    async get() {
      let lease: Lease;
      try {
        lease = await kube.get<Lease>(resourcePath({ ...ref, name }));
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return null;
        throw err;
      }
      const spec = lease.spec ?? {};
      return {
        resourceVersion: lease.metadata?.resourceVersion ?? '',
        record: {
          holderIdentity: spec.holderIdentity ?? '',
          leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
          acquireTime: spec.acquireTime ? new Date(spec.acquireTime) : undefined,
          renewTime: spec.renewTime ? new Date(spec.renewTime) : undefined,
          leaseTransitions: spec.leaseTransitions ?? 0,
        },
      };
    },
    async create(record) {
      await kube.post(resourcePath(ref), body(record)).catch(conflict);
    },
    async update(record, resourceVersion) {
      await kube.put(resourcePath({ ...ref, name }), body(record, resourceVersion)).catch(conflict);
    },
  };
}

export interface ElectorOptions {
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  store: LeaseStore;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private observed: { key: string; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ElectorOptions) {}

  /** True only while the Lease is ours and was renewed within the renew deadline. */
  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenew < this.opts.renewDeadlineMs;
  }

  start(): void {
    this.tick();
  }

  /** Stops campaigning; the leader releases the Lease so that a successor need not wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (this.leading) this.setLeading(false, 'shutting down');
    // Also when the last attempt won the Lease just as we were stopping.
    try {
      const current = await this.opts.store.get();
      if (current?.record.holderIdentity !== this.opts.identity) return;
      const now = new Date();
      await this.opts.store.update(
        {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.record.leaseTransitions,
        },
        current.resourceVersion,
      );
      this.opts.log.info('leader lease released');
    } catch (err) {
      this.opts.log.warn('could not release the leader lease; the next leader waits for it to expire', {
        error: err,
      });
    }
  }

  private tick(): void {
    if (this.stopped) return;
    this.running = this.attempt().then(() => {
      if (this.stopped) return;
      // Candidates retry with jitter so that replicas started together do not collide forever.
      const wait = this.leading
        ? this.opts.retryPeriodMs
        : this.opts.retryPeriodMs * (1 + Math.random() * 0.2);
      this.timer = setTimeout(() => {
        this.tick();
      }, wait);
    });
  }

  private async attempt(): Promise<void> {
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.opts.log.warn('leader election: the Lease could not be read or written', { error: err });
    }
    if (this.stopped) return;
    if (ok) {
      this.lastRenew = Date.now();
      if (!this.leading) this.setLeading(true);
    } else if (this.leading && (Date.now() - this.lastRenew >= this.opts.renewDeadlineMs || this.lostTo())) {
      this.setLeading(false);
    }
  }

  private lostHolder: string | undefined;

  private lostTo(): boolean {
    return this.lostHolder !== undefined && this.lostHolder !== this.opts.identity;
  }

  private setLeading(leading: boolean, why = 'the Lease could not be renewed or was taken'): void {
    this.leading = leading;
    if (leading) {
      this.opts.log.info('became leader', { identity: this.opts.identity });
      this.opts.onStartedLeading();
    } else {
      const level = why === 'shutting down' ? 'info' : 'warn';
      this.opts.log[level]('stopped leading', { identity: this.opts.identity, why });
      this.opts.onStoppedLeading();
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { store, identity } = this.opts;
    const now = new Date();
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    this.lostHolder = undefined;
    const current = await store.get();
    if (!current) {
      try {
        await store.create({
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        });
        return true;
      } catch (err) {
        if (err instanceof LeaseConflict) return false;
        throw err;
      }
    }
    const { record, resourceVersion } = current;
    const key = `${record.holderIdentity}|${record.renewTime?.getTime() ?? ''}|${record.leaseTransitions}`;
    if (this.observed?.key !== key) this.observed = { key, at: now.getTime() };
    const held = record.holderIdentity !== '' && record.holderIdentity !== identity;
    if (held) {
      const expiresAt = this.observed.at + record.leaseDurationSeconds * 1000;
      if (expiresAt > now.getTime()) {
        this.lostHolder = record.holderIdentity;
        return false;
      }
    }
    const ours = record.holderIdentity === identity;
    try {
      await store.update(
        {
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: ours ? (record.acquireTime ?? now) : now,
          renewTime: now,
          leaseTransitions: ours ? record.leaseTransitions : record.leaseTransitions + 1,
        },
        resourceVersion,
      );
      return true;
    } catch (err) {
      if (err instanceof LeaseConflict) return false;
      throw err;
    }
  }
}

/** An elector stand-in for --leader-elect=false: always the leader. */
export class AlwaysLeader {
  constructor(private readonly onStartedLeading: () => void) {}
  isLeader(): boolean {
    return true;
  }
  start(): void {
    this.onStartedLeading();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}
