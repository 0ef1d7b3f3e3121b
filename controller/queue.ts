// The controller's work queue, after client-go's workqueue: a key is queued at most once however
// often it is added; a key being processed is never handed to a second worker, and an add during
// processing runs it once more afterwards (level-triggered: the reconcile reads the current state,
// so collapsing adds loses nothing). Failed keys come back after a per-key exponential backoff,
// bounded by an overall token bucket, so a key that always fails (a dead kube-apiserver, a Conflict
// storm) costs at most one attempt per backoff step, never a hot loop.

export interface QueueOptions {
  /** First retry delay of a failing key; doubles per consecutive failure. */
  baseDelayMs: number;
  /** Longest retry delay of a failing key. */
  maxDelayMs: number;
  /** Overall rate of rate-limited re-adds (token bucket), and its burst. */
  qps: number;
  burst: number;
}

export const defaultQueueOptions: QueueOptions = {
  baseDelayMs: 500,
  maxDelayMs: 5 * 60_000,
  qps: 10,
  burst: 100,
};

export class WorkQueue {
  private readonly fifo: string[] = [];
  /** Keys waiting in `fifo`, or added while being processed ("dirty"). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private tokens: number;
  private lastRefill = Date.now();
  private stopped = false;

  constructor(private readonly opts: QueueOptions = defaultQueueOptions) {
    this.tokens = opts.burst;
  }

  /** Queues `key` now (no-op if it is already waiting). */
  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it again
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.fifo.push(key);
    }
  }

  /** Queues `key` after `ms`, unless an earlier delayed add for it is already pending. */
  addAfter(key: string, ms: number): void {
    this.delay(key, ms, false);
  }

  /**
   * Queues `key` after `ms`, replacing any pending delayed add for it: the periodic re-probe,
   * pushed back whenever the key was reconciled for another reason meanwhile.
   */
  schedule(key: string, ms: number): void {
    this.delay(key, ms, true);
  }

  /** Queues `key` after its backoff (and the overall bucket); returns the delay in ms. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const backoff = Math.min(this.opts.baseDelayMs * 2 ** n, this.opts.maxDelayMs);
    const delay = Math.max(backoff, this.bucketDelay());
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of `key` (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Drops every trace of `key` (the object is gone): pending delays and failure count. */
  remove(key: string): void {
    this.forget(key);
    const d = this.delayed.get(key);
    if (d) clearTimeout(d.timer);
    this.delayed.delete(key);
  }

  failureCount(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, waiting for one; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const key = this.fifo.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys waiting now (not the delayed ones). */
  get length(): number {
    return this.fifo.length;
  }

  get pendingDelayed(): number {
    return this.delayed.size;
  }

  /** Stops handing out keys: waiting get() calls resolve undefined; delayed adds are dropped. */
  shutDown(): void {
    this.stopped = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.fifo.length = 0;
    this.dirty.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private delay(key: string, ms: number, replace: boolean): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending) {
      if (!replace && pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    // Pending re-probes must not keep a stopping process alive.
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Takes one token from the bucket; returns how long until that token was available. */
  private bucketDelay(): number {
    const now = Date.now();
    this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.qps);
    this.lastRefill = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.opts.qps) * 1000);
  }
}
