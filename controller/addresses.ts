// Where things are: the resolved class API and class proxy addresses of a ConnectorClass, the proxy
// address and API path of a Connector. Class addresses resolve exactly as the server resolves a
// class API (registry/classapis.ts classApiAddress: an absolute `uri`, else the referenced Service
// plus `uri`); --service-url-override maps a Service to another URL, for clusters where a Service
// name does not resolve from the controller (and for the local harness, where the class API backend
// runs on the host).

import { classApiAddress } from '../registry/classapis.js';
import {
  subresourceGroup,
  subresourceVersion,
  type Connector,
  type ConnectorClass,
} from '../registry/types.js';

/** The published resolver annotation: `host` (default) or `path`. */
export const proxyResolverAnnotation = 'connectors.cpaas.io/proxy-resolver';

interface ServiceRefSpec {
  ref?: { kind?: string; name?: string; namespace?: string };
  uri?: string;
}

export class AddressResolver {
  constructor(
    /** Namespace assumed for a referenced Service that names none (the controller's own). */
    private readonly defaultNamespace: string,
    /** `namespace/service` → base URL (no trailing slash). */
    private readonly serviceOverrides: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** `status.api.address.url` of a class, or null when spec.api names no address. */
  classApiUrl(cls: ConnectorClass): string | null {
    return this.resolve(cls.spec?.api, 'https');
  }

  /** `status.proxy.httpAddress.url` of a class, or null when spec.proxy names no address. */
  classProxyUrl(cls: ConnectorClass): string | null {
    return this.resolve(cls.spec?.proxy, 'http');
  }

  /**
   * `status.proxy.httpAddress.url` of a Connector: with the `host` resolver its own host name
   * (`http://c-{name}.{ns}.svc.cluster.local`), with `path` the class proxy plus
   * `/namespaces/{ns}/connectors/{name}`. Undefined when the class has no proxy; null when it has
   * one that cannot be resolved.
   */
  connectorProxyUrl(connector: Connector, cls: ConnectorClass): string | null | undefined {
    if (!cls.spec?.proxy) return undefined;
    const ns = connector.metadata?.namespace ?? '';
    const name = connector.metadata?.name ?? '';
    const resolver = cls.metadata?.annotations?.[proxyResolverAnnotation] ?? 'host';
    if (resolver !== 'path') return `http://c-${name}.${ns}.svc.cluster.local`;
    const base = this.classProxyUrl(cls);
    return base === null ? null : `${base.replace(/\/+$/, '')}/namespaces/${ns}/connectors/${name}`;
  }

  /** The DNS name of the class's proxy Service (spec.proxy.ref), or null when it names none. */
  connectorProxyServiceTarget(cls: ConnectorClass): string | null {
    const ref = (cls.spec?.proxy as ServiceRefSpec | undefined)?.ref;
    if (!ref?.name || (ref.kind ?? 'Service') !== 'Service') return null;
    return `${ref.name}.${ref.namespace ?? this.defaultNamespace}.svc.cluster.local`;
  }

  /** A class API Service is served over https (it receives Secret data), the proxy over http. */
  private resolve(spec: ServiceRefSpec | undefined, scheme: 'https' | 'http'): string | null {
    if (!spec) return null;
    const url = classApiAddress({ spec: { api: spec } }, this.defaultNamespace, scheme);
    const ref = spec.ref;
    if (url === null || !ref?.name || /^https?:\/\//i.test(spec.uri ?? '')) return url;
    const ns = ref.namespace ?? this.defaultNamespace;
    const inCluster = `${scheme}://${ref.name}.${ns}.svc`;
    const override = this.serviceOverrides.get(`${ns}/${ref.name}`);
    return override !== undefined && url.startsWith(inCluster) ? override + url.slice(inCluster.length) : url;
  }
}

/** `status.api.path`: where this Connector's subresources live under the aggregated API. */
export function connectorApiPath(connector: Connector): string {
  const ns = connector.metadata?.namespace ?? '';
  const name = connector.metadata?.name ?? '';
  return `/apis/${subresourceGroup}/${subresourceVersion}/namespaces/${ns}/connectors/${name}`;
}
