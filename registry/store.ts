// Connector and ConnectorClass lookups served from informers: the request path never calls
// kube-apiserver to find out what a Connector is. A failed watch restarts with backoff; until the
// first list has completed the server reports not ready.

import type { Logger } from '../machinery/log.js';
import type { KubeClient } from '../kube/client.js';
import { Informer } from '../kube/informer.js';
import { crdGroup, crdVersion, type Connector, type ConnectorClass } from './types.js';

export interface ConnectorLister {
  connector(namespace: string, name: string): Connector | undefined;
  connectorClass(name: string): ConnectorClass | undefined;
  connectorClasses(): readonly ConnectorClass[];
}

/** The informers of Connectors and ConnectorClasses, cluster-wide (the controller has its own). */
export function connectorInformers(
  client: KubeClient,
  log: Logger,
): { connectors: Informer<Connector>; classes: Informer<ConnectorClass> } {
  const informer = <T extends Connector | ConnectorClass>(plural: string): Informer<T> =>
    new Informer<T>({ what: plural, client, path: `/apis/${crdGroup}/${crdVersion}/${plural}`, log });
  return { connectors: informer('connectors'), classes: informer('connectorclasses') };
}

export class ConnectorStore implements ConnectorLister {
  private readonly connectors: Informer<Connector>;
  private readonly classes: Informer<ConnectorClass>;

  constructor(client: KubeClient, log: Logger) {
    ({ connectors: this.connectors, classes: this.classes } = connectorInformers(client, log));
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
    for (const ev of ['add', 'update', 'delete'] as const) this.classes.on(ev, fn);
  }

  connector(namespace: string, name: string): Connector | undefined {
    return this.connectors.get(name, namespace);
  }

  /** Every Connector the informer holds. */
  connectorList(): readonly Connector[] {
    return this.connectors.list();
  }

  connectorClass(name: string): ConnectorClass | undefined {
    return this.classes.get(name);
  }

  connectorClasses(): readonly ConnectorClass[] {
    return this.classes.list();
  }

  async stop(): Promise<void> {
    await Promise.all([this.connectors.stop(), this.classes.stop()]);
  }
}
