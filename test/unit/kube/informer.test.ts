// The informer over a scripted stand-in for kube-apiserver: it lists every page, then watches from
// the list's resourceVersion with bookmarks; a failed watch resumes where it was, an expired one
// relists and tells what changed meanwhile; it has synced only once a list succeeded; failures in
// a row back off (doubling, capped) and a watch that held starts the pauses over; stop() leaves
// nothing running.

import { mock } from 'node:test';
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import {
  KubeApiError,
  type RequestOptions,
  type WatchEvent,
  type WatchOptions,
} from '../../../kube/client.js';
import { Informer, type ListWatchClient } from '../../../kube/informer.js';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion: string };
  data?: string;
}
interface List {
  metadata: { resourceVersion: string; continue?: string };
  items: Obj[];
}

const obj = (name: string, rv: string, data?: string): Obj => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv },
  ...(data ? { data } : {}),
});
const list = (rv: string, items: Obj[], next?: string): List => ({
  metadata: { resourceVersion: rv, ...(next ? { continue: next } : {}) },
  items,
});
const expired = (): KubeApiError => new KubeApiError(410, 'Expired', 'too old resource version');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Under a fake setTimeout: lets what is due run (promises, I/O), then checks that `check` holds. */
async function settled(what: string, check: () => boolean): Promise<void> {
  for (let n = 0; n < 100 && (n < 10 || !check()); n++) await new Promise((r) => setImmediate(r));
  expect(check(), what).to.equal(true);
}

/** One watch stream the test writes events into, ends, or fails. */
class Stream implements AsyncIterable<WatchEvent<Obj>> {
  private readonly queue: (WatchEvent<Obj> | Error | null)[] = [];
  private wake: (() => void) | undefined;
  aborted = false;

  constructor(
    readonly opts: WatchOptions,
    ...events: WatchEvent<Obj>[]
  ) {
    this.queue.push(...events);
    opts.signal?.addEventListener('abort', () => {
      this.aborted = true;
      this.put(new Error('aborted'));
    });
  }

  /** Ends the stream cleanly once its events are read. */
  withEnd(): this {
    this.put(null);
    return this;
  }

  put(item: WatchEvent<Obj> | Error | null): void {
    this.queue.push(item);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<Obj>> {
    for (;;) {
      const item = this.queue.shift();
      if (item === undefined) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      if (item === null) return;
      if (item instanceof Error) throw item;
      yield item;
    }
  }
}

/** Answers lists and watch openings from scripts; the last answer repeats. */
class FakeApi implements ListWatchClient {
  lists: (List | Error)[] = [];
  watches: (Error | ((opts: WatchOptions) => Stream))[] = [];
  listQueries: RequestOptions['query'][] = [];
  streams: Stream[] = [];

  get<T>(_path: string, opts?: RequestOptions): Promise<T> {
    this.listQueries.push(opts?.query);
    const answer = this.lists.length > 1 ? this.lists.shift() : this.lists[0];
    if (!answer) return Promise.reject(new Error('no list scripted'));
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as T);
  }

  watch<T>(_path: string, opts: WatchOptions = {}): Promise<AsyncIterable<WatchEvent<T>>> {
    const answer = this.watches.length > 1 ? this.watches.shift() : this.watches[0];
    if (answer === undefined) return Promise.reject(new Error('no watch scripted'));
    if (answer instanceof Error) return Promise.reject(answer);
    const stream = answer(opts);
    this.streams.push(stream);
    return Promise.resolve(stream as unknown as AsyncIterable<WatchEvent<T>>);
  }

  get lastStream(): Stream {
    const s = this.streams.at(-1);
    if (!s) throw new Error('no watch opened yet');
    return s;
  }
}

describe('kube/informer', function () {
  this.timeout(10_000);
  let api: FakeApi;
  let informer: Informer<Obj> | undefined;
  let warnings: { retryMs: number; error: string }[];
  let events: string[];
  const log = createLogger({
    level: 'info',
    write: (l) => {
      const r = JSON.parse(l) as { msg: string; retryMs: number; error: string };
      if (r.msg === 'watch failed; restarting') warnings.push({ retryMs: r.retryMs, error: r.error });
    },
  });

  const start = (backoff = { initialMs: 20, maxMs: 80 }, fieldSelector?: string): Informer<Obj> => {
    const i = new Informer<Obj>({
      what: 'things',
      client: api,
      path: '/api/v1/things',
      log,
      backoff,
      ...(fieldSelector ? { fieldSelector } : {}),
    });
    for (const e of ['add', 'update', 'delete'] as const) {
      i.on(e, (o) => events.push(`${e} ${o.metadata.name}@${o.metadata.resourceVersion}`));
    }
    informer = i;
    i.start();
    return i;
  };

  beforeEach(() => {
    api = new FakeApi();
    warnings = [];
    events = [];
  });

  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
  });

  it('lists every page (500 each, with the selector), then watches from the list’s resourceVersion', async () => {
    api.lists = [list('10', [obj('a', '3')], 'page-2'), list('10', [obj('b', '7')])];
    api.watches = [(opts) => new Stream(opts)];
    const i = start(undefined, 'metadata.name=a');
    await until('the watch', () => api.streams.length === 1);
    expect(api.listQueries).to.deep.equal([
      { limit: 500, continue: undefined, fieldSelector: 'metadata.name=a', labelSelector: undefined },
      { limit: 500, continue: 'page-2', fieldSelector: 'metadata.name=a', labelSelector: undefined },
    ]);
    expect(api.lastStream.opts).to.include({
      resourceVersion: '10',
      allowWatchBookmarks: true,
      fieldSelector: 'metadata.name=a',
    });
    expect(api.lastStream.opts.timeoutSeconds).to.be.within(300, 600);
    expect(i.hasSynced).to.equal(true);
    expect(events).to.deep.equal(['add a@3', 'add b@7']);
    expect(i.get('a', 'ns')?.metadata.resourceVersion).to.equal('3');
    expect(i.get('a')).to.equal(undefined);
    expect(i.list().map((o) => o.metadata.name)).to.deep.equal(['a', 'b']);
  });

  it('tells add, update and delete from the watch; a bookmark or the same resourceVersion tells nothing', async () => {
    api.lists = [list('10', [obj('a', '3')])];
    api.watches = [(opts) => new Stream(opts)];
    const i = start();
    await until('the watch', () => api.streams.length === 1);
    const s = api.lastStream;
    s.put({ type: 'ADDED', object: obj('b', '11') });
    s.put({ type: 'MODIFIED', object: obj('a', '12', 'changed') });
    s.put({ type: 'MODIFIED', object: obj('a', '12', 'changed') });
    s.put({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '13' } } });
    s.put({ type: 'DELETED', object: obj('b', '14') });
    s.put({ type: 'DELETED', object: obj('never-seen', '15') });
    await until('the events', () => events.length === 4);
    await sleep(20);
    expect(events).to.deep.equal(['add a@3', 'add b@11', 'update a@12', 'delete b@14']);
    expect(i.get('a', 'ns')?.data).to.equal('changed');
    expect(i.list()).to.have.length(1);
  });

  it('a failed watch resumes from the last resourceVersion seen (a bookmark’s too), without a relist', async () => {
    api.lists = [list('10', [])];
    api.watches = [(opts) => new Stream(opts)];
    const errors: unknown[] = [];
    const i = start();
    i.on('error', (e) => errors.push(e));
    await until('the watch', () => api.streams.length === 1);
    api.lastStream.put({ type: 'ADDED', object: obj('a', '11') });
    api.lastStream.put({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '20' } } });
    api.lastStream.put(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    await until('the second watch', () => api.streams.length === 2);
    expect(api.lastStream.opts.resourceVersion).to.equal('20');
    expect(api.listQueries).to.have.length(1);
    expect(warnings).to.deep.equal([{ retryMs: 20, error: 'read ECONNRESET' }]);
    expect(errors).to.have.length(1);
    expect(events).to.deep.equal(['add a@11']);
  });

  for (const [how, fail] of [
    [
      'an ERROR event (410 Expired)',
      (f: FakeApi) => {
        f.lastStream.put(expired());
      },
    ],
    [
      'a 410 Gone when the watch is opened',
      (f: FakeApi) => {
        f.watches.unshift(expired());
        f.lastStream.put(new Error('read ECONNRESET'));
      },
    ],
  ] as const) {
    it(`an expired resourceVersion (${how}) relists and tells the difference`, async () => {
      api.lists = [
        list('10', [obj('kept', '1'), obj('changed', '2'), obj('deleted', '3')]),
        list('50', [obj('kept', '1'), obj('changed', '40'), obj('born', '45')]),
      ];
      api.watches = [(opts) => new Stream(opts)];
      const i = start();
      await until('the watch', () => api.streams.length === 1);
      events.length = 0;
      fail(api);
      await until('the relist', () => api.listQueries.length === 2);
      await until('the new watch', () => api.streams.at(-1)?.opts.resourceVersion === '50');
      expect(events).to.deep.equal(['delete deleted@3', 'update changed@40', 'add born@45']);
      expect(
        i
          .list()
          .map((o) => o.metadata.name)
          .sort(),
      ).to.deep.equal(['born', 'changed', 'kept']);
    });
  }

  it('a continue token that expired between pages: one list without pages', async () => {
    api.lists = [
      list('10', [obj('a', '1')], 'page-2'),
      expired(),
      list('12', [obj('a', '1'), obj('b', '2')]),
    ];
    api.watches = [(opts) => new Stream(opts)];
    start();
    await until('the watch', () => api.streams.length === 1);
    expect(api.listQueries.at(-1)).to.deep.equal({ fieldSelector: undefined, labelSelector: undefined });
    expect(api.lastStream.opts.resourceVersion).to.equal('12');
    expect(events).to.deep.equal(['add a@1', 'add b@2']);
  });

  it('has not synced while the list fails, and has once it succeeds', async () => {
    api.lists = [new Error('connect ECONNREFUSED'), new Error('connect ECONNREFUSED'), list('1', [])];
    api.watches = [(opts) => new Stream(opts)];
    const i = start();
    await settled('the first failure', () => warnings.length === 1);
    expect(i.hasSynced).to.equal(false);
    await until('the sync', () => i.hasSynced);
    expect(api.listQueries).to.have.length(3);
  });

  it('failures in a row wait twice as long each time, up to the cap', async () => {
    api.lists = [new Error('connect ECONNREFUSED')];
    start({ initialMs: 20, maxMs: 80 });
    await until('five failures', () => warnings.length === 5);
    expect(warnings.map((w) => w.retryMs)).to.deep.equal([20, 40, 80, 80, 80]);
  });

  it('a watch that ends as soon as it opens is a failure too; one that held resets the pauses', async () => {
    api.lists = [list('1', [])];
    // Opens and ends at once, twice; then holds for longer than the cap and fails.
    api.watches = [
      (opts) => new Stream(opts).withEnd(),
      (opts) => new Stream(opts).withEnd(),
      (opts) => new Stream(opts),
      new Error('connect ECONNREFUSED'),
    ];
    start({ initialMs: 20, maxMs: 80 });
    await until('the holding watch', () => api.streams.length === 3);
    expect(warnings.map((w) => w.retryMs)).to.deep.equal([20, 40]);
    expect(warnings[0]!.error).to.match(/^the watch ended after \d+ ms$/);
    await sleep(100);
    api.lastStream.put(new Error('read ECONNRESET'));
    await until('two more failures', () => warnings.length === 4);
    expect(warnings.map((w) => w.retryMs)).to.deep.equal([20, 40, 20, 40]);
  });

  it('a watch that held and ended cleanly (kube-apiserver’s timeout) is resumed at once, without a warning', async () => {
    api.lists = [list('1', [])];
    api.watches = [(opts) => new Stream(opts)];
    start({ initialMs: 5000, maxMs: 50 });
    await until('the watch', () => api.streams.length === 1);
    await sleep(60);
    api.lastStream.put(null);
    await until('the next watch', () => api.streams.length === 2);
    expect(warnings).to.deep.equal([]);
  });

  it('the defaults: 1 s, 2 s, 4 s', async function () {
    api.lists = [new Error('connect ECONNREFUSED')];
    const i = new Informer<Obj>({ what: 'things', client: api, path: '/api/v1/things', log });
    informer = i;
    const retries = (): number[] => warnings.map((w) => w.retryMs);
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      i.start(); // fails at once, then after 1 s and 3 s; the next is due at 7 s
      await settled('the first failure', () => warnings.length === 1);
      mock.timers.tick(999);
      await settled('no second failure before 1 s', () => warnings.length === 1);
      mock.timers.tick(1);
      await settled('the second failure', () => warnings.length === 2);
      mock.timers.tick(2_000);
      await settled('the third failure', () => warnings.length === 3);
      mock.timers.tick(3_999);
      await settled('no fourth failure before 4 s', () => warnings.length === 3);
      expect(retries()).to.deep.equal([1_000, 2_000, 4_000]);
      mock.timers.tick(1);
      await settled('the fourth failure', () => warnings.length === 4);
      expect(api.listQueries).to.have.length(4);
    } finally {
      await i.stop();
      mock.timers.reset();
    }
  });

  it('an event handler that throws does not stop the informer', async () => {
    api.lists = [list('1', [])];
    api.watches = [(opts) => new Stream(opts)];
    const i = start();
    i.on('add', () => {
      throw new Error('handler bug');
    });
    await until('the watch', () => api.streams.length === 1);
    api.lastStream.put({ type: 'ADDED', object: obj('a', '2') });
    api.lastStream.put({ type: 'ADDED', object: obj('b', '3') });
    await until('both events', () => events.length === 2);
    expect(i.list()).to.have.length(2);
  });

  const stopCases: [string, (f: FakeApi) => void, (f: FakeApi) => Promise<void>][] = [
    [
      'during a watch',
      (f) => {
        f.lists = [list('1', [])];
        f.watches = [(opts) => new Stream(opts)];
      },
      (f) => until('the watch', () => f.streams.length === 1),
    ],
    [
      'during a pause',
      (f) => {
        f.lists = [new Error('connect ECONNREFUSED')];
      },
      () => until('the failure', () => warnings.length === 1),
    ],
  ];
  for (const [when, script, ready] of stopCases) {
    it(`stop() ${when} ends it at once and leaves no timer`, async () => {
      const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      await sleep(1); // mocha arms the test's own timeout once the test function has returned
      const before = timers();
      script(api);
      const i = start({ initialMs: 60_000, maxMs: 60_000 });
      await ready(api);
      const started = Date.now();
      await i.stop();
      expect(Date.now() - started).to.be.below(100);
      if (api.streams.length > 0) expect(api.lastStream.aborted).to.equal(true);
      expect(timers()).to.equal(before);
      const calls = api.listQueries.length + api.streams.length;
      await sleep(50);
      expect(api.listQueries.length + api.streams.length).to.equal(calls);
    });
  }
});
