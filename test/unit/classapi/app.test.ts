// The backend in-process, over mutual TLS, against local fake tools: what the API server gets back
// (lists, Status errors with the right code), what the tool received (the Connector's credential,
// on its own origin only), and that no other caller is served. The real Git server and registry
// are in test/integration/classapi.test.ts.
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Agent } from 'undici';
import { createLogger } from '../../../machinery/log.js';
import { startBackend } from '../../../classapi/server.js';
import type { RunningServer } from '../../../machinery/serve.js';
import { backendTls, type BackendTls } from '../../helpers/classapi-tls.js';
import { b64, localServer, pluginHeaders, sendJson, type LocalServer } from './helpers.js';

const PASSWORD = 'app-T3st-password';
const basic = { type: 'kubernetes.io/basic-auth', data: { username: 'bot', password: PASSWORD } };
const expectedAuth = `Basic ${b64(`bot:${PASSWORD}`)}`;

const advertisement =
  '001e# service=git-upload-pack\n000000ffaffe77c0b3144d3e9b5eb4dcc37e86027fcc6145 refs/heads/feature/x\u0000multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since deepen-not deepen-relative no-progress include-tag multi_ack_detailed no-done object-format=sha1 agent=git/2.39.5\n003d2b2b667cd9aedf29ba5d8bc3b2745134baf1540b refs/heads/main\n003c3301628178d869a72046d57e70e4f2e19140f6ce refs/tags/v1.0\n003c48295475890abc58b233fa8e4aa263c33205d533 refs/tags/v2.0\n003f2b2b667cd9aedf29ba5d8bc3b2745134baf1540b refs/tags/v2.0^{}\n0000';

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('classapi backend (in-process, fake tools)', function () {
  let backend: RunningServer;
  let base: string;
  let git: LocalServer;
  let other: LocalServer;
  let registry: LocalServer;
  let tls: BackendTls;
  /** The API server's side: trusts the backend, presents the allowed client certificate. */
  let apiServer: Agent;
  const logLines: string[] = [];

  before(async function () {
    other = await localServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
      res.end(advertisement);
    });
    git = await localServer((req, res, url) => {
      const path = url.pathname;
      if (path.startsWith('/hang.git/')) return; // never answers
      if (path.startsWith('/offsite.git/')) {
        res.writeHead(302, { location: `${other.url}/org/app.git/info/refs?service=git-upload-pack` }).end();
        return;
      }
      if (path.startsWith('/public.git/')) {
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
        res.end(advertisement);
        return;
      }
      if (req.headers.authorization !== expectedAuth) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('auth required');
        return;
      }
      if (url.searchParams.get('service') !== 'git-upload-pack') {
        res.writeHead(403).end();
        return;
      }
      if (path === '/prefix/escape.git/info/refs') {
        res.writeHead(302, { location: '/org/app.git/info/refs?service=git-upload-pack' }).end();
        return;
      }
      if (path === '/moved/info/refs') {
        res.writeHead(301, { location: '/org/app.git/info/refs?service=git-upload-pack' }).end();
        return;
      }
      if (path === '/dumb.git/info/refs') {
        res
          .writeHead(200, { 'content-type': 'text/plain' })
          .end('2b2b667cd9aedf29ba5d8bc3b2745134baf1540b\trefs/heads/main\n');
        return;
      }
      if (path === '/org/app.git/info/refs' || path === '/prefix/org/app.git/info/refs') {
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
        res.end(advertisement);
        return;
      }
      res.writeHead(404).end('Repository not found');
    });
    registry = await localServer((req, res, url) => {
      if (req.headers.authorization !== expectedAuth) {
        sendJson(
          res,
          401,
          { errors: [{ code: 'UNAUTHORIZED' }] },
          { 'www-authenticate': 'Basic realm="registry"' },
        );
        return;
      }
      const path = url.pathname;
      if (path === '/v2/library/alpine/tags/list') {
        // Three pages, the Distribution way: n/last in the Link, relative to the registry.
        const last = url.searchParams.get('last');
        const pages: Record<string, [string[], string | undefined]> = {
          '': [['3.20', '3.19'], '3.19'],
          '3.19': [['edge', 'latest'], 'latest'],
          latest: [['3.18'], undefined],
        };
        const [tags, next] = pages[last ?? ''] ?? [[], undefined];
        sendJson(
          res,
          200,
          { name: 'library/alpine', tags },
          next ? { link: `</v2/library/alpine/tags/list?n=2&last=${next}>; rel="next"` } : {},
        );
        return;
      }
      if (path === '/reg/v2/team/tags/list') {
        // The next page, by the registry's Link, lies outside the address path /reg.
        sendJson(
          res,
          200,
          { name: 'team', tags: ['a'] },
          { link: '</v2/team/tags/list?last=a>; rel="next"' },
        );
        return;
      }
      if (path === '/v2/empty/tags/list') {
        sendJson(res, 200, { name: 'empty', tags: null });
        return;
      }
      if (path === '/v2/offsite/tags/list') {
        sendJson(
          res,
          200,
          { name: 'offsite', tags: ['a'] },
          { link: `<${other.url}/v2/offsite/tags/list?last=a>; rel="next"` },
        );
        return;
      }
      sendJson(res, 404, {
        errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }],
      });
    });
    tls = await backendTls();
    apiServer = tls.agent(tls.apiServer);
    backend = await startBackend(
      {
        ...tls.config,
        bindAddress: '127.0.0.1',
        port: 0,
        upstream: { connectMs: 1_000, headersMs: 400, bodyMs: 400 },
        shutdownGraceMs: 1_000,
        shutdownDelayMs: 0,
        logLevel: 'debug',
        limits: {
          maxInflight: { readOnly: 100, mutating: 20 },
          deadlines: { headerMs: 30_000, bodyIdleMs: 60_000 },
          listenSockets: 1,
        },
      },
      createLogger({ level: 'debug', write: (line) => logLines.push(line) }),
    );
    base = `https://127.0.0.1:${backend.port}`;
  });

  after(async function () {
    await backend.shutdown();
    await Promise.all([git.close(), other.close(), registry.close(), apiServer.close()]);
  });

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
    const res = await request(`${base}${path}`, { method: method as 'GET', headers, dispatcher: apiServer });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  const gitHeaders = (): Record<string, string> => pluginHeaders(git.url, basic);

  it('/git/branches lists refs/heads with their commits, sorted, with Basic sent to the tool', async function () {
    const before = git.requests.length;
    const r = await get('/git/branches?repository=org/app.git', gitHeaders());
    expect(r).to.deep.equal({
      status: 200,
      body: {
        listMeta: { totalItems: 2 },
        items: [
          { name: 'feature/x', commitID: 'affe77c0b3144d3e9b5eb4dcc37e86027fcc6145' },
          { name: 'main', commitID: '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b' },
        ],
      },
    });
    const seen = git.requests.slice(before);
    expect(seen).to.have.length(1);
    expect(seen[0]?.url).to.equal('/org/app.git/info/refs?service=git-upload-pack');
    expect(seen[0]?.headers.authorization).to.equal(expectedAuth);
    expect(Object.keys(seen[0]?.headers ?? {}).filter((h) => h.startsWith('x-plugin'))).to.deep.equal([]);
  });

  it('/git/tags gives the peeled commit of an annotated tag', async function () {
    const r = await get('/git/tags?repository=org/app.git', gitHeaders());
    expect(r.body).to.deep.equal({
      listMeta: { totalItems: 2 },
      items: [
        { name: 'v1.0', commitID: '3301628178d869a72046d57e70e4f2e19140f6ce' },
        { name: 'v2.0', commitID: '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b' },
      ],
    });
  });

  it('/git/git/gitrefs lists heads and tags by full name, from a same-origin repositoryUrl', async function () {
    const url = encodeURIComponent(`${git.url}/org/app.git`);
    const r = await get(`/git/git/gitrefs?repositoryUrl=${url}&search=V&itemsPerPage=1&page=2`, gitHeaders());
    expect(r.body).to.deep.equal({
      listMeta: { totalItems: 2 },
      items: [{ name: 'refs/tags/v2.0', commitID: '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b' }],
    });
  });

  it('keeps the path prefix of the Connector address', async function () {
    const r = await get('/git/branches?repository=org/app.git', pluginHeaders(`${git.url}/prefix/`, basic));
    expect(r.status).to.equal(200);
    expect(git.requests.at(-1)?.url).to.equal('/prefix/org/app.git/info/refs?service=git-upload-pack');
  });

  it('follows a same-origin redirect, sending the credential again', async function () {
    const before = git.requests.length;
    const r = await get('/git/branches?repository=moved', gitHeaders());
    expect(r.status).to.equal(200);
    const seen = git.requests.slice(before);
    expect(seen.map((s) => s.url)).to.deep.equal([
      '/moved/info/refs?service=git-upload-pack',
      '/org/app.git/info/refs?service=git-upload-pack',
    ]);
    expect(seen.every((s) => s.headers.authorization === expectedAuth)).to.equal(true);
  });

  it('never follows a redirect to another origin (502), and the other origin sees nothing', async function () {
    const r = await get('/git/branches?repository=offsite.git', gitHeaders());
    expect(r.status).to.equal(502);
    expect(r.body).to.include({ kind: 'Status', reason: 'BadGateway' });
    expect(other.requests).to.have.length(0);
  });

  it('never follows a redirect out of the address path (502); nothing is sent there', async function () {
    const before = git.requests.length;
    const r = await get('/git/branches?repository=escape.git', pluginHeaders(`${git.url}/prefix`, basic));
    expect(r.status).to.equal(502);
    expect(r.body).to.include({ kind: 'Status', reason: 'BadGateway' });
    expect(r.body.message).to.match(/outside the Connector's address path \/prefix/);
    expect(git.requests.slice(before).map((s) => s.url)).to.deep.equal([
      '/prefix/escape.git/info/refs?service=git-upload-pack',
    ]);
  });

  it('a repositoryUrl outside the address path is a 400 and nothing is sent', async function () {
    const before = git.requests.length;
    const url = encodeURIComponent(`${git.url}/org/app.git`);
    const r = await get(`/git/git/gitrefs?repositoryUrl=${url}`, pluginHeaders(`${git.url}/prefix`, basic));
    expect(r.status).to.equal(400);
    expect(r.body.message).to.match(/not under the Connector's address path \/prefix/);
    expect(git.requests.length).to.equal(before);
  });

  it('never follows registry pagination out of the address path (502); nothing is sent there', async function () {
    const before = registry.requests.length;
    const r = await get('/oci/tags?repository=team', pluginHeaders(`${registry.url}/reg`, basic));
    expect(r.status).to.equal(502);
    expect(r.body.message).to.match(/outside the Connector's address path \/reg/);
    expect(registry.requests.slice(before).map((s) => s.url)).to.deep.equal(['/reg/v2/team/tags/list']);
  });

  it('a repositoryUrl on another origin is a 400 and nothing is sent anywhere', async function () {
    const before = git.requests.length;
    const url = encodeURIComponent(`${other.url}/org/app.git`);
    const r = await get(`/git/git/gitrefs?repositoryUrl=${url}`, gitHeaders());
    expect(r.status).to.equal(400);
    expect(r.body.message).to.match(/Connector's origin/);
    expect(git.requests.length).to.equal(before);
    expect(other.requests).to.have.length(0);
  });

  it('without X-Plugin-Secret the tool is called without a credential', async function () {
    const before = git.requests.length;
    const r = await get('/git/branches?repository=public.git', pluginHeaders(git.url));
    expect(r.status).to.equal(200);
    expect(git.requests[before]?.headers.authorization).to.equal(undefined);
  });

  const failures: {
    title: string;
    path: string;
    headers: () => Record<string, string>;
    status: number;
    reason: string;
    message: RegExp;
  }[] = [
    {
      title: 'a wrong password → 403 (never 401), naming the answer of the Git server',
      path: '/git/branches?repository=org/app.git',
      headers: () => pluginHeaders(git.url, { ...basic, data: { username: 'bot', password: 'wrong' } }),
      status: 403,
      reason: 'Forbidden',
      message: /the Git server refused the Connector's credential \(401\)/,
    },
    {
      title: 'no credential where one is needed → 403',
      path: '/git/tags?repository=org/app.git',
      headers: () => pluginHeaders(git.url),
      status: 403,
      reason: 'Forbidden',
      message: /requires a credential and the Connector has none \(401\)/,
    },
    {
      title: 'an unknown repository → 404',
      path: '/git/branches?repository=org/nope.git',
      headers: gitHeaders,
      status: 404,
      reason: 'NotFound',
      message: /repository "org\/nope.git" not found/,
    },
    {
      title: 'a dumb-HTTP server → 502',
      path: '/git/branches?repository=dumb.git',
      headers: gitHeaders,
      status: 502,
      reason: 'BadGateway',
      message: /smart-HTTP/,
    },
    {
      title: 'a Git server that never answers → 504',
      path: '/git/branches?repository=hang.git',
      headers: gitHeaders,
      status: 504,
      reason: 'Timeout',
      message: /did not answer in time/,
    },
    {
      title: 'a Git server that cannot be reached → 503',
      path: '/git/branches?repository=org/app.git',
      headers: () => pluginHeaders('http://127.0.0.1:1', basic),
      status: 503,
      reason: 'ServiceUnavailable',
      message: /cannot be reached \(ECONNREFUSED\)/,
    },
    {
      title: 'no X-Plugin-Meta → 400',
      path: '/git/branches?repository=org/app.git',
      headers: () => ({}),
      status: 400,
      reason: 'BadRequest',
      message: /X-Plugin-Meta/,
    },
    {
      title: 'a bad itemsPerPage → 400 naming it',
      path: '/git/branches?repository=org/app.git&itemsPerPage=0',
      headers: gitHeaders,
      status: 400,
      reason: 'BadRequest',
      message: /itemsPerPage/,
    },
    {
      title: 'an unknown path → 404',
      path: '/git/commits?repository=org/app.git',
      headers: gitHeaders,
      status: 404,
      reason: 'NotFound',
      message: /\/git\/branches/,
    },
    {
      title: 'an OCI repository name that is not one → 400',
      path: '/oci/tags?repository=../../etc',
      headers: () => pluginHeaders(registry.url, basic),
      status: 400,
      reason: 'BadRequest',
      message: /OCI repository name/,
    },
    {
      title: 'an unknown OCI repository → 404',
      path: '/oci/tags?repository=library/nope',
      headers: () => pluginHeaders(registry.url, basic),
      status: 404,
      reason: 'NotFound',
      message: /repository "library\/nope" not found/,
    },
    {
      title: 'a wrong registry password → 403',
      path: '/oci/tags?repository=library/alpine',
      headers: () => pluginHeaders(registry.url, { ...basic, data: { username: 'bot', password: 'wrong' } }),
      status: 403,
      reason: 'Forbidden',
      message: /the registry refused the Connector's credential \(401\)/,
    },
    {
      title: 'registry pagination pointing at another origin → 502',
      path: '/oci/tags?repository=offsite',
      headers: () => pluginHeaders(registry.url, basic),
      status: 502,
      reason: 'BadGateway',
      message: /another origin/,
    },
  ];
  for (const f of failures) {
    it(f.title, async function () {
      const r = await get(f.path, f.headers());
      expect(r.status).to.equal(f.status);
      expect(r.body).to.include({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: f.reason,
        code: f.status,
      });
      expect(r.body.message).to.match(f.message);
      expect(JSON.stringify(r.body)).to.not.include(PASSWORD);
    });
  }

  it('writes are 405 with Allow', async function () {
    const res = await request(`${base}/git/branches?repository=org/app.git`, {
      method: 'POST',
      headers: gitHeaders(),
      dispatcher: apiServer,
    });
    expect(res.statusCode).to.equal(405);
    expect(res.headers.allow).to.equal('GET, HEAD');
    expect(JSON.parse(await res.body.text())).to.include({ reason: 'MethodNotAllowed' });
  });

  it('/oci/tags follows the registry pagination and pages on its own', async function () {
    const all = await get('/oci/tags?repository=library/alpine', pluginHeaders(registry.url, basic));
    expect(all.body).to.deep.equal({
      listMeta: { totalItems: 5 },
      items: [{ name: '3.18' }, { name: '3.19' }, { name: '3.20' }, { name: 'edge' }, { name: 'latest' }],
    });
    const page = await get(
      '/oci/tags?repository=library/alpine&search=3.&page=2&itemsPerPage=2',
      pluginHeaders(registry.url, basic),
    );
    expect(page.body).to.deep.equal({ listMeta: { totalItems: 3 }, items: [{ name: '3.20' }] });
    const empty = await get('/oci/tags?repository=empty', pluginHeaders(registry.url, basic));
    expect(empty.body).to.deep.equal({ listMeta: { totalItems: 0 }, items: [] });
  });

  it('/healthz and /readyz answer 200 without any header or client certificate (kubelet probes)', async function () {
    const kubelet = tls.agent();
    try {
      for (const path of ['/healthz', '/readyz']) {
        const res = await request(`${base}${path}`, { dispatcher: kubelet });
        expect(res.statusCode, path).to.equal(200);
        await res.body.dump();
      }
    } finally {
      await kubelet.close();
    }
  });

  const strangers: { title: string; client: () => BackendTls['apiServer'] | undefined; code: number }[] = [
    { title: 'no client certificate', client: () => undefined, code: 401 },
    { title: 'a certificate of another CA with the allowed name', client: () => tls.otherCa, code: 401 },
    { title: 'a certificate of the CA with another name', client: () => tls.wrongName, code: 403 },
  ];
  for (const c of strangers) {
    it(`refuses a caller with ${c.title} (${c.code}), and no tool is asked`, async function () {
      const before = git.requests.length;
      const agent = tls.agent(c.client());
      try {
        for (const path of ['/git/branches?repository=org/app.git', '/nowhere']) {
          const res = await request(`${base}${path}`, { headers: gitHeaders(), dispatcher: agent });
          const body = JSON.parse(await res.body.text()) as Record<string, unknown>;
          expect(res.statusCode, path).to.equal(c.code);
          expect(body).to.include({ kind: 'Status', code: c.code });
          expect(String(body.message)).to.include('call class APIs through the API server');
        }
      } finally {
        await agent.close();
      }
      expect(git.requests.length).to.equal(before);
    });
  }

  it('logs method, path, status and ms; never the query, a header or the password', async function () {
    await sleep(10);
    const records = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = records.filter((r) => r.msg === 'request');
    expect(requests.length).to.be.greaterThan(10);
    for (const r of requests) {
      expect(r).to.have.all.keys('method', 'path', 'status', 'ms', 'ts', 'level', 'msg');
      expect(String(r.path)).to.not.include('?');
    }
    expect(requests.some((r) => r.path === '/git/branches' && r.status === 403)).to.equal(true);
    const all = logLines.join('');
    expect(all).to.not.include(PASSWORD);
    expect(all).to.not.include(b64(PASSWORD));
    expect(all).to.not.include('repository=');
  });
});
