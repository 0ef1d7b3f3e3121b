// A ConnectorClass's status: APIReady (its backend reachable at the resolved address), ProxyReady,
// Ready, and the resolved addresses, with --service-url-override applied to Service refs.
import { expect } from 'chai';
import { AddressResolver, connectorApiPath } from '../../../controller/addresses.js';
import { connectorClassStatus } from '../../../controller/connectorclass.js';
import type { ConnectorClass } from '../../../registry/types.js';

const ref = (name: string, namespace?: string) => ({
  kind: 'Service',
  name,
  ...(namespace ? { namespace } : {}),
});

describe('controller/addresses', () => {
  const r = new AddressResolver(
    'connectors-system',
    new Map([['connectors-system/connectors-classapi', 'http://127.0.0.1:9']]),
  );
  const cases: { name: string; api: NonNullable<ConnectorClass['spec']>['api']; want: string | null }[] = [
    { name: 'absolute uri', api: { uri: 'https://api.example.com/v1' }, want: 'https://api.example.com/v1' },
    {
      name: 'Service ref + uri',
      api: { ref: ref('git-api', 'tools'), uri: '/git' },
      want: 'https://git-api.tools.svc/git',
    },
    {
      name: 'Service ref in the controller’s namespace',
      api: { ref: ref('x') },
      want: 'https://x.connectors-system.svc',
    },
    {
      name: 'relative uri without leading slash',
      api: { ref: ref('x', 'y'), uri: 'p' },
      want: 'https://x.y.svc/p',
    },
    {
      name: 'overridden Service',
      api: { ref: ref('connectors-classapi', 'connectors-system'), uri: '/oci' },
      want: 'http://127.0.0.1:9/oci',
    },
    { name: 'openapi only', api: { openapi: {} }, want: null },
  ];
  for (const c of cases) {
    it(`class API address: ${c.name}`, () => {
      expect(r.classApiUrl({ metadata: { name: 'c' }, spec: { api: c.api } })).to.equal(c.want);
    });
  }

  it('status.api.path is the Connector under the aggregated API', () => {
    expect(connectorApiPath({ metadata: { name: 'gitlab', namespace: 'team-a' } })).to.equal(
      '/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/team-a/connectors/gitlab',
    );
  });
});

describe('controller/connectorclass connectorClassStatus', () => {
  const addresses = new AddressResolver('connectors-system');
  const reachable = (ok: boolean) => (url: string) =>
    Promise.resolve(
      ok ? ({ ok: true } as const) : ({ ok: false, message: `Get "${url}": connect ECONNREFUSED` } as const),
    );

  it('NonAPI and NonProxy for a class with neither', async () => {
    const s = await connectorClassStatus(
      { metadata: { name: 'c', generation: 2 }, spec: {} },
      { addresses, reachable: reachable(true) },
    );
    expect(s.conditions).to.deep.equal([
      { type: 'APIReady', status: 'True', reason: 'NonAPI' },
      { type: 'ProxyReady', status: 'True', reason: 'NonProxy' },
      { type: 'Ready', status: 'True' },
    ]);
    expect(s.observedGeneration).to.equal(2);
    expect(s.api).to.equal(undefined);
    expect(s.proxy).to.equal(undefined);
  });

  it('resolves and checks the API, and resolves the proxy', async () => {
    const cls: ConnectorClass = {
      metadata: { name: 'git' },
      spec: {
        api: { ref: ref('connectors-classapi', 'connectors-system'), uri: '/git' },
        proxy: { ref: ref('connectors-proxy') },
      },
    };
    const up = await connectorClassStatus(cls, { addresses, reachable: reachable(true) });
    expect(up.api).to.deep.equal({
      address: { url: 'https://connectors-classapi.connectors-system.svc/git' },
    });
    expect(up.proxy).to.deep.equal({ httpAddress: { url: 'http://connectors-proxy.connectors-system.svc' } });
    expect(up.conditions.map((c) => c.status)).to.deep.equal(['True', 'True', 'True']);

    const down = await connectorClassStatus(cls, { addresses, reachable: reachable(false) });
    expect(down.conditions[0]).to.include({ type: 'APIReady', status: 'False', reason: 'APIUnreachable' });
    expect(down.conditions[2]).to.include({ type: 'Ready', status: 'False', reason: 'APIUnreachable' });
    expect(down.api).to.deep.equal(up.api);
  });

  it('an openapi-only API is NonAPI unless it declares backend operations', async () => {
    const proxyOnly: ConnectorClass = {
      metadata: { name: 'gitlab' },
      spec: { api: { openapi: { paths: { '/api/v4/projects': { get: { 'x-provider-type': 'proxy' } } } } } },
    };
    const a = await connectorClassStatus(proxyOnly, { addresses, reachable: reachable(true) });
    expect(a.conditions[0]).to.include({ status: 'True', reason: 'NonAPI' });
    const backend: ConnectorClass = {
      metadata: { name: 'x' },
      spec: { api: { openapi: { paths: { '/tags': { get: { 'x-provider-type': 'api' } } } } } },
    };
    const b = await connectorClassStatus(backend, { addresses, reachable: reachable(true) });
    expect(b.conditions[0]).to.include({ status: 'False', reason: 'APIAddressNotResolved' });
  });
});
