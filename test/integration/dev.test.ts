// `npm run dev` on a fresh clone of this repository's HEAD (uncommitted changes are not in it:
// commit first): it starts every part, prints the lines to try, and each printed line works when
// pasted into bash from the clone's root after the printed `export` line: the answers are the ones
// promised, alice's write is Forbidden, the git clone goes through the Connectors Proxy with only a
// ServiceAccount token, and the validating webhook refuses what the class cannot serve. Nothing it
// printed, and none of its logs, holds a credential. kube-controller-manager finishes a namespace
// deletion. Ctrl-C stops every process it started and leaves only .dev/logs/.
//
// The clone shares this checkout's node_modules through a link, so nothing is downloaded
// (hack/prepare.sh never reinstalls a linked node_modules); `npm run dev` compiles the clone itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import yaml from 'js-yaml';
import { repoRoot } from '../../hack/binaries.js';
import { ManagedProcess, type RunResult } from '../../hack/process.js';
import { descendants } from '../../hack/runtime.js';
import { findBinary } from '../../hack/tools/gitserver.js';
import { docBlock, shellCommands } from '../helpers/docs.js';
import { describeFindings, scanForLeaks, type RecordedResponse } from '../helpers/leaks.js';

const root = repoRoot();
const group = '/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/demo/connectors';
const tryMarker = 'Try these, from the repository root:';
const endMarker = 'Press Ctrl-C to stop everything.';

/** What a printed line must do. Each printed line matches exactly one of these, each of these one line. */
interface Expected {
  what: string;
  command: RegExp;
  /** Refused on purpose: a non-zero exit and this in stderr. */
  refused?: string;
  check?: (r: RunResult) => void;
}

/** A printed line that only sets a shell variable, e.g. TOKEN=$(kubectl create token …). */
const assignment = /^([A-Z_]+)=(?:\$\([^()]*\)|\S+)$/;

const answer = (r: RunResult): Record<string, unknown> => JSON.parse(r.stdout) as Record<string, unknown>;

/** The names of the objects of `kind` in the YAML files below `dir`. */
function shipped(dir: string, kind: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => yaml.loadAll(readFileSync(join(dir, f), 'utf8')))
    .filter(
      (d): d is { kind: string; metadata: { name: string } } =>
        typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === kind,
    )
    .map((d) => d.metadata.name);
}

describe('npm run dev on a fresh clone: every printed line works', function () {
  this.timeout(120_000);
  let clone = '';
  let home = '';
  let dev: ChildProcess | undefined;
  let exited: Promise<unknown> | undefined;
  let out = '';
  let exportLine = '';
  let lines: string[] = [];
  /** Every output of a printed line, for the leak scan. */
  const outputs: RecordedResponse[] = [];
  /** What the printed assignments (TOKEN=…) set, as a reader's shell holds it for the lines after. */
  const vars: Record<string, string> = {};

  /** Runs `script` in bash in the clone's root, after the printed export line. */
  const bash = (script: string, timeoutMs = 60_000): Promise<RunResult> =>
    ManagedProcess.run('/bin/bash', ['-c', `${exportLine}\n${script}`], {
      cwd: clone,
      // A shell's environment: no node_modules on PATH, a HOME of its own (kubectl's cache, git's config).
      env: {
        PATH: (process.env.PATH ?? '')
          .split(delimiter)
          .filter((d) => !d.includes('node_modules'))
          .join(delimiter),
        HOME: home,
        ...vars,
      },
      timeoutMs,
    });
  /** Runs a printed line; an assignment's value is kept in `vars`, never recorded as output. */
  const run = async (line: string): Promise<RunResult> => {
    const assigned = assignment.exec(line)?.[1];
    if (assigned !== undefined) {
      const r = await bash(`${line}\nprintf %s "$${assigned}"`);
      vars[assigned] = r.stdout;
      return { ...r, stdout: '' };
    }
    const r = await bash(line);
    outputs.push({ where: `${line} (stdout)`, headers: {}, body: r.stdout });
    outputs.push({ where: `${line} (stderr)`, headers: {}, body: r.stderr });
    return r;
  };

  const expected: Expected[] = [
    {
      what: 'both demo Connectors are Ready, from the status controller',
      command: /^kubectl get connectors -A$/,
      check: (r) => {
        expect(r.stdout).to.match(/^demo\s+demo-git\s+git\s+\S+\s+True\s/m);
        expect(r.stdout).to.match(/^demo\s+demo-tool\s+http\s+\S+\s+True\s/m);
      },
    },
    {
      what: 'the shipped classes and ResourceInterfaces are applied',
      command: /^kubectl get connectorclasses,resourceinterfaces$/,
      check: (r) => {
        const classes = shipped(join(clone, 'manifests', 'classes'), 'ConnectorClass');
        expect(classes).to.include('git');
        for (const name of classes)
          expect(r.stdout).to.include(`connectorclass.connectors.alauda.io/${name} `);
        for (const name of shipped(join(clone, 'manifests'), 'ResourceInterface'))
          expect(r.stdout).to.include(`resourceinterface.connectors.alauda.io/${name} `);
      },
    },
    {
      what: 'the admin reads through /proxy: the tool confirms the credential without showing it',
      command: new RegExp(`^kubectl get --raw ${group}/demo-tool/proxy/hello$`),
      check: (r) => {
        expect(answer(r)).to.deep.equal({
          authenticated: 'demo',
          method: 'GET',
          path: '/api/hello',
          bodyBytes: 0,
        });
      },
    },
    {
      what: 'the admin writes through /proxy',
      command: new RegExp(
        `^echo '\\{"name":"x"\\}' \\| kubectl create --raw ${group}/demo-tool/proxy/items -f -$`,
      ),
      check: (r) => {
        expect(answer(r)).to.deep.equal({
          authenticated: 'demo',
          method: 'POST',
          path: '/api/items',
          bodyBytes: 13,
        });
      },
    },
    {
      what: 'alice reads through /proxy',
      command: new RegExp(
        `^KUBECONFIG=\\.dev/alice\\.kubeconfig kubectl get --raw ${group}/demo-tool/proxy/hello$`,
      ),
      check: (r) => {
        expect(answer(r)).to.include({ authenticated: 'demo', method: 'GET' });
      },
    },
    {
      what: 'alice may not write: Forbidden',
      command: new RegExp(
        `^echo '\\{"name":"x"\\}' \\| KUBECONFIG=\\.dev/alice\\.kubeconfig kubectl create --raw ${group}/demo-tool/proxy/items -f -$`,
      ),
      refused:
        'Error from server (Forbidden): connectors.subresources.connectors.alauda.io "demo-tool" is forbidden: ' +
        'User "alice" cannot create resource "connectors/proxy"',
    },
    {
      what: 'kubectl connectors branches: the class API backend reads the Git server',
      command: /^kubectl connectors branches demo-git -n demo --repository team\/app\.git$/,
      check: (r) => {
        for (const branch of ['main', 'develop', 'feature-login'])
          expect(r.stdout).to.match(new RegExp(`\\b${branch}\\b`));
      },
    },
    {
      what: 'the branches as the Kubernetes API serves them',
      command: new RegExp(`^kubectl get --raw "${group}/demo-git/branches\\?repository=team/app\\.git"$`),
      check: (r) => {
        const list = answer(r) as { items: { name: string }[] };
        expect(list.items.map((i) => i.name)).to.deep.equal(['develop', 'feature-login', 'main']);
      },
    },
    {
      what: 'a ServiceAccount token for demo-ci, all a pipeline holds',
      command: /^TOKEN=\$\(kubectl create token demo-ci -n demo\)$/,
      check: () => {
        expect(vars['TOKEN']).to.match(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      },
    },
    {
      what: 'git clone through the Connectors Proxy with that token; the clone keeps no token',
      command:
        /^git -c http\.extraHeader="Authorization: Bearer \$TOKEN" clone "\$CONNECTORS_PROXY\/namespaces\/demo\/connectors\/demo-git\/team\/app\.git" \.dev\/app$/,
      check: () => {
        const app = join(clone, '.dev', 'app');
        expect(existsSync(join(app, '.git', 'HEAD')), '.dev/app is a clone').to.equal(true);
        const config = readFileSync(join(app, '.git', 'config'), 'utf8');
        expect(config).to.match(
          /url = http:\/\/127\.0\.0\.1:\d+\/namespaces\/demo\/connectors\/demo-git\/team\/app\.git/,
        );
        expect(config).to.not.include('Bearer');
        expect(config).to.not.include(vars['TOKEN']);
      },
    },
    {
      what: 'MariaDB through the MySQL proxy, the token as the password: the rows of demo-db',
      command:
        /^mariadb --defaults-file=\.dev\/my\.cnf --password="\$TOKEN" -e 'select \* from orders\.orders'$/,
      check: (r) => {
        expect(r.stdout).to.match(/^1\tcoffee$/m);
        expect(r.stdout).to.match(/^2\ttea$/m);
      },
    },
    {
      what: 'kubectl connectors resolve: the gitcoderepository ResourceInterface for demo-git',
      command:
        /^kubectl connectors resolve demo-git gitcoderepository -n demo --param repository=team\/app\.git$/,
      check: (r) => {
        // The clone URL attribute, and the WorkspaceBindings to paste.
        expect(r.stdout).to.include('team/app.git');
        expect(r.stdout).to.include('workspaces:');
      },
    },
    {
      what: 'the validating webhook refuses an auth type the class lacks',
      command:
        /^kubectl patch connector demo-git -n demo --dry-run=server --type=merge -p '\{"spec":\{"auth":\{"name":"tokenAuth"\}\}\}'$/,
      refused: 'spec.auth.name: Unsupported value: "tokenAuth": not an auth type of ConnectorClass "git"',
    },
  ];
  const lineOf = (e: Expected): string => {
    const found = lines.filter((l) => e.command.test(l));
    expect(found, `the printed line for: ${e.what}`).to.have.length(1);
    return found[0] as string;
  };

  before(async function () {
    this.timeout(20 * 60_000); // a cold first run builds kube-controller-manager and the other node binaries
    const gitBinary = findBinary('git', 'git');
    const head = (await ManagedProcess.run(gitBinary, ['-C', root, 'rev-parse', 'HEAD'])).stdout.trim();
    const dirty = (
      await ManagedProcess.run(gitBinary, ['-C', root, 'status', '--porcelain', '--untracked-files=no'])
    ).stdout;
    if (dirty.trim() !== '')
      console.log(`      (uncommitted changes are not in the clone of ${head.slice(0, 12)})`);
    clone = await mkdtemp(join(tmpdir(), 'connectors-dev-clone-'));
    home = await mkdtemp(join(tmpdir(), 'connectors-dev-home-'));
    for (const args of [
      ['clone', '--quiet', '--no-checkout', root, clone],
      ['-C', clone, 'checkout', '--quiet', '--detach', head],
    ]) {
      const r = await ManagedProcess.run(gitBinary, args);
      expect(r.code, `git ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    }
    await symlink(realpathSync(join(root, 'node_modules')), join(clone, 'node_modules'));

    dev = spawn('npm', ['run', 'dev'], {
      cwd: clone,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // a process group of its own: Ctrl-C reaches all of it, as in a terminal
    });
    // 'close': npm and everything holding its output have ended.
    exited = once(dev, 'close');
    dev.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
    dev.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const deadline = Date.now() + 19 * 60_000;
    while (!out.includes(endMarker) && dev.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(out, 'npm run dev printed the lines to try').to.include(endMarker);

    // The commands: the lines indented by exactly two spaces between the two markers.
    const block = out.slice(out.indexOf(tryMarker) + tryMarker.length, out.indexOf(endMarker));
    const printed = block
      .split('\n')
      .filter((l) => /^ {2}[^ #]/.test(l))
      .map((l) => l.trim());
    [exportLine = '', ...lines] = printed;
    expect(exportLine).to.match(
      /^export PATH="\$PWD\/\.dev\/bin:\$PATH" KUBECONFIG="\$PWD\/\.dev\/kubeconfig" CONNECTORS_PROXY=http:\/\/127\.0\.0\.1:\d+$/,
    );
  });

  after(async function () {
    if (dev?.pid !== undefined && dev.exitCode === null && dev.signalCode === null) {
      process.kill(-dev.pid, 'SIGKILL');
      await exited;
    }
    await rm(clone, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  });

  it('prints the lines to try: each an expected one, and the README shows the same', function () {
    for (const e of expected) lineOf(e);
    const unexpected = lines.filter((l) => !expected.some((e) => e.command.test(l)));
    expect(unexpected, 'printed lines this test does not know').to.deep.equal([]);
    const port = (s: string): string => s.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT').replace(/\s+/g, ' ');
    expect(shellCommands(docBlock('dev-try').text).map(port)).to.deep.equal([exportLine, ...lines].map(port));
  });

  for (const e of expected) {
    it(e.what, async function () {
      const line = lineOf(e);
      const r = await run(line);
      if (e.refused !== undefined) {
        expect(r.code, `${line}\n${r.stdout}`).to.not.equal(0);
        expect(r.stderr, line).to.include(e.refused);
        return;
      }
      expect(r.code, `${line}\n${r.stderr}`).to.equal(0);
      e.check?.(r);
    });
  }

  it('kube-controller-manager runs: deleting a namespace that holds a Connector completes', async function () {
    const script = [
      'kubectl create namespace dev-test-delete',
      'kubectl -n dev-test-delete create secret generic s --type=kubernetes.io/basic-auth --from-literal=username=u --from-literal=password=p',
      `kubectl -n dev-test-delete create -f - <<'EOF'`,
      JSON.stringify({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'tool' },
        spec: {
          connectorClassName: 'http',
          address: 'http://127.0.0.1:9/',
          auth: { name: 'basicAuth', secretRef: { name: 's' } },
        },
      }),
      'EOF',
      'kubectl delete namespace dev-test-delete --timeout=60s',
      'kubectl get namespace dev-test-delete',
    ].join('\n');
    const r = await bash(script, 90_000);
    expect(r.stdout).to.include('namespace "dev-test-delete" deleted');
    expect(r.stderr).to.include('namespaces "dev-test-delete" not found');
  });

  it('no credential in anything it or the lines printed, nor in its logs', async function () {
    const secret = async (name: string): Promise<string> => {
      const r = await bash(`kubectl get secret ${name} -n demo -o jsonpath='{.data.password}' | base64 -d`);
      expect(r.code, r.stderr).to.equal(0);
      return r.stdout;
    };
    const secrets = [
      { label: 'the demo tool password', value: await secret('demo-tool-credentials') },
      { label: 'the demo Git server password', value: await secret('demo-git-credentials') },
      { label: 'the demo database password', value: await secret('demo-db-credentials') },
      { label: "demo-ci's token", value: vars['TOKEN'] ?? '' },
    ];
    for (const s of secrets) expect(s.value.length, s.label).to.be.greaterThan(8);
    const logDir = join(clone, '.dev', 'logs');
    const logs = readdirSync(logDir)
      .map((f) => join(logDir, f))
      .filter((f) => statSync(f).isFile())
      .map((file) => ({ file, text: readFileSync(file, 'utf8') }));
    const result = scanForLeaks({
      secrets,
      logs,
      responses: [{ where: 'npm run dev', headers: {}, body: out }, ...outputs],
      recorders: [],
      metrics: [],
      objects: [],
    });
    expect(result.findings, describeFindings(result.findings)).to.deep.equal([]);
    expect(outputs.length, 'the outputs of the lines that ran before this').to.be.at.least(16);
  });

  it('Ctrl-C stops every process it started and leaves only .dev/logs/', async function () {
    const pid = dev?.pid;
    if (pid === undefined) throw new Error('npm run dev did not start');
    const started = descendants(pid);
    expect(started.length, 'processes of npm run dev').to.be.greaterThan(8);
    process.kill(-pid, 'SIGINT');
    await exited;
    const deadline = Date.now() + 30_000;
    let left = started.filter((p) => existsSync(`/proc/${p}`));
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = started.filter((p) => existsSync(`/proc/${p}`));
    }
    expect(left, 'processes still running').to.deep.equal([]);
    expect(out).to.include('Stopped; the logs are in .dev/logs/.');
    expect(readdirSync(join(clone, '.dev'))).to.deep.equal(['logs']);
  });
});
