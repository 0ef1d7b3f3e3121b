// Header hygiene in both directions. Requests lose hop-by-hop headers and everything that could
// carry the caller's identity or credential; responses lose hop-by-hop headers and the tool's
// session cookies (a cookie minted for the Connector's credential is that credential).

import type { IncomingHttpHeaders } from 'node:http';

export type OutgoingHeaders = Record<string, string | string[]>;

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Request headers that never reach a tool: identity, credentials, and what undici sets itself. */
const droppedRequest = new Set([
  'host',
  'authorization',
  'cookie',
  'private-token',
  'audit-id',
  'forwarded',
  'expect', // undici refuses `Expect: 100-continue`; the body is streamed anyway
  'http2-settings',
]);
// x-plugin-* is the class API backend contract: only the server sets those headers.
const droppedRequestPrefixes = ['x-remote-', 'impersonate-', 'x-forwarded-', 'x-plugin-'];

function connectionListed(headers: IncomingHttpHeaders | Record<string, unknown>): Set<string> {
  const value = headers.connection;
  const listed = new Set<string>();
  const add = (v: string): void => {
    for (const token of v.split(',')) {
      const t = token.trim().toLowerCase();
      if (t) listed.add(t);
    }
  };
  if (typeof value === 'string') add(value);
  else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') add(v);
  return listed;
}

/** Further request headers never forwarded: exact names and name prefixes, lower case. */
export interface HeaderFilter {
  names: ReadonlySet<string>;
  prefixes: readonly string[];
}

export const noHeaderFilter: HeaderFilter = { names: new Set(), prefixes: [] };

/**
 * Headers to send to the tool. `extra` names further headers that must not be forwarded, such as
 * the requestheader names and extra-header prefixes configured on kube-apiserver.
 */
export function forwardRequestHeaders(
  incoming: IncomingHttpHeaders,
  extra: HeaderFilter = noHeaderFilter,
): OutgoingHeaders {
  const listed = connectionListed(incoming);
  const out: OutgoingHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (hopByHop.has(name) || droppedRequest.has(name) || listed.has(name) || extra.names.has(name)) continue;
    if (
      droppedRequestPrefixes.some((p) => name.startsWith(p)) ||
      extra.prefixes.some((p) => name.startsWith(p))
    ) {
      continue;
    }
    out[name] = value;
  }
  return out;
}

/** Headers to return to the caller from a tool response (undici gives lower-case names). */
export function forwardResponseHeaders(
  incoming: Record<string, string | string[] | undefined>,
): OutgoingHeaders {
  const listed = connectionListed(incoming);
  const out: OutgoingHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (hopByHop.has(name) || listed.has(name) || name === 'set-cookie') continue;
    out[name] = value;
  }
  return out;
}
