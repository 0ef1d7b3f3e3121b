// The real tools later tests proxy to: a Git server (nginx + git-http-backend) and a container
// registry (docker-registry), each behind real authentication. These tests check the harnesses
// themselves against the real clients (git, skopeo), so a failure elsewhere can trust them.
// They need no Kubernetes; each describe starts its own servers and stops them, leaving nothing but
// their logs in the test log dir (for the leak check).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import { ManagedProcess } from '../../hack/process.js';
import { findBinary, startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { RegistryError, startRegistry, type Registry } from '../../hack/tools/registry.js';
import { env, secretValue } from '../helpers/env.js';

const REPO = 'org/repo.git';
const SPEC = {
  branches: ['main', 'dev', 'feature/x'],
  tags: ['v1.0.0', 'v1.1.0'],
  annotatedTags: ['v2.0.0'],
};

/** A known secret (test/helpers/leaks.ts) with characters that need encoding in URLs and headers. */
function password(label: string): string {
  return `${secretValue(label)}:p@ss/w rd`;
}

const wrongPassword = secretValue('wrong-password');

function basic(username: string, pass: string): string {
  return `Basic ${Buffer.from(`${username}:${pass}`).toString('base64')}`;
}

/** Direct children of `pid`, from /proc: nginx's workers. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …"; comm may hold spaces and parentheses, so split after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    // A zombie still has a /proc entry; only a reaped process is really gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => {
      resolve(true);
    });
  });
}

async function git(server: GitServer, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return ManagedProcess.run(findBinary('git', 'git'), args, { env: server.gitEnv, timeoutMs: 30_000 });
}

function urlWith(base: string, username: string, pass: string): string {
  const url = new URL(base);
  url.username = username;
  url.password = pass;
  return url.toString();
}

for (const tls of [false, true]) {
  describe(`test tools: Git server over ${tls ? 'HTTPS' : 'HTTP'} (nginx + fcgiwrap + git-http-backend)`, function () {
    const username = 'alice';
    let pass = password('git');
    let server: GitServer | undefined;
    let agent: Agent | undefined;
    const s = (): GitServer => {
      if (!server) throw new Error('the Git server did not start');
      return server;
    };

    before(async function () {
      server = await startGitServer({ username, password: pass, tls, logDir: env().sys.logDir });
      agent = new Agent(server.caCertPem ? { connect: { ca: server.caCertPem } } : {});
      await server.createRepo(REPO, SPEC);
    });

    after(async function () {
      await agent?.close();
      if (!server) return;
      const pids = server.pids.flatMap((pid) => [pid, ...childrenOf(pid)]);
      await server.stop();
      expect(pids.length, 'nginx master, its worker and fcgiwrap').to.be.at.least(3);
      for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).to.equal(false);
      expect(await portRefuses(server.port), `port ${server.port} still open`).to.equal(true);
      expect(existsSync(server.dir)).to.equal(false);
      await server.stop(); // idempotent
    });

    it('git ls-remote lists the created branches and tags, with the commits git itself resolves', async function () {
      const repoDir = join(s().root, REPO);
      const resolveRef = async (ref: string): Promise<string> => {
        const result = await ManagedProcess.run(
          findBinary('git', 'git'),
          ['--git-dir', repoDir, 'rev-parse', `${ref}^{commit}`],
          { env: s().gitEnv },
        );
        expect(result.code, result.stderr).to.equal(0);
        return result.stdout.trim();
      };

      const heads = await s().lsRemote(REPO, 'heads');
      expect(heads.map((r) => r.name)).to.deep.equal(['dev', 'feature/x', 'main']);
      for (const ref of heads) expect(ref.commitID).to.equal(await resolveRef(`refs/heads/${ref.name}`));
      expect(new Set(heads.map((r) => r.commitID)).size, 'one commit per branch').to.equal(3);

      const tags = await s().lsRemote(REPO, 'tags');
      expect(tags.map((r) => r.name)).to.deep.equal(['v1.0.0', 'v1.1.0', 'v2.0.0']);
      // For the annotated v2.0.0 this is the peeled commit, not the tag object.
      for (const ref of tags) expect(ref.commitID).to.equal(await resolveRef(`refs/tags/${ref.name}`));
      const tagObject = await ManagedProcess.run(findBinary('git', 'git'), [
        '--git-dir',
        repoDir,
        'cat-file',
        '-t',
        'refs/tags/v2.0.0',
      ]);
      expect(tagObject.stdout.trim()).to.equal('tag');
    });

    it('git clone works with credentials and checks out the first branch', async function () {
      const target = join(s().dir, `clone-${Date.now()}`);
      const result = await git(s(), [
        'clone',
        '--quiet',
        urlWith(`${s().url}/${REPO}`, username, pass),
        target,
      ]);
      expect(result.code, result.stderr).to.equal(0);
      expect(readFileSync(join(target, 'README.md'), 'utf8')).to.contain('branch main');
    });

    it('git ls-remote fails without credentials and with a wrong password', async function () {
      const bare = await git(s(), ['ls-remote', `${s().url}/${REPO}`]);
      expect(bare.code).to.not.equal(0);
      expect(bare.stderr).to.match(/could not read Username|Authentication failed/);

      const wrong = await git(s(), ['ls-remote', urlWith(`${s().url}/${REPO}`, username, wrongPassword)]);
      expect(wrong.code).to.not.equal(0);
      expect(wrong.stderr).to.contain('Authentication failed');
    });

    it('GET info/refs is 401 without credentials and the upload-pack advertisement with them', async function () {
      const url = `${s().url}/${REPO}/info/refs?service=git-upload-pack`;
      const anonymous = await request(url, { dispatcher: agent });
      await anonymous.body.dump();
      expect(anonymous.statusCode).to.equal(401);
      expect(anonymous.headers['www-authenticate']).to.match(/^Basic /);

      const wrong = await request(url, {
        dispatcher: agent,
        headers: { authorization: basic(username, wrongPassword) },
      });
      await wrong.body.dump();
      expect(wrong.statusCode).to.equal(401);

      const ok = await request(url, { dispatcher: agent, headers: { authorization: basic(username, pass) } });
      const body = await ok.body.text();
      expect(ok.statusCode).to.equal(200);
      expect(ok.headers['content-type']).to.equal('application/x-git-upload-pack-advertisement');
      expect(body.startsWith('001e# service=git-upload-pack\n0000')).to.equal(true);
      const main = (await s().lsRemote(REPO, 'heads')).find((r) => r.name === 'main');
      expect(body).to.contain(`${main?.commitID ?? '?'} refs/heads/main`);
      expect(readFileSync(s().accessLog, 'utf8')).to.contain(`${username} [`);
    });

    it('setPassword takes effect at once, without a restart', async function () {
      const url = `${s().url}/${REPO}/info/refs?service=git-upload-pack`;
      const old = pass;
      pass = password('git-rotated');
      await s().setPassword(pass);
      const refused = await request(url, {
        dispatcher: agent,
        headers: { authorization: basic(username, old) },
      });
      await refused.body.dump();
      expect(refused.statusCode).to.equal(401);
      const accepted = await request(url, {
        dispatcher: agent,
        headers: { authorization: basic(username, pass) },
      });
      await accepted.body.dump();
      expect(accepted.statusCode).to.equal(200);
      expect((await s().lsRemote(REPO, 'heads')).length).to.equal(3);
    });
  });
}

for (const auth of ['htpasswd', 'token'] as const) {
  describe(`test tools: container registry with ${auth} auth (docker-registry)`, function () {
    const username = 'bob';
    let pass = password('registry');
    let registry: Registry | undefined;
    const r = (): Registry => {
      if (!registry) throw new Error('the registry did not start');
      return registry;
    };
    const pushed = new Map<string, string>();

    before(async function () {
      registry = await startRegistry({ auth, username, password: pass, logDir: env().sys.logDir });
    });

    after(async function () {
      if (!registry) return;
      const pid = registry.pid;
      await registry.stop();
      if (pid !== undefined) expect(alive(pid), `docker-registry pid ${pid} still running`).to.equal(false);
      expect(await portRefuses(registry.port)).to.equal(true);
      if (registry.tokenUrl)
        expect(await portRefuses(Number(new URL(registry.tokenUrl).port))).to.equal(true);
      expect(existsSync(registry.dir)).to.equal(false);
      await registry.stop(); // idempotent
    });

    it('push, then the registry lists exactly the pushed tags', async function () {
      for (const tag of ['v1', 'v2', 'latest']) pushed.set(tag, await r().push('team/app', tag));
      expect(new Set(pushed.values()).size, 'every push is a new image').to.equal(3);
      expect([...(await r().tagsList('team/app'))].sort()).to.deep.equal(['latest', 'v1', 'v2']);
      // Another repository is independent.
      await r().push('team/other', 'only');
      expect(await r().tagsList('team/other')).to.deep.equal(['only']);
    });

    it('a wrong password is refused with 401', async function () {
      let err: unknown;
      try {
        await r().tagsList('team/app', { username, password: wrongPassword });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(RegistryError);
      expect((err as RegistryError).status).to.equal(401);

      const anonymous = await request(`${r().url}/v2/`);
      await anonymous.body.dump();
      expect(anonymous.statusCode).to.equal(401);
      const challenge = String(anonymous.headers['www-authenticate']);
      if (auth === 'htpasswd') {
        expect(challenge).to.match(/^Basic realm=/);
        const wrong = await request(`${r().url}/v2/`, {
          headers: { authorization: basic(username, wrongPassword) },
        });
        await wrong.body.dump();
        expect(wrong.statusCode).to.equal(401);
      } else {
        expect(challenge).to.equal(`Bearer realm="${r().tokenUrl ?? '?'}",service="test-registry"`);
        const token = `${r().tokenUrl ?? '?'}?service=test-registry&scope=repository:team/app:pull`;
        const wrong = await request(token, { headers: { authorization: basic(username, wrongPassword) } });
        await wrong.body.dump();
        expect(wrong.statusCode).to.equal(401);
        // The registry itself takes no Basic credentials in token mode, not even the right ones.
        const direct = await request(`${r().url}/v2/team/app/tags/list`, {
          headers: { authorization: basic(username, pass) },
        });
        await direct.body.dump();
        expect(direct.statusCode).to.equal(401);
      }
    });

    it('skopeo inspect sees the pushed image', async function () {
      const skopeo = findBinary('skopeo', 'skopeo'); // hack/test-tools.sh installs it
      const ref = `docker://${r().host}/team/app:v1`;
      const ok = await ManagedProcess.run(
        skopeo,
        ['inspect', '--tls-verify=false', '--creds', `${username}:${pass}`, ref],
        {
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: r().dir },
        },
      );
      expect(ok.code, ok.stderr).to.equal(0);
      const info = JSON.parse(ok.stdout) as { Digest: string; RepoTags: string[]; Architecture: string };
      expect(info.Digest).to.equal(pushed.get('v1'));
      expect([...info.RepoTags].sort()).to.deep.equal(['latest', 'v1', 'v2']);
      expect(info.Architecture).to.equal('amd64');

      const refused = await ManagedProcess.run(
        skopeo,
        ['inspect', '--tls-verify=false', '--creds', `${username}:${wrongPassword}`, ref],
        {
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: r().dir },
        },
      );
      expect(refused.code).to.not.equal(0);
      expect(refused.stderr).to.match(/unauthorized/i);
    });

    it('setPassword: the old password is refused, the new one accepted', async function () {
      const old = pass;
      pass = password('registry-rotated');
      await r().setPassword(pass);
      let err: unknown;
      try {
        await r().tagsList('team/app', { username, password: old });
      } catch (e) {
        err = e;
      }
      expect((err as RegistryError | undefined)?.status).to.equal(401);
      expect([...(await r().tagsList('team/app'))].sort()).to.deep.equal(['latest', 'v1', 'v2']);
      await r().push('team/app', 'after-rotation');
      expect(await r().tagsList('team/app')).to.include('after-rotation');
    });
  });
}
