// Who is calling, and may they use this Connector? The caller proves itself with a (short-lived)
// ServiceAccount token, checked by TokenReview; RBAC then decides, by two SubjectAccessReviews:
// `get` on the Connector itself, and on its `connectors/proxy` subresource the verb of the request's
// method (the one method→verb table of every surface), so that a caller refused a write through
// the aggregated /proxy is refused the same write here. Both answers are cached for seconds; any
// failure to check is a "no".

import type { TokenReviewer, UserInfo } from '../apiserver/authn.js';
import type { Authorizer, Decision } from '../apiserver/authz.js';
import type { RequestInfo } from '../apiserver/machinery/requestinfo.js';
import { forbidden, serviceUnavailable, StatusError } from '../apiserver/machinery/status.js';
import type { MethodVerb } from '../apiserver/machinery/verbs.js';
import { crdGroup, crdVersion, subresourceGroup, subresourceVersion } from '../registry/types.js';
import type { ConnectorRef } from './route.js';

/** The attributes the authorizer checks: `get` on the Connector, or `verb` on its `proxy` subresource. */
export function connectorAccess(ref: ConnectorRef, subresource: '' | 'proxy', verb: MethodVerb): RequestInfo {
  const proxy = subresource === 'proxy';
  return {
    path: '',
    query: '',
    isResourceRequest: true,
    verb: proxy ? verb : 'get',
    pathVerb: '',
    apiGroup: proxy ? subresourceGroup : crdGroup,
    apiVersion: proxy ? subresourceVersion : crdVersion,
    namespace: ref.namespace,
    resource: 'connectors',
    subresource,
    name: ref.name,
    rest: [],
  };
}

export class CallerChecks {
  constructor(
    private readonly tokens: TokenReviewer,
    private readonly authorizer: Authorizer,
  ) {}

  /**
   * The token's user, or null when the token is invalid or expired. Throws a 503 StatusError when
   * kube-apiserver could not be asked (the message never holds the token).
   */
  async identify(token: string): Promise<UserInfo | null> {
    try {
      return await this.tokens.review(token);
    } catch (err) {
      const detail = err instanceof Error && 'code' in err ? ` (${String(err.code)})` : '';
      throw serviceUnavailable(`the token could not be reviewed by kube-apiserver${detail}; try again`);
    }
  }

  /**
   * Throws a 403 StatusError unless `user` may `get` every Connector of `refs` and `verb` (the
   * method's, or `get` to open an opaque tunnel or mount a volume) on its connectors/proxy. With
   * `verb` null only the Connector is checked: for opening an intercepted tunnel, whose requests
   * are each authorized with their own method's verb.
   */
  async authorize(user: UserInfo, refs: readonly ConnectorRef[], verb: MethodVerb | null): Promise<void> {
    const subresources = verb === null ? ([''] as const) : (['', 'proxy'] as const);
    const checks = refs.flatMap((ref) =>
      subresources.map(async (sub) => {
        const info = connectorAccess(ref, sub, verb ?? 'get');
        return { info, decision: await this.authorizer.authorize(user, info) };
      }),
    );
    // In request order, so that the first refusal reported is the first one a caller would fix.
    for (const { info, decision } of await Promise.all(checks)) {
      if (!decision.allowed) throw denied(info, decision);
    }
  }
}

function denied(info: RequestInfo, decision: Decision): StatusError {
  return forbidden({ group: info.apiGroup, resource: info.resource }, info.name, decision.reason);
}
