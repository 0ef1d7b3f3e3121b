// The proxy asks RBAC exactly two questions per Connector — `get` on the Connector and the
// method's verb on its connectors/proxy subresource — and any "no" or failure to answer refuses.
import { expect } from 'chai';
import type { TokenReviewer, UserInfo } from '../../../kube/tokenreview.js';
import { sarSpec, type Authorizer, type Decision } from '../../../kube/authz.js';
import type { RequestInfo } from '../../../machinery/requestinfo.js';
import { StatusError } from '../../../machinery/status.js';
import { CallerChecks } from '../../../kube/callers.js';
import { connectorAccess, connectorChecks } from '../../../registry/access.js';

const alice: UserInfo = {
  username: 'system:serviceaccount:ci:builder',
  groups: ['system:serviceaccounts', 'system:authenticated'],
  extra: {},
};

class RecordingAuthorizer implements Authorizer {
  readonly asked: RequestInfo[] = [];
  constructor(private readonly allow: (info: RequestInfo) => boolean) {}
  authorize(_user: UserInfo, info: RequestInfo): Promise<Decision> {
    this.asked.push(info);
    const allowed = this.allow(info);
    return Promise.resolve({ allowed, reason: allowed ? '' : `no ${info.subresource || 'get'}` });
  }
}

const reviewer = (answer: UserInfo | null | Error): TokenReviewer => ({
  review: () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)),
});

describe('kube/callers with registry/access', () => {
  it('asks get on the Connector and the verb on connectors/proxy', () => {
    const ref = { namespace: 'team-a', name: 'git' };
    expect(sarSpec(alice, connectorAccess(ref, '', 'delete')).resourceAttributes).to.deep.equal({
      namespace: 'team-a',
      verb: 'get',
      group: 'connectors.alauda.io',
      version: 'v1alpha1',
      resource: 'connectors',
      subresource: '',
      name: 'git',
    });
    expect(sarSpec(alice, connectorAccess(ref, 'proxy', 'delete')).resourceAttributes).to.deep.equal({
      namespace: 'team-a',
      verb: 'delete',
      group: 'subresources.connectors.alauda.io',
      version: 'v1alpha1',
      resource: 'connectors',
      subresource: 'proxy',
      name: 'git',
    });
  });

  it('allows only when both answers are yes, for every listed Connector', async () => {
    const authz = new RecordingAuthorizer(() => true);
    const checks = new CallerChecks(reviewer(alice), authz);
    await checks.authorize(
      alice,
      connectorChecks(
        [
          { namespace: 'a', name: 'x' },
          { namespace: 'b', name: 'y' },
        ],
        'get',
      ),
    );
    expect(authz.asked.map((i) => `${i.namespace}/${i.name}/${i.subresource}`)).to.have.members([
      'a/x/',
      'a/x/proxy',
      'b/y/',
      'b/y/proxy',
    ]);
  });

  it('for opening an intercepted tunnel (no verb) asks only get on the Connector', async () => {
    const authz = new RecordingAuthorizer(() => true);
    await new CallerChecks(reviewer(alice), authz).authorize(
      alice,
      connectorChecks([{ namespace: 'a', name: 'x' }], null),
    );
    expect(authz.asked.map((i) => `${i.apiGroup} ${i.subresource} ${i.verb}`)).to.deep.equal([
      'connectors.alauda.io  get',
    ]);
  });

  for (const missing of ['', 'proxy']) {
    it(`refuses with 403 when ${missing ? 'connectors/proxy' : 'the Connector'} is not granted`, async () => {
      const checks = new CallerChecks(
        reviewer(alice),
        new RecordingAuthorizer((i) => i.subresource !== missing),
      );
      try {
        await checks.authorize(alice, connectorChecks([{ namespace: 'a', name: 'x' }], 'get'));
        expect.fail('expected a refusal');
      } catch (err) {
        expect(err).to.be.instanceOf(StatusError);
        expect((err as StatusError).code).to.equal(403);
        expect((err as StatusError).status.reason).to.equal('Forbidden');
      }
    });
  }

  it('an invalid token is null; a review that fails is a 503 that never names the token', async () => {
    expect(
      await new CallerChecks(reviewer(null), new RecordingAuthorizer(() => true)).identify('t'),
    ).to.equal(null);
    const failing = new CallerChecks(
      reviewer(Object.assign(new Error('connect ECONNREFUSED secret-token-xyz'), { code: 'ECONNREFUSED' })),
      new RecordingAuthorizer(() => true),
    );
    try {
      await failing.identify('secret-token-xyz');
      expect.fail('expected a 503');
    } catch (err) {
      expect((err as StatusError).code).to.equal(503);
      expect((err as StatusError).message).not.to.contain('secret-token-xyz');
    }
  });
});
