// Discovery decides whether kubectl, namespace deletion and the aggregator see our group at all:
// the Accept negotiation must send kube-apiserver's aggregated-discovery fetch to its fallback,
// and the resource list must name the subresources the way RBAC and kubectl expect.
import { expect } from 'chai';
import { acceptsPlainJson, apiGroup, apiGroupList, apiResourceList } from '../../../apiserver/discovery.js';
import type { ProxyDeps } from '../../../registry/proxy.js';
import { proxySubresource } from '../../../registry/proxy.js';

const aggregatedV2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
const aggregatedV2beta1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList';

describe('apiserver/discovery acceptsPlainJson', () => {
  const cases: { accept: string | undefined; want: boolean }[] = [
    { accept: aggregatedV2, want: false },
    { accept: `${aggregatedV2},${aggregatedV2beta1}`, want: false },
    { accept: `${aggregatedV2},application/json`, want: true },
    { accept: `${aggregatedV2}, ${aggregatedV2beta1}, application/json;q=0.9`, want: true },
    { accept: 'application/vnd.kubernetes.protobuf', want: false },
    {
      accept: 'application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
      want: false,
    },
    { accept: 'application/vnd.kubernetes.protobuf, */*', want: true },
    { accept: 'text/html', want: false },
    { accept: 'application/json', want: true },
    { accept: 'Application/JSON', want: true },
    { accept: 'application/*', want: true },
    { accept: '*/*', want: true },
    { accept: '', want: true },
    { accept: undefined, want: true },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.accept)} → ${c.want}`, () => {
      expect(acceptsPlainJson(c.accept)).to.equal(c.want);
    });
  }
});

interface ResourceEntry {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
}

interface ResourceList {
  kind: string;
  apiVersion: string;
  groupVersion: string;
  resources: ResourceEntry[];
}

describe('apiserver/discovery apiResourceList', () => {
  const parse = (body: string): ResourceList => JSON.parse(body) as ResourceList;

  it('lists each subresource as connectors/<name>, sorted, with a kind and sorted verbs', () => {
    const doc = parse(
      apiResourceList([
        { name: 'proxy', kind: 'ConnectorProxyOptions', verbs: ['update', 'get', 'create'] },
        { name: 'branches', kind: 'ConnectorBranches', verbs: ['get'] },
      ]).body,
    );
    expect(doc).to.deep.equal({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'subresources.connectors.alauda.io/v1alpha1',
      resources: [
        {
          name: 'connectors/branches',
          singularName: '',
          namespaced: true,
          kind: 'ConnectorBranches',
          verbs: ['get'],
        },
        {
          name: 'connectors/proxy',
          singularName: '',
          namespaced: true,
          kind: 'ConnectorProxyOptions',
          verbs: ['create', 'get', 'update'],
        },
      ],
    });
  });

  it('does not mutate the caller’s list or verbs', () => {
    const verbs = ['update', 'get'];
    const subresources = [
      { name: 'z', kind: 'Z', verbs },
      { name: 'a', kind: 'A', verbs: ['get'] },
    ];
    apiResourceList(subresources);
    expect(subresources.map((s) => s.name)).to.deep.equal(['z', 'a']);
    expect(verbs).to.deep.equal(['update', 'get']);
  });

  it('advertises the real proxy subresource without list, watch or deletecollection', () => {
    const proxy = proxySubresource({} as ProxyDeps);
    const doc = parse(apiResourceList([proxy]).body);
    expect(doc.resources).to.have.length(1);
    const entry = doc.resources[0]!;
    expect(entry.name).to.equal('connectors/proxy');
    expect(entry.kind).to.not.equal('');
    expect(entry.verbs).to.deep.equal([...entry.verbs].sort());
    expect(entry.verbs).to.include('get');
    for (const verb of ['list', 'watch', 'deletecollection']) expect(entry.verbs).to.not.include(verb);
    // Only subresources: no bare `connectors` (that resource lives in the CRD group).
    expect(doc.resources.map((r) => r.name)).to.not.include('connectors');
  });

  it('gives a stable, quoted ETag that changes with the content', () => {
    const a1 = apiResourceList([{ name: 'proxy', kind: 'K', verbs: ['get'] }]);
    const a2 = apiResourceList([{ name: 'proxy', kind: 'K', verbs: ['get'] }]);
    const b = apiResourceList([{ name: 'proxy', kind: 'K', verbs: ['get', 'create'] }]);
    expect(a1.etag).to.match(/^"[0-9a-f]{32}"$/);
    expect(a1.etag).to.equal(a2.etag);
    expect(b.etag).to.not.equal(a1.etag);
  });
});

describe('apiserver/discovery group documents', () => {
  it('the APIGroupList and APIGroup name our group with v1alpha1 preferred', () => {
    const version = {
      groupVersion: 'subresources.connectors.alauda.io/v1alpha1',
      version: 'v1alpha1',
    };
    expect(JSON.parse(apiGroupList.body)).to.deep.equal({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: 'subresources.connectors.alauda.io', versions: [version], preferredVersion: version }],
    });
    expect(JSON.parse(apiGroup.body)).to.deep.equal({
      kind: 'APIGroup',
      apiVersion: 'v1',
      name: 'subresources.connectors.alauda.io',
      versions: [version],
      preferredVersion: version,
    });
  });
});
