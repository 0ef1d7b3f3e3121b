// One API per tool family, each under its own path prefix (`/git`, `/oci`), behind one small
// interface and registered in one map (see app.ts). A ConnectorClass points `spec.api.uri` at the
// prefix; the Connectors API server then calls `{prefix}/{resource path of the class's OpenAPI}`.

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

export interface ClassApi {
  /** The family prefix, e.g. `/git`. */
  prefix: string;
  routes: readonly ClassApiRoute[];
}
