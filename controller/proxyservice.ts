// The per-Connector proxy Service of the host resolver: `c-{name}` in the Connector's namespace,
// an ExternalName Service that makes `http://c-{name}.{ns}.svc.cluster.local` (the address in
// status.proxy.httpAddress.url) lead to the class's proxy Service, where the Connectors Proxy
// picks the Connector by that Host. Owned by the Connector, so deleting it removes the Service;
// a Service of that name that somebody else owns is never taken over.

import { KubeApiError, type KubeClient } from '../kube/client.js';
import { resourcePath, type Service } from '../kube/objects.js';
import type { Connector } from '../registry/types.js';
import { condition, type Condition } from './conditions.js';

export const connectorLabel = 'connectors.alauda.io/connector';

export function proxyServiceName(connector: Connector): string {
  return `c-${connector.metadata?.name ?? ''}`;
}

function desired(connector: Connector, target: string, resourceVersion?: string): Service {
  const name = connector.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: proxyServiceName(connector),
      namespace: connector.metadata?.namespace ?? '',
      labels: { [connectorLabel]: name },
      ...(resourceVersion ? { resourceVersion } : {}),
      ownerReferences: [
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          name,
          uid: connector.metadata?.uid ?? '',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      type: 'ExternalName',
      externalName: target,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  };
}

/**
 * Makes sure the Service exists and points at `target` (the proxy Service's DNS name); returns
 * the ProxyServiceReady condition that says so, or why not.
 */
export async function ensureProxyService(
  kube: KubeClient,
  connector: Connector,
  target: string,
): Promise<Condition> {
  const want = desired(connector, target);
  const namespace = want.metadata?.namespace ?? '';
  const name = want.metadata?.name ?? '';
  const services = { version: 'v1', resource: 'services', namespace };
  try {
    let have: Service | undefined;
    try {
      have = await kube.get<Service>(resourcePath({ ...services, name }));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    if (!have) {
      await kube.post(resourcePath(services), want);
      return condition('ProxyServiceReady', 'True');
    }
    const ours = have.metadata?.ownerReferences?.some(
      (o) => o.kind === 'Connector' && o.uid === connector.metadata?.uid,
    );
    if (!ours) {
      return condition(
        'ProxyServiceReady',
        'False',
        'ProxyServiceConflict',
        `Service ${namespace}/${name} exists and does not belong to this Connector; delete or rename it`,
      );
    }
    if (have.spec?.type !== 'ExternalName' || have.spec.externalName !== target) {
      await kube.put(
        resourcePath({ ...services, name }),
        desired(connector, target, have.metadata?.resourceVersion),
      );
    }
    return condition('ProxyServiceReady', 'True');
  } catch (err) {
    const why =
      err instanceof KubeApiError ? `HTTP ${err.status}` : err instanceof Error ? err.message : String(err);
    return condition(
      'ProxyServiceReady',
      'False',
      'ProxyServiceNotReady',
      `Service ${namespace}/${name}: ${why}`,
    );
  }
}
