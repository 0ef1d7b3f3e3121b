// Header hygiene in both directions. Requests lose hop-by-hop headers, everything that could carry
// the caller's identity or credential, and method or route overrides; responses lose hop-by-hop
// headers and the tool's session cookies (a cookie minted for the Connector's credential is that
// credential), and gain headers that keep the tool's content from running as the browsing user.

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
  // Method and route overrides (Express, Rack, Symfony, OData, IIS, nginx and Envoy conventions):
  // a tool that honours one would act as another method or path than RBAC decided on.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-method',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-envoy-original-path',
]);
// x-plugin-* is the class API backend contract: only the server sets those headers.
const droppedRequestPrefixes = ['x-remote-', 'impersonate-', 'x-forwarded-', 'x-plugin-'];

/** Adds the header names a Connection header value lists (comma separated) to `listed`. */
function addConnectionTokens(listed: Set<string>, value: string): void {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t) listed.add(t);
  }
}

function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  const listed = new Set<string>();
  if (typeof value === 'string') addConnectionTokens(listed, value);
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

/** A response head as undici reads it: name, value, name, value…, in the order received. */
export type RawHeaders = readonly (Buffer | string)[];

const text = (v: Buffer | string | undefined): string =>
  v === undefined ? '' : typeof v === 'string' ? v : v.toString('latin1');

/** The first value of header `name` (lower case) in `raw`, if any. */
export function headerValue(raw: RawHeaders, name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (text(raw[i]).toLowerCase() === name) return text(raw[i + 1]);
  }
  return undefined;
}

/**
 * Added to every response relayed from a tool. Through kube-apiserver, and so through `kubectl
 * proxy`, a tool's page is served on the Kubernetes API's origin, where a script of it could call
 * the API with the browsing user's authority (their cookies or cached credentials). `sandbox`
 * gives the page an opaque origin and runs no script, form or popup; `nosniff` keeps a browser from
 * reading something labelled as text or JSON as HTML or script; `frame-ancestors 'none'` and
 * X-Frame-Options keep another page from framing it. A tool's own CSP is kept besides (browsers
 * enforce every policy sent, so it can only add limits); its X-Content-Type-Options and
 * X-Frame-Options are replaced (two X-Frame-Options values make browsers ignore both).
 */
export const relayedResponseHeaders: readonly string[] = [
  'content-security-policy',
  "sandbox; frame-ancestors 'none'",
  'x-content-type-options',
  'nosniff',
  'x-frame-options',
  'DENY',
];

/**
 * Response headers of the tool never relayed: its session cookies, the two that ours replace, and
 * Clear-Site-Data, with which the tool would wipe the browsing user's data on the API's origin.
 */
const droppedResponse = new Set([
  'set-cookie',
  'x-content-type-options',
  'x-frame-options',
  'clear-site-data',
]);

/**
 * Headers to return to the caller from a tool response, as the flat [name, value, …] list
 * writeHead takes: names in lower case, values byte for byte, hop-by-hop headers (and those the
 * Connection header names) and droppedResponse left out, relayedResponseHeaders added at the end;
 * `mapLocation` rewrites Location.
 */
export function forwardResponseHeaders(
  raw: RawHeaders,
  mapLocation?: (location: string) => string,
): string[] {
  const names: string[] = [];
  let listed: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = text(raw[i]).toLowerCase();
    names.push(name);
    if (name === 'connection') addConnectionTokens((listed ??= new Set()), text(raw[i + 1]));
  }
  const out: string[] = [];
  for (let n = 0; n < names.length; n++) {
    const name = names[n] ?? '';
    if (hopByHop.has(name) || droppedResponse.has(name) || listed?.has(name)) continue;
    const value = text(raw[2 * n + 1]);
    out.push(name, mapLocation && name === 'location' ? mapLocation(value) : value);
  }
  out.push(...relayedResponseHeaders);
  return out;
}
