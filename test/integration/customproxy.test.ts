// A class with a proxy of its own, end to end through the real kube-apiserver: the example signing
// proxy (examples/signing-proxy, made with kit/) serves class signed-http, and its tool
// (hack/tools/signing-tool.ts) answers only requests signed with the Connector's key, so nothing
// here passes unless the request went through that proxy. kubectl, @kubernetes/client-node and a
// class API operation come through the Connectors API server (mutual TLS, X-Remote-*); pods come
// straight to the proxy with a ServiceAccount token, by Host or by path. RBAC decides alike on both
// ways in, by the method's verb.

import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { EchoTool } from '../../hack/tools/echo-tool.js';
import { startSigningTool } from '../../hack/tools/signing-tool.js';
import { send } from '../helpers/connproxy.js';
import {
  apply,
  env,
  eventually,
  group,
  gvPath,
  kubectl,
  kubeRequest,
  namespace,
  proxyPath,
  secret,
  secretValue,
  userKubeconfig,
} from '../helpers/env.js';
import { recordResponse, registerRecorder } from '../helpers/leaks.js';
import { signedClass, signedConnector, signingUser } from '../helpers/customproxy.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  bodyBytes: number;
}

describe('a custom Connectors Proxy (examples/signing-proxy) for a class', function () {
  this.timeout(60_000);
  let ns: string;
  let tool: EchoTool;
  let proxyUrl: URL;
  let carol: string;
  let dan: string;
  let podToken: string;
  let nobodyToken: string;

  before(async function () {
    const sys = env().sys;
    if (!sys.signingProxy) throw new Error('the integration system runs without the signing proxy');
    proxyUrl = new URL(sys.signingProxy.url);
    ns = await namespace('custom');
    const key = secretValue('signing-key');
    tool = await startSigningTool(Buffer.from(key));
    // The key signs requests and never travels; no token reaches the tool either.
    registerRecorder('the signing tool', tool);
    await apply([
      signedClass(),
      secret(ns, 'signing', 'Opaque', { signingKey: key }),
      signedConnector(ns, 'signed', tool.url, 'signing'),
      ...signingUser(ns, { kind: 'User', name: 'carol' }, ['get'], ['proxy', 'items']),
      ...signingUser(ns, { kind: 'ServiceAccount', name: 'pod' }, ['get']),
    ]);
    carol = await userKubeconfig('carol');
    dan = await userKubeconfig('dan');
    podToken = await sys.cp.createToken(ns, 'pod');
    nobodyToken = await sys.cp.createToken(ns, 'nobody');
    // The proxy's informers and RBAC settle a moment after the objects are written.
    await eventually('the signing proxy to serve the Connector', async () => {
      const r = await send(Number(proxyUrl.port), `/namespaces/${ns}/connectors/signed/ready`, {
        authorization: `Bearer ${podToken}`,
      });
      return r.status === 200;
    });
  });

  after(async () => {
    await tool.close();
  });

  const last = (): (typeof tool.requests)[number] => tool.requests.at(-1)!;

  /** What the tool received carries the signature, and nothing of the caller's identity. */
  function expectSignedOnly(url: string): void {
    const got = last();
    expect(got.url).to.equal(url);
    expect(got.headers['x-signature']).to.match(/^[0-9a-f]{64}$/);
    expect(got.headers.authorization).to.equal(undefined);
    expect(
      Object.keys(got.headers).filter((h) => h.startsWith('x-remote-') || h === 'x-connectors-subresource'),
    ).to.deep.equal([]);
  }

  it('kubectl get --raw …/proxy/… reaches the tool through the proxy, signed', async () => {
    const r = await kubectl(['get', '--raw', proxyPath(ns, 'signed', '/hello?page=2')], {
      kubeconfig: carol,
    });
    expect(r.code, r.stderr).to.equal(0);
    const echo = JSON.parse(r.stdout) as Echo;
    expect(echo.method).to.equal('GET');
    expect(echo.url).to.equal('/hello?page=2');
    expectSignedOnly('/hello?page=2');
  });

  it('@kubernetes/client-node reaches it the same way', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(carol);
    const res = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group,
      version: 'v1alpha1',
      namespace: ns,
      plural: 'connectors',
      name: 'signed/proxy/from-client-node',
    })) as Echo;
    recordResponse('client-node GET …/signed/proxy/from-client-node', {}, JSON.stringify(res));
    expect(res.url).to.equal('/from-client-node');
    expectSignedOnly('/from-client-node');
  });

  it('a ServiceAccount token through kube-apiserver never reaches the proxy or the tool', async () => {
    const r = await kubeRequest(proxyPath(ns, 'signed', '/via-token'), { token: podToken });
    expect(r.status, r.body).to.equal(200);
    expectSignedOnly('/via-token');
  });

  it('a class API operation with x-provider-type: proxy goes through the proxy, as connectors/items', async () => {
    const r = await kubectl(['get', '--raw', `${gvPath}/namespaces/${ns}/connectors/signed/items`], {
      kubeconfig: carol,
    });
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as Echo).url).to.equal('/items');
    expectSignedOnly('/items');
  });

  it('reverse mode: a pod reaches the tool by Host c-{name}.{ns} and by path with its token', async () => {
    const byHost = await send(Number(proxyUrl.port), '/by-host?q=1', {
      host: `c-signed.${ns}.svc.cluster.local`,
      authorization: `Bearer ${podToken}`,
    });
    expect(byHost.status, byHost.body).to.equal(200);
    expectSignedOnly('/by-host?q=1');
    const byPath = await send(Number(proxyUrl.port), `/namespaces/${ns}/connectors/signed/by-path`, {
      authorization: `Basic ${Buffer.from(`x:${podToken}`).toString('base64')}`,
    });
    expect(byPath.status, byPath.body).to.equal(200);
    expectSignedOnly('/by-path');
  });

  it("redirects are relayed onto the Connector's address, and each hop is signed afresh", async () => {
    const port = Number(proxyUrl.port);
    const auth = { authorization: `Bearer ${podToken}` };
    const byPath = await send(port, `/namespaces/${ns}/connectors/signed/redirect?to=/elsewhere`, auth);
    expect(byPath.status).to.equal(302);
    expect(byPath.headers.location).to.equal(`/namespaces/${ns}/connectors/signed/elsewhere`);
    const byHost = await send(port, '/redirect?to=/elsewhere', { ...auth, host: `c-signed.${ns}` });
    expect(byHost.headers.location).to.equal('/elsewhere');
    // Off the address: relayed as the tool sent it, never followed with anything of the Connector's.
    const away = await send(
      port,
      `/namespaces/${ns}/connectors/signed/redirect?to=http://127.0.0.2:9/x`,
      auth,
    );
    expect(away.status).to.equal(302);
    expect(away.headers.location).to.equal('http://127.0.0.2:9/x');
    // Through kube-apiserver (which would turn a 3xx into a 502) the API server follows it below the
    // Connector's path on the proxy: a second request, signed for its own path.
    const r = await kubectl(['get', '--raw', proxyPath(ns, 'signed', '/redirect?to=/followed')], {
      kubeconfig: carol,
    });
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as Echo).url).to.equal('/followed');
    expectSignedOnly('/followed');
  });

  it('a caller without RBAC gets 403 on both ways in', async () => {
    const before = tool.requests.length;
    const viaApi = await kubectl(['get', '--raw', proxyPath(ns, 'signed', '/x')], { kubeconfig: dan });
    expect(viaApi.code).to.not.equal(0);
    expect(viaApi.stderr).to.contain('Forbidden');
    const reverse = await send(Number(proxyUrl.port), `/namespaces/${ns}/connectors/signed/x`, {
      authorization: `Bearer ${nobodyToken}`,
    });
    expect(reverse.status).to.equal(403);
    expect(JSON.parse(reverse.body)).to.include({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(tool.requests.length).to.equal(before);
  });

  it('a write by a get-only caller is 403 on both ways in', async () => {
    const before = tool.requests.length;
    const carolCert = await env().sys.cp.issueClientCert('carol');
    const viaApi = await kubeRequest(proxyPath(ns, 'signed', '/write'), {
      cert: carolCert,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(viaApi.status).to.equal(403);
    const reverse = await send(
      Number(proxyUrl.port),
      `/namespaces/${ns}/connectors/signed/write`,
      { authorization: `Bearer ${podToken}`, 'content-length': '0' },
      'POST',
    );
    expect(reverse.status).to.equal(403);
    expect(JSON.parse(reverse.body)).to.include({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(tool.requests.length).to.equal(before);
  });

  it('every method is authorized as its own verb: PUT, PATCH, DELETE of a get-only caller are 403, TRACE is 405', async () => {
    const before = tool.requests.length;
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const r = await send(
        Number(proxyUrl.port),
        `/namespaces/${ns}/connectors/signed/write`,
        { authorization: `Bearer ${podToken}`, 'content-length': '0' },
        method,
      );
      expect(r.status, method).to.equal(403);
    }
    const trace = await send(
      Number(proxyUrl.port),
      `/namespaces/${ns}/connectors/signed/x`,
      {
        authorization: `Bearer ${podToken}`,
      },
      'TRACE',
    );
    expect(trace.status).to.equal(405);
    expect(tool.requests.length).to.equal(before);
  });

  it('a write by a caller granted create goes through, its body streamed and unsigned', async () => {
    await apply(signingUser(ns, { kind: 'ServiceAccount', name: 'pod' }, ['get', 'create']));
    await eventually('create on connectors/proxy to apply', async () => {
      const r = await send(
        Number(proxyUrl.port),
        `/namespaces/${ns}/connectors/signed/upload`,
        { authorization: `Bearer ${podToken}`, 'content-length': '0' },
        'POST',
      );
      return r.status === 200;
    });
    expect(last().headers['x-signature-content-sha256']).to.equal(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    const r = await kubeRequest(proxyPath(ns, 'signed', '/upload'), {
      token: podToken,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x'.repeat(100_000),
    });
    expect(r.status, r.body).to.equal(200);
    expect((JSON.parse(r.body) as Echo).bodyBytes).to.equal(100_000);
    expect(last().headers['x-signature-content-sha256']).to.equal('UNSIGNED-PAYLOAD');
  });
});
