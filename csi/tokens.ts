// The pod's short-lived ServiceAccount token, the only credential a connectors-csi volume holds.
//
// kubelet (default, least privilege): the CSIDriver declares `tokenRequests` with the Connectors
// Proxy's audience, and kubelet passes a pod-bound token for it in every NodePublishVolume (in
// `secrets` with serviceAccountTokenInSecrets, else in volume_context), refreshing it before 80 % of
// its lifetime; with `requiresRepublish` the driver writes the fresh one within about a minute. The
// driver mints nothing and needs no token RBAC. It still reviews the token (TokenReview) and checks
// it is the pod's, since without tokenRequests a pod author could put that key in volumeAttributes.
// Its lifetime is the CSIDriver's expirationSeconds; `token.expiration` cannot change it.
//
// request (opt-in, --token-source=request): the driver mints the token with TokenRequest, bound to
// the pod (name and UID), with the lifetime `token.expiration` asks for (default 30m, as upstream),
// and mints a new one on the republish after 80 % of that lifetime. This needs `create` on
// serviceaccounts/token in every namespace, which lets the driver mint tokens for any
// ServiceAccount: manifests/csi/rbac-token-request.yaml grants it separately, for clusters that want
// upstream's per-volume lifetimes.

import { KubeApiError, type KubeClient } from '../kube/client.js';
import { resourcePath, type TokenRequest } from '../kube/objects.js';
import type { TokenReviewer, UserInfo } from '../kube/tokenreview.js';
import { serviceAccountUser } from './access.js';
import type { VolumeAttributes } from './attributes.js';
import { failedPrecondition, invalidArgument, notFound, unauthenticated, unavailable } from './errors.js';
import type { PublishRequest } from './node.js';

export const tokensKey = 'csi.storage.k8s.io/serviceAccount.tokens';
export const podUidExtra = 'authentication.kubernetes.io/pod-uid';

export interface PodToken {
  /** Sensitive: written into the volume, never logged. */
  token: string;
  /** Whom the token authenticates, for the RBAC checks. */
  user: UserInfo;
}

export interface TokenSource {
  token(request: PublishRequest, attrs: VolumeAttributes): Promise<PodToken>;
  forget(volumeId: string): void;
}

export class KubeletTokenSource implements TokenSource {
  constructor(
    private readonly audience: string,
    private readonly reviewer: TokenReviewer,
  ) {}

  async token(request: PublishRequest, attrs: VolumeAttributes): Promise<PodToken> {
    const fix = `the CSIDriver connectors-csi must list {audience: ${this.audience}} in spec.tokenRequests`;
    const raw = request.secrets[tokensKey] ?? request.volumeContext[tokensKey];
    if (!raw) throw invalidArgument(`kubelet passed no ServiceAccount token: ${fix}`);
    let token: unknown;
    try {
      token = (JSON.parse(raw) as Record<string, { token?: unknown } | undefined>)[this.audience]?.token;
    } catch {
      throw invalidArgument(`${tokensKey} is not the JSON kubelet writes`);
    }
    if (typeof token !== 'string' || token === '') {
      throw invalidArgument(`kubelet passed no token for the audience "${this.audience}": ${fix}`);
    }
    let user: UserInfo | null;
    try {
      user = await this.reviewer.review(token);
    } catch {
      throw unavailable("the pod's token could not be reviewed by kube-apiserver; kubelet will retry");
    }
    if (!user)
      throw unauthenticated(`the pod's token for the audience "${this.audience}" is invalid or expired`);
    const { pod } = attrs;
    const expected = serviceAccountUser(pod).username;
    if (user.username !== expected) {
      throw unauthenticated(
        `the token kubelet passed authenticates ${user.username}, not the pod's ${expected}`,
      );
    }
    const boundTo = user.extra[podUidExtra];
    if (boundTo && !boundTo.includes(pod.uid)) {
      throw unauthenticated(
        `the token kubelet passed is bound to another pod than ${pod.namespace}/${pod.name}`,
      );
    }
    return { token, user };
  }

  forget(): void {
    // Nothing kept: kubelet passes the token with every call.
  }
}

interface Minted {
  token: string;
  podUid: string;
  seconds: number;
  renewAt: number;
}

export class RequestedTokenSource implements TokenSource {
  private readonly minted = new Map<string, Minted>();

  constructor(
    private readonly kube: KubeClient,
    private readonly audience: string,
    /** When the volume gives no token.expiration: upstream's 30 minutes. */
    private readonly defaultSeconds = 1800,
  ) {}

  async token(request: PublishRequest, attrs: VolumeAttributes): Promise<PodToken> {
    const { pod } = attrs;
    const user = serviceAccountUser(pod);
    const seconds = attrs.tokenExpirationSeconds ?? this.defaultSeconds;
    const kept = this.minted.get(request.volumeId);
    if (kept?.podUid === pod.uid && kept.seconds === seconds && Date.now() < kept.renewAt) {
      return { token: kept.token, user };
    }
    const wanted: TokenRequest = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: [this.audience],
        expirationSeconds: seconds,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid },
      },
    };
    let answer: TokenRequest;
    try {
      answer = await this.kube.post<TokenRequest>(
        resourcePath({
          version: 'v1',
          resource: 'serviceaccounts',
          namespace: pod.namespace,
          name: pod.serviceAccount,
          subresource: 'token',
        }),
        wanted,
      );
    } catch (err) {
      const code = err instanceof KubeApiError ? err.status : 0;
      const who = `ServiceAccount "${pod.namespace}/${pod.serviceAccount}" of pod "${pod.namespace}/${pod.name}"`;
      if (code === 404) throw notFound(`cannot request a token: the ${who} does not exist`);
      if (code === 403) {
        throw failedPrecondition(
          'the driver may not request ServiceAccount tokens: --token-source=request needs create on ' +
            'serviceaccounts/token (manifests/csi/rbac-token-request.yaml)',
        );
      }
      // 409: the pod's UID changed (deleted and recreated under the same name); kubelet retries.
      throw unavailable(`cannot request a token for the ${who} (${code ? `HTTP ${code}` : 'no answer'})`);
    }
    const token = answer.status?.token;
    if (!token) throw unavailable('kube-apiserver answered the TokenRequest without a token');
    const now = Date.now();
    const expires = answer.status?.expirationTimestamp
      ? new Date(answer.status.expirationTimestamp).getTime()
      : now + seconds * 1000;
    // As kubelet does: a new token once 80 % of the lifetime has passed.
    this.minted.set(request.volumeId, {
      token,
      podUid: pod.uid,
      seconds,
      renewAt: now + 0.8 * (expires - now),
    });
    return { token, user };
  }

  forget(volumeId: string): void {
    this.minted.delete(volumeId);
  }
}
