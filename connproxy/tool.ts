// Sending a request on to a Connector's tool, in reverse and forward mode alike: the Connector's
// credential injected, its CA (and --upstream-ca-file) trusted, the body streamed if there is one.
// A redirect that leaves the address is relayed unfollowed: the caller may follow it, through this
// proxy's rules.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasBody } from '../machinery/body.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import { forward } from '../proxy/forward.js';
import type { forwardRequestHeaders } from '../proxy/headers.js';
import type { ToolAddress } from '../proxy/target.js';
import { connectorCa, connectorSecret, type ResolvedConnector } from '../registry/resolve.js';
import type { SecretSource } from '../registry/secrets.js';

export interface ToolDeps {
  secrets: SecretSource;
  pools: DispatcherCache;
  /** Extra CAs (PEM) trusted for every tool. */
  upstreamCaPem: string | undefined;
}

export interface ToolRequest {
  resolved: ResolvedConnector;
  address: ToolAddress;
  /** Path and query below the address, already checked (proxy/target.ts). */
  path: string;
  headers: ReturnType<typeof forwardRequestHeaders>;
  /** Maps a Location that stays on the address back into the caller's view (reverse mode). */
  mapLocation?: (location: string) => string;
}

export async function sendToTool(
  deps: ToolDeps,
  req: IncomingMessage,
  res: ServerResponse,
  to: ToolRequest,
): Promise<void> {
  const [secret, connectorCaPem] = await Promise.all([
    connectorSecret(deps.secrets, to.resolved.connector),
    connectorCa(deps.secrets, to.resolved.connector),
  ]);
  const ca = [deps.upstreamCaPem, connectorCaPem].filter(Boolean).join('\n') || undefined;
  await forward(
    deps.pools,
    {
      method: req.method ?? 'GET',
      origin: to.address.origin,
      prefix: to.address.prefix,
      path: to.path,
      headers: to.headers,
      body: hasBody(req.headers) ? req : null,
      injector: secret?.injector ?? null,
      ca,
      mapLocation: to.mapLocation,
      relayRedirects: true,
    },
    res,
  );
}
