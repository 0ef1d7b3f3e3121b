// What RBAC must allow for a caller to use a Connector outside the aggregated API (the Connectors
// Proxy, the CSI driver): `get` on the Connector itself, and on its `connectors/proxy` subresource
// the verb of the request's method (the one method→verb table of every surface), so that a caller
// refused a write through the aggregated /proxy is refused the same write everywhere.
import type { RequestInfo } from '../machinery/requestinfo.js';
import type { MethodVerb } from '../machinery/verbs.js';
import { crdGroup, crdVersion, subresourceGroup, subresourceVersion, type ConnectorRef } from './types.js';

/**
 * The attributes the authorizer checks: `get` on the Connector, or `verb` on a subresource (`proxy`,
 * or for a custom proxy called by the API server, the class API the API server checked).
 */
export function connectorAccess(ref: ConnectorRef, subresource: string, verb: MethodVerb): RequestInfo {
  const proxy = subresource !== '';
  return {
    path: '',
    query: '',
    isResourceRequest: true,
    verb: proxy ? verb : 'get',
    pathVerb: '',
    apiGroup: proxy ? subresourceGroup : crdGroup,
    apiVersion: proxy ? subresourceVersion : crdVersion,
    namespace: ref.namespace,
    resource: 'connectors',
    subresource,
    name: ref.name,
    rest: [],
  };
}

/**
 * Every check for using `refs` with `verb` (the method's, or `get` to open an opaque tunnel or mount
 * a volume): `get` on each Connector and `verb` on its connectors/proxy. With `verb` null only the
 * Connectors are checked: for opening an intercepted tunnel, whose requests are each authorized
 * with their own method's verb.
 */
export function connectorChecks(
  refs: readonly ConnectorRef[],
  verb: MethodVerb | null,
  subresource = 'proxy',
): RequestInfo[] {
  return refs.flatMap((ref) =>
    verb === null
      ? [connectorAccess(ref, '', 'get')]
      : [connectorAccess(ref, '', verb), connectorAccess(ref, subresource, verb)],
  );
}
