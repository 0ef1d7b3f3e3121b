// What a ConnectorClass's status should say: APIReady (its class API backend answers at the
// resolved address), ProxyReady (its proxy address resolves), Ready, and the resolved addresses the
// server and the Connectors read (`status.api.address.url`, `status.proxy.httpAddress.url`).
// As upstream, API detection only tries to reach the address; it does not judge the HTTP status.

import type { ConnectorClass } from '../registry/types.js';
import type { AddressResolver } from './addresses.js';
import { condition, readyCondition, type Condition } from './conditions.js';

export interface ConnectorClassStatus {
  observedGeneration?: number;
  conditions: Condition[];
  api: { address: { url: string } } | undefined;
  proxy: { httpAddress: { url: string } } | undefined;
  [field: string]: unknown;
}

export interface ClassDeps {
  addresses: AddressResolver;
  reachable(url: string): Promise<{ ok: true } | { ok: false; message: string }>;
}

/** Whether any operation of spec.api.openapi goes to the class API backend (x-provider-type: api). */
function declaresBackendOperations(cls: ConnectorClass): boolean {
  const paths = (cls.spec?.api?.openapi as { paths?: Record<string, Record<string, unknown>> } | undefined)
    ?.paths;
  return Object.values(paths ?? {}).some((item) =>
    Object.values(item).some(
      (op) =>
        typeof op === 'object' && op !== null && (op as Record<string, unknown>)['x-provider-type'] === 'api',
    ),
  );
}

export async function connectorClassStatus(
  cls: ConnectorClass,
  deps: ClassDeps,
): Promise<ConnectorClassStatus> {
  const name = cls.metadata?.name ?? '';
  let apiReady: Condition;
  const apiUrl = cls.spec?.api ? deps.addresses.classApiUrl(cls) : null;
  if (!cls.spec?.api) apiReady = condition('APIReady', 'True', 'NonAPI');
  else if (apiUrl === null) {
    apiReady = declaresBackendOperations(cls)
      ? condition(
          'APIReady',
          'False',
          'APIAddressNotResolved',
          `connectorclass "${name}" declares x-provider-type: api operations, but spec.api names neither an absolute uri nor a Service`,
        )
      : // Only the tool's own API, reached through the proxy: there is no backend to check.
        condition(
          'APIReady',
          'True',
          'NonAPI',
          'every operation goes to the tool itself (x-provider-type: proxy)',
        );
  } else {
    const r = await deps.reachable(apiUrl);
    apiReady = r.ok
      ? condition('APIReady', 'True')
      : condition('APIReady', 'False', 'APIUnreachable', r.message);
  }

  let proxyReady: Condition;
  const proxyUrl = cls.spec?.proxy ? deps.addresses.classProxyUrl(cls) : null;
  if (!cls.spec?.proxy) proxyReady = condition('ProxyReady', 'True', 'NonProxy');
  else if (proxyUrl === null) {
    proxyReady = condition(
      'ProxyReady',
      'False',
      'ProxyAddressNotResolved',
      `spec.proxy of connectorclass "${name}" names neither an absolute uri nor a Service`,
    );
  } else proxyReady = condition('ProxyReady', 'True');

  const conditions = [apiReady, proxyReady];
  return {
    ...(cls.metadata?.generation !== undefined ? { observedGeneration: cls.metadata.generation } : {}),
    conditions: [...conditions, readyCondition(conditions)],
    api: apiUrl ? { address: { url: apiUrl } } : undefined,
    proxy: proxyUrl ? { httpAddress: { url: proxyUrl } } : undefined,
  };
}
