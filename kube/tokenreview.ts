// Who holds this bearer token? TokenReview against kube-apiserver, with the audiences the caller
// expects, cached (both answers) for seconds by the token's hash: the one way every surface that
// accepts a ServiceAccount token (the API server, the Connectors Proxy, the CSI driver) learns the
// caller's identity.
import { createHash } from 'node:crypto';
import { TtlCache } from '../machinery/ttlcache.js';
import type { KubeClient } from './client.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** The parts of authentication.k8s.io/v1 TokenReview read here. */
interface TokenReview {
  status?: {
    authenticated?: boolean;
    audiences?: string[];
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  };
}

export interface TokenReviewer {
  review(token: string): Promise<UserInfo | null>;
}

/** TokenReview against kube-apiserver, cached (both answers) for `ttlMs` by the token's hash. */
export class CachedTokenReviewer implements TokenReviewer {
  private readonly cache: TtlCache<UserInfo | null>;

  constructor(
    private readonly kube: KubeClient,
    ttlMs: number,
    private readonly audiences: string[],
  ) {
    this.cache = new TtlCache(ttlMs);
  }

  review(token: string): Promise<UserInfo | null> {
    const key = createHash('sha256').update(token).digest('base64');
    return this.cache.getOrLoad(key, async () => {
      const tr = await this.kube.post<TokenReview>('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: this.audiences },
      });
      const st = tr.status;
      if (!st?.authenticated || !st.user?.username) return null;
      if (this.audiences.length > 0 && !(st.audiences ?? []).some((a) => this.audiences.includes(a)))
        return null;
      return {
        username: st.user.username,
        groups: st.user.groups ?? [],
        extra: st.user.extra ?? {},
        ...(st.user.uid ? { uid: st.user.uid } : {}),
      };
    });
  }
}
