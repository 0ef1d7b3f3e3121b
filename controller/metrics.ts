// The controller's Prometheus metrics (served on /metrics by machinery/healthserver.ts), by the one
// convention of machinery/metrics.ts: reconciles and status writes by kind, whether this replica
// leads, how many Secrets are polled; and Node's own.

import { ComponentMetrics } from '../machinery/metrics.js';

export class ControllerMetrics {
  private readonly component = new ComponentMetrics('controller');
  readonly registry = this.component.registry;
  readonly reconciles = this.component.counter(
    'reconciles_total',
    'Reconciles, by kind (connector, class) and result (ok, error).',
    ['kind', 'result'],
  );
  readonly statusWrites = this.component.counter(
    'status_writes_total',
    'Status subresource writes, by kind; none when nothing changed.',
    ['kind'],
  );
  readonly leader = this.component.gauge('leader', '1 while this replica holds the leader Lease.');
  readonly polledSecrets = this.component.gauge('polled_secrets', 'Distinct Secrets polled for changes.');
}
