// The author's authority over the Secrets a Connector references: whoever creates a Connector, or
// changes where it sends its credential or which credential, must be allowed to `get` each Secret
// it references (admission.ts says why). kube-apiserver decides, by a SubjectAccessReview for the
// user the AdmissionReview names; a review that fails is a "no".

import type { Authorizer } from '../kube/authz.js';
import type { UserInfo } from '../kube/tokenreview.js';
import { isObject, quoted, str, type FieldProblem } from './admissionreview.js';

/** A Secret a Connector references, with the field that references it. */
export interface SecretReference {
  field: string;
  namespace: string;
  name: string;
}

/** The Secrets a Connector sends or trusts: spec.auth.secretRef and spec.caCertSecretRef. */
export function secretReferences(connector: unknown, namespace: string): SecretReference[] {
  const spec = isObject(connector) && isObject(connector.spec) ? connector.spec : {};
  const auth = isObject(spec.auth) ? spec.auth : {};
  const out: SecretReference[] = [];
  if (isObject(auth.secretRef) && str(auth.secretRef.name)) {
    out.push({
      field: 'spec.auth.secretRef',
      namespace: str(auth.secretRef.namespace) || namespace,
      name: str(auth.secretRef.name),
    });
  }
  if (isObject(spec.caCertSecretRef) && str(spec.caCertSecretRef.name)) {
    out.push({ field: 'spec.caCertSecretRef', namespace, name: str(spec.caCertSecretRef.name) });
  }
  return out;
}

/** The request attributes of `get` on one Secret, as kube-apiserver would authorize it. */
function secretGet(ref: SecretReference): Parameters<Authorizer['authorize']>[1] {
  return {
    path: `/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`,
    query: '',
    isResourceRequest: true,
    verb: 'get',
    pathVerb: '',
    apiGroup: '',
    apiVersion: 'v1',
    namespace: ref.namespace,
    resource: 'secrets',
    name: ref.name,
    subresource: '',
    rest: [],
  };
}

/**
 * One problem per referenced Secret the user may not `get`, in kube-apiserver's words. The message
 * never carries the authorizer's error text: a SubjectAccessReview that fails is a "no".
 */
export async function authorityProblems(
  user: UserInfo | undefined,
  connector: unknown,
  namespace: string,
  authorizer: Authorizer,
): Promise<FieldProblem[]> {
  const refs = secretReferences(connector, namespace);
  if (!refs.length) return [];
  if (!user?.username) {
    return refs.map((ref) => ({
      reason: 'FieldValueForbidden',
      field: ref.field,
      message: `Forbidden: the AdmissionReview names no user, so nobody may reference Secret ${quoted(ref.name)}`,
    }));
  }
  const allowed = await Promise.all(
    refs.map(async (ref) => {
      try {
        return (await authorizer.authorize(user, secretGet(ref))).allowed;
      } catch {
        return false;
      }
    }),
  );
  return refs
    .filter((_, i) => !allowed[i])
    .map((ref) => ({
      reason: 'FieldValueForbidden',
      field: ref.field,
      message:
        `Forbidden: User ${quoted(user.username)} cannot get resource "secrets" in API group "" in the ` +
        `namespace ${quoted(ref.namespace)}, so may not reference Secret ${quoted(ref.name)}`,
    }));
}
