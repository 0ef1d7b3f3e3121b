// The class API backend from its real entry point (node dist/classapi/main.js), against real
// tools: git-http-backend behind nginx with Basic auth, and Distribution's docker-registry with
// htpasswd and with the token flow. What the backend answers is compared with what the tools
// themselves say (`git ls-remote`, the registry's own tags/list). Needs no Kubernetes: the backend
// is called the way the Connectors API server calls it, over mutual TLS with its client
// certificate, with the X-Plugin-* headers.

import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, type Agent } from 'undici';
import { repoRoot } from '../../hack/binaries.js';
import { freePort, ManagedProcess } from '../../hack/process.js';
import { startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import { backendTls } from '../helpers/classapi-tls.js';
import { env, secretValue } from '../helpers/env.js';
import { recordResponse } from '../helpers/leaks.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

interface SecretSpec {
  type: string;
  data: Record<string, string>;
}

/** The headers of the published backend contract, as the Connectors API server sends them. */
function pluginHeaders(baseURL: string, secret?: SecretSpec): Record<string, string> {
  const headers: Record<string, string> = { 'x-plugin-meta': b64(JSON.stringify({ baseURL })) };
  if (secret) {
    headers['x-plugin-auth'] = b64(secret.type);
    headers['x-plugin-secret'] = b64(
      JSON.stringify(Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, b64(v)]))),
    );
  }
  return headers;
}

interface ListBody {
  listMeta: { totalItems: number };
  items: { name: string; commitID?: string }[];
}

interface StatusBody {
  kind: string;
  reason: string;
  code: number;
  message: string;
}

describe('class API backend against a real Git server and registry', function () {
  this.timeout(120_000);
  const gitUser = 'git-bot';
  const gitPassword = secretValue('git-password');
  const regUser = 'registry-bot';
  const regPassword = secretValue('registry-password');
  const tokenPassword = secretValue('token-password');
  const passwords = [gitPassword, regPassword, tokenPassword];

  let git: GitServer;
  let htpasswdRegistry: Registry;
  let tokenRegistry: Registry;
  let backend: ManagedProcess;
  let base: string;
  /** The API server's side of the mutual TLS. */
  let apiServer: Agent;
  let logFile: string;

  const gitSecret = (password = gitPassword): SecretSpec => ({
    type: 'kubernetes.io/basic-auth',
    data: { username: gitUser, password },
  });

  async function call(
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: unknown }> {
    const res = await request(`${base}${path}`, {
      headers,
      signal: AbortSignal.timeout(30_000),
      dispatcher: apiServer,
    });
    const text = await res.body.text();
    recordResponse(`classapi GET ${path}`, res.headers, text);
    return { status: res.statusCode, body: JSON.parse(text) as unknown };
  }
  /** A list answer. */
  const list = (path: string, headers: Record<string, string>) =>
    call(path, headers) as Promise<{ status: number; body: ListBody }>;
  /** A Status answer. */
  const failure = (path: string, headers: Record<string, string>) =>
    call(path, headers) as Promise<{ status: number; body: StatusBody }>;

  before(async function () {
    const logDir = env().sys.logDir;
    // Not classapi.log: that is the shared backend's (hack/localsystem.ts), which this would empty.
    logFile = join(logDir, 'classapi-standalone.log');
    writeFileSync(logFile, ''); // this run's lines only: the last test reads it all

    [git, htpasswdRegistry, tokenRegistry] = await Promise.all([
      startGitServer({ username: gitUser, password: gitPassword, logDir }),
      startRegistry({ auth: 'htpasswd', username: regUser, password: regPassword, logDir }),
      startRegistry({ auth: 'token', username: regUser, password: tokenPassword, logDir }),
    ]);
    await git.createRepo('org/app.git', {
      branches: ['main', 'dev', 'feature/login', 'release/1.0', 'release/2.0'],
      tags: ['v1.0', 'v1.1'],
      annotatedTags: ['v2.0', 'v2.1-rc'],
    });
    await git.createRepo('org/empty.git', { branches: [], tags: [] });
    for (const tag of ['3.19', '3.20', 'latest']) await htpasswdRegistry.push('library/alpine', tag);
    for (const tag of ['v1', 'v2', 'v2.1']) await tokenRegistry.push('team/app', tag);

    const tls = await backendTls();
    apiServer = tls.agent(tls.apiServer);
    const port = await freePort();
    backend = ManagedProcess.start({
      name: 'classapi',
      binary: process.execPath,
      args: [
        join(repoRoot(), 'dist', 'classapi', 'main.js'),
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--upstream-response-timeout=10s',
        '--log-level=info',
        ...tls.flags,
      ],
      logFile,
    });
    base = `https://127.0.0.1:${port}`;
    await backend.waitUntil(
      async () => {
        const res = await request(`${base}/readyz`, {
          signal: AbortSignal.timeout(1_000),
          dispatcher: apiServer,
        });
        await res.body.dump();
        return res.statusCode === 200;
      },
      { timeoutMs: 20_000, what: 'classapi /readyz' },
    );
  });

  after(async function () {
    await backend.stop(); // a no-op when the SIGTERM test already stopped it
    await Promise.all([git.stop(), htpasswdRegistry.stop(), tokenRegistry.stop(), apiServer.close()]);
  });

  describe('git', function () {
    it('/git/branches equals git ls-remote --heads (names and commit IDs)', async function () {
      const expected = await git.lsRemote('org/app.git', 'heads');
      expect(expected).to.have.length(5);
      const r = await list('/git/branches?repository=org/app.git', pluginHeaders(git.url, gitSecret()));
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ listMeta: { totalItems: expected.length }, items: expected });
    });

    it('/git/tags equals git ls-remote --tags, annotated tags as the commit they point to', async function () {
      const expected = await git.lsRemote('org/app.git', 'tags');
      expect(expected.map((t) => t.name)).to.deep.equal(['v1.0', 'v1.1', 'v2.0', 'v2.1-rc']);
      const r = await list('/git/tags?repository=org/app.git', pluginHeaders(git.url, gitSecret()));
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ listMeta: { totalItems: 4 }, items: expected });
    });

    it('/git/git/gitrefs?repositoryUrl= lists heads and tags by full name', async function () {
      const heads = await git.lsRemote('org/app.git', 'heads');
      const tags = await git.lsRemote('org/app.git', 'tags');
      const expected = [
        ...heads.map((h) => ({ name: `refs/heads/${h.name}`, commitID: h.commitID })),
        ...tags.map((t) => ({ name: `refs/tags/${t.name}`, commitID: t.commitID })),
      ].sort((a, b) => (a.name < b.name ? -1 : 1));
      const url = encodeURIComponent(`${git.url}/org/app.git`);
      const r = await list(`/git/git/gitrefs?repositoryUrl=${url}`, pluginHeaders(git.url, gitSecret()));
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ listMeta: { totalItems: 9 }, items: expected });
    });

    it('search, page and itemsPerPage', async function () {
      const headers = pluginHeaders(git.url, gitSecret());
      const search = await list('/git/branches?repository=org/app.git&search=RELEASE', headers);
      expect(search.body.listMeta.totalItems).to.equal(2);
      expect(search.body.items.map((i) => i.name)).to.deep.equal(['release/1.0', 'release/2.0']);
      const page = await list('/git/branches?repository=org/app.git&itemsPerPage=2&page=2', headers);
      expect(page.body.listMeta.totalItems).to.equal(5);
      expect(page.body.items.map((i) => i.name)).to.deep.equal(['main', 'release/1.0']);
      const url = encodeURIComponent(`${git.url}/org/app.git`);
      const refs = await list(`/git/git/gitrefs?repositoryUrl=${url}&search=v2&itemsPerPage=1`, headers);
      expect(refs.body.listMeta.totalItems).to.equal(2);
      expect(refs.body.items.map((i) => i.name)).to.deep.equal(['refs/tags/v2.0']);
      const bad = await failure('/git/branches?repository=org/app.git&page=0', headers);
      expect(bad.status).to.equal(400);
      expect(bad.body.message).to.include('page');
    });

    it('an empty repository is an empty list', async function () {
      const r = await list('/git/branches?repository=org/empty.git', pluginHeaders(git.url, gitSecret()));
      expect(r).to.deep.equal({ status: 200, body: { listMeta: { totalItems: 0 }, items: [] } });
    });

    it('a wrong password → 403 Forbidden Status naming the answer (not 401, not a hang)', async function () {
      const started = Date.now();
      const r = await failure(
        '/git/branches?repository=org/app.git',
        pluginHeaders(git.url, gitSecret(secretValue('wrong'))),
      );
      expect(Date.now() - started).to.be.lessThan(5_000);
      expect(r.status).to.equal(403);
      expect(r.body).to.include({ kind: 'Status', reason: 'Forbidden', code: 403 });
      expect(r.body.message).to.include("the Git server refused the Connector's credential (401)");
    });

    it('no Secret for a server that needs one → 403 saying so', async function () {
      const r = await failure('/git/tags?repository=org/app.git', pluginHeaders(git.url));
      expect(r.status).to.equal(403);
      expect(r.body.message).to.include('requires a credential and the Connector has none (401)');
    });

    it('an unknown repository → 404 NotFound naming it', async function () {
      const r = await failure('/git/branches?repository=org/nope.git', pluginHeaders(git.url, gitSecret()));
      expect(r.status).to.equal(404);
      expect(r.body).to.include({ kind: 'Status', reason: 'NotFound' });
      expect(r.body.message).to.include('repository "org/nope.git" not found');
    });

    it('a repositoryUrl on another origin → 400, the credential goes nowhere', async function () {
      const url = encodeURIComponent(`${htpasswdRegistry.url}/org/app.git`);
      const r = await failure(`/git/git/gitrefs?repositoryUrl=${url}`, pluginHeaders(git.url, gitSecret()));
      expect(r.status).to.equal(400);
      expect(r.body.message).to.include(`not ${htpasswdRegistry.url}`);
    });

    it('after a password rotation on the server, the old Secret is refused and the new one works', async function () {
      const rotated = secretValue('git-rotated');
      passwords.push(rotated);
      await git.setPassword(rotated);
      try {
        const old = await failure(
          '/git/branches?repository=org/app.git',
          pluginHeaders(git.url, gitSecret()),
        );
        expect(old.status).to.equal(403);
        const fresh = await list(
          '/git/branches?repository=org/app.git',
          pluginHeaders(git.url, gitSecret(rotated)),
        );
        expect(fresh.status).to.equal(200);
        expect(fresh.body.listMeta.totalItems).to.equal(5);
      } finally {
        await git.setPassword(gitPassword);
      }
    });
  });

  describe('oci', function () {
    const sorted = (tags: string[]): { name: string }[] => [...tags].sort().map((name) => ({ name }));

    it("htpasswd registry + kubernetes.io/basic-auth Secret: tags equal the registry's tags/list", async function () {
      const expected = await htpasswdRegistry.tagsList('library/alpine');
      expect(expected).to.have.members(['3.19', '3.20', 'latest']);
      const r = await list(
        '/oci/tags?repository=library/alpine',
        pluginHeaders(htpasswdRegistry.url, {
          type: 'kubernetes.io/basic-auth',
          data: { username: regUser, password: regPassword },
        }),
      );
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ listMeta: { totalItems: 3 }, items: sorted(expected) });
    });

    it("token registry + cpaas.io/distribution-registry-token Secret: tags equal the registry's tags/list", async function () {
      const expected = await tokenRegistry.tagsList('team/app');
      expect(expected).to.have.members(['v1', 'v2', 'v2.1']);
      const headers = pluginHeaders(tokenRegistry.url, {
        type: 'cpaas.io/distribution-registry-token',
        data: { username: regUser, password: tokenPassword },
      });
      const r = await list('/oci/tags?repository=team/app', headers);
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ listMeta: { totalItems: 3 }, items: sorted(expected) });
      // Again, with search and paging (and the cached token).
      const page = await list('/oci/tags?repository=team/app&search=V2&page=2&itemsPerPage=1', headers);
      expect(page.body).to.deep.equal({ listMeta: { totalItems: 2 }, items: [{ name: 'v2.1' }] });
    });

    it('token registry with a wrong password → 403 from the token service, not 401', async function () {
      const r = await failure(
        '/oci/tags?repository=team/app',
        pluginHeaders(tokenRegistry.url, {
          type: 'cpaas.io/distribution-registry-token',
          data: { username: regUser, password: secretValue('wrong') },
        }),
      );
      expect(r.status).to.equal(403);
      expect(r.body).to.include({ kind: 'Status', reason: 'Forbidden' });
      expect(r.body.message).to.include(tokenRegistry.url).and.include('(401)');
    });

    it('token registry with a basic-auth Secret → 403 that says a token Secret is needed', async function () {
      const r = await failure(
        '/oci/tags?repository=team/app',
        pluginHeaders(tokenRegistry.url, {
          type: 'kubernetes.io/basic-auth',
          data: { username: regUser, password: tokenPassword },
        }),
      );
      expect(r.status).to.equal(403);
      expect(r.body.message).to.include('cpaas.io/distribution-registry-token');
    });

    it('htpasswd registry with a wrong password → 403', async function () {
      const r = await failure(
        '/oci/tags?repository=library/alpine',
        pluginHeaders(htpasswdRegistry.url, {
          type: 'kubernetes.io/basic-auth',
          data: { username: regUser, password: secretValue('wrong') },
        }),
      );
      expect(r.status).to.equal(403);
      expect(r.body.message).to.include("the registry refused the Connector's credential (401)");
    });

    it('an unknown repository → 404, in both modes', async function () {
      for (const [registry, type, password] of [
        [htpasswdRegistry, 'kubernetes.io/basic-auth', regPassword],
        [tokenRegistry, 'cpaas.io/distribution-registry-token', tokenPassword],
      ] as const) {
        const r = await failure(
          '/oci/tags?repository=library/nope',
          pluginHeaders(registry.url, { type, data: { username: regUser, password } }),
        );
        expect(r.status, registry.auth).to.equal(404);
        expect(r.body.message).to.include('repository "library/nope" not found');
      }
    });
  });

  // Mocha runs a suite's own tests before its child suites; these must come last.
  describe('afterwards', function () {
    it('the backend log has one line per request and no password, plain or encoded', function () {
      const log = readFileSync(logFile, 'utf8');
      const requests = log
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'request');
      expect(requests.length).to.be.greaterThan(15);
      expect(requests.every((l) => typeof l.path === 'string' && !l.path.includes('?'))).to.equal(true);
      for (const password of passwords) {
        expect(log.includes(password), 'a password leaked into the backend log').to.equal(false);
        expect(log.includes(b64(password))).to.equal(false);
      }
      expect(log).not.to.match(/Basic [A-Za-z0-9+/=]{8,}/);
      expect(log).not.to.match(/Bearer [A-Za-z0-9._-]{8,}/);
      expect(log).not.to.match(/x-plugin-secret/i);
    });

    it('stops on SIGTERM with exit code 0', async function () {
      const exit = await backend.stop(5_000);
      expect(exit).to.deep.include({ code: 0, signal: null });
    });
  });
});
