// The kubectl plugin run as a user runs it: the built kubectl-connectors linked onto PATH as npm
// links a package's bin, found and started by the real kubectl (`kubectl plugin list` lists it,
// `kubectl connectors …` runs it), against kube-apiserver, our aggregated server, the class API
// backend, a real Git server and the recording tool. Users are client certificates, a kubeconfig
// with two contexts, and an exec credential plugin handing out a ServiceAccount token.

import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { dump, load } from 'js-yaml';
import { resolveBinaries } from '../../hack/binaries.js';
import { linkPlugin } from '../../hack/kubectl-plugin.js';
import { ManagedProcess, type RunResult } from '../../hack/process.js';
import { startEchoTool } from '../../hack/tools/echo-tool.js';
import { startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { docBlock } from '../helpers/docs.js';
import { docWorkdir, replaceAll, runDocShell, runDocShellOk } from '../helpers/docs-shell.js';
import { recordOutput } from '../helpers/leaks.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  grant,
  gvPath,
  kubectl,
  namespace,
  secretValue,
} from '../helpers/env.js';

const repo = 'org/app.git';

describe('kubectl connectors (the plugin, run by kubectl)', function () {
  this.timeout(120_000);
  let ns: string;
  let git: GitServer;
  let binDir: string;
  let kubectlPath: string;
  let home: string;
  /** Contexts `admin` (namespace ns) and `bob` (current; no namespace). */
  let contexts: string;
  let bob: string;

  /** `kubectl connectors ARGS` with the plugin's directory and Node.js 24 first on PATH. */
  async function plugin(
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
  ): Promise<RunResult> {
    const r = await ManagedProcess.run(kubectlPath, ['connectors', ...args], {
      env: {
        PATH: [binDir, dirname(kubectlPath), dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
        HOME: home,
        KUBECONFIG: env().sys.cp.kubeconfigPath,
        ...opts.env,
      },
      ...(opts.input === undefined ? {} : { input: opts.input }),
      name: 'kubectl connectors',
    });
    recordOutput(`kubectl connectors ${args.join(' ')}`, r);
    return r;
  }

  /** The rows of a table, split where cells are (at least three spaces apart; empty cells vanish). */
  const rows = (stdout: string): string[][] =>
    stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/ {3,}/));

  before(async function () {
    this.timeout(180_000);
    const { sys, tool, toolUser, toolPassword } = env();
    kubectlPath = (await resolveBinaries()).kubectl;
    binDir = mkdtempSync(join(sys.cp.dir, 'plugin-bin-'));
    home = mkdtempSync(join(sys.cp.dir, 'plugin-home-'));
    linkPlugin(binDir);
    const password = secretValue('cli-git-password');
    git = await startGitServer({ username: 'git-user', password, logDir: sys.logDir });
    await git.createRepo(repo, { branches: ['main', 'develop', 'feature-x'], tags: ['v1.0.0'] });
    await sys.installClasses();
    ns = await namespace('cli');
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'git-creds', 'git-user', password),
      basicAuthSecret(ns, 'tool-creds', toolUser, toolPassword),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'demo-git', namespace: ns },
        spec: {
          connectorClassName: 'git',
          address: git.url,
          auth: { name: 'basicAuth', secretRef: { name: 'git-creds' } },
        },
      },
      connector(ns, 'demo-tool', { address: tool.url, secret: 'tool-creds' }),
      ...grant(ns, 'bob-proxy-get', { kind: 'User', name: 'bob' }, ['get'], ['proxy']),
    ]);
    await eventually('the git Connector to answer', async () => {
      const r = await kubectl([
        'get',
        '--raw',
        `${gvPath}/namespaces/${ns}/connectors/demo-git/branches?repository=${repo}`,
      ]);
      return r.code === 0;
    });

    const cp = sys.cp;
    const b64 = (pem: string): string => Buffer.from(pem).toString('base64');
    const bobCert = await cp.issueClientCert('bob');
    bob = join(cp.dir, 'cli-bob.kubeconfig');
    const cluster = { server: cp.server, 'certificate-authority-data': b64(cp.caCertPem) };
    const user = (c: { certPem: string; keyPem: string }) => ({
      'client-certificate-data': b64(c.certPem),
      'client-key-data': b64(c.keyPem),
    });
    writeFileSync(
      bob,
      dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster }],
        users: [{ name: 'bob', user: user(bobCert) }],
        contexts: [{ name: 'bob', context: { cluster: 'test', user: 'bob', namespace: ns } }],
        'current-context': 'bob',
      }),
      { mode: 0o600 },
    );
    contexts = join(cp.dir, 'cli-contexts.kubeconfig');
    writeFileSync(
      contexts,
      dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster }],
        users: [
          { name: 'admin', user: user(cp.admin) },
          { name: 'bob', user: user(bobCert) },
        ],
        contexts: [
          { name: 'admin', context: { cluster: 'test', user: 'admin', namespace: ns } },
          { name: 'bob', context: { cluster: 'test', user: 'bob' } },
        ],
        'current-context': 'bob',
      }),
      { mode: 0o600 },
    );
    await eventually(
      'bob’s grant to apply',
      async () => (await plugin(['can-i', 'get', 'proxy', 'demo-tool', '--kubeconfig', bob])).code === 0,
    );
  });

  after(async function () {
    await git.stop();
  });

  it('kubectl plugin list lists it', async function () {
    const r = await ManagedProcess.run(kubectlPath, ['plugin', 'list'], {
      env: { PATH: [binDir, dirname(process.execPath), '/usr/bin', '/bin'].join(':'), HOME: home },
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain(join(binDir, 'kubectl-connectors'));
    expect(r.stderr).not.to.contain('warning');
  });

  it('kubectl connectors --help lists the commands; an unknown one fails as kubectl does', async function () {
    const help = await plugin(['--help']);
    expect(help.code).to.equal(0);
    for (const c of ['get', 'branches', 'tags', 'api', 'curl', 'can-i', 'resolve', 'pipelinerun']) {
      expect(help.stdout).to.match(new RegExp(`\\n  ${c} +\\S`));
    }
    const bad = await plugin(['nope']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('error: unknown command "nope" for "kubectl connectors"');
  });

  it('get: the Connectors of -n with class and address; -o wide adds the APIs of their classes', async function () {
    const r = await plugin(['get', '-n', ns]);
    expect(r.code, r.stderr).to.equal(0);
    const table = rows(r.stdout);
    expect(table[0]).to.deep.equal(['NAME', 'CLASS', 'ADDRESS', 'READY', 'REASON', 'AGE']);
    expect(table.slice(1).map((row) => row.slice(0, 3))).to.deep.equal([
      ['demo-git', 'git', git.url],
      ['demo-tool', 'http-test', env().tool.url],
    ]);
    const wide = await plugin(['get', 'demo-git', '-n', ns, '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).to.match(/ APIS +RESOURCEINTERFACES$/);
    // kube-apiserver returns an object's keys sorted: the paths come as /branches, /git/gitrefs, /tags
    expect(wide.stdout.split('\n')[1], wide.stdout).to.contain(' branches,git,tags,proxy ');
    const json = await plugin(['get', 'demo-git', '-n', ns, '-o', 'json']);
    expect(JSON.parse(json.stdout)).to.have.nested.property('spec.connectorClassName', 'git');
    const missing = await plugin(['get', 'nope', '-n', ns]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.equal(
      'Error from server (NotFound): connectors.connectors.alauda.io "nope" not found\n',
    );
  });

  it('branches and tags: the class API as a table, equal to git ls-remote', async function () {
    const r = await plugin(['branches', 'demo-git', '--repository', repo, '-n', ns]);
    expect(r.code, r.stderr).to.equal(0);
    const want = await git.lsRemote(repo, 'heads');
    expect(rows(r.stdout)).to.deep.equal([['NAME', 'COMMITID'], ...want.map((b) => [b.name, b.commitID])]);
    const search = await plugin(['tags', 'demo-git', '--repository', repo, '-n', ns, '-o', 'json']);
    expect(
      (JSON.parse(search.stdout) as { items: { name: string }[] }).items.map((i) => i.name),
    ).to.deep.equal(['v1.0.0']);
    const refs = await plugin([
      'api',
      'demo-git',
      '/git/gitrefs',
      '--param',
      `repositoryUrl=${git.url}/${repo}`,
      '-n',
      ns,
    ]);
    expect(refs.stdout).to.contain('refs/heads/main ');
  });

  it('curl: a GET streams the tool’s answer; a POST sends the body; without create on connectors/proxy, Forbidden and exit 1', async function () {
    const get = await plugin(['curl', 'demo-tool', '/bytes/100000', '-n', ns]);
    expect(get.code, get.stderr).to.equal(0);
    expect(get.stdout).to.equal('x'.repeat(100_000));
    const body = 'a body of some length\n'.repeat(1000);
    const post = await plugin(['curl', 'demo-tool', '/sink', '--data-binary', '@-', '-n', ns, '-i'], {
      input: body,
    });
    expect(post.code, post.stderr).to.equal(0);
    expect(post.stdout).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(post.stdout.split('\r\n\r\n')[1]).to.contain(`"bytes":${body.length}`);
    expect(env().tool.requests.at(-1)).to.include({ method: 'POST', url: '/sink', bodyBytes: body.length });

    const asBob = await plugin(['curl', 'demo-tool', '/bytes/10', '--kubeconfig', bob]);
    expect(asBob.code, asBob.stderr).to.equal(0);
    const before = env().tool.requests.length;
    const forbidden = await plugin(['curl', 'demo-tool', '/sink', '-d', 'x', '--kubeconfig', bob]);
    expect(forbidden.code).to.equal(1);
    expect(forbidden.stdout).to.equal('');
    expect(forbidden.stderr).to.match(
      /^Error from server \(Forbidden\): .*User "bob" cannot create resource "connectors\/proxy"/,
    );
    expect(env().tool.requests.length).to.equal(before);
  });

  it('can-i: yes (exit 0) and no (exit 1), by verb or by method, as the server checks', async function () {
    expect(await plugin(['can-i', 'create', 'proxy', 'demo-tool', '-n', ns])).to.include({
      code: 0,
      stdout: 'yes\n',
    });
    const no = await plugin(['can-i', 'create', 'proxy', 'demo-tool', '--kubeconfig', bob]);
    expect(no.code).to.equal(1);
    expect(no.stdout).to.match(/^no\b/);
    expect(await plugin(['can-i', 'GET', 'proxy', 'demo-tool', '--kubeconfig', bob])).to.include({
      code: 0,
      stdout: 'yes\n',
    });
    expect((await plugin(['can-i', 'POST', 'proxy', 'demo-tool', '--kubeconfig', bob])).code).to.equal(1);
    expect((await plugin(['can-i', 'get', 'branches', 'demo-git', '--kubeconfig', bob])).code).to.equal(1);
  });

  it('--context, --kubeconfig and -n choose the user and namespace, over $KUBECONFIG', async function () {
    const asBob = await plugin(['get'], { env: { KUBECONFIG: contexts } });
    expect(asBob.code).to.equal(1);
    expect(asBob.stderr).to.contain('User "bob" cannot list resource "connectors"');
    expect(asBob.stderr).to.contain('in the namespace "default"');
    const asAdmin = await plugin(['get', '--context', 'admin', '-o', 'name'], {
      env: { KUBECONFIG: contexts },
    });
    expect(asAdmin).to.include({
      code: 0,
      stdout: 'connector.connectors.alauda.io/demo-git\nconnector.connectors.alauda.io/demo-tool\n',
    });
    const otherNs = await plugin(['get', '--context=admin', '-n', 'default'], {
      env: { KUBECONFIG: contexts },
    });
    expect(otherNs).to.include({ code: 0, stderr: 'No resources found in default namespace.\n' });
    const flag = await plugin(['get', '-o', 'name', '--kubeconfig', contexts, '--context', 'admin'], {
      env: { KUBECONFIG: join(home, 'missing') },
    });
    expect(flag.code, flag.stderr).to.equal(0);
  });

  it('an exec credential plugin: its token is used, and its messages reach the user’s terminal', async function () {
    const cp = env().sys.cp;
    await apply(
      grant(ns, 'exec-branches', { kind: 'ServiceAccount', name: 'cli-exec' }, ['get'], ['branches']),
    );
    const token = await cp.createToken(ns, 'cli-exec');
    const script = join(cp.dir, 'cli-exec-plugin.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho 'exec plugin: logging in' >&2\nprintf '%s' '${JSON.stringify({
        apiVersion: 'client.authentication.k8s.io/v1',
        kind: 'ExecCredential',
        status: { token },
      })}'\n`,
      { mode: 0o700 },
    );
    chmodSync(script, 0o700);
    const kubeconfig = join(cp.dir, 'cli-exec.kubeconfig');
    writeFileSync(
      kubeconfig,
      dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: {
              server: cp.server,
              'certificate-authority-data': Buffer.from(cp.caCertPem).toString('base64'),
            },
          },
        ],
        users: [
          {
            name: 'sa',
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1',
                command: script,
                interactiveMode: 'Never',
              },
            },
          },
        ],
        contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sa', namespace: ns } }],
        'current-context': 'sa',
      }),
      { mode: 0o600 },
    );
    await eventually(
      'the grant to apply',
      async () =>
        (await plugin(['can-i', 'get', 'branches', 'demo-git', '--kubeconfig', kubeconfig])).code === 0,
    );
    const r = await plugin(['branches', 'demo-git', '--repository', repo, '--kubeconfig', kubeconfig]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('main ');
    expect(r.stderr).to.equal('exec plugin: logging in\n');
  });

  it('the tour of docs/cli.md runs as written', async function () {
    // A tool of its own without credentials: the shared one asks for the Connector's, and echoes them.
    const open = await startEchoTool();
    try {
      await apply([connector(ns, 'docs-tool', { address: open.url })]);
      const script = replaceAll(docBlock('cli-tour').text, [
        ['team-a', ns],
        ['demo-tool', 'docs-tool'],
      ]);
      const out = await runDocShellOk(script, {
        cwd: docWorkdir('cli'),
        env: {
          PATH: [binDir, dirname(kubectlPath), dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
        },
      });
      recordOutput('docs/cli.md tour', { stdout: out, stderr: '' });
      expect(out).to.match(/^NAME +CLASS +ADDRESS +READY +REASON +AGE +APIS +RESOURCEINTERFACES\n/);
      expect(out).to.match(/\nmain +[0-9a-f]{40}\n/);
      expect(out).to.contain('\nyes\n');
      expect(out).to.contain('"url":"/api/v1/status"');
    } finally {
      await open.close();
    }
  });

  describe('ResourceInterfaces: resolve and pipelinerun', function () {
    /** The shipped one the git class supports (manifests/resourceinterfaces/gitcoderepository.yaml). */
    const ri = 'gitcoderepository';
    /** What the documented commands name, and what this test has instead. */
    let replacements: [string, string][];

    before(function () {
      replacements = [['team-a', ns]];
    });

    const docShell = (id: string, cwd = docWorkdir('cli')): Promise<RunResult> =>
      runDocShell(replaceAll(docBlock(id).text, replacements), {
        cwd,
        env: {
          PATH: [binDir, dirname(kubectlPath), dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
        },
      });

    it('get -o wide names the ResourceInterfaces of the class', async function () {
      const r = await plugin(['get', 'demo-git', '-n', ns, '-o', 'wide']);
      expect(r.stdout.split('\n')[1]).to.match(new RegExp(`[ ,]proxy +${ri}$`));
    });

    it('resolve as documented: the list, then params and WorkspaceBindings to paste into a PipelineRun', async function () {
      const r = await docShell('cli-resolve');
      recordOutput('docs/cli.md resolve', r);
      expect(r.code, r.stderr).to.equal(0);
      const [list, snippet = ''] = r.stdout.split(/(?=^# ResourceInterface )/m);
      expect(rows(list ?? '')).to.deep.equal([
        ['NAME', 'CATEGORY', 'PARAMS', 'ATTRIBUTES', 'WORKSPACES'],
        [ri, 'GitCodeRepository', 'repository,revision?', 'url,revision', 'git-source,git-basic-auth'],
      ]);
      expect(snippet.split('\n')[0]).to.equal(
        `# ResourceInterface ${ri} (GitCodeRepository) resolved for Connector ${ns}/demo-git: params and workspaces of a PipelineRun's spec`,
      );
      expect(load(snippet)).to.deep.equal({
        params: [
          { name: 'git-url', value: `${git.url}/${repo}` },
          { name: 'git-revision', value: 'refs/heads/main' },
        ],
        workspaces: [
          {
            name: 'git-source',
            volumeClaimTemplate: {
              spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
            },
          },
          {
            name: 'git-basic-auth',
            csi: {
              driver: 'connectors-csi',
              readOnly: true,
              volumeAttributes: {
                connectors: `${ns}/demo-git`,
                'configuration.names': 'gitconfig',
                'token.expiration': '30m',
              },
            },
          },
        ],
      });
    });

    it('resolve by a ServiceAccount holding only connectors-resourceinterfaces-view; a missing param names its flag', async function () {
      const cp = env().sys.cp;
      await apply([
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'cli-pipeline-ri', namespace: ns },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: 'connectors-resourceinterfaces-view',
          },
          subjects: [{ kind: 'ServiceAccount', name: 'cli-pipeline', namespace: ns }],
        },
      ]);
      const token = await cp.createToken(ns, 'cli-pipeline');
      const sa = await cp.writeKubeconfig(join(cp.dir, 'cli-pipeline.kubeconfig'), { token });
      const as = ['--kubeconfig', sa, '-n', ns];
      await eventually(
        'the binding to apply',
        async () => (await plugin(['can-i', 'get', 'resourceinterfaces', 'demo-git', ...as])).code === 0,
      );
      expect(await plugin(['can-i', 'get', '-', 'demo-git', ...as])).to.include({
        code: 0,
        stdout: 'yes\n',
      });
      const r = await plugin([
        'resolve',
        'demo-git',
        ri,
        '--param',
        'repository=org/app.git',
        '--param',
        'revision=develop',
        ...as,
      ]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('  value: develop\n');
      expect(r.stdout).to.contain(`      connectors: ${ns}/demo-git\n`);
      const json = await plugin([
        'resolve',
        'demo-git',
        ri,
        '--param',
        'repository=org/app.git',
        '-o',
        'json',
        ...as,
      ]);
      expect(JSON.parse(json.stdout)).to.deep.include({ kind: 'ResolvedResourceInterface' });
      const missing = await plugin(['resolve', 'demo-git', ri, '--param', 'colour=red', ...as]);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.match(
        /^error: ResourceInterface "gitcoderepository" cannot be resolved for Connector /,
      );
      expect(missing.stderr.split('\n').slice(1)).to.deep.equal([
        '  check --param colour=VALUE',
        '  pass --param repository=VALUE',
        '',
      ]);
      const branches = await plugin(['branches', 'demo-git', '--repository', repo, ...as]);
      expect(branches.code).to.equal(1);
      expect(branches.stderr).to.contain('cannot get resource "connectors/branches"');
    });

    it('pipelinerun as documented: the Pipeline from a file, its integration resolved by category', async function () {
      const cwd = docWorkdir('cli');
      writeFileSync(join(cwd, 'pipeline.yaml'), replaceAll(docBlock('cli-pipeline').text, replacements));
      const r = await docShell('cli-pipelinerun', cwd);
      recordOutput('docs/cli.md pipelinerun', r);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(r.stdout.split('\n').slice(0, 2)).to.deep.equal([
        '# PipelineRun of Pipeline build; its integrations:',
        `#   git: Connector ${ns}/demo-git, ResourceInterface ${ri}`,
      ]);
      const run = load(r.stdout) as {
        metadata: unknown;
        spec: { pipelineRef: unknown; params: unknown; workspaces: { name: string }[] };
      };
      expect(run.metadata).to.deep.equal({ generateName: 'build-', namespace: ns });
      expect(run.spec.pipelineRef).to.deep.equal({ name: 'build' });
      expect(run.spec.params).to.deep.equal([
        { name: 'git-url', value: `${git.url}/${repo}` },
        { name: 'git-revision', value: 'refs/tags/v1.0.0' },
      ]);
      expect(run.spec.workspaces.map((w) => w.name)).to.deep.equal(['source', 'git-auth']);
      expect(run.spec.workspaces[1]).to.have.nested.property(
        'csi.volumeAttributes.connectors',
        `${ns}/demo-git`,
      );

      const missing = await plugin(['pipelinerun', '-f', '-', '-n', ns], {
        input: readFileSync(join(cwd, 'pipeline.yaml'), 'utf8'),
      });
      expect(missing).to.include({
        code: 1,
        stderr: 'error: integration "git" needs the param "revision": pass --param git.revision=VALUE\n',
      });
      const noTekton = await plugin(['pipelinerun', 'build', '-n', ns]);
      expect(noTekton.stderr).to.contain('this cluster serves no tekton.dev/v1 Pipelines');
    });
  });

  it('a server that cannot be reached: which one, from which kubeconfig, and what to check', async function () {
    const gone = join(home, 'gone.kubeconfig');
    writeFileSync(
      gone,
      dump({
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
        contexts: [{ name: 'gone', context: { cluster: 'c' } }],
        'current-context': 'gone',
      }),
    );
    const r = await plugin(['get', '--kubeconfig', gone]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(
      `error: cannot talk to the Kubernetes API server at https://127.0.0.1:1 (context "gone" of ${gone}): connection refused; is the cluster running, and is this its address?\n`,
    );
  });
});
