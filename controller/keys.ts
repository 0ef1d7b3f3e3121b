// Which objects to look at again. A key (connector/<ns>/<name>, class/<name>) says only "look at
// this object again": the reconcile reads the object and the world as they are then. Informer
// events give a key when a change matters, a spec change (generation), a new object (uid) or, for
// a class, its proxy-resolver annotation, and a class change gives the key of each of its
// Connectors. Status-only updates, our own writes among them, change none of these and are
// ignored, which keeps a tool whose error message changes on every probe from looping.

import type { Informer } from '../kube/informer.js';
import type { Connector, ConnectorClass } from '../registry/types.js';
import { proxyResolverAnnotation } from './addresses.js';
import type { WorkQueue } from './queue.js';
import type { SecretPoller } from './secrets.js';

export const connectorKey = (namespace: string, name: string): string => `connector/${namespace}/${name}`;
export const classKey = (name: string): string => `class/${name}`;

export interface KeySources {
  connectors: Informer<Connector>;
  classes: Informer<ConnectorClass>;
  queue: WorkQueue;
  /** Told when a Connector is deleted, so that its Secrets are no longer polled. */
  poller: Pick<SecretPoller, 'track'>;
  /** Keys are queued only while leading; a new leader queues everything (enqueueAll). */
  leading: () => boolean;
}

/** Every object's key: what a new leader looks at first. */
export function enqueueAll({ connectors, classes, queue }: KeySources): void {
  for (const c of classes.list()) queue.add(classKey(c.metadata?.name ?? ''));
  for (const c of connectors.list())
    queue.add(connectorKey(c.metadata?.namespace ?? '', c.metadata?.name ?? ''));
}

/** Subscribes to both informers: each change that matters queues the keys it concerns. */
export function enqueueOnChange(sources: KeySources): void {
  const { connectors, classes, queue, poller, leading } = sources;
  const seen = new Map<string, string>();
  const fingerprint = (o: Connector | ConnectorClass, withResolver: boolean): string =>
    `${o.metadata?.generation ?? ''}|${withResolver ? (o.metadata?.annotations?.[proxyResolverAnnotation] ?? '') : ''}|${o.metadata?.uid ?? ''}`;

  const onConnector = (c: Connector, deleted = false): void => {
    const key = connectorKey(c.metadata?.namespace ?? '', c.metadata?.name ?? '');
    if (deleted) {
      seen.delete(key);
      queue.remove(key);
      poller.track(key, []);
      return;
    }
    const fp = fingerprint(c, false);
    if (seen.get(key) === fp) return;
    seen.set(key, fp);
    if (leading()) queue.add(key);
  };
  const onClass = (cls: ConnectorClass, deleted = false): void => {
    const name = cls.metadata?.name ?? '';
    const key = classKey(name);
    if (deleted) {
      seen.delete(key);
      queue.remove(key);
    } else {
      const fp = fingerprint(cls, true);
      if (seen.get(key) === fp) return;
      seen.set(key, fp);
      if (leading()) queue.add(key);
    }
    if (!leading()) return;
    for (const c of connectors.list()) {
      if (c.spec?.connectorClassName === name)
        queue.add(connectorKey(c.metadata?.namespace ?? '', c.metadata?.name ?? ''));
    }
  };
  for (const event of ['add', 'update', 'delete'] as const) {
    const deleted = event === 'delete';
    connectors.on(event, (c) => {
      onConnector(c, deleted);
    });
    classes.on(event, (c) => {
      onClass(c, deleted);
    });
  }
}
