// Publishes the proxy CA certificate (never the key) in a ConfigMap, so that clients and the CSI
// driver can read what to trust without access to the CA Secret. Created if missing, replaced
// when it differs, left alone when it already holds this certificate.

import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../apiserver/machinery/log.js';

export const caConfigMapKey = 'ca.crt';

export async function publishCaConfigMap(
  kc: KubeConfig,
  target: { namespace: string; name: string },
  certPem: string,
  log: Logger,
): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
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
    let existing;
    try {
      existing = await api.readNamespacedConfigMap(target);
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
    if (!existing) await api.createNamespacedConfigMap({ namespace: target.namespace, body });
    else if (existing.data?.[caConfigMapKey] !== certPem) {
      await api.replaceNamespacedConfigMap({
        ...target,
        body: {
          ...body,
          metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion },
        },
      });
    }
    log.info('proxy CA published', { configMap: `${target.namespace}/${target.name}`, key: caConfigMapKey });
  } catch (err) {
    // Serving does not depend on it; say what is missing and carry on.
    log.warn('cannot publish the proxy CA; grant get/create/update on that ConfigMap', {
      configMap: `${target.namespace}/${target.name}`,
      error: err instanceof ApiException ? `HTTP ${err.code}` : String(err),
    });
  }
}
