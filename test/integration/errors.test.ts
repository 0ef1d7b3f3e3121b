// Bad input and failing tools: each gets a clear metav1.Status, and nothing reaches the tool
// when the request is refused.

import { expect } from 'chai';
import { freePort } from '../../hack/process.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  direct,
  env,
  frontProxyCert,
  grant,
  kubectl,
  kubeRequest,
  namespace,
  proxyPath,
  rawDirect,
} from '../helpers/env.js';

interface Status {
  kind: string;
  status: string;
  reason: string;
  code: number;
  message: string;
}

function parseStatus(body: string): Status {
  const s = JSON.parse(body) as Status;
  expect(s.kind).to.equal('Status');
  expect(s.status).to.equal('Failure');
  return s;
}

describe('errors are clear Status objects', function () {
  let ns: string;
  let token: string;
  const asFrontProxy = (
    user = 'alice',
  ): { cert: ReturnType<typeof frontProxyCert>; headers: Record<string, string> } => ({
    cert: frontProxyCert(),
    headers: { 'x-remote-user': user, 'x-remote-group': 'dev' },
  });

  before(async function () {
    ns = await namespace('errors');
    const { tool, toolUser, toolPassword } = env();
    const deadPort = await freePort(); // nothing listens here
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
      connector(ns, 'no-class', { connectorClassName: 'no-such-class', address: tool.url }),
      connector(ns, 'no-secret', { address: tool.url, secret: 'missing-secret' }),
      connector(ns, 'down', { address: `http://127.0.0.1:${deadPort}` }),
      ...grant(ns, 'all-read', { kind: 'User', name: 'alice' }, ['get']),
      ...grant(ns, 'sa-read', { kind: 'ServiceAccount', name: 'caller' }, ['get']),
    ]);
    token = await env().sys.cp.createToken(ns, 'caller');
  });

  it('unknown Connector → 404 NotFound naming it', async function () {
    const r = await kubectl(['get', '--raw', proxyPath(ns, 'nope', '/x')]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('Error from server (NotFound)');
    expect(r.stderr).to.contain('connectors.connectors.alauda.io "nope" not found');
  });

  it('unknown ConnectorClass → 404 naming the class and the Connector', async function () {
    const r = await kubeRequest(proxyPath(ns, 'no-class', '/x'), { token });
    expect(r.status).to.equal(404);
    const s = parseStatus(r.body);
    expect(s.reason).to.equal('NotFound');
    expect(s.message).to.contain('"no-such-class"');
    expect(s.message).to.contain(`Connector ${ns}/no-class`);
  });

  it('missing Secret → 400 whose message names the Secret', async function () {
    const r = await kubeRequest(proxyPath(ns, 'no-secret', '/x'), { token });
    expect(r.status).to.equal(400);
    expect(parseStatus(r.body).message).to.contain(`Secret ${ns}/missing-secret does not exist`);
  });

  it('tool down → 503 ServiceUnavailable', async function () {
    const r = await kubeRequest(proxyPath(ns, 'down', '/x'), { token });
    expect(r.status).to.equal(503);
    const s = parseStatus(r.body);
    expect(s.reason).to.equal('ServiceUnavailable');
    expect(s.message).to.contain('cannot be reached');
  });

  it('tool hanging → 504 Timeout after the configured response timeout (3s here)', async function () {
    const r = await kubectl(['get', '--raw', proxyPath(ns, 'echo', '/hang')]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('Error from server (Timeout)');
    expect(r.stderr).to.contain('did not answer in time');
  });

  it('a redirect to another origin is not followed and becomes a 502 Status', async function () {
    const before = env().tool.requests.length;
    const r = await kubeRequest(proxyPath(ns, 'echo', '/redirect?to=http%3A%2F%2F127.0.0.2%3A1%2Fsteal'), {
      token,
    });
    expect(r.status).to.equal(502);
    expect(parseStatus(r.body).message).to.contain('another origin');
    expect(
      env()
        .tool.requests.slice(before)
        .map((q) => q.url),
    ).to.deep.equal(['/redirect?to=http%3A%2F%2F127.0.0.2%3A1%2Fsteal']);
  });

  it('a same-origin redirect is followed with the credential re-injected', async function () {
    const r = await kubeRequest(proxyPath(ns, 'echo', '/redirect?to=%2Flanded'), { token });
    expect(r.status).to.equal(200);
    const echo = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    expect(echo.url).to.equal('/landed');
    expect(echo.headers.authorization).to.match(/^Basic /);
  });

  describe('path tricks are refused with 400 before anything is sent', function () {
    // What kube-apiserver forwards is the decoded path, so these arrive both decoded (through
    // kube-apiserver) and still encoded (from callers that reach the server directly).
    const throughKubeApiserver = [
      '/../../../etc/passwd',
      '/a/%2e%2e/%2e%2e/b',
      '/%2e%2e%2f%2e%2e%2fx',
      '/x/..%5c..%5cy',
    ];
    const directOnly = [
      '/a/%2e%2e/b',
      '/a/%2E%2e/b',
      '/a/%252e%252e/b',
      '/a/..;/b',
      '/@evil.example/x',
      '/a/%40evil.example',
      '/a%5cb',
      '/a/%0d%0aX-Injected:%20yes',
      '/a/%00',
      '//evil.example/x',
    ];

    for (const trick of throughKubeApiserver) {
      it(`through kube-apiserver: ${trick}`, async function () {
        const before = env().tool.requests.length;
        const r = await kubeRequest(proxyPath(ns, 'echo', trick), { token });
        // kube-apiserver forwards these (decoded); our server is the one that refuses them.
        expect(r.status).to.equal(400);
        expect(parseStatus(r.body).reason).to.equal('BadRequest');
        expect(env().tool.requests.length).to.equal(before);
      });
    }

    for (const trick of directOnly) {
      it(`direct: ${trick}`, async function () {
        const before = env().tool.requests.length;
        const r = await direct(proxyPath(ns, 'echo', trick), asFrontProxy());
        expect(r.status).to.equal(400);
        expect(parseStatus(r.body).reason).to.equal('BadRequest');
        expect(env().tool.requests.length).to.equal(before);
      });
    }

    it('direct: an absolute-form request target', async function () {
      const before = env().tool.requests.length;
      const fp = asFrontProxy();
      const r = await rawDirect(
        `GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\nX-Remote-User: alice\r\nConnection: close\r\n\r\n`,
        fp.cert,
      );
      expect(r.status).to.equal(400);
      expect(r.text).to.contain('"reason":"BadRequest"');
      expect(env().tool.requests.length).to.equal(before);
    });
  });
});
