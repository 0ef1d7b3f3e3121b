// The objects of the custom-proxy tests: the class the example signing proxy serves (its spec.proxy
// names the proxy's Service, which the API server reaches by --proxy-url-override), its Connectors,
// and the RBAC of their callers.

import { signingProxyClass, signingProxyService } from '../../hack/localsystem.js';
import { grant } from './env.js';

/** Class signed-http: its proxy is the signing proxy; `items` is a class API to the tool through it. */
export function signedClass(
  name = signingProxyClass,
  proxy: object = { ref: { kind: 'Service', ...signingProxyService } },
): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'ConnectorClass',
    metadata: { name },
    spec: {
      address: { name: 'address', type: 'string' },
      auth: { types: [{ name: 'signingKey', secretType: 'Opaque' }] },
      proxy,
      api: {
        openapi: {
          openapi: '3.0.3',
          info: { title: name, version: '1' },
          paths: { '/items': { get: { operationId: 'listItems', 'x-provider-type': 'proxy' } } },
        },
      },
    },
  };
}

export function signedConnector(
  ns: string,
  name: string,
  address: string,
  secretName: string,
  className = signingProxyClass,
): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace: ns },
    spec: {
      connectorClassName: className,
      address,
      auth: { name: 'signingKey', secretRef: { name: secretName } },
    },
  };
}

/**
 * RBAC of a caller of a custom proxy: `get` on the Connectors (every custom proxy checks it) and
 * `verbs` on the subresources, bound to `subject`; named after the subject, so that applying it
 * again replaces its verbs.
 */
export function signingUser(
  ns: string,
  subject: { kind: 'User' | 'ServiceAccount'; name: string },
  verbs: string[],
  subresources = ['proxy'],
): object[] {
  const [role, binding] = grant(
    ns,
    `signing-${subject.kind.toLowerCase()}-${subject.name}`,
    subject,
    verbs,
    subresources,
  ) as [{ rules: object[] }, object];
  role.rules.unshift({ apiGroups: ['connectors.alauda.io'], resources: ['connectors'], verbs: ['get'] });
  return [role, binding];
}
