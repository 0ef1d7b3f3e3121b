// The controller's Prometheus metrics (served on /metrics by controller/health.ts): reconciles and
// status writes by kind, whether this replica leads, how many Secrets are polled; and Node's own.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'connectors_controller_reconciles_total',
    help: 'Reconciles, by kind (connector, class) and result (ok, error).',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'connectors_controller_status_writes_total',
    help: 'Status subresource writes, by kind; none when nothing changed.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'connectors_controller_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });
  readonly polledSecrets = new Gauge({
    name: 'connectors_controller_polled_secrets',
    help: 'Distinct Secrets polled for changes.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
