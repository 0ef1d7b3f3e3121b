// One API per tool family, each under its own path prefix (`/git`, `/oci`, `/mysql`), behind one
// small interface and registered in one map (see app.ts). A ConnectorClass points `spec.api.uri` at
// the prefix; the Connectors API server (or the controller's API probes) then calls
// `{prefix}/{resource path}`. A family speaks HTTP to its tools (the default: it gets an http(s)
// tool address and a credential injector of the shared strategies), or another protocol
// (`protocol: 'connection'`: it gets the address as written and the Secret as sent, and opens its
// own connections).

import type { DispatcherCache } from '../proxy/dispatchers.js';
import type { PluginRequest } from './plugin.js';

export interface ClassApiRequest {
  /** The Connector's address and credential, from the X-Plugin-* headers. */
  plugin: PluginRequest;
  query: URLSearchParams;
  /** Aborted when the caller goes away. */
  signal: AbortSignal;
  pools: DispatcherCache;
}

export interface ClassApiRoute {
  /** Path below the family prefix, e.g. `/branches`. */
  path: string;
  /** Resolves with the JSON body; throws StatusError or ProxyError. Only GET (and HEAD) are served. */
  get(request: ClassApiRequest): Promise<unknown>;
}

/** What a family that does not speak HTTP gets from the X-Plugin-* headers. */
export interface ConnectionApiRequest {
  /** The Connector's address as written, of any scheme (e.g. `mysql://db.example.com:3306`). */
  address: string;
  /** The Connector's CA bundle (PEM), when the caller sent it (the controller's probes do). */
  caCert: string | undefined;
  /** The Secret's type and data (decoded), or undefined when none was sent. */
  secret: { type: string; data: Record<string, Buffer> } | undefined;
  query: URLSearchParams;
  /** Aborted when the caller goes away. */
  signal: AbortSignal;
  /** How long connecting to the tool may take (--upstream-connect-timeout). */
  connectTimeoutMs: number;
}

export interface ConnectionApiRoute {
  path: string;
  /** Resolves with the JSON body; throws StatusError. Only GET (and HEAD) are served. */
  get(request: ConnectionApiRequest): Promise<unknown>;
}

export type ClassApi =
  | {
      /** The family prefix, e.g. `/git`. */
      prefix: string;
      protocol?: 'http';
      routes: readonly ClassApiRoute[];
    }
  | { prefix: string; protocol: 'connection'; routes: readonly ConnectionApiRoute[] };
