// Sending a request on to a Connector's tool from a Connectors Proxy (the built-in one in reverse
// and forward mode, and custom ones through kit/): the Connector's credential injected (or the
// custom proxy's own), its CA (and --upstream-ca-file) trusted, the body streamed if there is one.
// A redirect that leaves the address is relayed unfollowed: the caller may follow it, through the
// proxy's rules.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { hasBody } from '../machinery/body.js';
import type { CredentialInjector } from '../proxy/credentials/index.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import { forward } from '../proxy/forward.js';
import type { forwardRequestHeaders } from '../proxy/headers.js';
import type { ToolAddress } from '../proxy/target.js';
import { connectorCa, connectorSecret, type ResolvedConnector } from './resolve.js';
import type { SecretSource } from './secrets.js';

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
  /**
   * A custom proxy's own authentication, instead of the Connector's Secret's strategy (null: none,
   * the proxy has set what it needs in `headers`).
   */
  injector?: CredentialInjector | null;
  /** The body to send instead of the caller's (a custom proxy that transforms it). */
  body?: Readable | null;
  /** false: relay every redirect rather than follow one inside the address (proxy/forward.ts). */
  followRedirects?: boolean;
}

export async function sendToTool(
  deps: ToolDeps,
  req: IncomingMessage,
  res: ServerResponse,
  to: ToolRequest,
): Promise<void> {
  const [injector, connectorCaPem] = await Promise.all([
    to.injector !== undefined
      ? to.injector
      : connectorSecret(deps.secrets, to.resolved).then((secret) => secret?.injector ?? null),
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
      body: to.body !== undefined ? to.body : hasBody(req.headers) ? req : null,
      injector,
      ca,
      mapLocation: to.mapLocation,
      relayRedirects: true,
      followRedirects: to.followRedirects,
    },
    res,
  );
}
