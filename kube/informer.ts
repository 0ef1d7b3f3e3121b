// An informer: a cache of one collection kept current by list-then-watch, as client-go's reflector
// keeps one. It lists (500 a page), then watches from the list's resourceVersion with bookmarks.
// A watch that fails resumes from the last resourceVersion seen; one whose resourceVersion has
// expired (410 Gone) relists and tells add/update/delete for the difference, so that what changed
// while it was away is never missed. Retries back off (1 s doubling to 30 s) while failures go on,
// so a down kube-apiserver is not asked every second forever; a watch that held starts over at 1 s.

import type { Logger } from '../machinery/log.js';
import { isResourceVersionExpired, type KubeClient, type WatchEvent } from './client.js';
import type { KubeObject } from './objects.js';

interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

export type InformerEvent = 'add' | 'update' | 'delete';

/** The calls the informer makes: a KubeClient, or a stand-in in tests. */
export type ListWatchClient = Pick<KubeClient, 'get' | 'watch'>;

export interface InformerOptions {
  /** The name in log lines. */
  what: string;
  client: ListWatchClient;
  /** The collection, e.g. /apis/connectors.alauda.io/v1alpha1/connectors. */
  path: string;
  log: Logger;
  fieldSelector?: string;
  labelSelector?: string;
  /** Retry pauses: `initialMs` doubling to `maxMs`; a watch that held `maxMs` resets them. */
  backoff?: { initialMs: number; maxMs: number };
  pageSize?: number;
}

const defaultBackoff = { initialMs: 1000, maxMs: 30_000 };

export class Informer<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private listCache: readonly T[] | undefined;
  private readonly listeners: Record<InformerEvent, ((obj: T) => void)[]> = {
    add: [],
    update: [],
    delete: [],
  };
  private readonly errorListeners: ((err: unknown) => void)[] = [];
  /** Where the watch resumes; empty means list first. */
  private resourceVersion = '';
  private synced = false;
  private stopping = false;
  private retryMs: number;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private readonly backoff: { initialMs: number; maxMs: number };

  constructor(private readonly opts: InformerOptions) {
    this.backoff = opts.backoff ?? defaultBackoff;
    this.retryMs = this.backoff.initialMs;
  }

  /** Starts listing and watching, in the background, until stop(). */
  start(): void {
    if (this.running || this.stopping) return;
    this.running = this.loop();
  }

  /** Ends the watch and any pause: no request, timer or socket of the informer is left. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort(); // ends the request in flight and any pause
    await this.running;
  }

  /** True once a list has succeeded, and from then on. */
  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): readonly T[] {
    return (this.listCache ??= [...this.objects.values()]);
  }

  on(event: InformerEvent, fn: (obj: T) => void): void;
  on(event: 'error', fn: (err: unknown) => void): void;
  on(event: InformerEvent | 'error', fn: ((obj: T) => void) | ((err: unknown) => void)): void {
    if (event === 'error') this.errorListeners.push(fn as (err: unknown) => void);
    else this.listeners[event].push(fn);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let listed = false;
      try {
        if (!this.resourceVersion) {
          await this.relist();
          listed = true;
        }
        const lasted = await this.watch();
        // kube-apiserver ends a working watch at its timeout: resume at once. A watch that keeps
        // ending as soon as it starts is a failure like any other.
        if (lasted >= this.backoff.maxMs) continue;
        throw new Error(`the watch ended after ${lasted} ms`);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (isResourceVersionExpired(err)) {
          // What changed meanwhile is gone from kube-apiserver's history: list again, at once
          // unless the list just made was already too old.
          this.resourceVersion = '';
          if (!listed) {
            this.opts.log.info('resourceVersion expired; relisting', { informer: this.opts.what });
            continue;
          }
        }
        this.failed(err);
        try {
          await this.sleep(this.retryMs);
        } catch {
          return; // stopped
        }
        this.retryMs = Math.min(this.retryMs * 2, this.backoff.maxMs);
      }
    }
  }

  private failed(err: unknown): void {
    this.opts.log.warn('watch failed; restarting', {
      informer: this.opts.what,
      error: err instanceof Error ? err.message : String(err),
      retryMs: this.retryMs,
    });
    for (const fn of this.errorListeners) {
      try {
        fn(err);
      } catch (e) {
        this.opts.log.error('informer error handler failed', { informer: this.opts.what, error: e });
      }
    }
  }

  /** Lists every page, replaces the cache and tells the difference. */
  private async relist(): Promise<void> {
    const items: T[] = [];
    let rv = '';
    let next: string | undefined;
    do {
      let page: KubeList<T>;
      try {
        page = await this.opts.client.get<KubeList<T>>(this.opts.path, {
          query: {
            limit: this.opts.pageSize ?? 500,
            continue: next,
            fieldSelector: this.opts.fieldSelector,
            labelSelector: this.opts.labelSelector,
          },
          signal: this.abort.signal,
        });
      } catch (err) {
        // The continue token expired between pages: one list without pages, as client-go's pager.
        if (next === undefined || !isResourceVersionExpired(err)) throw err;
        items.length = 0;
        page = await this.opts.client.get<KubeList<T>>(this.opts.path, {
          query: { fieldSelector: this.opts.fieldSelector, labelSelector: this.opts.labelSelector },
          signal: this.abort.signal,
        });
      }
      items.push(...(page.items ?? []));
      rv = page.metadata?.resourceVersion ?? rv;
      next = page.metadata?.continue || undefined;
    } while (next);
    this.replace(items);
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      this.opts.log.info('informer synced', { informer: this.opts.what });
    }
  }

  /**
   * Watches until the stream ends; returns how long it held since kube-apiserver accepted it. One
   * that held the longest pause was a working watch, however it ended: the pauses start over.
   */
  private async watch(): Promise<number> {
    const stream = await this.opts.client.watch<T>(this.opts.path, {
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      // 5 to 10 minutes, as client-go: replicas do not all come back at the same moment.
      timeoutSeconds: Math.floor(300 + Math.random() * 300),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      signal: this.abort.signal,
    });
    const opened = Date.now();
    try {
      for await (const ev of stream) this.apply(ev);
    } finally {
      if (Date.now() - opened >= this.backoff.maxMs) this.retryMs = this.backoff.initialMs;
    }
    return Date.now() - opened;
  }

  private apply(ev: WatchEvent<T>): void {
    const rv = ev.object.metadata?.resourceVersion;
    if (ev.type === 'DELETED') this.remove(ev.object);
    else if (ev.type !== 'BOOKMARK') this.put(ev.object);
    if (rv) this.resourceVersion = rv;
  }

  private key(obj: T): string {
    const m = obj.metadata;
    return m?.namespace ? `${m.namespace}/${m.name ?? ''}` : (m?.name ?? '');
  }

  private put(obj: T): void {
    const key = this.key(obj);
    const old = this.objects.get(key);
    // The same resourceVersion is the same object (a relist repeats them): nothing to tell.
    if (old?.metadata?.resourceVersion && old.metadata.resourceVersion === obj.metadata?.resourceVersion)
      return;
    this.objects.set(key, obj);
    this.listCache = undefined;
    this.emit(old ? 'update' : 'add', obj);
  }

  private remove(obj: T): void {
    const key = this.key(obj);
    if (!this.objects.delete(key)) return;
    this.listCache = undefined;
    this.emit('delete', obj);
  }

  private replace(items: T[]): void {
    const keep = new Set(items.map((o) => this.key(o)));
    for (const [key, old] of [...this.objects]) {
      if (keep.has(key)) continue;
      this.objects.delete(key);
      this.listCache = undefined;
      this.emit('delete', old);
    }
    for (const obj of items) this.put(obj);
  }

  private emit(event: InformerEvent, obj: T): void {
    for (const fn of this.listeners[event]) {
      try {
        fn(obj);
      } catch (err) {
        this.opts.log.error('informer event handler failed', { informer: this.opts.what, event, error: err });
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.abort.signal;
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
