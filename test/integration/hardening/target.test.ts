// Target safety end to end (issue 16, items 7, 8 and 16), with a Connector whose address has a
// path prefix (http://tool/team-a) and a recording tool that also serves /team-b:
//
// - a tool's redirect to another prefix is not followed with the credential: a 502 Status through
//   kube-apiserver; relayed unfollowed by the Connectors Proxy (--other-hosts=refuse), whose
//   caller then cannot reach /team-b through it either. The tool under /team-b receives nothing.
// - the git class API's repositoryUrl outside the prefix is a 400, and nothing is sent.
// - a text/html page with a script arrives, through kube-apiserver, kubectl proxy and the
//   Connectors Proxy, with CSP sandbox, nosniff and X-Frame-Options DENY.
// - a Secret token that cannot be a header value (the README's `glpat-…`) is a 400 naming the
//   Secret and its key, never the value, and nothing is sent; no longer a 503.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { request } from 'undici';
import { resolveBinaries } from '../../../hack/binaries.js';
import { freePort, ManagedProcess } from '../../../hack/process.js';
import type { RecordedRequest } from '../../../hack/tools/echo-tool.js';
import { connectorReader, proxyRbac, send, startProxy } from '../../helpers/connproxy.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  grant,
  gvPath,
  kubeRequest,
  namespace,
  proxyPath,
  registerSecret,
  secretValue,
  type RawResponse,
} from '../../helpers/env.js';
import { allowSecret, recordResponse, registerRecorder } from '../../helpers/leaks.js';

const page = '<!doctype html><title>tool</title><script>fetch("/api/v1/secrets")</script>';

interface Tool {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * The recording tool: /team-a/to-b redirects to /team-b/private, /team-a/page.html is an HTML page
 * with a script and a permissive CSP and X-Frame-Options of its own; anything else echoes.
 */
async function startTool(): Promise<Tool> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const url = req.url ?? '/';
    requests.push({
      method: req.method ?? '',
      url,
      headers: req.headers,
      bodyBytes: 0,
      remoteAddress: req.socket.remoteAddress ?? '',
    });
    req.resume();
    if (url === '/team-a/to-b') {
      res.writeHead(302, { location: '/team-b/private', 'content-type': 'text/plain' });
      res.end('moved');
    } else if (url === '/team-a/page.html') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': "script-src 'unsafe-inline' *",
        'x-frame-options': 'ALLOWALL',
      });
      res.end(page);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

interface Status {
  kind: string;
  reason: string;
  code: number;
  message: string;
}

function statusOf(r: { status: number; body: string }): Status {
  const s = JSON.parse(r.body) as Status;
  expect(s.kind).to.equal('Status');
  expect(s.code).to.equal(r.status);
  return s;
}

/** The protective headers every relayed tool response carries (proxy/headers.ts). */
function expectProtected(headers: Record<string, string | string[] | undefined>): void {
  const csp = ([] as string[]).concat(headers['content-security-policy'] ?? []).join(', ');
  expect(csp).to.contain("sandbox; frame-ancestors 'none'");
  expect(headers['x-content-type-options']).to.equal('nosniff');
  expect(headers['x-frame-options']).to.equal('DENY');
}

describe('hardening: the target stays inside the Connector address, and tool content stays inert', function () {
  this.timeout(120_000);
  let ns: string;
  let tool: Tool;
  let password: string;
  let badToken: string;
  let connproxy: Awaited<ReturnType<typeof startProxy>>;
  let userToken: string;

  /** The tool paths requested since `before`. */
  const since = (before: number): string[] => tool.requests.slice(before).map((r) => r.url);

  before(async function () {
    tool = await startTool();
    password = secretValue('target-password');
    // The README's example value, with its ellipsis: registered, so no leak goes unnoticed.
    badToken = registerSecret('a token with an ellipsis', `glpat-${secretValue('target-pat')}…`);
    registerRecorder('hardening/target: the tool with /team-a and /team-b', tool);
    allowSecret(tool, password, '/team-a');

    ns = await namespace('target');
    await env().sys.installClasses();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', 'team-a-user', password),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'pat-with-ellipsis', namespace: ns },
        type: 'connectors.cpaas.io/gitlab-pat-auth',
        stringData: { token: badToken },
      },
      connector(ns, 'team-a', { address: `${tool.url}/team-a`, secret: 'creds' }),
      connector(ns, 'bad-token', {
        address: `${tool.url}/team-a`,
        secret: 'pat-with-ellipsis',
        authName: 'patAuth',
      }),
      connector(ns, 'git-a', { connectorClassName: 'git', address: `${tool.url}/team-a`, secret: 'creds' }),
      // A ServiceAccount that may read through the Connectors (and the Connectors Proxy), and the
      // proxy's own RBAC.
      ...grant(ns, 'target-user', { kind: 'ServiceAccount', name: 'user' }, ['get'], ['proxy']),
      ...connectorReader(ns, 'user'),
      ...proxyRbac('connectors-proxy-target', ns, 'connectors-proxy-target'),
    ]);
    const cp = env().sys.cp;
    userToken = await cp.createToken(ns, 'user');
    const proxyToken = await cp.createToken(ns, 'connectors-proxy-target', { expirationSeconds: 86_400 });
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-proxy-target.kubeconfig'), {
      token: proxyToken,
    });
    connproxy = await startProxy('connectors-proxy-target', kubeconfig, ['--other-hosts=refuse']);
    await eventually('the Connector to answer through kube-apiserver and the Connectors Proxy', async () => {
      const viaApi = await kubeRequest(proxyPath(ns, 'team-a', '/ready'));
      const viaProxy = await send(connproxy.port, `/namespaces/${ns}/connectors/team-a/ready`, {
        authorization: `Bearer ${userToken}`,
      });
      return viaApi.status === 200 && viaProxy.status === 200;
    });
  });

  after(async function () {
    await Promise.all([connproxy.proc.stop(), tool.close()]);
  });

  describe('item 8: a redirect to another prefix is never followed with the credential', function () {
    it('through kube-apiserver (/proxy): 502 naming the address path, /team-b receives nothing', async function () {
      const before = tool.requests.length;
      const r = await kubeRequest(proxyPath(ns, 'team-a', '/to-b'));
      expect(r.status, r.body).to.equal(502);
      const s = statusOf(r);
      expect(s.reason).to.equal('BadGateway');
      expect(s.message).to.contain("outside the Connector's address path /team-a");
      expect(s.message).not.to.contain('/team-b');
      expect(since(before)).to.deep.equal(['/team-a/to-b']);
    });

    it('through the Connectors Proxy, reverse mode: relayed unfollowed; /team-b receives nothing', async function () {
      const before = tool.requests.length;
      const r = await send(connproxy.port, `/namespaces/${ns}/connectors/team-a/to-b`, {
        authorization: `Bearer ${userToken}`,
      });
      expect(r.status, r.body).to.equal(302);
      expect(r.headers.location).to.equal('/team-b/private');
      expect(since(before)).to.deep.equal(['/team-a/to-b']);
    });

    it('through the Connectors Proxy, forward mode with --other-hosts=refuse: relayed, and following it is refused', async function () {
      const auth = {
        'proxy-authorization': `Basic ${Buffer.from(`${ns}/team-a:${userToken}`).toString('base64')}`,
      };
      const before = tool.requests.length;
      const r = await send(connproxy.port, `${tool.url}/team-a/to-b`, auth);
      expect(r.status, r.body).to.equal(302);
      expect(r.headers.location).to.equal('/team-b/private');
      // The caller follows it through the proxy: outside the address, so some other host, refused.
      const followed = await send(connproxy.port, `${tool.url}/team-b/private`, auth);
      expect(followed.status).to.equal(403);
      expect(since(before)).to.deep.equal(['/team-a/to-b']);
    });

    it('git class API: a repositoryUrl outside the address path is a 400 and nothing is sent', async function () {
      const before = tool.requests.length;
      const outside = `${tool.url}/team-b/secret.git`;
      const r = await kubeRequest(
        `${gvPath}/namespaces/${ns}/connectors/git-a/git/gitrefs?repositoryUrl=${encodeURIComponent(outside)}`,
      );
      expect(r.status, r.body).to.equal(400);
      expect(statusOf(r).message).to.contain("not under the Connector's address path /team-a");
      expect(since(before)).to.deep.equal([]);
      // The same request inside the address does reach the tool (which is no Git server: 502).
      const inside = `${tool.url}/team-a/app.git`;
      const ok = await kubeRequest(
        `${gvPath}/namespaces/${ns}/connectors/git-a/git/gitrefs?repositoryUrl=${encodeURIComponent(inside)}`,
      );
      expect(ok.status, ok.body).to.equal(502);
      expect(since(before)).to.deep.equal(['/team-a/app.git/info/refs?service=git-upload-pack']);
    });
  });

  describe('item 7: a tool page cannot run on the Kubernetes API origin', function () {
    it('through kube-apiserver: text/html with a script arrives sandboxed, nosniff, not frameable', async function () {
      const r = await kubeRequest(proxyPath(ns, 'team-a', '/page.html'));
      expect(r.status).to.equal(200);
      expect(r.body).to.equal(page);
      expect(r.headers['content-type']).to.equal('text/html; charset=utf-8');
      expectProtected(r.headers);
      // The tool's own CSP is still there: browsers enforce both policies.
      expect(r.headers['content-security-policy']).to.deep.equal([
        "script-src 'unsafe-inline' *",
        "sandbox; frame-ancestors 'none'",
      ]);
    });

    it('through kubectl proxy, where it shares the origin of /api/v1: the same headers', async function () {
      const port = await freePort();
      const kubectlProxy = ManagedProcess.start({
        name: 'kubectl-proxy-target',
        binary: (await resolveBinaries()).kubectl,
        args: [
          'proxy',
          `--port=${port}`,
          '--address=127.0.0.1',
          `--kubeconfig=${env().sys.cp.kubeconfigPath}`,
        ],
        logFile: join(env().sys.logDir, 'kubectl-proxy-target.log'),
      });
      try {
        const url = `http://127.0.0.1:${port}${proxyPath(ns, 'team-a', '/page.html')}`;
        let r: RawResponse | undefined;
        await kubectlProxy.waitUntil(
          async () => {
            const res = await request(url);
            r = { status: res.statusCode, headers: res.headers, body: await res.body.text() };
            recordResponse(`kubectl proxy GET ${url}`, res.headers, r.body);
            return res.statusCode === 200;
          },
          { timeoutMs: 20_000, what: 'kubectl proxy' },
        );
        expect(r?.body).to.equal(page);
        expectProtected(r?.headers ?? {});
      } finally {
        await kubectlProxy.stop();
      }
    });

    it('through the Connectors Proxy: the same headers', async function () {
      const r = await send(connproxy.port, `/namespaces/${ns}/connectors/team-a/page.html`, {
        authorization: `Bearer ${userToken}`,
      });
      expect(r.status).to.equal(200);
      expectProtected(r.headers);
    });
  });

  describe('item 16: a Secret token that cannot be a header value', function () {
    const expectNamesTheSecret = (message: string): void => {
      expect(message).to.contain(`Secret ${ns}/pat-with-ellipsis`);
      expect(message).to.contain('key "token"');
      expect(message).to.contain('cannot be sent as an HTTP header value');
      expect(message).not.to.contain('glpat-');
    };

    it('through kube-apiserver: 400 naming the Secret and its key, never the value; nothing sent', async function () {
      const before = tool.requests.length;
      const r = await kubeRequest(proxyPath(ns, 'bad-token', '/projects'));
      expect(r.status, r.body).to.equal(400);
      const s = statusOf(r);
      expect(s.reason).to.equal('BadRequest');
      expectNamesTheSecret(s.message);
      expect(since(before)).to.deep.equal([]);
    });

    it('through the Connectors Proxy: the same 400', async function () {
      const before = tool.requests.length;
      const r = await send(connproxy.port, `/namespaces/${ns}/connectors/bad-token/projects`, {
        authorization: `Bearer ${userToken}`,
      });
      expect(r.status, r.body).to.equal(400);
      expectNamesTheSecret(statusOf(r).message);
      expect(since(before)).to.deep.equal([]);
    });
  });
});
