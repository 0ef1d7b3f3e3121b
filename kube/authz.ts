// May this user do this? Every request is decided by a SubjectAccessReview on exactly the
// attributes kube-apiserver itself authorized, so RBAC alone decides (and a caller that reaches
// us directly meets the same rules). Decisions are cached for seconds; any error denies.

import type { KubeClient } from './client.js';
import type { UserInfo } from './tokenreview.js';
import type { Logger } from '../machinery/log.js';
import type { RequestInfo } from '../machinery/requestinfo.js';
import { TtlCache } from '../machinery/ttlcache.js';

/** authorization.k8s.io/v1 SubjectAccessReview's spec. */
export interface SubjectAccessReviewSpec {
  user: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
  resourceAttributes?: {
    namespace: string;
    verb: string;
    group: string;
    version: string;
    resource: string;
    subresource: string;
    name: string;
  };
  nonResourceAttributes?: { path: string; verb: string };
}

/** The parts of a SubjectAccessReview's answer read here. */
interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

export interface Decision {
  allowed: boolean;
  /** Why not, in words fit for the caller (kube-apiserver's style). */
  reason: string;
}

export interface Authorizer {
  authorize(user: UserInfo, info: RequestInfo): Promise<Decision>;
}

export function sarSpec(user: UserInfo, info: RequestInfo): SubjectAccessReviewSpec {
  const spec: SubjectAccessReviewSpec = {
    user: user.username,
    groups: user.groups,
    extra: user.extra,
    ...(user.uid ? { uid: user.uid } : {}),
  };
  if (info.isResourceRequest) {
    spec.resourceAttributes = {
      namespace: info.namespace,
      verb: info.verb,
      group: info.apiGroup,
      version: info.apiVersion,
      resource: info.resource,
      subresource: info.subresource,
      name: info.name,
    };
  } else {
    spec.nonResourceAttributes = { path: info.path, verb: info.verb };
  }
  return spec;
}

/** The words kube-apiserver uses when RBAC says no. */
export function forbiddenReason(user: UserInfo, info: RequestInfo, why: string): string {
  const resource = info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
  const base = info.isResourceRequest
    ? `User "${user.username}" cannot ${info.verb} resource "${resource}" in API group "${info.apiGroup}"` +
      (info.namespace ? ` in the namespace "${info.namespace}"` : ' at the cluster scope')
    : `User "${user.username}" cannot ${info.verb} path "${info.path}"`;
  return why ? `${base}: ${why}` : base;
}

/** Everything a SubjectAccessReview is decided on, as a cache key (built without the spec object). */
const userKeys = new WeakMap<UserInfo, string>();

function decisionKey(user: UserInfo, info: RequestInfo): string {
  let who = userKeys.get(user);
  if (who === undefined) {
    who = JSON.stringify([user.username, user.uid ?? '', user.groups, user.extra]);
    userKeys.set(user, who);
  }
  return JSON.stringify(
    info.isResourceRequest
      ? [
          who,
          info.verb,
          info.namespace,
          info.apiGroup,
          info.apiVersion,
          info.resource,
          info.subresource,
          info.name,
        ]
      : [who, info.verb, info.path],
  );
}

export class SubjectAccessReviewAuthorizer implements Authorizer {
  private readonly cache: TtlCache<Decision>;

  constructor(
    private readonly kube: KubeClient,
    ttlMs: number,
    private readonly log: Logger,
  ) {
    this.cache = new TtlCache(ttlMs);
  }

  async authorize(user: UserInfo, info: RequestInfo): Promise<Decision> {
    // kube-apiserver grants system:masters everything before any authorizer runs; so do we.
    if (user.groups.includes('system:masters')) return { allowed: true, reason: '' };
    try {
      return await this.cache.getOrLoad(decisionKey(user, info), async () => {
        const spec = sarSpec(user, info);
        const sar = await this.kube.post<SubjectAccessReview>(
          '/apis/authorization.k8s.io/v1/subjectaccessreviews',
          { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
        );
        const allowed = sar.status?.allowed === true && sar.status.denied !== true;
        return { allowed, reason: allowed ? '' : forbiddenReason(user, info, sar.status?.reason ?? '') };
      });
    } catch (err) {
      // Fail closed: no answer is a "no". Why the review failed is ours to fix and goes to the log;
      // the caller learns only that it may try again.
      this.log.error('SubjectAccessReview failed; denying', { user: user.username, error: err });
      return {
        allowed: false,
        reason: forbiddenReason(user, info, 'authorization could not be checked; try again later'),
      };
    }
  }
}
