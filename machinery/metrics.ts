// One convention for every process's /metrics (prom-client):
//   - a registry of the process's own, never prom-client's global one, with Node's process metrics
//     (collectDefaultMetrics) beside the component's;
//   - names `connectors_<component>_<what>`, with Prometheus' suffixes (`_total` for counters,
//     `_seconds` for durations); labels in snake_case;
//   - label values from bounded sets only (a served subresource, a verb, a code, an installed
//     class), never a name a caller chooses, so that no caller can grow /metrics;
//   - a process with an in-flight budget exposes it as kube-apiserver does.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { requestKinds, type InflightCounts } from './inflight.js';

export type Component = 'apiserver' | 'classapi' | 'connproxy' | 'controller' | 'customproxy' | 'mysqlproxy';

/** The metrics of one component, registered in its process's registry. */
export class ComponentMetrics {
  readonly registry = new Registry();

  constructor(readonly component: Component) {
    collectDefaultMetrics({ register: this.registry });
  }

  /** `connectors_<component>_<what>`. */
  name(what: string): string {
    return `connectors_${this.component}_${what}`;
  }

  counter<L extends string>(what: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name: this.name(what), help, labelNames, registers: [this.registry] });
  }

  gauge(what: string, help: string): Gauge {
    return new Gauge({ name: this.name(what), help, registers: [this.registry] });
  }

  histogram<L extends string = never>(
    what: string,
    help: string,
    labelNames: readonly L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({ name: this.name(what), help, labelNames, buckets, registers: [this.registry] });
  }

  /**
   * The in-flight budget, named after kube-apiserver's apiserver_current_inflight_requests and
   * apiserver_dropped_requests_total; read from the limiter when scraped.
   */
  inflight(counts: InflightCounts): void {
    new Gauge({
      name: this.name('current_inflight_requests'),
      help: 'Requests in flight (streams included), by kind: readOnly (GET, HEAD) or mutating.',
      labelNames: ['request_kind'] as const,
      registers: [this.registry],
      collect() {
        for (const kind of requestKinds) this.set({ request_kind: kind }, counts.inFlight(kind));
      },
    });
    new Counter({
      name: this.name('dropped_requests_total'),
      help: 'Requests refused with 429 because too many of their kind were in flight.',
      labelNames: ['request_kind'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const kind of requestKinds) this.inc({ request_kind: kind }, counts.dropped(kind));
      },
    });
  }
}
