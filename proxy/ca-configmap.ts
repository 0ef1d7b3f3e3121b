// Publishes the proxy CA certificate (never the key) in a ConfigMap, so that clients and the CSI
// driver can read what to trust without access to the CA Secret. Created if missing, replaced
// when it differs, left alone when it already holds this certificate.

import type { Logger } from '../machinery/log.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';

export const caConfigMapKey = 'ca.crt';

interface ConfigMap {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

export async function publishCaConfigMap(
  kube: KubeClient,
  target: { namespace: string; name: string },
  certPem: string,
  log: Logger,
): Promise<void> {
  const collection = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/configmaps`;
  const body = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: target.name,
      namespace: target.namespace,
      labels: { 'app.kubernetes.io/name': 'connectors-proxy' },
    },
    data: { [caConfigMapKey]: certPem },
  };
  try {
    let existing: ConfigMap | undefined;
    try {
      existing = await kube.get<ConfigMap>(`${collection}/${encodeURIComponent(target.name)}`);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    if (!existing) await kube.post(collection, body);
    else if (existing.data?.[caConfigMapKey] !== certPem) {
      await kube.put(`${collection}/${encodeURIComponent(target.name)}`, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion },
      });
    }
    log.info('proxy CA published', { configMap: `${target.namespace}/${target.name}`, key: caConfigMapKey });
  } catch (err) {
    // Serving does not depend on it; say what is missing and carry on.
    log.warn('cannot publish the proxy CA; grant get/create/update on that ConfigMap', {
      configMap: `${target.namespace}/${target.name}`,
      error: err instanceof KubeApiError ? `HTTP ${err.status}` : String(err),
    });
  }
}
