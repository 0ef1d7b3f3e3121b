// Property-based tests of the Connectors Proxy's request routing: for any generated method, mode
// (reverse by path, by Host, OCI path, forward), sub-path (encodings, dot segments, trailing
// slashes, `watch=` queries) and RBAC grant, a request that reaches the tool was authorized with
// `get` on the Connector and its own method's verb on connectors/proxy — or it was refused and
// the tool received nothing.
import { expect } from 'chai';
import fc from 'fast-check';
import {
  callerToken,
  ns,
  proxyAuthorization,
  startProxyChain,
  verbReachingTool,
  type Chain,
} from '../helpers/chains.js';
import { grantArb, methodArb, queryArb, restSegmentArb } from '../helpers/requests.js';

type Mode = 'path' | 'host' | 'oci' | 'forward';

describe('connproxy routing properties', function () {
  this.timeout(120_000);
  let chain: Chain;
  before(async function () {
    chain = await startProxyChain();
  });
  after(async function () {
    await chain.close();
  });

  function request(mode: Mode, rest: string): { path: string; headers: Record<string, string> } {
    const bearer = { authorization: `Bearer ${callerToken}` };
    switch (mode) {
      case 'path':
        return { path: `/namespaces/${ns}/connectors/tool/${rest}`, headers: bearer };
      case 'host':
        return { path: `/${rest}`, headers: { ...bearer, host: `c-tool.${ns}` } };
      case 'oci':
        return { path: `/v2/namespaces/${ns}/connectors/tool/${rest}`, headers: bearer };
      case 'forward':
        return {
          path: `${chain.tool.url}/base/${rest}`,
          headers: { 'proxy-authorization': proxyAuthorization },
        };
    }
  }

  it('what reaches a tool was authorized as its own method’s verb, or nothing reaches it', async function () {
    await fc.assert(
      fc.asyncProperty(
        // CONNECT is the forward-mode tunnel entry, not a request to a tool: the corpus covers it.
        methodArb.filter((m) => m !== 'CONNECT'),
        fc.constantFrom<Mode>('path', 'host', 'oci', 'forward'),
        fc.array(restSegmentArb, { maxLength: 4 }),
        fc.boolean(),
        queryArb,
        grantArb,
        async (method, mode, segments, trailing, query, granted) => {
          chain.tool.requests.length = 0;
          chain.authorizer.asked.length = 0;
          chain.authorizer.allow = (info) => granted.includes(info.verb);
          const { path, headers } = request(mode, `${segments.join('/')}${trailing ? '/' : ''}${query}`);
          const verb = await verbReachingTool(chain, method, path, headers);
          if (verb === null) return;
          expect(chain.authorizer.asked.map((i) => `${i.subresource}:${i.verb}`).sort()).to.deep.equal([
            ':get',
            `proxy:${verb}`,
          ]);
          expect(granted).to.include.members(['get', verb]);
        },
      ),
      { numRuns: 400 },
    );
  });
});
