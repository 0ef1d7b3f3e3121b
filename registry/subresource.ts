// One module per Connector subresource, behind one small interface, registered in one map
// (see index.ts). The API layer has already authenticated and authorized the request.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestInfo } from '../apiserver/machinery/requestinfo.js';

export interface SubresourceRequest {
  info: RequestInfo;
  req: IncomingMessage;
  res: ServerResponse;
  /** Aborted when the caller goes away or the server shuts down hard. */
  signal: AbortSignal;
}

export interface ServeResult {
  status: number;
  /** The ConnectorClass of the Connector served, for metrics labels. */
  connectorClass: string;
}

export interface Subresource {
  /** The subresource name: `connectors/<name>` in RBAC and discovery. */
  readonly name: string;
  /** The discovery kind (client-go drops subresources without one). */
  readonly kind: string;
  /** Discovery verbs, derived from the HTTP methods served. */
  readonly verbs: readonly string[];
  serve(request: SubresourceRequest): Promise<ServeResult>;
}
