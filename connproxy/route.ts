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

import { healthPaths } from '../machinery/health.js';
import {
  connectorTarget,
  decodeBasic,
  single,
  tokenShape,
  type ConnectorTarget,
} from '../registry/reverse.js';
import { isConnectorRef, type ConnectorRef } from '../registry/types.js';

export type RequestTarget =
  /** Absolute-form request line: the caller uses us as http_proxy. */
  | { kind: 'forward'; origin: string; path: string }
  /** Reverse mode (registry/reverse.ts). */
  | ConnectorTarget
  | { kind: 'registry-ping' }
  | { kind: 'health'; path: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'none' };

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

  const named = connectorTarget(path, query, host);
  if (named) return named;
  if ((path === '/v2/' || path === '/v2') && (method === 'GET' || method === 'HEAD')) {
    return { kind: 'registry-ping' };
  }
  if (healthPaths.has(path)) return { kind: 'health', path };
  return { kind: 'none' };
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
