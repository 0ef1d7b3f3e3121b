// The kubelet token source: the pod-bound token for our audience, from `secrets` first (with
// serviceAccountTokenInSecrets) else from volume_context, accepted only when TokenReview says it
// is the pod's own ServiceAccount bound to this pod. (Minting with TokenRequest is exercised
// against a real kube-apiserver: test/integration/csi.test.ts.)

import { status } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { TokenReviewer, UserInfo } from '../../../kube/tokenreview.js';
import { serviceAccountUser } from '../../../csi/access.js';
import { parseVolumeAttributes } from '../../../csi/attributes.js';
import { CsiError } from '../../../csi/errors.js';
import type { PublishRequest } from '../../../csi/node.js';
import { KubeletTokenSource, tokensKey } from '../../../csi/tokens.js';

const pod = { namespace: 'team-a', name: 'app', uid: 'uid-1', serviceAccount: 'builder' };
const context = {
  'csi.storage.k8s.io/pod.name': pod.name,
  'csi.storage.k8s.io/pod.namespace': pod.namespace,
  'csi.storage.k8s.io/pod.uid': pod.uid,
  'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
  'csi.storage.k8s.io/ephemeral': 'true',
  connectors: 'git',
};
const attrs = parseVolumeAttributes(context, { multiConnector: false });

const podUser = (extra: Record<string, string[]> = {}): UserInfo => ({
  ...serviceAccountUser(pod),
  extra: { 'authentication.kubernetes.io/pod-uid': [pod.uid], ...extra },
});

class TableReviewer implements TokenReviewer {
  constructor(private readonly answers: Record<string, UserInfo | null | 'error'>) {}
  review(token: string): Promise<UserInfo | null> {
    const a = this.answers[token];
    if (a === 'error') return Promise.reject(new Error('connection refused'));
    return Promise.resolve(a ?? null);
  }
}

const tokensJson = (audience: string, token: string): string =>
  JSON.stringify({ [audience]: { token, expirationTimestamp: '2030-01-01T00:00:00Z' } });

const req = (opts: {
  secrets?: Record<string, string>;
  volumeContext?: Record<string, string>;
}): PublishRequest => ({
  volumeId: 'v',
  targetPath: '/t',
  volumeContext: { ...context, ...opts.volumeContext },
  secrets: opts.secrets ?? {},
  republish: false,
});

describe('csi/tokens: the kubelet token source', function () {
  const reviewer = new TableReviewer({
    good: podUser(),
    'other-sa': { ...podUser(), username: 'system:serviceaccount:team-a:admin' },
    'other-pod': podUser({ 'authentication.kubernetes.io/pod-uid': ['uid-2'] }),
    unbound: { ...serviceAccountUser(pod) },
    broken: 'error',
  });
  const source = new KubeletTokenSource('connectors-proxy', reviewer);

  it('takes the token for its audience from volume_context, reviewed', async function () {
    const got = await source.token(
      req({ volumeContext: { [tokensKey]: tokensJson('connectors-proxy', 'good') } }),
      attrs,
    );
    expect(got.token).to.equal('good');
    expect(got.user.username).to.equal('system:serviceaccount:team-a:builder');
  });

  it('prefers secrets (serviceAccountTokenInSecrets) over volume_context', async function () {
    const got = await source.token(
      req({
        secrets: { [tokensKey]: tokensJson('connectors-proxy', 'good') },
        volumeContext: { [tokensKey]: tokensJson('connectors-proxy', 'broken') },
      }),
      attrs,
    );
    expect(got.token).to.equal('good');
  });

  it('accepts a token without a pod claim when the ServiceAccount is the pod’s', async function () {
    const got = await source.token(
      req({ volumeContext: { [tokensKey]: tokensJson('connectors-proxy', 'unbound') } }),
      attrs,
    );
    expect(got.token).to.equal('unbound');
  });

  const refusals: { name: string; context?: Record<string, string>; code: status; message: RegExp }[] = [
    {
      name: 'no token at all',
      code: status.INVALID_ARGUMENT,
      message:
        /kubelet passed no ServiceAccount token: the CSIDriver connectors-csi must list \{audience: connectors-proxy\} in spec.tokenRequests/,
    },
    {
      name: 'only another audience',
      context: { [tokensKey]: tokensJson('', 'good') },
      code: status.INVALID_ARGUMENT,
      message: /no token for the audience "connectors-proxy"/,
    },
    {
      name: 'not kubelet’s JSON',
      context: { [tokensKey]: 'good' },
      code: status.INVALID_ARGUMENT,
      message: /is not the JSON kubelet writes/,
    },
    {
      name: 'an invalid token',
      context: { [tokensKey]: tokensJson('connectors-proxy', 'forged') },
      code: status.UNAUTHENTICATED,
      message: /invalid or expired/,
    },
    {
      name: 'another ServiceAccount’s token',
      context: { [tokensKey]: tokensJson('connectors-proxy', 'other-sa') },
      code: status.UNAUTHENTICATED,
      message:
        /authenticates system:serviceaccount:team-a:admin, not the pod's system:serviceaccount:team-a:builder/,
    },
    {
      name: 'a token bound to another pod',
      context: { [tokensKey]: tokensJson('connectors-proxy', 'other-pod') },
      code: status.UNAUTHENTICATED,
      message: /bound to another pod than team-a\/app/,
    },
    {
      name: 'TokenReview unreachable',
      context: { [tokensKey]: tokensJson('connectors-proxy', 'broken') },
      code: status.UNAVAILABLE,
      message: /could not be reviewed/,
    },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name}`, async function () {
      let error: unknown;
      await source
        .token(req({ volumeContext: c.context ?? {} }), attrs)
        .catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(CsiError);
      expect((error as CsiError).code).to.equal(c.code);
      expect((error as CsiError).message).to.match(c.message);
      for (const t of ['good', 'forged', 'other-sa', 'other-pod'])
        expect((error as CsiError).message).not.to.contain(`"${t}"`);
    });
  }
});
