// The attributes parsed here are what RBAC decides on, so every row mirrors what kube-apiserver's
// RequestInfoFactory (k8s.io/apiserver) derives for the same method and path:
// if the two ever disagree, a caller is authorized for one thing and served another.
import { expect } from 'chai';
import { parseRequestInfo, type RequestInfo } from '../../../machinery/requestinfo.js';

const G = 'subresources.connectors.alauda.io';
const V = 'v1alpha1';
const GV = `/apis/${G}/${V}`;
const proxyPath = `${GV}/namespaces/team-a/connectors/gitlab/proxy/api/v4/projects`;

type Expected = Partial<Omit<RequestInfo, 'path' | 'query'>>;

const resource = (verb: string, more: Expected = {}): Expected => ({
  isResourceRequest: true,
  verb,
  apiGroup: G,
  apiVersion: V,
  namespace: 'team-a',
  resource: 'connectors',
  name: 'gitlab',
  subresource: 'proxy',
  rest: ['api', 'v4', 'projects'],
  ...more,
});

const cases: { title: string; method: string; target: string; want: Expected }[] = [
  { title: 'GET on a subresource is get', method: 'GET', target: proxyPath, want: resource('get') },
  { title: 'HEAD is authorized as get', method: 'HEAD', target: proxyPath, want: resource('get') },
  { title: 'POST is create', method: 'POST', target: proxyPath, want: resource('create') },
  { title: 'PUT is update', method: 'PUT', target: proxyPath, want: resource('update') },
  { title: 'PATCH is patch', method: 'PATCH', target: proxyPath, want: resource('patch') },
  { title: 'DELETE is delete', method: 'DELETE', target: proxyPath, want: resource('delete') },
  {
    title: 'OPTIONS has the empty verb (only RBAC "*" matches it)',
    method: 'OPTIONS',
    target: proxyPath,
    want: resource(''),
  },
  {
    title: 'another subresource with a query',
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/gitlab/branches?ref=x`,
    want: resource('get', { subresource: 'branches', rest: [] }),
  },
  {
    title: 'GET without a name is list',
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors`,
    want: resource('list', { name: '', subresource: '', rest: [] }),
  },
  {
    title: 'DELETE without a name is deletecollection',
    method: 'DELETE',
    target: `${GV}/namespaces/team-a/connectors`,
    want: resource('deletecollection', { name: '', subresource: '', rest: [] }),
  },
  {
    title: 'a named object without subresource',
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/gitlab`,
    want: resource('get', { subresource: '', rest: [] }),
  },
  {
    title: 'a cluster-scoped resource has no namespace',
    method: 'GET',
    target: `${GV}/connectorclasses/gitlab`,
    want: resource('get', { namespace: '', resource: 'connectorclasses', subresource: '', rest: [] }),
  },
  {
    title: 'the proxied sub-path stays raw, with its trailing empty segment',
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/gitlab/proxy/a/b%2Fc/`,
    want: resource('get', { rest: ['a', 'b%2Fc', ''] }),
  },
  {
    title: 'proxy with nothing after it has no rest',
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/gitlab/proxy`,
    want: resource('get', { rest: [] }),
  },
  {
    title: 'dot-segments are not cleaned: RBAC sees the name before them',
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/gitlab/proxy/../../other/proxy/x`,
    want: resource('get', { rest: ['..', '..', 'other', 'proxy', 'x'] }),
  },
  {
    title: 'the deprecated verb-in-path form has the verb proxy',
    method: 'GET',
    target: `${GV}/proxy/namespaces/team-a/connectors/gitlab`,
    want: resource('proxy', { subresource: '', rest: [] }),
  },
  {
    title: 'the deprecated watch form has the verb watch',
    method: 'GET',
    target: `${GV}/watch/namespaces/team-a/connectors`,
    want: resource('watch', { name: '', subresource: '', rest: [] }),
  },
  {
    title: '/apis/G/V is a non-resource (discovery) request',
    method: 'GET',
    target: GV,
    want: { isResourceRequest: false, verb: 'get', resource: '', name: '' },
  },
  {
    title: '/apis/G/V/ is a non-resource request too',
    method: 'GET',
    target: `${GV}/`,
    want: { isResourceRequest: false, verb: 'get' },
  },
  {
    title: '/apis/G is non-resource',
    method: 'GET',
    target: `/apis/${G}`,
    want: { isResourceRequest: false, verb: 'get', apiGroup: '' },
  },
  { title: '/apis is non-resource', method: 'GET', target: '/apis', want: { isResourceRequest: false } },
  {
    title: 'non-resource verbs are the lower-cased method (HEAD stays head)',
    method: 'HEAD',
    target: '/healthz',
    want: { isResourceRequest: false, verb: 'head' },
  },
  {
    title: 'OpenAPI is non-resource',
    method: 'GET',
    target: '/openapi/v2',
    want: { isResourceRequest: false, verb: 'get' },
  },
  {
    title: "a name with '%' is not a resource request",
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/git%6cab/proxy/x`,
    want: { isResourceRequest: false, verb: 'get' },
  },
  {
    title: "a name with '@' is not a resource request",
    method: 'POST',
    target: `${GV}/namespaces/team-a/connectors/git@lab/proxy/x`,
    want: { isResourceRequest: false, verb: 'post' },
  },
  {
    title: "a namespace with '%' is not a resource request",
    method: 'GET',
    target: `${GV}/namespaces/team%2Da/connectors/gitlab/proxy/x`,
    want: { isResourceRequest: false, verb: 'get' },
  },
  {
    title: "a subresource with '%' is not a resource request",
    method: 'GET',
    target: `${GV}/namespaces/team-a/connectors/gitlab/pro%78y/x`,
    want: { isResourceRequest: false, verb: 'get' },
  },
  {
    title: 'an escaped group is never our group',
    method: 'GET',
    target: `/apis/subresources.connectors.alauda%2Eio/${V}/namespaces/team-a/connectors/gitlab/proxy`,
    want: { isResourceRequest: false, apiGroup: '' },
  },
];

describe('machinery/requestinfo parseRequestInfo', () => {
  for (const c of cases) {
    it(`${c.method} ${c.target}: ${c.title}`, () => {
      const info = parseRequestInfo(c.method, c.target);
      expect(info).to.not.equal(null);
      expect(info).to.include(Object.fromEntries(Object.entries(c.want).filter(([k]) => k !== 'rest')));
      if (c.want.rest) expect(info?.rest).to.deep.equal(c.want.rest);
    });
  }

  it('splits the query off the path, keeping it raw', () => {
    const info = parseRequestInfo('GET', `${proxyPath}?search=a%20b&x=1?y`);
    expect(info?.path).to.equal(proxyPath);
    expect(info?.query).to.equal('search=a%20b&x=1?y');
    expect(info?.rest).to.deep.equal(['api', 'v4', 'projects']);
  });

  it('has an empty query when there is none', () => {
    const info = parseRequestInfo('GET', proxyPath);
    expect(info?.path).to.equal(proxyPath);
    expect(info?.query).to.equal('');
  });

  for (const target of [
    `https://evil.example.com${proxyPath}`,
    `http://localhost${proxyPath}`,
    'evil.example.com:443',
    '*',
    '',
  ]) {
    it(`refuses the non-origin-form target ${JSON.stringify(target)}`, () => {
      expect(parseRequestInfo('GET', target)).to.equal(null);
    });
  }
});

// Rows where this parser and kube-apiserver currently disagree (reported as source bugs, not fixed
// here). Pending until requestinfo.ts is fixed; then drop `.skip`.
describe('machinery/requestinfo parseRequestInfo: known differences from kube-apiserver', () => {
  it('the deprecated proxy form never has a subresource, even with a sub-path', () => {
    // kube-apiserver: specialVerbsNoSubresources = {"proxy"}, so subresource stays "".
    const info = parseRequestInfo('GET', `${GV}/proxy/namespaces/team-a/connectors/gitlab/x/y`);
    expect(info).to.include({ verb: 'proxy', name: 'gitlab', subresource: '' });
  });

  it('a list with ?watch=true is authorized as watch', () => {
    const info = parseRequestInfo('GET', `${GV}/namespaces/team-a/connectors?watch=true`);
    expect(info).to.include({ verb: 'watch', resource: 'connectors', name: '' });
  });
});
