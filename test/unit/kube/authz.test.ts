// The SubjectAccessReview must ask about exactly the attributes kube-apiserver authorized, and a
// denial must read like kube-apiserver's own so that users recognise the RBAC rule they lack.
import { expect } from 'chai';
import { forbiddenReason, sarSpec, SubjectAccessReviewAuthorizer } from '../../../kube/authz.js';
import type { UserInfo } from '../../../kube/tokenreview.js';
import { createLogger } from '../../../machinery/log.js';
import { parseRequestInfo, type RequestInfo } from '../../../machinery/requestinfo.js';
import { KubeClient } from '../../../kube/client.js';
import { staticAccess } from '../../../kube/config.js';

const G = 'subresources.connectors.alauda.io';
const GV = `/apis/${G}/v1alpha1`;

function info(method: string, target: string): RequestInfo {
  const parsed = parseRequestInfo(method, target);
  if (!parsed) throw new Error(`unparseable target ${target}`);
  return parsed;
}

const alice: UserInfo = {
  username: 'alice',
  uid: 'uid-1',
  groups: ['dev', 'system:authenticated'],
  extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] },
};
const bob: UserInfo = { username: 'bob', groups: ['system:authenticated'], extra: {} };

describe('kube/authz sarSpec', () => {
  it('asks about the resource attributes of a subresource request', () => {
    expect(sarSpec(alice, info('GET', `${GV}/namespaces/team-a/connectors/foo/proxy/api/v4`))).to.deep.equal({
      user: 'alice',
      uid: 'uid-1',
      groups: ['dev', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/credential-id': ['JTI=abc'] },
      resourceAttributes: {
        namespace: 'team-a',
        verb: 'get',
        group: G,
        version: 'v1alpha1',
        resource: 'connectors',
        subresource: 'proxy',
        name: 'foo',
      },
    });
  });

  it('carries the verb of the method (POST → create)', () => {
    const spec = sarSpec(bob, info('POST', `${GV}/namespaces/team-a/connectors/foo/proxy/x`));
    expect(spec.resourceAttributes?.verb).to.equal('create');
  });

  it('omits uid when the user has none', () => {
    const spec = sarSpec(bob, info('GET', `${GV}/namespaces/team-a/connectors/foo/proxy`));
    expect(spec).to.not.have.property('uid');
    expect(spec.user).to.equal('bob');
  });

  it('asks about the path of a non-resource request', () => {
    const spec = sarSpec(bob, info('GET', `${GV}?timeout=32s`));
    expect(spec).to.deep.equal({
      user: 'bob',
      groups: ['system:authenticated'],
      extra: {},
      nonResourceAttributes: { path: GV, verb: 'get' },
    });
  });
});

describe('kube/authz forbiddenReason', () => {
  const cases: {
    title: string;
    user: UserInfo;
    method: string;
    target: string;
    why: string;
    want: string;
  }[] = [
    {
      title: 'a namespaced subresource',
      user: alice,
      method: 'GET',
      target: `${GV}/namespaces/team-a/connectors/foo/proxy/api`,
      why: '',
      want: `User "alice" cannot get resource "connectors/proxy" in API group "${G}" in the namespace "team-a"`,
    },
    {
      title: 'with the reason the SAR gave',
      user: alice,
      method: 'DELETE',
      target: `${GV}/namespaces/team-a/connectors/foo/proxy/api`,
      why: 'no RBAC policy matched',
      want:
        `User "alice" cannot delete resource "connectors/proxy" in API group "${G}" in the namespace "team-a"` +
        ': no RBAC policy matched',
    },
    {
      title: 'a resource without subresource',
      user: bob,
      method: 'GET',
      target: `${GV}/namespaces/team-b/connectors`,
      why: '',
      want: `User "bob" cannot list resource "connectors" in API group "${G}" in the namespace "team-b"`,
    },
    {
      title: 'a non-resource path',
      user: bob,
      method: 'GET',
      target: '/metrics',
      why: '',
      want: 'User "bob" cannot get path "/metrics"',
    },
  ];
  for (const c of cases) {
    it(c.title, () => {
      expect(forbiddenReason(c.user, info(c.method, c.target), c.why)).to.equal(c.want);
    });
  }

  // Pending: kube-apiserver ends a cluster-scoped denial with ` at the cluster scope`
  // (responsewriters.forbiddenMessage); authz.ts omits it. Reported as a source bug.
  it('a cluster-scoped resource says "at the cluster scope"', () => {
    expect(forbiddenReason(bob, info('GET', `${GV}/connectorclasses/gitlab`), '')).to.equal(
      `User "bob" cannot get resource "connectorclasses" in API group "${G}" at the cluster scope`,
    );
  });
});

describe('SubjectAccessReviewAuthorizer', () => {
  const quiet = createLogger({ level: 'error', write: () => undefined });
  const proxyGet = info('GET', `${GV}/namespaces/team-a/connectors/gitlab/proxy/x`);
  const unreachable = (): KubeClient =>
    new KubeClient(staticAccess('https://127.0.0.1:1', { token: 'not-used' }));

  it('denies when kube-apiserver cannot be asked (fails closed); the why goes to the log, not the caller', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'error', write: (l) => lines.push(l) });
    const authz = new SubjectAccessReviewAuthorizer(unreachable(), 10_000, log);
    const d = await authz.authorize({ username: 'alice', groups: ['dev'], extra: {} }, proxyGet);
    expect(d.allowed).to.equal(false);
    expect(d.reason).to.equal(
      'User "alice" cannot get resource "connectors/proxy" in API group "subresources.connectors.alauda.io" ' +
        'in the namespace "team-a": authorization could not be checked; try again later',
    );
    // The internal failure (where kube-apiserver was dialled, and how that failed) is logged only.
    expect(d.reason).not.to.match(/127\.0\.0\.1|ECONNREFUSED/);
    expect(lines.join('')).to.match(/127\.0\.0\.1|ECONNREFUSED/);
  });

  it('allows system:masters without asking, as kube-apiserver does', async () => {
    const authz = new SubjectAccessReviewAuthorizer(unreachable(), 10_000, quiet);
    const d = await authz.authorize({ username: 'admin', groups: ['system:masters'], extra: {} }, proxyGet);
    expect(d.allowed).to.equal(true);
  });
});
