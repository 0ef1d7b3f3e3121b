// How a request names its Connector and carries the caller's ServiceAccount token, in every form
// the Connectors Proxy accepts. Pure functions of the request line and headers, so that each form
// is unit-tested; nothing here trusts what it parses beyond its shape (RBAC decides later).
//
//   reverse   Host c-{name}.{ns}[.svc[.<cluster domain>]][:port]            whole path to the tool
//             /namespaces/{ns}/connectors/{name}/<rest>                     <rest> to the tool
//             /v2/namespaces/{ns}/connectors/{name}/<rest>                  /v2/<rest> (OCI clients)
//             GET /v2/                                                      registry ping, answered here
//   forward   absolute-form http(s)://host/… and CONNECT host:port, with
//             Proxy-Authorization: Basic base64("ns/name[,ns/name…]:<token>")

import type { IncomingHttpHeaders } from 'node:http';
import { healthPaths } from '../machinery/health.js';
import { dnsLabel, isConnectorRef, type ConnectorRef } from '../registry/types.js';

/**
 * The tool side and the proxy side of a reverse-mode path: `toolBase` (below the Connector's
 * address prefix) is reached as `proxyBase` through the proxy. Used to map the tool's Location
 * headers back into the proxy's path space.
 */
export interface Mount {
  proxyBase: string;
  toolBase: string;
}

export type RequestTarget =
  /** Absolute-form request line: the caller uses us as http_proxy. */
  | { kind: 'forward'; origin: string; path: string }
  /** Reverse mode: `segments` are raw (still percent-encoded), relative to the address prefix. */
  | {
      kind: 'connector';
      ref: ConnectorRef;
      via: 'host' | 'path' | 'oci';
      segments: string[];
      query: string;
      mount: Mount;
    }
  | { kind: 'registry-ping' }
  | { kind: 'health'; path: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'none' };

/**
 * The Connector named by a Host header `c-{name}.{ns}`, optionally followed by `.svc` and a
 * cluster domain, and a port: the per-Connector Service `c-{name}` in the Connector's namespace
 * points at the proxy.
 */
export function connectorFromHost(host: string | undefined): ConnectorRef | null {
  if (!host) return null;
  const m = /^c-([a-z0-9-]+)\.([a-z0-9-]+)(?:\.svc(?:\.[a-z0-9-]+)*)?\.?(?::\d{1,5})?$/.exec(
    host.toLowerCase(),
  );
  const name = m?.[1];
  const namespace = m?.[2];
  if (
    name === undefined ||
    namespace === undefined ||
    !dnsLabel.test(name) ||
    !isConnectorRef(namespace, name)
  )
    return null;
  return { namespace, name };
}

/**
 * Why the Host lines of a request head (`rawHeaders`, name/value pairs) are unusable, or null.
 * Node keeps the first of several; a proxy in front of us may route by another, and reverse mode
 * picks the Connector by Host, so more than one is refused, as RFC 9112 §3.2 requires.
 */
export function hostHeaderProblem(rawHeaders: readonly string[]): string | null {
  let hosts = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === 'host') hosts++;
  return hosts > 1 ? 'a request must carry one Host header, not several' : null;
}

/**
 * Splits an absolute-form target (`http://host:port/path?query`) into its origin and raw path
 * (path and query exactly as sent; the origin as WHATWG URL serialises it). Userinfo, other
 * schemes and a fragment are refused.
 */
export function parseAbsoluteTarget(target: string): { origin: string; path: string } | { problem: string } {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)$/.exec(target);
  if (!m) return { problem: 'the request target is not an absolute http(s) URL without a fragment' };
  const scheme = (m[1] ?? '').toLowerCase();
  const authority = m[2] ?? '';
  if (scheme !== 'http' && scheme !== 'https')
    return { problem: `the proxy forwards http and https only, not ${scheme}` };
  if (authority.includes('@')) return { problem: 'the target URL must not carry user information' };
  let url: URL;
  try {
    url = new URL(`${scheme}://${authority}`);
  } catch {
    return { problem: 'the target host is not valid' };
  }
  if (url.hostname === '') return { problem: 'the target URL has no host' };
  const rest = m[3] ?? '';
  return { origin: url.origin, path: rest.startsWith('/') ? rest : `/${rest}` };
}

/** The origin a `CONNECT host:port` names (https, since a client tunnels TLS), or null. */
export function parseConnectAuthority(
  authority: string,
): { origin: string; hostname: string; port: number } | null {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(authority)) return null;
  let url: URL;
  try {
    url = new URL(`https://${authority}`);
  } catch {
    return null;
  }
  if (url.hostname === '' || url.username !== '' || url.pathname !== '/') return null;
  // The authority had an explicit port; a default one is dropped from `host` by URL, so restore it.
  const port = url.port === '' ? '443' : url.port;
  if (Number(port) === 0) return null;
  return { origin: url.origin, hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(port) };
}

/** Where a request goes, from its raw target and Host header. */
export function parseRequestTarget(method: string, target: string, host: string | undefined): RequestTarget {
  if (!target.startsWith('/')) {
    const abs = parseAbsoluteTarget(target);
    if ('problem' in abs) return { kind: 'invalid', message: abs.problem };
    return { kind: 'forward', ...abs };
  }
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);

  const byHost = connectorFromHost(host);
  if (byHost) {
    return {
      kind: 'connector',
      ref: byHost,
      via: 'host',
      segments: path.slice(1).split('/'),
      query,
      mount: { proxyBase: '', toolBase: '' },
    };
  }

  const parts = path.split('/'); // ['', 'namespaces', ns, 'connectors', name, …rest]
  const oci = parts[1] === 'v2';
  const at = oci ? 2 : 1;
  if (parts[at] === 'namespaces' && parts[at + 2] === 'connectors' && parts.length > at + 3) {
    const namespace = parts[at + 1] ?? '';
    const name = parts[at + 3] ?? '';
    if (!isConnectorRef(namespace, name)) {
      return {
        kind: 'invalid',
        message: `"${namespace}/${name}" is not a Connector namespace and name`,
      };
    }
    const rest = parts.slice(at + 4);
    const proxyBase = `${oci ? '/v2' : ''}/namespaces/${namespace}/connectors/${name}`;
    return oci
      ? {
          kind: 'connector',
          ref: { namespace, name },
          via: 'oci',
          segments: ['v2', ...(rest.length === 0 ? [''] : rest)],
          query,
          mount: { proxyBase, toolBase: '/v2' },
        }
      : {
          kind: 'connector',
          ref: { namespace, name },
          via: 'path',
          segments: rest,
          query,
          mount: { proxyBase, toolBase: '' },
        };
  }
  if ((path === '/v2/' || path === '/v2') && (method === 'GET' || method === 'HEAD')) {
    return { kind: 'registry-ping' };
  }
  if (healthPaths.has(path)) return { kind: 'health', path };
  return { kind: 'none' };
}

function decodeBasic(value: string): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A token is one printable, space-free word; anything else is not a ServiceAccount token. */
const tokenShape = /^[\x21-\x7e]+$/;

/**
 * The caller's ServiceAccount token in reverse mode: `Authorization: Bearer <token>`, or Basic
 * with the token as password (any username), or else the header the ConnectorClass names.
 */
export function callerToken(headers: IncomingHttpHeaders, tokenHeader?: string): string | null {
  const authorization = single(headers.authorization);
  if (authorization !== undefined) {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    if (bearer !== undefined && tokenShape.test(bearer)) return bearer;
    const basic = decodeBasic(authorization);
    if (basic && basic.password !== '' && tokenShape.test(basic.password)) return basic.password;
  }
  if (tokenHeader) {
    const v = single(headers[tokenHeader.toLowerCase()])?.trim();
    if (v && tokenShape.test(v)) return v;
  }
  return null;
}

export interface ProxyCredentials {
  connectors: ConnectorRef[];
  token: string;
}

export const maxConnectorsPerRequest = 16;

/**
 * Parses `Proxy-Authorization: Basic base64("ns/name[,ns/name…]:<token>")`. The username may still
 * be percent-encoded (`ns%2Fname`), as written in a proxy URL. Null when the header is absent.
 */
export function parseProxyAuthorization(
  value: string | string[] | undefined,
): ProxyCredentials | { problem: string } | null {
  const header = single(value);
  if (header === undefined || header.trim() === '') return null;
  const basic = decodeBasic(header);
  if (!basic) {
    return {
      problem:
        'Proxy-Authorization must be Basic, with the Connectors as username ("<namespace>/<name>[,…]") ' +
        'and a ServiceAccount token as password',
    };
  }
  if (basic.password === '' || !tokenShape.test(basic.password)) {
    return { problem: 'the proxy password must be a ServiceAccount token' };
  }
  let user = basic.user;
  if (user.includes('%')) {
    try {
      user = decodeURIComponent(user);
    } catch {
      return { problem: 'the proxy username has malformed percent-encoding' };
    }
  }
  const connectors: ConnectorRef[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of user.split(',').entries()) {
    const item = entry.trim();
    if (item === '') continue;
    const slash = item.indexOf('/');
    const namespace = slash < 0 ? '' : item.slice(0, slash);
    const name = slash < 0 ? item : item.slice(slash + 1);
    if (slash < 0 || !isConnectorRef(namespace, name)) {
      // The entry is not repeated: a caller who swapped username and password would see the token.
      return {
        problem:
          `entry ${i + 1} of the proxy username must name a Connector as <namespace>/<name> ` +
          '(in a URL: <namespace>%2F<name>)',
      };
    }
    const key = `${namespace}/${name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    connectors.push({ namespace, name });
  }
  if (connectors.length === 0) {
    return { problem: 'the proxy username must list at least one Connector as <namespace>/<name>' };
  }
  if (connectors.length > maxConnectorsPerRequest) {
    return { problem: `the proxy username lists more than ${maxConnectorsPerRequest} Connectors` };
  }
  return { connectors, token: basic.password };
}

/**
 * Maps a Location the tool sent back into the proxy's path space: a same-origin location under
 * `toolPrefix` (the address prefix plus the mount's tool base) becomes the same path under the
 * mount's proxy base. Anything else is returned unchanged.
 */
export function proxyLocation(
  location: string,
  tool: { origin: string; requestPath: string; toolPrefix: string },
  proxyBase: string,
): string {
  let url: URL;
  try {
    url = new URL(location, tool.origin + tool.requestPath);
  } catch {
    return location;
  }
  if (url.origin !== tool.origin) return location;
  const p = tool.toolPrefix;
  if (p !== '' && url.pathname !== p && !url.pathname.startsWith(`${p}/`)) return location;
  return `${proxyBase}${url.pathname.slice(p.length)}${url.search}${url.hash}`;
}
