// Status writes: a Connector's or class's status through the status subresource, only when it
// differs from what the object has (nextStatus), and only while this replica leads; an Event when
// Ready changes (status or reason), for `kubectl describe`. An object deleted meanwhile is not an
// error; any other failure is, and the reconcile is retried with backoff.

import type { Logger } from '../machinery/log.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { resourcePath, type Event } from '../kube/objects.js';
import { crdGroup, crdVersion, type Connector, type ConnectorClass } from '../registry/types.js';
import { nextStatus, type Condition, type StatusWithConditions } from './conditions.js';
import type { ControllerMetrics } from './metrics.js';

export type StatusObject = (Connector | ConnectorClass) & { status?: StatusWithConditions };
export type StatusKind = 'Connector' | 'ConnectorClass';

/** Seconds precision, as metav1.Time. */
const nowTime = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface StatusWriterOptions {
  kube: KubeClient;
  log: Logger;
  metrics: ControllerMetrics;
  /** This replica, as Events report it. */
  identity: string;
  /** Asked just before each write: the Lease may have moved on while we probed. */
  isLeader: () => boolean;
}

export class StatusWriter {
  constructor(private readonly opts: StatusWriterOptions) {}

  /** Writes `desired` if it differs from what `obj` has; returns whether it wrote. */
  async write(obj: StatusObject, desired: StatusWithConditions, kind: StatusKind): Promise<boolean> {
    const next = nextStatus(obj.status, desired, nowTime());
    if (!next) return false;
    if (!this.opts.isLeader()) return false;
    const name = obj.metadata?.name ?? '';
    const path = resourcePath({
      group: crdGroup,
      version: crdVersion,
      resource: kind === 'Connector' ? 'connectors' : 'connectorclasses',
      ...(kind === 'Connector' ? { namespace: obj.metadata?.namespace ?? '' } : {}),
      name,
      subresource: 'status',
    });
    try {
      await this.opts.kube.put(path, { ...obj, status: next });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return false; // deleted meanwhile
      throw err;
    }
    this.opts.metrics.statusWrites.inc({ kind: kind === 'Connector' ? 'connector' : 'class' });
    const before = obj.status?.conditions?.find((c) => c.type === 'Ready');
    const after = next.conditions?.find((c) => c.type === 'Ready');
    this.opts.log.info('status updated', {
      kind,
      namespace: obj.metadata?.namespace,
      name,
      ready: after?.status,
      reason: after?.reason,
      identity: this.opts.identity,
    });
    if (after && (before?.status !== after.status || before.reason !== after.reason)) {
      void this.emitEvent(obj, kind, after);
    }
    return true;
  }

  private async emitEvent(obj: StatusObject, kind: StatusKind, ready: Condition): Promise<void> {
    const namespace = obj.metadata?.namespace ?? 'default';
    const name = obj.metadata?.name ?? '';
    const now = new Date();
    const event: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${now.getTime().toString(16)}`, namespace },
      involvedObject: {
        apiVersion: `${crdGroup}/${crdVersion}`,
        kind,
        name,
        ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
        ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
      },
      type: ready.status === 'True' ? 'Normal' : 'Warning',
      reason: ready.reason ?? (ready.status === 'True' ? 'Ready' : 'NotReady'),
      message: ready.message ?? `${kind} is ready`,
      source: { component: 'connectors-controller' },
      reportingComponent: 'connectors-controller',
      reportingInstance: this.opts.identity,
      firstTimestamp: nowTime(),
      lastTimestamp: nowTime(),
      count: 1,
    };
    try {
      await this.opts.kube.post(resourcePath({ version: 'v1', resource: 'events', namespace }), event);
    } catch (err) {
      this.opts.log.debug('event not recorded', { error: err });
    }
  }
}
