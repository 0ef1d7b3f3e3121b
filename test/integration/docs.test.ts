// The commands and objects of README.md and docs/ that talk to the Kubernetes API, run as written
// against the real kube-apiserver and aggregated server: registering a tool and the first request
// through it, a class of one's own and its declared API, the class APIs of the git class against a
// real Git server, `kubectl get connectors` and renewing a Connector's admission. Only the namespace
// `team-a` and the tools' addresses are replaced with this test's.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import { startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { docBlock } from '../helpers/docs.js';
import { docWorkdir, replaceAll, retried, runDocShellOk, type Replacements } from '../helpers/docs-shell.js';
import { apply, basicAuthSecret, connector, env, kubectlOk, namespace, secretValue } from '../helpers/env.js';
import { allowSecret, registerRecorder } from '../helpers/leaks.js';

interface Echoed {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
}

interface RefList {
  listMeta: { totalItems: number };
  items: { name: string; commitID: string }[];
}

describe('docs: README.md and docs/*.md against the real kube-apiserver', function () {
  this.timeout(120_000);
  let ns: string;
  let tool: EchoTool;
  let git: GitServer;
  let replacements: Replacements;
  let cwd: string;

  /** Runs a documented shell block by id, with this test's names, and returns its stdout. */
  const run = (id: string): Promise<string> =>
    runDocShellOk(replaceAll(docBlock(id).text, replacements), { cwd });

  before(async function () {
    const gitPassword = secretValue('docs-git-password');
    [tool, git] = await Promise.all([
      startEchoTool(),
      startGitServer({ username: 'git-user', password: gitPassword, logDir: env().sys.logDir }),
    ]);
    registerRecorder('docs: the tool the documentation calls gitlab.example.com', tool);
    await git.createRepo('org/app.git', {
      branches: ['main', 'feature-login', 'feature-search'],
      tags: ['v1.0'],
    });
    await env().sys.installClasses();
    ns = await namespace('docs');
    cwd = docWorkdir('api');
    replacements = [
      ['https://gitlab.example.com', tool.url],
      ['https://git.example.com', git.url],
      ['team-a', ns],
    ];
    await apply([
      basicAuthSecret(ns, 'git-creds', 'git-user', gitPassword),
      connector(ns, 'my-git', { connectorClassName: 'git', address: git.url, secret: 'git-creds' }),
    ]);
  });

  after(async function () {
    await kubectlOk(['delete', 'connectorclass', 'items-service', '--ignore-not-found']);
    await Promise.all([tool.close(), git.stop()]);
  });

  it('registers the gitlab Connector as the README does, and the first request reaches the tool', async function () {
    await kubectlOk(['apply', '-f', '-'], {
      input: replaceAll(docBlock('register-gitlab').text, replacements),
    });
    const answer = JSON.parse(await retried(() => run('first-request'))) as Echoed;
    expect(answer.url).to.equal('/api/v4/projects');
    // The gitlab class sends the Connector's token as PRIVATE-TOKEN; the caller's never arrives.
    expect(answer.headers['private-token']).to.equal('glpat-xxxxxxxxxxxxxxxxxxxx');
    expect(answer.headers.authorization).to.equal(undefined);
  });

  it('kubectl get connectors shows the columns the troubleshooting page shows', async function () {
    const out = await run('get-connectors');
    const columns = (text: string): string[] => (text.split('\n')[0] ?? '').trim().split(/\s+/);
    expect(columns(out)).to.deep.equal(columns(docBlock('get-connectors-output').text));
    const gitlab = out
      .split('\n')
      .find((r) => r.startsWith('gitlab '))
      ?.split(/\s+/);
    expect(gitlab?.slice(0, 3)).to.deep.equal(['gitlab', 'gitlab', tool.url]);
  });

  it('renewing the admission of a Connector: the webhook replaces "renew" with its stamp', async function () {
    await run('renew-admission');
    const stamp = await kubectlOk([
      'get',
      'connector',
      'gitlab',
      '-n',
      ns,
      '-o',
      'jsonpath={.metadata.annotations.connectors\\.alauda\\.io/admitted}',
    ]);
    expect(stamp).not.to.equal('renew');
    expect(stamp).not.to.equal('');
  });

  it('the branches of a repository, as docs/api.md shows them', async function () {
    const out = await retried(() => run('class-api-branches'));
    const real = JSON.parse(out) as RefList;
    const shown = JSON.parse(docBlock('class-api-branches-output').text) as RefList;
    // The commits are this repository's; everything else is as shown.
    for (const item of real.items) expect(item.commitID).to.match(/^[0-9a-f]{40}$/);
    const withoutCommits = (l: RefList): object => ({
      listMeta: l.listMeta,
      items: l.items.map((i) => ({ name: i.name })),
    });
    expect(withoutCommits(real)).to.deep.equal(withoutCommits(shown));
  });

  it('git/gitrefs takes the clone URL in repositoryUrl', async function () {
    const refs = JSON.parse(await run('class-api-gitrefs')) as RefList;
    expect(refs.items.map((i) => i.name)).to.include.members([
      'refs/heads/main',
      'refs/heads/feature-login',
      'refs/tags/v1.0',
    ]);
  });

  it('the server logs each request in the shape docs/operations.md shows', async function () {
    const since = Date.now();
    await run('first-request');
    const shown = JSON.parse(docBlock('log-line').text) as Record<string, unknown>;
    const logged = await retried(() => {
      const line = readFileSync(join(env().sys.logDir, 'connectors-apiserver.log'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find(
          (r) =>
            r.msg === 'request' &&
            Date.parse(String(r.ts)) >= since &&
            String(r.path).endsWith(`/namespaces/${ns}/connectors/gitlab/proxy/api/v4/projects`),
        );
      if (!line) return Promise.reject(new Error('no request line logged yet'));
      return Promise.resolve(line);
    });
    expect(Object.keys(logged)).to.have.members(Object.keys(shown));
    for (const k of ['component', 'method', 'code', 'level', 'msg']) expect(logged[k], k).to.equal(shown[k]);
  });

  it('a class of its own (docs/classes.md) and a request to the API it declares', async function () {
    const password = secretValue('docs-items-password');
    allowSecret(tool, password);
    await kubectlOk(['apply', '-f', '-'], { input: docBlock('class-minimal').text });
    await apply([
      basicAuthSecret(ns, 'items-creds', 'items-user', password),
      connector(ns, 'items', {
        connectorClassName: 'items-service',
        address: tool.url,
        secret: 'items-creds',
      }),
    ]);
    const answer = JSON.parse(await retried(() => run('class-minimal-call'))) as Echoed;
    expect(answer.url).to.equal('/items?search=a');
    expect(answer.headers.authorization).to.equal(
      `Basic ${Buffer.from(`items-user:${password}`).toString('base64')}`,
    );
  });
});
