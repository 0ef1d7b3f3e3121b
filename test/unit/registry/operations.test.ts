// The operation matcher decides which declared operation a request is, where it goes, and which
// query is acceptable; every case here is a routing decision a user would notice.

import { expect } from 'chai';
import { classApi } from '../../../registry/operations.js';
import type { ConnectorClass } from '../../../registry/types.js';

const paging = [
  { name: 'search', in: 'query', schema: { type: 'string' } },
  { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1 } },
  { name: 'itemsPerPage', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
];

function cls(paths: Record<string, unknown>, components?: Record<string, unknown>): ConnectorClass {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'ConnectorClass',
    metadata: { name: 'c' },
    spec: { api: { openapi: { openapi: '3.0.3', info: { title: 't', version: '1' }, paths, components } } },
  };
}

const git = cls({
  '/branches': {
    get: {
      operationId: 'listBranches',
      'x-provider-type': 'api',
      parameters: [
        { name: 'repository', in: 'query', required: true, schema: { type: 'string' } },
        ...paging,
      ],
    },
  },
  '/git/gitrefs': { get: { operationId: 'listGitRefs', 'x-provider-type': 'api' } },
  '/projects/{id}/repository/branches': {
    parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    get: { operationId: 'projectBranches' },
    post: { operationId: 'createBranch' },
  },
  '/projects/starred': { get: { operationId: 'starred', 'x-openapi-address': 'api' } },
  '/projects/{id}': { get: { operationId: 'project' }, delete: { operationId: 'deleteProject' } },
  '/proxy/evil': { get: { operationId: 'takeover' } },
});

describe('registry/operations classApi', () => {
  const routes: { method: string; segments: string[]; operationId: string | null; provider?: string }[] = [
    { method: 'GET', segments: ['branches'], operationId: 'listBranches', provider: 'api' },
    { method: 'HEAD', segments: ['branches'], operationId: 'listBranches' },
    { method: 'GET', segments: ['branches', ''], operationId: 'listBranches' },
    { method: 'GET', segments: ['git', 'gitrefs'], operationId: 'listGitRefs', provider: 'api' },
    {
      method: 'GET',
      segments: ['projects', '12', 'repository', 'branches'],
      operationId: 'projectBranches',
      provider: 'proxy',
    },
    {
      method: 'GET',
      segments: ['projects', 'group%2Fproject', 'repository', 'branches'],
      operationId: 'projectBranches',
    },
    { method: 'POST', segments: ['projects', '12', 'repository', 'branches'], operationId: 'createBranch' },
    { method: 'GET', segments: ['projects', 'starred'], operationId: 'starred' },
    { method: 'GET', segments: ['projects', '7'], operationId: 'project' },
    { method: 'DELETE', segments: ['projects', 'starred'], operationId: 'deleteProject' },
    { method: 'GET', segments: ['tags'], operationId: null },
    { method: 'GET', segments: ['projects', '1', 'repository'], operationId: null },
    { method: 'GET', segments: ['proxy', 'evil'], operationId: null },
  ];
  for (const r of routes) {
    it(`${r.method} /${r.segments.join('/')} → ${r.operationId ?? 'not declared'}`, () => {
      const m = classApi(git).match(r.method, r.segments);
      if (r.operationId === null) {
        expect(m.kind).to.equal('not-declared');
        return;
      }
      expect(m.kind).to.equal('operation');
      if (m.kind !== 'operation') return;
      expect(m.operation.operationId).to.equal(r.operationId);
      if (r.provider) expect(m.operation.provider).to.equal(r.provider);
    });
  }

  it('a declared path with another method is method-not-allowed, listing what is allowed', () => {
    const m = classApi(git).match('PUT', ['projects', '12', 'repository', 'branches']);
    expect(m).to.deep.equal({ kind: 'method-not-allowed', allowed: ['GET', 'POST'] });
  });

  it('OPTIONS and TRACE are no operation, even where a class declares one: only methods with a verb are', () => {
    const declaring = cls({
      '/things': {
        get: { operationId: 'list' },
        options: { operationId: 'describe' },
        trace: { operationId: 't' },
      },
    });
    for (const method of ['OPTIONS', 'TRACE']) {
      expect(classApi(declaring).match(method, ['things'])).to.deep.equal({
        kind: 'method-not-allowed',
        allowed: ['GET'],
      });
    }
    expect([...(classApi(declaring).subresources.get('things') ?? [])]).to.deep.equal(['get']);
  });

  it('x-openapi-address is carried', () => {
    const m = classApi(git).match('GET', ['projects', 'starred']);
    expect(m.kind === 'operation' && m.operation.address).to.equal('api');
  });

  it('lists first segments with their verbs, never the reserved proxy', () => {
    const subs = classApi(git).subresources;
    expect([...subs.keys()].sort()).to.deep.equal(['branches', 'git', 'projects']);
    expect([...(subs.get('projects') ?? [])].sort()).to.deep.equal(['create', 'delete', 'get']);
  });

  it('compiles once per class object, again for a new object', () => {
    expect(classApi(git)).to.equal(classApi(git));
    expect(classApi(cls({}))).to.not.equal(classApi(cls({})));
  });

  const queries: { query: string; error: RegExp | null }[] = [
    { query: 'repository=org/repo.git', error: null },
    { query: 'repository=org%2Frepo.git&page=2&itemsPerPage=10&search=ma', error: null },
    { query: 'repository=a&unknown=1', error: null },
    { query: '', error: /query parameter "repository" is required/ },
    { query: 'search=x', error: /"repository" is required/ },
    { query: 'repository=a&page=zero', error: /query parameter "page" must be integer/ },
    { query: 'repository=a&page=0', error: /query parameter "page" must be >= 1/ },
    { query: 'repository=a&itemsPerPage=5000', error: /"itemsPerPage" must be <= 1000/ },
  ];
  for (const q of queries) {
    it(`query "${q.query}" → ${q.error ? String(q.error) : 'valid'}`, () => {
      const m = classApi(git).match('GET', ['branches']);
      if (m.kind !== 'operation') throw new Error('not matched');
      const problem = m.operation.checkQuery(q.query);
      if (q.error) expect(problem).to.match(q.error);
      else expect(problem).to.equal(null);
    });
  }

  it('resolves $ref parameters from components', () => {
    const c = cls(
      { '/tags': { get: { parameters: [{ $ref: '#/components/parameters/Repo' }] } } },
      {
        parameters: { Repo: { name: 'repository', in: 'query', required: true, schema: { type: 'string' } } },
      },
    );
    const m = classApi(c).match('GET', ['tags']);
    expect(m.kind === 'operation' && m.operation.checkQuery('')).to.match(/"repository" is required/);
  });

  it('a class without openapi declares nothing', () => {
    const bare: ConnectorClass = { metadata: { name: 'k8s' }, spec: {} };
    expect(classApi(bare).match('GET', ['anything']).kind).to.equal('not-declared');
    expect(classApi(bare).subresources.size).to.equal(0);
  });
});
