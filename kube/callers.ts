// Who is calling, and may they do this? The caller proves itself with a (short-lived)
// ServiceAccount token, checked by TokenReview; RBAC then decides each attribute set the surface
// asks about (for a Connector: registry/access.ts), by SubjectAccessReview. Both answers are cached
// for seconds by the reviewer and the authorizer; any failure to check is a "no".
import type { RequestInfo } from '../machinery/requestinfo.js';
import { forbidden, serviceUnavailable, type StatusError } from '../machinery/status.js';
import type { Authorizer, Decision } from './authz.js';
import type { TokenReviewer, UserInfo } from './tokenreview.js';

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

  /** Throws a 403 StatusError unless `user` may do every one of `checks` (asked concurrently). */
  async authorize(user: UserInfo, checks: readonly RequestInfo[]): Promise<void> {
    const answers = checks.map(async (info) => ({
      info,
      decision: await this.authorizer.authorize(user, info),
    }));
    // In request order, so that the first refusal reported is the first one a caller would fix.
    for (const { info, decision } of await Promise.all(answers)) {
      if (!decision.allowed) throw denied(info, decision);
    }
  }
}

function denied(info: RequestInfo, decision: Decision): StatusError {
  return forbidden({ group: info.apiGroup, resource: info.resource }, info.name, decision.reason);
}
