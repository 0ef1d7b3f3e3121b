// Callers that reach the aggregated server directly, not through kube-apiserver: only the real
// front proxy may assert an identity in X-Remote-* headers; everyone else proves who they are
// with a client certificate or a bearer token, and RBAC still decides.

import { expect } from 'chai';
import { issueCert } from '../../hack/pki.js';
import {
  apply,
  connector,
  connectorClass,
  direct,
  env,
  frontProxyCert,
  grant,
  namespace,
  proxyPath,
  registerSecret,
  secretValue,
} from '../helpers/env.js';

describe('direct calls to the aggregated server', function () {
  let ns: string;
  let path: string;
  const asAdmin = { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' };

  before(async function () {
    ns = await namespace('direct');
    await apply([
      connectorClass('http-test'),
      connector(ns, 'echo', { address: env().tool.url }),
      ...grant(ns, 'alice-read', { kind: 'User', name: 'alice' }, ['get']),
      ...grant(ns, 'bot-read', { kind: 'ServiceAccount', name: 'bot' }, ['get']),
    ]);
    env().tool.setCredentials(null); // this Connector has no Secret; the tool accepts anything here
    path = proxyPath(ns, 'echo', '/direct');
  });

  after(function () {
    env().tool.setCredentials({ username: env().toolUser, password: env().toolPassword });
  });

  it('no client certificate and no token → 401 Unauthorized Status', async function () {
    const r = await direct(path);
    expect(r.status).to.equal(401);
    expect(JSON.parse(r.body)).to.include({ kind: 'Status', reason: 'Unauthorized' });
  });

  it('a forged X-Remote-User without the front-proxy certificate is ignored (401)', async function () {
    const before = env().tool.requests.length;
    const r = await direct(path, { headers: asAdmin });
    expect(r.status).to.equal(401);
    expect(env().tool.requests.length).to.equal(before);
  });

  it('a certificate from the wrong CA, even with the right CN, is not the front proxy (401)', async function () {
    const forged = await issueCert(env().sys.cp.otherCA, { commonName: 'front-proxy-client', client: true });
    const r = await direct(path, { cert: forged, headers: asAdmin });
    expect(r.status).to.equal(401);
  });

  it('a front-proxy-CA certificate with a CN outside the allowed names is not trusted (401)', async function () {
    const wrongName = await issueCert(env().sys.cp.frontProxy.ca, {
      commonName: 'not-the-aggregator',
      client: true,
    });
    const r = await direct(path, { cert: wrongName, headers: asAdmin });
    expect(r.status).to.equal(401);
  });

  it('a client-CA certificate is its own user: X-Remote-* is ignored and RBAC decides (403)', async function () {
    const user = await env().sys.cp.issueClientCert('mallory', ['dev']);
    const r = await direct(path, { cert: user, headers: asAdmin });
    expect(r.status).to.equal(403);
    expect(JSON.parse(r.body)).to.include({ reason: 'Forbidden' });
    expect((JSON.parse(r.body) as { message: string }).message).to.contain('User "mallory" cannot get');
  });

  it('the real front proxy asserting a user with RBAC → served', async function () {
    const r = await direct(path, {
      cert: frontProxyCert(),
      headers: { 'x-remote-user': 'alice', 'x-remote-group': 'dev' },
    });
    expect(r.status).to.equal(200);
  });

  it('the real front proxy asserting a user without RBAC → 403', async function () {
    const r = await direct(path, { cert: frontProxyCert(), headers: { 'x-remote-user': 'eve' } });
    expect(r.status).to.equal(403);
  });

  it('a ServiceAccount bearer token is checked with TokenReview and authorized with RBAC', async function () {
    const token = await env().sys.cp.createToken(ns, 'bot');
    const ok = await direct(path, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).to.equal(200);
    const forged = registerSecret('a forged ServiceAccount token', `${token.slice(0, -4)}AAAA`);
    const bad = await direct(path, { headers: { authorization: `Bearer ${forged}` } });
    expect(bad.status).to.equal(401);
    const guess = Buffer.from(`admin:${secretValue('guessed-password')}`).toString('base64');
    const basic = await direct(path, { headers: { authorization: `Basic ${guess}` } });
    expect(basic.status).to.equal(401);
  });

  it('health endpoints answer without credentials; discovery needs authentication', async function () {
    for (const p of ['/healthz', '/livez', '/readyz']) {
      const r = await direct(p);
      expect(r.status, p).to.equal(200);
    }
    expect((await direct('/apis/subresources.connectors.alauda.io/v1alpha1')).status).to.equal(401);
  });

  it('/metrics is Prometheus text for an authorized reader, labelled by connector class, and 403 otherwise', async function () {
    await direct(path, {
      cert: frontProxyCert(),
      headers: { 'x-remote-user': 'alice', 'x-remote-group': 'dev' },
    });
    const admin = {
      cert: frontProxyCert(),
      headers: { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
    };
    const r = await direct('/metrics', admin);
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.match(/^text\/plain/);
    expect(r.body).to.match(
      /connectors_apiserver_requests_total\{subresource="proxy",verb="get",code="200",connector_class="http-test"\} \d+/,
    );
    expect(r.body).to.contain('connectors_apiserver_request_duration_seconds_bucket');
    expect(r.body).to.contain('process_resident_memory_bytes');
    expect(r.body).not.to.contain(ns); // no namespace, Connector or user names as labels
    const denied = await direct('/metrics', {
      cert: frontProxyCert(),
      headers: { 'x-remote-user': 'alice' },
    });
    expect(denied.status).to.equal(403);
  });
});
