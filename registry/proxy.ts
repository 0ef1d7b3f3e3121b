// connectors/{name}/proxy/{path…}: the tool's own API. Target = spec.address (path prefix kept) +
// path + query; every method; bodies stream both ways; the Connector's credential replaces the
// caller's. A Connector whose class has a proxy of its own goes to that proxy instead
// (classproxy.ts), which authenticates to the tool itself.

import type { DispatcherCache } from '../proxy/dispatchers.js';
import { forward } from '../proxy/forward.js';
import { forwardRequestHeaders, type HeaderFilter } from '../proxy/headers.js';
import { checkQuery, toolPath } from '../proxy/target.js';
import type { CustomProxies } from './classproxy.js';
import { connectorCa, connectorSecret, resolveConnector } from './resolve.js';
import type { SecretSource } from './secrets.js';
import type { ConnectorLister } from './store.js';
import type { ServeResult, Subresource, SubresourceRequest } from './subresource.js';
import { hasBody } from '../machinery/body.js';

export interface ProxyDeps {
  lister: ConnectorLister;
  secrets: SecretSource;
  pools: DispatcherCache;
  /** Further request headers never forwarded, e.g. the requestheaders configured on kube-apiserver. */
  droppedHeaders: () => HeaderFilter;
  customProxies: CustomProxies;
}

export function proxySubresource(deps: ProxyDeps): Subresource {
  return {
    name: 'proxy',
    kind: 'ConnectorProxyOptions',
    verbs: ['create', 'delete', 'get', 'patch', 'update'],
    async serve({ info, user, req, res }: SubresourceRequest): Promise<ServeResult> {
      const target = resolveConnector(deps.lister, info.namespace, info.name);
      if (deps.customProxies.serves(target.connectorClass)) {
        const status = await deps.customProxies.forward({
          target,
          user,
          subresource: 'proxy',
          segments: info.rest,
          query: info.query,
          req,
          res,
          dropped: deps.droppedHeaders(),
        });
        return { status, connectorClass: target.className };
      }
      const path = toolPath(target.address, info.rest);
      checkQuery(info.query);
      const [secret, ca] = await Promise.all([
        connectorSecret(deps.secrets, target),
        connectorCa(deps.secrets, target.connector),
      ]);
      const status = await forward(
        deps.pools,
        {
          method: req.method ?? 'GET',
          origin: target.address.origin,
          prefix: target.address.prefix,
          path: info.query ? `${path}?${info.query}` : path,
          headers: forwardRequestHeaders(req.headers, deps.droppedHeaders()),
          body: hasBody(req.headers) ? req : null,
          injector: secret?.injector ?? null,
          ca,
        },
        res,
      );
      return { status, connectorClass: target.className };
    },
  };
}
