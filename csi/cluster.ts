// What the driver reads from kube-apiserver for a publish: the Connectors, their classes, the
// labels of namespaces (scope rules) and the Connectors Proxy's CA certificate. Each is one `get`
// when a volume is published or republished (about once a minute per volume), not an informer: a
// node plugin on every node would otherwise watch every Connector of the cluster, and with `get`
// only, its RBAC names exactly what it reads. Namespace labels change rarely and are kept briefly.
// Not found is undefined; any other failure is UNAVAILABLE, which kubelet retries.

import { TtlCache } from '../machinery/ttlcache.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { resourcePath, type ConfigMap, type KubeObject } from '../kube/objects.js';
import { caConfigMapKey } from '../proxy/ca-configmap.js';
import { crdGroup, crdVersion, type Connector, type ConnectorClass } from '../registry/types.js';
import { unavailable } from './errors.js';

/** A ParamSpec as ConnectorClass configurations declare their params. */
export interface ParamSpec {
  name: string;
  type?: 'string' | 'array' | 'object';
  default?: unknown;
  enum?: unknown[];
}

export interface ClassConfiguration {
  name: string;
  data?: Record<string, string>;
  params?: ParamSpec[];
}

/** The parts of a ConnectorClass the driver reads, beyond the server's. */
export interface ConfiguredClass extends ConnectorClass {
  spec?: ConnectorClass['spec'] & { configurations?: ClassConfiguration[] };
  status?: ConnectorClass['status'] & { proxy?: { httpAddress?: { url?: string } } };
}

export interface ProxiedConnector extends Connector {
  status?: Record<string, unknown> & { proxy?: { httpAddress?: { url?: string } } };
}

export interface ClusterReader {
  connector(namespace: string, name: string): Promise<ProxiedConnector | undefined>;
  connectorClass(name: string): Promise<ConfiguredClass | undefined>;
  namespaceLabels(name: string): Promise<Record<string, string> | undefined>;
  /** The Connectors Proxy's CA certificate (PEM), or undefined when it is not published. */
  proxyCaCert(): Promise<string | undefined>;
}

async function orUndefined<T>(what: string, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    const why = err instanceof KubeApiError ? `HTTP ${err.status}` : (err as Error).message;
    throw unavailable(`cannot read ${what} from kube-apiserver (${why}); kubelet will retry`);
  }
}

export class KubeClusterReader implements ClusterReader {
  private readonly namespaces = new TtlCache<Record<string, string> | undefined>(30_000);

  constructor(
    private readonly kube: KubeClient,
    /** Where the Connectors Proxy publishes its CA certificate (connproxy --publish-ca-configmap). */
    private readonly caConfigMap: { namespace: string; name: string },
  ) {}

  connector(namespace: string, name: string): Promise<ProxiedConnector | undefined> {
    return orUndefined(`connector "${namespace}/${name}"`, () =>
      this.kube.get<ProxiedConnector>(
        resourcePath({ group: crdGroup, version: crdVersion, resource: 'connectors', namespace, name }),
      ),
    );
  }

  connectorClass(name: string): Promise<ConfiguredClass | undefined> {
    return orUndefined(`connectorclass "${name}"`, () =>
      this.kube.get<ConfiguredClass>(
        resourcePath({ group: crdGroup, version: crdVersion, resource: 'connectorclasses', name }),
      ),
    );
  }

  namespaceLabels(name: string): Promise<Record<string, string> | undefined> {
    return this.namespaces.getOrLoad(name, () =>
      orUndefined(
        `namespace "${name}"`,
        async () =>
          (await this.kube.get<KubeObject>(resourcePath({ version: 'v1', resource: 'namespaces', name })))
            .metadata?.labels ?? {},
      ),
    );
  }

  async proxyCaCert(): Promise<string | undefined> {
    const { namespace, name } = this.caConfigMap;
    const cm = await orUndefined(`configmap "${namespace}/${name}"`, () =>
      this.kube.get<ConfigMap>(resourcePath({ version: 'v1', resource: 'configmaps', namespace, name })),
    );
    return cm?.data?.[caConfigMapKey];
  }
}
