// Which Connectors Proxy serves a Connector, from its class's spec.proxy, and how the API server
// hands a request to a custom one.
//
//   built-in   spec.proxy absent, or a `ref` to one of the built-in Connectors Proxy Services
//              (--builtin-proxy-service): the API server injects the credential itself and the
//              built-in proxy (connproxy/) serves the Connector's addresses.
//   custom     any other `ref`, or an absolute `uri`: the class brings a proxy for an
//              authentication the built-in one cannot do. The API server never reads the Secret
//              nor goes to spec.address for it: it forwards to that proxy over mutual TLS (its
//              class-API client certificate), path /namespaces/{ns}/connectors/{name}/{rest…},
//              with the caller's identity in X-Remote-* and the RBAC subresource it checked in
//              X-Connectors-Subresource. The built-in proxy refuses such Connectors.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserInfo } from '../kube/tokenreview.js';
import { hasBody } from '../machinery/body.js';
import { badRequest, StatusError } from '../machinery/status.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import { ProxyError } from '../proxy/errors.js';
import { forward } from '../proxy/forward.js';
import { forwardRequestHeaders, type HeaderFilter, type OutgoingHeaders } from '../proxy/headers.js';
import { checkQuery, parseToolAddress, toolPath, type ToolAddress } from '../proxy/target.js';
import type { ResolvedConnector } from './resolve.js';
import type { Connector, ConnectorClass } from './types.js';

/** The header naming the RBAC subresource the API server checked: `proxy`, or a class API's. */
export const subresourceHeader = 'x-connectors-subresource';

interface ProxySpec {
  ref?: { kind?: string; name?: string; namespace?: string };
  uri?: string;
  CACerts?: string;
}

export interface ProxyRouting {
  /** `namespace/name` of the built-in Connectors Proxy's Services (--builtin-proxy-service). */
  builtinServices: ReadonlySet<string>;
  /** Namespace assumed for a `spec.proxy.ref` that names none. */
  defaultNamespace: string;
  /** `namespace/service` → base URL, instead of https://{service}.{namespace}.svc (--proxy-url-override). */
  overrides: ReadonlyMap<string, string>;
}

const absolute = /^[a-z][a-z0-9+.-]*:\/\//i;

function proxySpec(cls: ConnectorClass): ProxySpec | undefined {
  return cls.spec?.proxy;
}

/** Whether the class's Connectors are served by a proxy of its own rather than the built-in one. */
export function hasCustomProxy(
  cls: ConnectorClass,
  builtinServices: ReadonlySet<string>,
  defaultNamespace: string,
): boolean {
  const spec = proxySpec(cls);
  if (!spec) return false;
  if (absolute.test(spec.uri ?? '')) return true;
  const ref = spec.ref;
  if (!ref?.name || (ref.kind ?? 'Service') !== 'Service') return false;
  return !builtinServices.has(`${ref.namespace ?? defaultNamespace}/${ref.name}`);
}

/**
 * The base URL of a class's custom proxy: an absolute https `uri`, or the `ref` Service
 * (https://{name}.{namespace}.svc, or its --proxy-url-override) plus a relative `uri`. A plain-http
 * address is refused: caller identities travel to a custom proxy over mutual TLS only.
 */
export function customProxyAddress(cls: ConnectorClass, routing: ProxyRouting): ToolAddress {
  const name = cls.metadata?.name ?? '';
  const spec = proxySpec(cls) ?? {};
  const uri = spec.uri ?? '';
  let url: string;
  if (absolute.test(uri)) url = uri;
  else {
    const ref = spec.ref;
    if (!ref?.name) {
      throw badRequest(`spec.proxy of ConnectorClass "${name}" names neither an absolute uri nor a Service`);
    }
    const key = `${ref.namespace ?? routing.defaultNamespace}/${ref.name}`;
    const base =
      routing.overrides.get(key) ?? `https://${ref.name}.${ref.namespace ?? routing.defaultNamespace}.svc`;
    url = `${base}${uri && !uri.startsWith('/') ? '/' : ''}${uri}`;
  }
  let address: ToolAddress;
  try {
    address = parseToolAddress(url);
  } catch (err) {
    throw badRequest(`spec.proxy of ConnectorClass "${name}": ${(err as ProxyError).message}`);
  }
  if (!address.origin.startsWith('https://')) {
    throw badRequest(
      `ConnectorClass "${name}" has its proxy at ${address.origin}, which is not https: the API server ` +
        "sends a caller's identity to a custom proxy over mutual TLS only; point spec.proxy at the " +
        "proxy's https address",
    );
  }
  return address;
}

/** The headers that tell a custom proxy who the caller is (kube-apiserver's requestheader form). */
export function identityHeaders(user: UserInfo, subresource: string): OutgoingHeaders {
  const headers: OutgoingHeaders = { 'x-remote-user': user.username, [subresourceHeader]: subresource };
  if (user.groups.length > 0) headers['x-remote-group'] = [...user.groups];
  for (const [key, values] of Object.entries(user.extra)) {
    if (values.length > 0) headers[`x-remote-extra-${encodeURIComponent(key)}`] = [...values];
  }
  return headers;
}

/**
 * Why the built-in Connectors Proxy does not serve `connector`: a 400 naming the address to use
 * (the Connector's status.proxy.httpAddress.url, which the controller publishes).
 */
export function customProxyRefusal(connector: Connector, className: string): StatusError {
  const ns = connector.metadata?.namespace ?? '';
  const name = connector.metadata?.name ?? '';
  const url = (connector as { status?: { proxy?: { httpAddress?: { url?: string } } } }).status?.proxy
    ?.httpAddress?.url;
  return badRequest(
    `Connector ${ns}/${name} is of ConnectorClass "${className}", which has a proxy of its own: ` +
      (url
        ? `use ${url}`
        : "use the address in the Connector's status.proxy.httpAddress.url once the controller has published it"),
  );
}

export interface CustomProxyRequest {
  target: ResolvedConnector;
  user: UserInfo;
  /** The RBAC subresource the API server checked (`proxy`, or a class API's name). */
  subresource: string;
  /** Raw path segments after /namespaces/{ns}/connectors/{name}/. */
  segments: readonly string[];
  query: string;
  req: IncomingMessage;
  res: ServerResponse;
  /** Request headers never forwarded, as for a tool. */
  dropped: HeaderFilter;
}

/** Forwards requests for Connectors of custom-proxy classes to their class's proxy. */
export class CustomProxies {
  constructor(
    private readonly routing: ProxyRouting,
    /** Pools that present the API server's client certificate and trust --classapi-ca-file. */
    private readonly pools: DispatcherCache,
  ) {}

  /** Whether the class has a proxy of its own. */
  serves(cls: ConnectorClass): boolean {
    return hasCustomProxy(cls, this.routing.builtinServices, this.routing.defaultNamespace);
  }

  /** Sends the request on to the class's proxy; the response streams back as the proxy sent it. */
  async forward(r: CustomProxyRequest): Promise<number> {
    const cls = r.target.connectorClass;
    const address = customProxyAddress(cls, this.routing);
    const ns = r.target.connector.metadata?.namespace ?? '';
    const name = r.target.connector.metadata?.name ?? '';
    const path = toolPath(address, ['namespaces', ns, 'connectors', name, ...r.segments]);
    checkQuery(r.query);
    const ca = proxySpec(cls)?.CACerts;
    return forward(
      this.pools,
      {
        method: r.req.method ?? 'GET',
        origin: address.origin,
        // Redirects are followed only below this Connector's path on the proxy.
        prefix: `${address.prefix}/namespaces/${ns}/connectors/${name}`,
        path: r.query ? `${path}?${r.query}` : path,
        headers: {
          ...forwardRequestHeaders(r.req.headers, r.dropped),
          ...identityHeaders(r.user, r.subresource),
        },
        body: hasBody(r.req.headers) ? r.req : null,
        injector: null,
        ca: ca?.includes('-----BEGIN CERTIFICATE-----') ? ca : undefined,
      },
      r.res,
    );
  }
}

/** The built-in Connectors Proxy's Services and its own namespace (the default for a ref's). */
export interface BuiltinProxy {
  services: ReadonlySet<string>;
  namespace: string;
}

/**
 * For the built-in Connectors Proxy: throws the 400 naming the address to use when the Connector's
 * class has a proxy of its own, whose authentication the built-in one cannot do.
 */
export function refuseCustomProxyClass(resolved: ResolvedConnector, builtin: BuiltinProxy): void {
  if (hasCustomProxy(resolved.connectorClass, builtin.services, builtin.namespace)) {
    throw customProxyRefusal(resolved.connector, resolved.className);
  }
}
