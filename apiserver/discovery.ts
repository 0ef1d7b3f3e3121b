// Discovery for subresources.connectors.alauda.io/v1alpha1. It is static data rebuilt only when the
// set of subresources changes, never depends on a tool, and answers from memory: a slow or failing
// discovery breaks `kubectl api-resources` and namespace deletion cluster-wide.
// Only subresources are listed (no `connectors` parent, no list/deletecollection), each with a kind,
// as KubeVirt does for subresources.kubevirt.io.

import { createHash } from 'node:crypto';
import { subresourceGroup, subresourceVersion } from '../registry/types.js';

export interface DiscoveredSubresource {
  name: string;
  kind: string;
  verbs: readonly string[];
}

export interface DiscoveryDocument {
  body: string;
  etag: string;
}

const groupVersion = `${subresourceGroup}/${subresourceVersion}`;
const versionEntry = { groupVersion, version: subresourceVersion };

function doc(value: unknown): DiscoveryDocument {
  const body = JSON.stringify(value);
  return { body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
}

export const apiGroupList: DiscoveryDocument = doc({
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [{ name: subresourceGroup, versions: [versionEntry], preferredVersion: versionEntry }],
});

export const apiGroup: DiscoveryDocument = doc({
  kind: 'APIGroup',
  apiVersion: 'v1',
  name: subresourceGroup,
  versions: [versionEntry],
  preferredVersion: versionEntry,
});

export function apiResourceList(subresources: readonly DiscoveredSubresource[]): DiscoveryDocument {
  const resources = [...subresources]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => ({
      name: `connectors/${s.name}`,
      singularName: '',
      namespaced: true,
      kind: s.kind,
      verbs: [...s.verbs].sort(),
    }));
  return doc({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources });
}

/**
 * Whether an Accept header admits plain JSON. kube-apiserver's aggregated-discovery fetch asks for
 * `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` first and plain JSON as a
 * fallback; if a client asks only for the aggregated (or protobuf) form we answer 406, which makes
 * the aggregator fall back to the per-version document.
 */
export function acceptsPlainJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (params.some((p) => p.startsWith('as=') || p.startsWith('g='))) return false;
    return type === 'application/json' || type === 'application/*' || type === '*/*';
  });
}
