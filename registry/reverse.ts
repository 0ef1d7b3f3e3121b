// How a request to a Connectors Proxy names its Connector (reverse mode) and carries the caller's
// ServiceAccount token, and how the tool's redirects are mapped back into the proxy's view: shared
// by the built-in Connectors Proxy (connproxy/) and custom proxies (kit/). Pure functions of the
// request line and headers, so that each form is unit-tested; nothing here trusts what it parses
// beyond its shape (RBAC decides later).
//
//   Host c-{name}.{ns}[.svc[.<cluster domain>]][:port]            whole path to the tool
//   /namespaces/{ns}/connectors/{name}/<rest>                     <rest> to the tool
//   /v2/namespaces/{ns}/connectors/{name}/<rest>                  /v2/<rest> (OCI clients)

import type { IncomingHttpHeaders } from 'node:http';
import type { ConnectorLister } from './store.js';
import { dnsLabel, isConnectorRef, type ConnectorRef } from './types.js';

/**
 * The tool side and the proxy side of a reverse-mode path: `toolBase` (below the Connector's
 * address prefix) is reached as `proxyBase` through the proxy. Used to map the tool's Location
 * headers back into the proxy's path space.
 */
export interface Mount {
  proxyBase: string;
  toolBase: string;
}

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

/** A reverse-mode request: `segments` are raw (still percent-encoded), relative to the address prefix. */
export interface ConnectorTarget {
  kind: 'connector';
  ref: ConnectorRef;
  via: 'host' | 'path' | 'oci';
  segments: string[];
  query: string;
  mount: Mount;
}

/**
 * The Connector a request names by its Host or its path (`path` and `query` split from the raw
 * target), an invalid namespace/name pair, or null when it names none.
 */
export function connectorTarget(
  path: string,
  query: string,
  host: string | undefined,
): ConnectorTarget | { kind: 'invalid'; message: string } | null {
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
  return null;
}

export function decodeBasic(value: string): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A token is one printable, space-free word; anything else is not a ServiceAccount token. */
export const tokenShape = /^[\x21-\x7e]+$/;

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

/** The ConnectorClass annotation naming a header that carries the caller's token (e.g. Private-Token). */
export const tokenHeaderAnnotation = 'connectors.alauda.io/proxy-token-header';
const headerName = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** The header the Connector's class declares for the caller's token, if any (read from the informer). */
export function tokenHeaderFor(lister: ConnectorLister, ref: ConnectorRef): string | undefined {
  const className = lister.connector(ref.namespace, ref.name)?.spec?.connectorClassName;
  const cls = className ? lister.connectorClass(className) : undefined;
  const header = cls?.metadata?.annotations?.[tokenHeaderAnnotation]?.trim();
  return header && headerName.test(header) ? header : undefined;
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
