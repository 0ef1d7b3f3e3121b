// Connector and ConnectorClass lookups served from informers: the request path never calls
// kube-apiserver to find out what a Connector is. A failed watch restarts with backoff; until the
// first list has completed the server reports not ready.

import {
  CustomObjectsApi,
  ListWatch,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from '../apiserver/machinery/log.js';
import { crdGroup, crdVersion, type Connector, type ConnectorClass } from './types.js';

type CachedInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

const minRetryMs = 1000;
const maxRetryMs = 30_000;

/**
 * Starts an informer that keeps retrying (1 s doubling to 30 s) after any watch or list error. It
 * has synced once a list has succeeded: client-node's start() resolves after a failed list too.
 */
export class ResilientInformer<T extends KubernetesObject> {
  private listed = false;
  private synced = false;
  private stopped = false;
  private retryMs = minRetryMs;
  private attemptStarted = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly informer: CachedInformer<T>;

  constructor(
    readonly what: string,
    kc: KubeConfig,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    private readonly log: Logger,
    fieldSelector?: string,
  ) {
    const listed = async (): Promise<KubernetesListObject<T>> => {
      const result = await list();
      this.listed = true;
      return result;
    };
    this.informer = new ListWatch<T>(path, new Watch(kc), listed, false, undefined, fieldSelector);
    this.informer.on('error', (err: unknown) => {
      this.retry(err);
    });
  }

  private retry(err: unknown): void {
    if (this.stopped) return;
    // client-node announces 'connect' before it even tries, so success is judged by time: an
    // attempt that held longer than the longest pause was a working watch, and the pauses start
    // over. Failures in a row back off.
    if (Date.now() - this.attemptStarted >= maxRetryMs) this.retryMs = minRetryMs;
    this.log.warn('watch failed; restarting', {
      informer: this.what,
      error: String(err),
      retryMs: this.retryMs,
    });
    this.timer = setTimeout(() => {
      this.run();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, maxRetryMs);
  }

  private run(): void {
    this.attemptStarted = Date.now();
    this.informer.start().then(
      () => {
        if (this.synced || !this.listed) return;
        this.log.info('informer synced', { informer: this.what });
        this.synced = true;
      },
      (err: unknown) => {
        // A failed list or watch is an 'error' event and start() resolves; it rejects only when
        // the request could not even be made (credentials not at hand), with no event.
        this.retry(err);
      },
    );
  }

  start(): void {
    this.run();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}

export interface ConnectorLister {
  connector(namespace: string, name: string): Connector | undefined;
  connectorClass(name: string): ConnectorClass | undefined;
  connectorClasses(): readonly ConnectorClass[];
}

export class ConnectorStore implements ConnectorLister {
  private readonly connectors: ResilientInformer<Connector>;
  private readonly classes: ResilientInformer<ConnectorClass>;

  constructor(kc: KubeConfig, log: Logger) {
    const api = kc.makeApiClient(CustomObjectsApi);
    this.connectors = new ResilientInformer<Connector>(
      'connectors',
      kc,
      `/apis/${crdGroup}/${crdVersion}/connectors`,
      () =>
        api.listClusterCustomObject({
          group: crdGroup,
          version: crdVersion,
          plural: 'connectors',
        }) as Promise<KubernetesListObject<Connector>>,
      log,
    );
    this.classes = new ResilientInformer<ConnectorClass>(
      'connectorclasses',
      kc,
      `/apis/${crdGroup}/${crdVersion}/connectorclasses`,
      () =>
        api.listClusterCustomObject({
          group: crdGroup,
          version: crdVersion,
          plural: 'connectorclasses',
        }) as Promise<KubernetesListObject<ConnectorClass>>,
      log,
    );
  }

  start(): void {
    this.connectors.start();
    this.classes.start();
  }

  get hasSynced(): boolean {
    return this.connectors.hasSynced && this.classes.hasSynced;
  }

  /** Subscribes to ConnectorClass changes (add, update, delete). */
  onClassChange(fn: () => void): void {
    for (const ev of ['add', 'update', 'delete'] as const) this.classes.informer.on(ev, fn);
  }

  connector(namespace: string, name: string): Connector | undefined {
    return this.connectors.informer.get(name, namespace);
  }

  connectorClass(name: string): ConnectorClass | undefined {
    return this.classes.informer.get(name);
  }

  connectorClasses(): readonly ConnectorClass[] {
    return this.classes.informer.list();
  }

  async stop(): Promise<void> {
    await Promise.all([this.connectors.stop(), this.classes.stop()]);
  }
}
