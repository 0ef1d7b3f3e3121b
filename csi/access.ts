// May this pod use these Connectors? Two questions, both before anything about a Connector is read:
//
// 1. Scope (the published Connectors API's scope levels): a Connector in the pod's own
//    namespace; one in kube-public (cluster-level, usable from every namespace); one in a project
//    namespace (labelled cpaas.io/inner-namespace: <project>), usable from namespaces labelled
//    cpaas.io/project: <project>. Any other namespace is out of reach, whatever RBAC says.
// 2. RBAC: the pod's ServiceAccount needs `get` on the Connector and on its connectors/proxy
//    subresource, the same two SubjectAccessReviews the Connectors Proxy makes for every request
//    (kube/callers.ts, registry/access.ts), so a volume is only mounted when its token will actually work.
//
// A refusal is PERMISSION_DENIED with a message naming the Connector.

import type { UserInfo } from '../kube/tokenreview.js';
import { StatusError } from '../machinery/status.js';
import { connectorChecks } from '../registry/access.js';
import type { CallerChecks } from '../kube/callers.js';
import type { ConnectorRef } from '../registry/types.js';
import type { PodInfo } from './attributes.js';
import type { ClusterReader } from './cluster.js';
import { permissionDenied } from './errors.js';

export const clusterScopeNamespace = 'kube-public';
export const projectOwnerLabel = 'cpaas.io/inner-namespace';
export const projectMemberLabel = 'cpaas.io/project';

/** The identity kube-apiserver gives a pod's ServiceAccount token. */
export function serviceAccountUser(pod: PodInfo): UserInfo {
  return {
    username: `system:serviceaccount:${pod.namespace}:${pod.serviceAccount}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${pod.namespace}`, 'system:authenticated'],
    extra: {},
  };
}

export class ConnectorAccess {
  constructor(
    private readonly cluster: ClusterReader,
    private readonly callers: Pick<CallerChecks, 'authorize'>,
  ) {}

  private async inScope(podNamespace: string, ref: ConnectorRef): Promise<boolean> {
    if (ref.namespace === podNamespace || ref.namespace === clusterScopeNamespace) return true;
    const project = (await this.cluster.namespaceLabels(ref.namespace))?.[projectOwnerLabel];
    if (!project) return false;
    return (await this.cluster.namespaceLabels(podNamespace))?.[projectMemberLabel] === project;
  }

  /** Throws PERMISSION_DENIED unless `user` (the pod's ServiceAccount) may use every Connector. */
  async check(pod: PodInfo, user: UserInfo, refs: readonly ConnectorRef[]): Promise<void> {
    for (const ref of refs) {
      if (!(await this.inScope(pod.namespace, ref))) {
        throw permissionDenied(
          `connector "${ref.namespace}/${ref.name}" cannot be used from namespace "${pod.namespace}": ` +
            `only Connectors of the pod's namespace, of ${clusterScopeNamespace}, or of its project's ` +
            `namespace (label ${projectOwnerLabel}) are`,
        );
      }
    }
    try {
      // Mounting is a read; what the pod then sends is authorized per method by the proxy.
      await this.callers.authorize(user, connectorChecks(refs, 'get'));
    } catch (err) {
      if (err instanceof StatusError && err.code === 403) {
        // kube-apiserver's words: `connectors.connectors.alauda.io "<name>" is forbidden: User "…" cannot …`.
        throw permissionDenied(err.message);
      }
      throw err;
    }
  }
}
