// The aggregated server's chain decides on exactly the verb of the method that reaches a tool:
// one method→verb table, a 405 for every other method, and only the plain path form of a Connector
// subresource (a verb-prefixed `/watch/…` or `/proxy/…` form is refused whatever kube-apiserver
// authorized: it authorizes the verb in the path, while the tool would get the method).
import { expect } from 'chai';
import {
  aggregatedProxyPath,
  callerToken,
  ns,
  send,
  startAggregatedChain,
  type Chain,
  unservedMethods,
} from '../helpers/chains.js';

const GV = '/apis/subresources.connectors.alauda.io/v1alpha1';
const auth = { authorization: `Bearer ${callerToken}` };
const writes = ['POST', 'PUT', 'PATCH', 'DELETE'];

function statusOf(body: string): { kind: string; code: number; message: string } {
  return JSON.parse(body) as { kind: string; code: number; message: string };
}

describe('apiserver/app: one method→verb table, plain path forms only', function () {
  let chain: Chain;
  /** A read-only caller, as kube-apiserver would have let through to us: get, list, watch. */
  const readOnly = (verb: string): boolean => ['get', 'list', 'watch'].includes(verb);

  before(async function () {
    chain = await startAggregatedChain();
  });
  after(async function () {
    await chain.close();
  });
  beforeEach(function () {
    chain.tool.requests.length = 0;
    chain.authorizer.asked.length = 0;
    chain.authorizer.allow = () => true;
  });

  it('control: a plain GET reaches the tool, authorized as get', async function () {
    const r = await send(chain.port, 'GET', aggregatedProxyPath('items/42'), auth);
    expect(r.status, r.body).to.equal(200);
    expect(chain.tool.requests.map((q) => `${q.method} ${q.url}`)).to.deep.equal(['GET /base/items/42']);
    expect(chain.authorizer.asked.map((i) => i.verb)).to.deep.equal(['get']);
  });

  for (const method of writes) {
    for (const prefix of ['watch', 'proxy']) {
      it(`${method} through the /${prefix}/ form is refused for a read-only caller, and nothing reaches the tool`, async function () {
        chain.authorizer.allow = (info) => readOnly(info.verb) || info.verb === 'proxy';
        const r = await send(
          chain.port,
          method,
          `${GV}/${prefix}/namespaces/${ns}/connectors/tool/proxy/items/42`,
          auth,
        );
        expect(r.status, r.body).to.equal(404);
        expect(statusOf(r.body).message).to.match(/plain path/);
        expect(chain.tool.requests).to.deep.equal([]);
      });
    }
    it(`${method} to a class API through /watch/ is refused, and nothing reaches the tool`, async function () {
      chain.authorizer.allow = (info) => readOnly(info.verb);
      const r = await send(
        chain.port,
        method,
        `${GV}/watch/namespaces/${ns}/connectors/forge/projects/1/branches`,
        auth,
      );
      expect(r.status, r.body).to.equal(404);
      expect(chain.tool.requests).to.deep.equal([]);
    });
  }

  it('even an all-verbs caller gets no /watch/ form served', async function () {
    const r = await send(chain.port, 'GET', `${GV}/watch/namespaces/${ns}/connectors/tool/proxy/items`, auth);
    expect(r.status, r.body).to.equal(404);
    expect(statusOf(r.body).message).to.match(/plain path/);
    expect(chain.tool.requests).to.deep.equal([]);
  });

  it('?watch=true on a subresource is authorized as the method, not as watch', async function () {
    const r = await send(chain.port, 'POST', `${aggregatedProxyPath('items')}?watch=true`, auth);
    expect(r.status, r.body).to.equal(200);
    expect(chain.authorizer.asked.map((i) => i.verb)).to.deep.equal(['create']);
    expect(chain.tool.requests.map((q) => q.method)).to.deep.equal(['POST']);
  });

  for (const method of unservedMethods) {
    for (const [what, path] of [
      ['/proxy', aggregatedProxyPath('items/42')],
      ['a class API', `${GV}/namespaces/${ns}/connectors/forge/projects/1/branches`],
      ['/proxy via /watch/', `${GV}/watch/namespaces/${ns}/connectors/tool/proxy/items/42`],
    ] as const) {
      it(`${method} on ${what} is a 405 Status, even for a caller RBAC allows everything, and reaches no tool`, async function () {
        const r = await send(chain.port, method, path, auth);
        expect(r.status, r.body).to.equal(405);
        const status = statusOf(r.body);
        expect(status.kind).to.equal('Status');
        expect(status.message).to.contain(method);
        expect(r.headers.allow).to.equal('GET, HEAD, POST, PUT, PATCH, DELETE');
        expect(chain.tool.requests).to.deep.equal([]);
      });
    }
  }

  it('TRACE never echoes the injected credential back', async function () {
    const r = await send(chain.port, 'TRACE', aggregatedProxyPath('echo'), auth);
    expect(r.body).not.to.contain('Basic ');
    expect(chain.tool.requests).to.deep.equal([]);
  });
});
