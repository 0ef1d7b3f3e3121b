// The shipped git and oci ConnectorClasses end to end: kubectl → kube-apiserver → our server →
// the class API backend → a real Git server (git http-backend behind nginx with Basic auth) and a
// real OCI registry (Debian docker-registry), compared with what the tools themselves report.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ManagedProcess } from '../../hack/process.js';
import { findBinary, startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import {
  apply,
  basicAuthSecret,
  env,
  eventually,
  grant,
  gvPath,
  kubectl,
  kubectlOk,
  knownSecrets,
  namespace,
  secretValue,
  userKubeconfig,
} from '../helpers/env.js';
import { recordOutput } from '../helpers/leaks.js';

interface Item {
  name: string;
  commitID?: string;
}
interface List {
  listMeta: { totalItems: number };
  items: Item[];
}

function connector(
  ns: string,
  name: string,
  cls: string,
  address: string,
  secret: string,
  authName: string,
): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace: ns },
    spec: {
      connectorClassName: cls,
      address,
      auth: {
        name: authName,
        secretRef: { name: secret },
        params: [{ name: 'repository', value: 'org/app.git' }],
      },
    },
  };
}

describe('shipped git and oci classes against real tools', function () {
  let ns: string;
  let git: GitServer;
  let registry: Registry;
  let tokenRegistry: Registry;
  const repo = 'org/app.git';
  const list = async (connectorName: string, rest: string): Promise<List> =>
    JSON.parse(
      await kubectlOk(['get', '--raw', `${gvPath}/namespaces/${ns}/connectors/${connectorName}/${rest}`]),
    ) as List;

  before(async function () {
    this.timeout(120_000);
    const password = secretValue('git-password');
    const regPassword = secretValue('registry-password');
    const logDir = env().sys.logDir;
    git = await startGitServer({ username: 'git-user', password, logDir });
    await git.createRepo(repo, {
      branches: ['main', 'develop', 'feature-login', 'feature-search'],
      tags: ['v1.0.0', 'v1.1.0'],
      annotatedTags: ['v2.0.0'],
    });
    registry = await startRegistry({ auth: 'htpasswd', username: 'reg-user', password: regPassword, logDir });
    tokenRegistry = await startRegistry({
      auth: 'token',
      username: 'reg-user',
      password: regPassword,
      logDir,
    });
    for (const tag of ['1.0', '1.1', '2.0', 'latest']) {
      await registry.push('team/app', tag);
      await tokenRegistry.push('team/app', tag);
    }
    await env().sys.installClasses();
    ns = await namespace('tools');
    const registrySecret = (name: string): object => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns },
      type: 'cpaas.io/distribution-registry-token',
      stringData: { username: 'reg-user', password: regPassword },
    });
    await apply([
      basicAuthSecret(ns, 'git-creds', 'git-user', password),
      basicAuthSecret(ns, 'git-wrong', 'git-user', secretValue('git-wrong-password')),
      registrySecret('registry-creds'),
      connector(ns, 'git', 'git', git.url, 'git-creds', 'basicAuth'),
      connector(ns, 'git-wrong', 'git', git.url, 'git-wrong', 'basicAuth'),
      connector(ns, 'registry', 'oci', registry.url, 'registry-creds', 'tokenAuth'),
      connector(ns, 'token-registry', 'oci', tokenRegistry.url, 'registry-creds', 'tokenAuth'),
    ]);
    await eventually('the git Connector to answer', async () => {
      const r = await kubectl([
        'get',
        '--raw',
        `${gvPath}/namespaces/${ns}/connectors/git/branches?repository=${repo}`,
      ]);
      return r.code === 0;
    });
  });

  after(async function () {
    await Promise.all([git.stop(), registry.stop(), tokenRegistry.stop()]);
  });

  it('branches equal `git ls-remote --heads`, names and commit IDs', async function () {
    const got = await list('git', `branches?repository=${repo}`);
    const want = await git.lsRemote(repo, 'heads');
    expect(got.items).to.deep.equal(want);
    expect(got.listMeta.totalItems).to.equal(want.length);
  });

  it('tags equal `git ls-remote --tags` (annotated tags peeled to their commit)', async function () {
    const got = await list('git', `tags?repository=${repo}`);
    expect(got.items).to.deep.equal(await git.lsRemote(repo, 'tags'));
    expect(got.items.map((i) => i.name)).to.include('v2.0.0');
  });

  it('git/gitrefs lists full ref names for a clone URL', async function () {
    const got = await list('git', `git/gitrefs?repositoryUrl=${encodeURIComponent(`${git.url}/${repo}`)}`);
    const heads = (await git.lsRemote(repo, 'heads')).map((b) => ({
      name: `refs/heads/${b.name}`,
      commitID: b.commitID,
    }));
    for (const h of heads) expect(got.items).to.deep.include(h);
    expect(got.items.some((i) => i.name === 'refs/tags/v1.0.0')).to.equal(true);
  });

  it('search and paging work', async function () {
    const found = await list('git', `branches?repository=${repo}&search=FEATURE`);
    expect(found.items.map((i) => i.name)).to.deep.equal(['feature-login', 'feature-search']);
    expect(found.listMeta.totalItems).to.equal(2);
    const page2 = await list('git', `branches?repository=${repo}&page=2&itemsPerPage=3`);
    expect(page2.listMeta.totalItems).to.equal(4);
    expect(page2.items).to.have.length(1);
  });

  it('a wrong password in the Secret gives a clear 403 Status, not a hang, a 500 or a 401', async function () {
    const r = await kubectl([
      'get',
      '--raw',
      `${gvPath}/namespaces/${ns}/connectors/git-wrong/branches?repository=${repo}`,
    ]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('Error from server (Forbidden)');
    expect(r.stderr).to.contain("refused the Connector's credential");
    expect(r.stderr).not.to.contain('logged in');
  });

  it('an unknown repository is a 404', async function () {
    const r = await kubectl([
      'get',
      '--raw',
      `${gvPath}/namespaces/${ns}/connectors/git/branches?repository=org/nope.git`,
    ]);
    expect(r.stderr).to.contain('Error from server (NotFound)');
  });

  it('OCI tags equal the registry’s own /v2/<repo>/tags/list (htpasswd registry)', async function () {
    const got = await list('registry', 'tags?repository=team/app');
    expect(got.items.map((i) => i.name)).to.deep.equal((await registry.tagsList('team/app')).sort());
    expect(got.listMeta.totalItems).to.equal(4);
  });

  it('OCI tags through the bearer-token flow (token-auth registry)', async function () {
    const got = await list('token-registry', 'tags?repository=team/app&search=1.');
    expect(got.items.map((i) => i.name)).to.deep.equal(['1.0', '1.1']);
  });

  it('git clone works through /proxy with only Kubernetes credentials', async function () {
    // git speaks smart HTTP to the Connector's proxy subresource via kube-apiserver's URL,
    // authenticating to kube-apiserver with a ServiceAccount token; the Git password stays server-side.
    await apply(grant(ns, 'cloner', { kind: 'ServiceAccount', name: 'cloner' }, ['get', 'create']));
    const token = await env().sys.cp.createToken(ns, 'cloner');
    const url = `${env().sys.cp.server}${gvPath}/namespaces/${ns}/connectors/git/proxy/${repo}`;
    const caFile = join(env().sys.cp.dir, 'kube-apiserver-ca.crt');
    writeFileSync(caFile, env().sys.cp.caCertPem);
    const dir = join(env().sys.cp.dir, `clone-${Date.now()}`);
    const r = await ManagedProcess.run(
      findBinary('git', 'git'),
      ['-c', `http.extraHeader=Authorization: Bearer ${token}`, 'clone', '-q', url, dir],
      { env: { ...git.gitEnv, GIT_SSL_CAINFO: caFile } },
    );
    recordOutput('git clone through kube-apiserver /proxy', r);
    expect(r.code, r.stderr).to.equal(0);
    const head = readFileSync(join(dir, '.git', 'HEAD'), 'utf8');
    expect(head).to.contain('refs/heads/main');
  });

  it('RBAC per subresource: get on connectors/proxy only → 403 on branches', async function () {
    await apply(grant(ns, 'dave-proxy', { kind: 'User', name: 'dave' }, ['get'], ['proxy']));
    const dave = await userKubeconfig('dave');
    const r = await kubectl(
      ['get', '--raw', `${gvPath}/namespaces/${ns}/connectors/git/branches?repository=${repo}`],
      {
        kubeconfig: dave,
      },
    );
    expect(r.stderr).to.contain('cannot get resource "connectors/branches"');
  });

  it('the class API backend never logs a password or X-Plugin-Secret', function () {
    const log = readFileSync(env().sys.classApiLog, 'utf8');
    expect(log.length).to.be.greaterThan(0);
    for (const s of knownSecrets) {
      expect(log.includes(s)).to.equal(false);
      expect(log.includes(Buffer.from(s).toString('base64'))).to.equal(false);
    }
    expect(log.toLowerCase()).not.to.contain('x-plugin-secret');
  });
});
