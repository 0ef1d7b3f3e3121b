// Hostile ResourceInterface expressions against the real server. A ResourceInterface is written by
// whoever may create cluster-scoped objects, but the server must survive any of them: an endless
// loop, a huge allocation, deep recursion, and attempts to reach the process, the module loader,
// the host's global object or the network each end in a 422 Status that names the field and the
// bound, and afterwards the server answers as before. Meanwhile a download through /proxy keeps
// flowing: expressions run off the request thread.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import { apply, direct, env, gvPath, kubeRequest, kubectl, namespace, proxyPath } from '../../helpers/env.js';
import { MiB, sampleRss } from '../../helpers/memory.js';

const className = 'it-hostile-class';

interface StatusBody {
  code: number;
  reason: string;
  message: string;
  details?: { causes?: { field?: string; message: string }[] };
}

describe('hardening: hostile ResourceInterface expressions', function () {
  let ns = '';
  let sentinel: Server;
  let sentinelHits = 0;
  let sentinelUrl = '';
  let tool: EchoTool;
  const riNames: string[] = [];

  const cases: { name: string; expression: string; expect: RegExp }[] = [
    {
      name: 'loop',
      expression: '{(() => { while (true) {} })()}',
      expect: /exceeded the time limit of \d+ ms/,
    },
    {
      name: 'loop-in-map',
      expression: '{[1, 2, 3].map(() => { for (;;) {} })}',
      expect: /exceeded the time limit of \d+ ms/,
    },
    { name: 'alloc-string', expression: "{'x'.repeat(2 ** 29)}", expect: /memory|RangeError|InternalError/ },
    {
      name: 'alloc-arrays',
      expression: '{(() => { const a = []; for (;;) a.push(new Array(1e5).fill(a.length)); })()}',
      expect: /memory limit|out of memory/,
    },
    {
      name: 'recursion',
      expression: '{(function f(n) { return f(n + 1) + 1; })(0)}',
      expect: /stack|InternalError|RangeError/,
    },
    { name: 'process', expression: '{process.env.HOME}', expect: /ReferenceError: .*process/ },
    {
      name: 'require',
      expression: "{require('child_process').execSync('id')}",
      expect: /ReferenceError: .*require/,
    },
    {
      name: 'global-process',
      expression: "{globalThis.process.mainModule.require('fs')}",
      expect: /TypeError/,
    },
    {
      name: 'constructor-escape',
      expression: "{this.constructor.constructor('return process')().exit(1)}",
      expect: /ReferenceError: .*process|TypeError/,
    },
    { name: 'fetch', expression: '{fetch(SENTINEL)}', expect: /ReferenceError: .*fetch/ },
    { name: 'import', expression: "{import('node:net')}", expect: /./ },
    {
      name: 'xhr',
      expression: "{(() => { const x = new XMLHttpRequest(); x.open('GET', SENTINEL); x.send(); })()}",
      expect: /ReferenceError: .*XMLHttpRequest/,
    },
  ];

  before(async function () {
    ns = await namespace('hostile-ri');
    tool = await startEchoTool();
    sentinel = createServer((req, res) => {
      sentinelHits++;
      res.end('reached');
    });
    sentinel.on('connection', () => {
      sentinelHits++;
    });
    await new Promise<void>((r) => sentinel.listen(0, '127.0.0.1', r));
    sentinelUrl = `http://127.0.0.1:${(sentinel.address() as AddressInfo).port}/`;

    const labels: Record<string, string> = {
      'resourceinterface.connectors.cpaas.io/it-hostile-healthy': 'true',
    };
    riNames.push('it-hostile-healthy');
    const objects: object[] = [
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ResourceInterface',
        metadata: { name: 'it-hostile-healthy' },
        spec: { attributes: [{ name: 'fine', expression: "{'fine ' + connector.metadata.name}" }] },
      },
    ];
    for (const c of cases) {
      const name = `it-hostile-${c.name}`;
      riNames.push(name);
      labels[`resourceinterface.connectors.cpaas.io/${name}`] = 'true';
      objects.push({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ResourceInterface',
        metadata: { name },
        spec: {
          attributes: [
            { name: 'first', expression: "{'before'}" },
            { name: 'hostile', expression: c.expression.replaceAll('SENTINEL', JSON.stringify(sentinelUrl)) },
          ],
        },
      });
    }
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: className, labels },
        spec: { address: { name: 'address', type: 'string' } },
      },
      ...objects,
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'target', namespace: ns },
        spec: { connectorClassName: className, address: tool.url },
      },
    ]);
  });

  after(async function () {
    await kubectl(['delete', 'resourceinterfaces', ...riNames, '--ignore-not-found', '--wait=false']);
    await kubectl(['delete', 'connectorclass', className, '--ignore-not-found', '--wait=false']);
    await new Promise<void>((r) =>
      sentinel.close(() => {
        r();
      }),
    );
    await tool.close();
  });

  const resolvePath = (ri: string): string =>
    `${gvPath}/namespaces/${ns}/connectors/target/resourceinterfaces/${ri}`;

  const resolveOnce = async (ri: string): Promise<{ status: number; body: string }> => {
    let r = await kubeRequest(resolvePath(ri));
    for (let i = 0; i < 50 && r.status === 404; i++) {
      // The server's informers follow the objects just created.
      await new Promise((res) => setTimeout(res, 100));
      r = await kubeRequest(resolvePath(ri));
    }
    return r;
  };

  for (const c of cases) {
    it(`${c.name}: ${c.expression.slice(0, 70)} → 422 naming the field`, async function () {
      const r = await resolveOnce(`it-hostile-${c.name}`);
      expect(r.status, r.body).to.equal(422);
      const s = JSON.parse(r.body) as StatusBody;
      expect(s.reason).to.equal('Invalid');
      expect(s.details?.causes?.map((x) => x.field)).to.deep.equal(['spec.attributes[1].expression']);
      expect(s.message).to.match(c.expect);
    });
  }

  it('a ServiceAccount with only connectors-resourceinterfaces-view: every other method, a /watch/ path and a method override are refused', async function () {
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'least', namespace: ns } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'least', namespace: ns },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'connectors-resourceinterfaces-view',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'least', namespace: ns }],
      },
    ]);
    const token = await env().sys.cp.createToken(ns, 'least');
    const path = resolvePath('it-hostile-healthy');
    let ok = await kubeRequest(path, { token });
    for (let i = 0; i < 50 && ok.status !== 200; i++) {
      // RBAC reaches the authorizers a moment after the RoleBinding is written.
      await new Promise((r) => setTimeout(r, 200));
      ok = await kubeRequest(path, { token });
    }
    expect(ok.status, ok.body).to.equal(200);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      const r = await kubeRequest(path, {
        token,
        method,
        body: '{}',
        headers: { 'content-type': 'application/json', 'x-http-method-override': 'GET' },
      });
      expect(r.status, `${method}: ${r.body}`).to.equal(403);
    }
    const watch = await kubeRequest(
      `${gvPath}/watch/namespaces/${ns}/connectors/target/resourceinterfaces/it-hostile-healthy`,
      { token },
    );
    expect(watch.status, watch.body).to.be.oneOf([403, 404]);
    expect(watch.body).to.not.contain('fine target');
  });

  it('the sentinel was never reached', function () {
    expect(sentinelHits).to.equal(0);
  });

  it('the server stays ready, its memory bounded, and a download keeps flowing during an endless loop', async function () {
    const server = env().sys.server;
    const pid = server.pid ?? 0;
    const peak = sampleRss(pid);
    const before = await direct('/readyz');
    expect(before.status).to.equal(200);

    // A 64 MiB download through /proxy while five endless loops run one after another.
    let received = 0;
    let chunksDuringLoops = 0;
    const loops = { running: false };
    const download = (async () => {
      const cp = env().sys.cp;
      const agent = new Agent({
        connect: { ca: cp.caCertPem, cert: cp.admin.certPem, key: cp.admin.keyPem },
      });
      try {
        const res = await request(`${cp.server}${proxyPath(ns, 'target', `/bytes/${64 * MiB}`)}`, {
          dispatcher: agent,
        });
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          if (loops.running) chunksDuringLoops++;
        }
      } finally {
        await agent.close();
      }
    })();
    loops.running = true;
    for (let i = 0; i < 5; i++) {
      const r = await resolveOnce('it-hostile-loop');
      expect(r.status).to.equal(422);
    }
    loops.running = false;
    await download;
    expect(received).to.equal(64 * MiB);
    expect(chunksDuringLoops, 'the download advanced while expressions ran').to.be.greaterThan(0);

    const after = await direct('/readyz');
    expect(after.status).to.equal(200);
    // The memory bound holds: the allocations above stayed inside the sandbox's limit.
    expect(peak(), 'peak RSS of the API server').to.be.below(400 * MiB);
    const ok = await resolveOnce('it-hostile-healthy');
    expect(ok.status, ok.body).to.equal(200);
    expect(ok.body).to.contain('"value":"fine target"');
  });
});
