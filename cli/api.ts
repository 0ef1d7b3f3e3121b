// Where the plugin reads and calls: Connectors and ConnectorClasses (connectors.alauda.io), and a
// Connector's subresources (subresources.connectors.alauda.io).

import { resourcePath } from '../kube/objects.js';
import { crdGroup, crdVersion, subresourceGroup, subresourceVersion } from '../registry/types.js';

export function connectorsPath(namespace: string | undefined, name?: string): string {
  return resourcePath({ group: crdGroup, version: crdVersion, resource: 'connectors', namespace, name });
}

export function connectorClassesPath(name?: string): string {
  return resourcePath({ group: crdGroup, version: crdVersion, resource: 'connectorclasses', name });
}

/** `…/namespaces/{ns}/connectors/{name}/{rest}`; `rest` (a path, maybe with a query) is kept as given. */
export function subresourcePath(namespace: string, name: string, rest: string): string {
  const base = resourcePath({
    group: subresourceGroup,
    version: subresourceVersion,
    resource: 'connectors',
    namespace,
    name,
  });
  return `${base}/${rest.replace(/^\/+/, '')}`;
}

/** `?k=v&k=v2…` of `params` in order (a repeated name is an array), or '' for none. */
export function queryOf(params: readonly (readonly [string, string])[]): string {
  const q = new URLSearchParams();
  for (const [k, v] of params) q.append(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
