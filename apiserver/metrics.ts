// The API server's Prometheus metrics, named and registered by the one convention
// (machinery/metrics.ts). Every label value comes from a bounded set, so that cardinality stays
// flat with 10,000 Connectors and no caller can grow /metrics by choosing names: a subresource is
// `proxy`, one a ConnectorClass declares and the server serves, or `other`; a verb is one of
// kube-apiserver's or `other`; a connector class is the installed class of a Connector served
// (registry/resolve.ts refuses a Connector whose class is not installed, so no name reaches a label
// unless an administrator created that class); never a Connector name, user or path. Requests are
// counted only once authenticated (apiserver/app.ts): before that, anyone could add series.

import type { Counter, Histogram } from 'prom-client';
import type { InflightCounts } from '../machinery/inflight.js';
import { ComponentMetrics } from '../machinery/metrics.js';
import { resourceVerbs } from '../machinery/verbs.js';

type LatencyLabels = 'subresource' | 'connector_class';

/** The verbs a resource request is authorized as (kube-apiserver's), the only verb label values. */
const verbs: ReadonlySet<string> = new Set(resourceVerbs);

export interface RequestLabels {
  /** Already bounded by the caller: a served subresource name or `other`. */
  subresource: string;
  verb: string;
  code: number;
  connectorClass: string;
}

export class Metrics {
  private readonly component = new ComponentMetrics('apiserver');
  readonly registry = this.component.registry;
  readonly requests = this.component.counter(
    'requests_total',
    'Authenticated requests served, by subresource, verb, HTTP code and connector class.',
    ['subresource', 'verb', 'code', 'connector_class'],
  );
  readonly latency = this.component.histogram(
    'request_duration_seconds',
    'Time from an authenticated request to its response headers, by subresource and connector ' +
      'class; a stream that follows is not included.',
    ['subresource', 'connector_class'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  readonly upstreamErrors = this.component.counter(
    'upstream_errors_total',
    'Failures talking to tools, by connector class and kind of failure.',
    ['connector_class', 'kind'],
  );

  // prom-client hashes a label object on every inc() and observe(); the label sets are few and
  // bounded, so each one's child series is looked up by a plain string key instead.
  private readonly children = new Map<
    string,
    { requests: Counter.Internal; latency: Histogram.Internal<LatencyLabels> }
  >();

  constructor(inflight: InflightCounts) {
    this.component.inflight(inflight);
  }

  /**
   * Counts one served request and its time to response headers; 502, 503 and 504 also count as
   * upstream errors.
   */
  observeRequest(labels: RequestLabels, seconds: number): void {
    const verb = verbs.has(labels.verb) ? labels.verb : 'other';
    const { subresource, code, connectorClass } = labels;
    const key = `${subresource} ${verb} ${code} ${connectorClass}`;
    let child = this.children.get(key);
    if (!child) {
      child = {
        requests: this.requests.labels(subresource, verb, String(code), connectorClass),
        latency: this.latency.labels(subresource, connectorClass),
      };
      this.children.set(key, child);
    }
    child.requests.inc();
    child.latency.observe(seconds);
    if (code === 502 || code === 503 || code === 504)
      this.upstreamErrors.inc({ connector_class: connectorClass, kind: String(code) });
  }
}
