// The Connectors Proxy authorizes every request with the verb of its own method on
// connectors/proxy (and `get` on the Connector itself), in reverse and forward mode; a method
// outside the method→verb table is a 405 and reaches no tool.
import { expect } from 'chai';
import {
  callerToken,
  ns,
  proxyAuthorization,
  send,
  startProxyChain,
  toolAuthorization,
  type Chain,
  unservedMethods,
} from '../helpers/chains.js';

const methods: [string, string][] = [
  ['GET', 'get'],
  ['HEAD', 'get'],
  ['POST', 'create'],
  ['PUT', 'update'],
  ['PATCH', 'patch'],
  ['DELETE', 'delete'],
];

describe('connproxy/handler: the verb of the method, on every request', function () {
  let chain: Chain;
  /** `get` on the Connector and on connectors/proxy: the shipped connectors-proxy-view role. */
  const viewOnly = (info: { verb: string }): boolean => info.verb === 'get';

  before(async function () {
    chain = await startProxyChain();
  });
  after(async function () {
    await chain.close();
  });
  beforeEach(function () {
    chain.tool.requests.length = 0;
    chain.authorizer.asked.length = 0;
    chain.authorizer.allow = () => true;
  });

  const modes = (): { name: string; path: string; headers: Record<string, string> }[] => [
    {
      name: 'reverse mode',
      path: `/namespaces/${ns}/connectors/tool/items/42`,
      headers: { authorization: `Bearer ${callerToken}` },
    },
    {
      name: 'forward mode',
      path: `${chain.tool.url}/base/items/42`,
      headers: { 'proxy-authorization': proxyAuthorization },
    },
  ];

  for (const mode of ['reverse mode', 'forward mode']) {
    for (const [method, verb] of methods) {
      it(`${mode}: ${method} asks ${verb} on connectors/proxy and get on the Connector`, async function () {
        const m = modes().find((x) => x.name === mode)!;
        const r = await send(chain.port, method, m.path, m.headers);
        expect(r.status, r.body).to.equal(200);
        expect(
          chain.authorizer.asked.map((i) => `${i.apiGroup} ${i.subresource} ${i.verb}`).sort(),
        ).to.deep.equal(['connectors.alauda.io  get', `subresources.connectors.alauda.io proxy ${verb}`]);
        expect(chain.tool.requests.map((q) => q.method)).to.deep.equal([method]);
        expect(chain.tool.requests[0]?.headers.authorization).to.equal(toolAuthorization);
      });

      if (verb !== 'get') {
        it(`${mode}: ${method} by a caller with get only is 403 and reaches no tool`, async function () {
          chain.authorizer.allow = viewOnly;
          const m = modes().find((x) => x.name === mode)!;
          const r = await send(chain.port, method, m.path, m.headers);
          expect(r.status, r.body).to.equal(403);
          expect(chain.tool.requests).to.deep.equal([]);
        });
      }
    }

    for (const method of unservedMethods) {
      it(`${mode}: ${method} is a 405 Status for a caller RBAC allows everything, and reaches no tool`, async function () {
        const m = modes().find((x) => x.name === mode)!;
        const r = await send(chain.port, method, m.path, m.headers);
        expect(r.status, r.body).to.equal(405);
        expect((JSON.parse(r.body) as { kind: string }).kind).to.equal('Status');
        expect(r.headers.allow).to.equal('GET, HEAD, POST, PUT, PATCH, DELETE');
        expect(chain.tool.requests).to.deep.equal([]);
      });
    }
  }

  it('reverse mode: TRACE never echoes the injected credential back', async function () {
    const r = await send(chain.port, 'TRACE', `/namespaces/${ns}/connectors/tool/echo`, {
      authorization: `Bearer ${callerToken}`,
    });
    expect(r.body).not.to.contain('Basic ');
    expect(chain.tool.requests).to.deep.equal([]);
  });
});
