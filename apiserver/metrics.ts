// Prometheus metrics. Labels are bounded: subresource, verb, code and connector class — never a
// Connector name, user or path, so cardinality stays flat with 10,000 Connectors.

import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'connectors_apiserver_requests_total',
    help: 'Requests served, by subresource, verb, HTTP code and connector class.',
    labelNames: ['subresource', 'verb', 'code', 'connector_class'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'connectors_apiserver_request_duration_seconds',
    help: 'Time to response headers, by subresource and connector class.',
    labelNames: ['subresource', 'connector_class'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'connectors_apiserver_upstream_errors_total',
    help: 'Failures talking to tools, by connector class and kind of failure.',
    labelNames: ['connector_class', 'kind'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
