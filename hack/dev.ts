// `npm run dev`: a working local system in one command. Starts the control plane, installs the
// manifests, runs the aggregated server, starts a demo tool that requires Basic auth, registers it
// as a Connector with its Secret, proves one request end to end, and prints what to try.

import './require-node.js'; // first: stops an older Node before anything loads
import { copyFile, mkdir, symlink, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from './binaries.js';
import {
  asList,
  demoBranches,
  demoGitObjects,
  demoRepository,
  demoToolObjects,
  demoToolProxy,
  groupVersionPath,
} from './demo.js';
import { startLocalSystem } from './localsystem.js';
import { ManagedProcess } from './process.js';
import { startEchoTool } from './tools/echo-tool.js';
import { findBinary, startGitServer, type GitServer } from './tools/gitserver.js';

const root = repoRoot();
const devDir = join(root, '.dev');
const gv = groupVersionPath;
const proxy = demoToolProxy;

async function main(): Promise<void> {
  await rm(devDir, { recursive: true, force: true });
  await mkdir(join(devDir, 'bin'), { recursive: true });
  process.stdout.write('Starting etcd, kube-apiserver and the Connectors API server…\n');
  const sys = await startLocalSystem({ logDir: join(devDir, 'logs') });
  const password = randomBytes(12).toString('base64url');
  const tool = await startEchoTool({ username: 'demo', password });

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await sys.cp.kubectl(args, input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await kubectl(['apply', '-f', '-'], asList(demoToolObjects({ url: tool.url, username: 'demo', password })));

  // With the Git tools installed (hack/test-tools.sh), also show a class-declared API: the shipped
  // `git` class, the class API backend and a real Git server with a private repository.
  let git: GitServer | undefined;
  let gitHint =
    '\nClass APIs (branches, tags): run hack/test-tools.sh to install nginx and fcgiwrap, then restart.\n';
  try {
    findBinary('nginx', 'nginx');
    findBinary('fcgiwrap', 'fcgiwrap');
    const gitPassword = randomBytes(12).toString('base64url');
    git = await startGitServer({ username: 'demo', password: gitPassword });
    await git.createRepo(demoRepository, {
      branches: ['main', 'develop', 'feature-login'],
      tags: ['v1.0.0'],
    });
    await sys.installClasses();
    await kubectl(
      ['apply', '-f', '-'],
      asList(demoGitObjects({ url: git.url, username: 'demo', password: gitPassword })),
    );
    const branches = demoBranches;
    gitHint = `
A private Git server runs at ${git.url}; the shipped "git" class offers its branches and tags:

  kubectl get --raw "${branches}"
  kubectl get --raw "${branches}&search=feat"
`;
  } catch (err) {
    if (git) throw err;
  }

  // The status controller, under its own ServiceAccount and the shipped RBAC, so that
  // `kubectl get connectors` shows what is Ready and why.
  await kubectl(['apply', '-f', join(root, 'manifests', 'controller', 'serviceaccount.yaml')]);
  await kubectl(['apply', '-f', join(root, 'manifests', 'controller', 'rbac.yaml')]);
  const controllerToken = await sys.cp.createToken('connectors-system', 'connectors-controller', {
    expirationSeconds: 86_400,
  });
  const controller = ManagedProcess.start({
    name: 'connectors-controller',
    binary: process.execPath,
    args: [
      join(root, 'dist', 'controller', 'main.js'),
      `--kubeconfig=${await sys.cp.writeKubeconfig(join(devDir, 'controller.kubeconfig'), { token: controllerToken })}`,
      '--probe-interval=15s',
      '--bind-address=127.0.0.1',
      '--health-port=0',
      `--service-url-override=connectors-system/connectors-classapi=${sys.classApiUrl}`,
      // Class API backends are https with mutual TLS: the API server's client certificate and CA.
      ...sys.classApiClientFlags,
    ],
    logFile: join(devDir, 'logs', 'connectors-controller.log'),
  });
  for (let i = 0; i < 100; i++) {
    const ready = await sys.cp.kubectl([
      'get',
      'connector',
      'demo-tool',
      '-n',
      'demo',
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    if (ready.stdout === 'True') break;
    await new Promise((res) => setTimeout(res, 200));
  }

  const kubeconfig = join(devDir, 'kubeconfig');
  await copyFile(sys.cp.kubeconfigPath, kubeconfig);
  await sys.cp.writeKubeconfig(
    join(devDir, 'alice.kubeconfig'),
    await sys.cp.issueClientCert('alice', ['dev']),
  );
  await symlink((await resolveBinaries()).kubectl, join(devDir, 'bin', 'kubectl'));

  // Prove it once before telling anyone to try it.
  let answer = '';
  for (let i = 0; i < 50 && !answer; i++) {
    const r = await sys.cp.kubectl(['get', '--raw', `${proxy}/hello`]);
    if (r.code === 0) answer = r.stdout;
    else await new Promise((res) => setTimeout(res, 200));
  }
  if (!answer) throw new Error('the demo request did not succeed; see .dev/logs/connectors-apiserver.log');
  const seen = JSON.parse(answer) as { url: string; headers: { authorization?: string } };

  process.stdout.write(`
Connectors is running (logs in .dev/logs/).

The demo tool at ${tool.url} wants Basic auth; its credential lives only in the Secret
demo/demo-tool-credentials. You reach it through the Kubernetes API, as yourself:

  export PATH="$PWD/.dev/bin:$PATH" KUBECONFIG="$PWD/.dev/kubeconfig"
  kubectl get connectors -A              # READY comes from the status controller's probes
  kubectl get --raw ${proxy}/hello

The tool just answered that request: it received ${seen.url} with
Authorization "${seen.headers.authorization?.slice(0, 6) ?? ''}…" injected by the server (your own credential never reaches it).

Writes need "create" on connectors/proxy. alice may only read:

  echo '{"name":"x"}' | kubectl create --raw ${proxy}/items -f -
  echo '{"name":"x"}' | KUBECONFIG=.dev/alice.kubeconfig kubectl create --raw ${proxy}/items -f -   # Forbidden
  KUBECONFIG=.dev/alice.kubeconfig kubectl get --raw ${proxy}/hello                                 # allowed

${gitHint}
Discovery:  kubectl get --raw ${gv}
Press Ctrl-C to stop everything.
`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write('\nStopping…\n');
  await Promise.all([tool.close(), git?.stop(), controller.stop()]);
  await sys.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run dev failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
