// Leader election over an in-memory Lease with kube-apiserver's optimistic concurrency: one leader
// among candidates, a released Lease is taken at once, an abandoned one after its duration, and a
// leader that cannot renew steps down before a successor may take over. On a fake clock
// (setTimeout and Date): the Lease durations are the real ones, and no test waits for them.
import { mock } from 'node:test';
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import {
  LeaderElector,
  LeaseConflict,
  type LeaseRecord,
  type LeaseStore,
} from '../../../controller/leader.js';

/** Moves the fake clock on by `ms`, 10 ms at a time, letting the electors' promises run at each step. */
async function sleep(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    mock.timers.tick(Math.min(10, ms - t));
    await new Promise((r) => setImmediate(r));
  }
}
const log = createLogger({ level: 'error', write: () => undefined });

class MemoryLease implements LeaseStore {
  record: LeaseRecord | null = null;
  version = 0;
  failing = new Set<string>();
  writes: string[] = [];

  get() {
    return Promise.resolve(
      this.record ? { record: { ...this.record }, resourceVersion: String(this.version) } : null,
    );
  }
  create(record: LeaseRecord) {
    if (this.record) return Promise.reject(new LeaseConflict());
    this.record = { ...record };
    this.version++;
    this.writes.push(record.holderIdentity);
    return Promise.resolve();
  }
  update(record: LeaseRecord, resourceVersion: string) {
    if (this.failing.has(record.holderIdentity))
      return Promise.reject(new Error('kube-apiserver unreachable'));
    if (resourceVersion !== String(this.version)) return Promise.reject(new LeaseConflict());
    this.record = { ...record };
    this.version++;
    this.writes.push(record.holderIdentity);
    return Promise.resolve();
  }
}

function candidate(store: LeaseStore, identity: string, timing = { lease: 400, renew: 300, retry: 50 }) {
  const events: string[] = [];
  const e = new LeaderElector({
    identity,
    leaseDurationMs: timing.lease,
    renewDeadlineMs: timing.renew,
    retryPeriodMs: timing.retry,
    store,
    log,
    onStartedLeading: () => events.push('started'),
    onStoppedLeading: () => events.push('stopped'),
  });
  return { e, events };
}

describe('controller/leader', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it('elects exactly one of several candidates, and keeps it', async () => {
    const store = new MemoryLease();
    const cs = ['a', 'b', 'c'].map((id) => candidate(store, id, { lease: 1000, renew: 800, retry: 50 }));
    for (const c of cs) c.e.start();
    await sleep(300);
    const leaders = cs.filter((c) => c.e.isLeader());
    expect(leaders).to.have.length(1);
    expect(store.record?.holderIdentity).to.be.oneOf(['a', 'b', 'c']);
    expect(store.record?.leaseDurationSeconds).to.equal(1);
    for (const c of cs) await c.e.stop();
  });

  it('a released Lease goes to a stand-by at once', async () => {
    const store = new MemoryLease();
    const a = candidate(store, 'a', { lease: 5000, renew: 4000, retry: 50 });
    a.e.start();
    await sleep(100);
    const b = candidate(store, 'b', { lease: 5000, renew: 4000, retry: 50 });
    b.e.start();
    await sleep(150);
    expect(a.e.isLeader()).to.equal(true);
    expect(b.e.isLeader()).to.equal(false);
    await a.e.stop();
    expect(store.record?.holderIdentity).to.equal('');
    await sleep(200);
    expect(b.e.isLeader()).to.equal(true);
    expect(store.record?.leaseTransitions).to.equal(1);
    expect(a.events).to.deep.equal(['started', 'stopped']);
    await b.e.stop();
  });

  it('an abandoned Lease is taken only after its duration', async () => {
    const store = new MemoryLease();
    store.record = {
      holderIdentity: 'ghost',
      leaseDurationSeconds: 1,
      acquireTime: new Date(),
      renewTime: new Date(),
      leaseTransitions: 3,
    };
    const b = candidate(store, 'b', { lease: 1000, renew: 800, retry: 50 });
    b.e.start();
    await sleep(600);
    expect(b.e.isLeader()).to.equal(false);
    await sleep(700);
    expect(b.e.isLeader()).to.equal(true);
    expect(store.record.leaseTransitions).to.equal(4);
    await b.e.stop();
  });

  it('a leader that cannot renew steps down within the renew deadline', async () => {
    const store = new MemoryLease();
    const a = candidate(store, 'a', { lease: 600, renew: 300, retry: 50 });
    a.e.start();
    await sleep(100);
    expect(a.e.isLeader()).to.equal(true);
    store.failing.add('a');
    await sleep(450);
    expect(a.e.isLeader()).to.equal(false);
    expect(a.events).to.deep.equal(['started', 'stopped']);
    await a.e.stop();
  });
});
