// Property-based tests of request parsing on the aggregated server: for any generated method,
// path (verb-prefixed forms, encodings, dot segments, trailing slashes, `watch=` queries) and RBAC
// grant, the verb that was authorized is the verb of the method that reached the tool — or the
// request was refused and the tool received nothing.
import { expect } from 'chai';
import fc from 'fast-check';
import { parseRequestInfo } from '../../../machinery/requestinfo.js';
import { verbForMethod } from '../../../machinery/verbs.js';
import { callerToken, send, startAggregatedChain, verbReachingTool, type Chain } from '../helpers/chains.js';
import { grantArb, methodArb, queryArb, restSegmentArb, servedMethods } from '../helpers/requests.js';

const GV = '/apis/subresources.connectors.alauda.io/v1alpha1';
const table: Record<string, string> = {
  GET: 'get',
  HEAD: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** A path of our group: plain or verb-prefixed, to a subresource, a Connector, or a collection. */
const pathArb: fc.Arbitrary<string> = fc
  .record({
    prefix: fc.constantFrom('', 'watch/', 'proxy/', 'watch/', 'WATCH/'),
    scope: fc.constantFrom('namespaces/team-a/', '', 'namespaces/'),
    target: fc.constantFrom(
      'connectors/tool/proxy',
      'connectors/forge/projects/1/branches',
      'connectors/forge/projects',
      'connectors/tool',
      'connectors',
      'connectors/tool/watch',
    ),
    rest: fc.array(restSegmentArb, { maxLength: 4 }),
    trailing: fc.boolean(),
    query: queryArb,
  })
  .map(
    (p) =>
      `${GV}/${p.prefix}${p.scope}${p.target}${p.rest.map((s) => `/${s}`).join('')}${p.trailing ? '/' : ''}${p.query}`,
  );

describe('machinery/requestinfo properties', function () {
  it('the verb of a method is the table’s for the six served methods and none for any other', function () {
    fc.assert(
      fc.property(fc.oneof(methodArb, fc.string()), (method) => {
        expect(verbForMethod(method)).to.equal(Object.hasOwn(table, method) ? table[method] : undefined);
      }),
      { numRuns: 2_000 },
    );
  });

  it('a parsed verb is always a string, and for a named plain-path resource it is the method’s', function () {
    fc.assert(
      fc.property(fc.oneof(methodArb, fc.string()), pathArb, (method, path) => {
        const info = parseRequestInfo(method, path);
        expect(info).to.not.equal(null);
        if (!info) return;
        expect(info.verb).to.be.a('string');
        if (info.isResourceRequest && info.pathVerb === '' && info.name !== '') {
          expect(info.verb).to.equal(verbForMethod(method) ?? '');
        }
        if (info.isResourceRequest && info.pathVerb !== '') expect(info.verb).to.equal(info.pathVerb);
      }),
      { numRuns: 2_000 },
    );
  });

  describe('through the aggregated server’s chain', function () {
    this.timeout(120_000);
    let chain: Chain;
    before(async function () {
      chain = await startAggregatedChain();
    });
    after(async function () {
      await chain.close();
    });

    it('what reaches a tool was authorized as its own method’s verb, or nothing reaches it', async function () {
      await fc.assert(
        fc.asyncProperty(methodArb, pathArb, grantArb, async (method, path, granted) => {
          chain.tool.requests.length = 0;
          chain.authorizer.asked.length = 0;
          chain.authorizer.allow = (info) => granted.includes(info.verb);
          const verb = await verbReachingTool(chain, method, path, {
            authorization: `Bearer ${callerToken}`,
          });
          if (verb === null) return;
          expect(chain.authorizer.asked.map((i) => i.verb)).to.deep.equal([verb]);
          expect(granted).to.include(verb);
          expect(path).to.not.match(/^\/apis\/[^/]+\/[^/]+\/(watch|proxy)\//);
        }),
        { numRuns: 300 },
      );
    });

    it('control: the served methods do reach the tool on the plain path when granted', async function () {
      for (const method of servedMethods) {
        chain.tool.requests.length = 0;
        chain.authorizer.allow = () => true;
        const r = await send(chain.port, method, `${GV}/namespaces/team-a/connectors/tool/proxy/x`, {
          authorization: `Bearer ${callerToken}`,
        });
        expect(r.status).to.equal(200);
        expect(chain.tool.requests.map((q) => q.method)).to.deep.equal([method]);
      }
    });
  });
});
