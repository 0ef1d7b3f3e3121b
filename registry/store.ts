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

/** Starts an informer that keeps retrying (1 s doubling to 30 s) after any watch or list error. */
export class ResilientInformer<T extends KubernetesObject> {
  private synced = false;
  private stopped = false;
  private retryMs = 1000;
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
    this.informer = new ListWatch<T>(path, new Watch(kc), list, false, undefined, fieldSelector);
    this.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.log.warn('watch failed; restarting', {
        informer: what,
        error: String(err),
        retryMs: this.retryMs,
      });
      this.timer = setTimeout(() => {
        this.run();
      }, this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 30_000);
    });
    this.informer.on('connect', () => {
      this.retryMs = 1000;
    });
  }

  private run(): void {
    this.informer.start().then(
      () => {
        if (!this.synced) this.log.info('informer synced', { informer: this.what });
        this.synced = true;
      },
      () => {
        // The 'error' handler schedules the retry.
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
