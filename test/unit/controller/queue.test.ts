// The work queue: one entry per key however often it is added, never two workers on one key, adds
// during processing run once more afterwards, and a failing key backs off exponentially per key.
import { expect } from 'chai';
import { WorkQueue } from '../../../controller/queue.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fast = { baseDelayMs: 20, maxDelayMs: 160, qps: 1000, burst: 1000 };

describe('controller/queue', () => {
  it('collapses repeated adds of a waiting key', async () => {
    const q = new WorkQueue(fast);
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).to.equal(2);
    expect(await q.get()).to.equal('a');
    expect(await q.get()).to.equal('b');
    q.shutDown();
  });

  it('never hands a key being processed to a second worker; an add meanwhile runs it once more', async () => {
    const q = new WorkQueue(fast);
    q.add('a');
    const key = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).to.equal(0);
    q.done(key ?? '');
    expect(q.length).to.equal(1);
    expect(await q.get()).to.equal('a');
    q.done('a');
    expect(q.length).to.equal(0);
    q.shutDown();
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue(fast);
    const pending = q.get();
    q.add('x');
    expect(await pending).to.equal('x');
    q.shutDown();
  });

  it('backs off a failing key exponentially up to the maximum, and forget resets it', () => {
    const q = new WorkQueue(fast);
    const delays = Array.from({ length: 6 }, () => q.addRateLimited('dead'));
    expect(delays).to.deep.equal([20, 40, 80, 160, 160, 160]);
    expect(q.failureCount('dead')).to.equal(6);
    expect(q.addRateLimited('other')).to.equal(20);
    q.forget('dead');
    expect(q.addRateLimited('dead')).to.equal(20);
    q.shutDown();
  });

  it('limits the overall rate of retries with a token bucket', () => {
    const q = new WorkQueue({ baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 2 });
    expect(q.addRateLimited('a')).to.equal(1);
    expect(q.addRateLimited('b')).to.equal(1);
    expect(q.addRateLimited('c')).to.be.within(95, 105);
    q.shutDown();
  });

  it('delivers a delayed key after its delay, keeping the earliest of two addAfter', async () => {
    const q = new WorkQueue(fast);
    q.addAfter('k', 200);
    q.addAfter('k', 30);
    expect(q.length).to.equal(0);
    await sleep(60);
    expect(q.length).to.equal(1);
    q.shutDown();
  });

  it('schedule replaces a pending delay (the periodic re-probe is pushed back)', async () => {
    const q = new WorkQueue(fast);
    q.schedule('k', 30);
    q.schedule('k', 200);
    await sleep(80);
    expect(q.length).to.equal(0);
    expect(q.pendingDelayed).to.equal(1);
    q.remove('k');
    expect(q.pendingDelayed).to.equal(0);
    q.shutDown();
  });

  it('shutDown releases waiting workers and drops delayed keys', async () => {
    const q = new WorkQueue(fast);
    const pending = q.get();
    q.addAfter('later', 1000);
    q.shutDown();
    expect(await pending).to.equal(undefined);
    expect(q.pendingDelayed).to.equal(0);
    q.add('x');
    expect(await q.get()).to.equal(undefined);
  });
});
