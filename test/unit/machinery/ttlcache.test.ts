// The cache sits in front of TokenReview and SubjectAccessReview: it must collapse a burst of
// identical requests into one review, forget answers on time, never remember a failure, and stay
// bounded however many distinct tokens arrive.
import { expect } from 'chai';
import { TtlCache } from '../../../machinery/ttlcache.js';

/** A loader that counts its calls and resolves (or rejects) when told to. */
class Loader<V> {
  calls = 0;
  private pending: { resolve: (v: V) => void; reject: (e: Error) => void }[] = [];

  readonly load = (): Promise<V> => {
    this.calls++;
    return new Promise<V>((resolve, reject) => this.pending.push({ resolve, reject }));
  };

  resolveAll(value: V): void {
    for (const p of this.pending.splice(0)) p.resolve(value);
  }

  rejectAll(err: Error): void {
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}

describe('machinery/ttlcache TtlCache', () => {
  const realNow = Date.now;
  let now: number;

  beforeEach(() => {
    now = 1_700_000_000_000;
    Date.now = () => now;
  });

  afterEach(() => {
    Date.now = realNow;
  });

  it('runs one load for concurrent callers of the same key and gives all of them its value', async () => {
    const cache = new TtlCache<string>(10_000);
    const loader = new Loader<string>();
    const results = [cache.getOrLoad('k', loader.load), cache.getOrLoad('k', loader.load)];
    now += 5;
    results.push(cache.getOrLoad('k', loader.load));
    expect(loader.calls).to.equal(1);
    loader.resolveAll('v');
    expect(await Promise.all(results)).to.deep.equal(['v', 'v', 'v']);
  });

  it('loads different keys separately', async () => {
    const cache = new TtlCache<string>(10_000);
    const a = await cache.getOrLoad('a', () => Promise.resolve('A'));
    const b = await cache.getOrLoad('b', () => Promise.resolve('B'));
    expect([a, b]).to.deep.equal(['A', 'B']);
  });

  const timing: { title: string; elapsed: number; reloads: boolean }[] = [
    { title: 'reuses a value within the TTL', elapsed: 9_999, reloads: false },
    { title: 'loads again once the TTL has passed', elapsed: 10_000, reloads: true },
    { title: 'loads again long after the TTL', elapsed: 3_600_000, reloads: true },
  ];
  for (const c of timing) {
    it(c.title, async () => {
      const cache = new TtlCache<number>(10_000);
      let calls = 0;
      const load = (): Promise<number> => Promise.resolve(++calls);
      expect(await cache.getOrLoad('k', load)).to.equal(1);
      now += c.elapsed;
      expect(await cache.getOrLoad('k', load)).to.equal(c.reloads ? 2 : 1);
    });
  }

  it('caches null answers like any other (a rejected token stays rejected for the TTL)', async () => {
    const cache = new TtlCache<string | null>(10_000);
    let calls = 0;
    const load = (): Promise<null> => {
      calls++;
      return Promise.resolve(null);
    };
    await cache.getOrLoad('k', load);
    await cache.getOrLoad('k', load);
    expect(calls).to.equal(1);
  });

  it('does not cache a failed load: every waiting caller sees the failure, the next caller retries', async () => {
    const cache = new TtlCache<string>(10_000);
    const loader = new Loader<string>();
    const first = cache.getOrLoad('k', loader.load);
    const second = cache.getOrLoad('k', loader.load);
    loader.rejectAll(new Error('kube-apiserver unavailable'));
    for (const p of [first, second]) {
      let caught: unknown;
      try {
        await p;
      } catch (err) {
        caught = err;
      }
      expect((caught as Error).message).to.equal('kube-apiserver unavailable');
    }
    expect(cache.size).to.equal(0);
    const third = cache.getOrLoad('k', loader.load);
    expect(loader.calls).to.equal(2);
    loader.resolveAll('ok');
    expect(await third).to.equal('ok');
  });

  it('keeps a newer value when an older, replaced load fails', async () => {
    const cache = new TtlCache<string>(10_000);
    const old = new Loader<string>();
    const fresh = new Loader<string>();
    const stale = cache.getOrLoad('k', old.load);
    now += 10_000;
    const current = cache.getOrLoad('k', fresh.load);
    fresh.resolveAll('new');
    expect(await current).to.equal('new');
    old.rejectAll(new Error('late failure'));
    let caught: unknown;
    try {
      await stale;
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(Error);
    expect(await cache.getOrLoad('k', () => Promise.resolve('reloaded'))).to.equal('new');
  });

  it('stays within its size bound by evicting the oldest entry', async () => {
    const cache = new TtlCache<string>(10_000, 2);
    const calls: string[] = [];
    const load = (key: string) => (): Promise<string> => {
      calls.push(key);
      return Promise.resolve(key.toUpperCase());
    };
    for (const key of ['a', 'b', 'c']) await cache.getOrLoad(key, load(key));
    expect(cache.size).to.equal(2);
    calls.length = 0;
    // 'b' and 'c' are still cached; 'a', the oldest, was evicted and loads again.
    await cache.getOrLoad('b', load('b'));
    await cache.getOrLoad('c', load('c'));
    expect(calls).to.deep.equal([]);
    expect(await cache.getOrLoad('a', load('a'))).to.equal('A');
    expect(calls).to.deep.equal(['a']);
    expect(cache.size).to.equal(2);
  });

  it('does not evict anything when an existing key is reloaded', async () => {
    const cache = new TtlCache<string>(10_000, 2);
    await cache.getOrLoad('a', () => Promise.resolve('a1'));
    await cache.getOrLoad('b', () => Promise.resolve('b1'));
    now += 10_000;
    expect(await cache.getOrLoad('b', () => Promise.resolve('b2'))).to.equal('b2');
    expect(cache.size).to.equal(2);
    expect(await cache.getOrLoad('a', () => Promise.resolve('a2'))).to.equal('a2'); // expired, not evicted
  });
});
