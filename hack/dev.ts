// `npm run dev`: every part of Connectors on this machine in one command, each from its real entry
// point: the control plane with kube-controller-manager (hack/localsystem.ts), the API server with
// its webhooks, the class API backend, the Connectors Proxy, the MySQL Connectors Proxy and the
// status controller; the shipped classes and ResourceInterfaces; a demo tool that demands Basic
// auth, a Git server with a private repository and a MariaDB server, registered as Connectors with
// their Secrets. It proves each path once, then
// prints lines to try, each of which works as printed (test/integration/dev.test.ts runs them all),
// and stops everything on Ctrl-C, keeping only .dev/logs/.

import './require-node.js'; // first: stops an older Node before anything loads
import { copyFile, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot, resolveBinaries } from './binaries.js';
import {
  asList,
  demoBranches,
  demoCiObjects,
  demoCiServiceAccount,
  demoConnectors,
  demoDatabaseObjects,
  demoGitObjects,
  demoNamespace,
  demoRepository,
  demoToolObjects,
  demoToolProxy,
  readyStatusArgs,
} from './demo.js';
import { startLocalSystem, type LocalSystem } from './localsystem.js';
import { stopGracefullyOnSignal } from './process.js';
import { startDemoTool } from './tools/demo-tool.js';
import { startGitServer } from './tools/gitserver.js';
import { startMariaDb } from './tools/mariadb.js';

const root = repoRoot();
const devDir = join(root, '.dev');
const say = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

/** A shell word that the shell gives back unchanged. */
const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the logs are in .dev/logs/`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  await rm(devDir, { recursive: true, force: true });
  await mkdir(join(devDir, 'bin'), { recursive: true });
  say(
    'Starting etcd, kube-apiserver, kube-controller-manager, the Connectors API server and its webhooks,\n' +
      'the class API backend, the Connectors Proxy, the MySQL proxy and the status controller… (the first\n' +
      'run builds the Kubernetes binaries from their Go modules, kube-controller-manager with the other\n' +
      'node binaries: several minutes, once; cached in ~/.cache/connectors)',
  );
  const sys = await startLocalSystem({
    logDir: join(devDir, 'logs'),
    validatingWebhook: true,
    connectorsProxy: true,
    mysqlProxy: true,
    controller: true,
    controllerManager: true,
  });
  const parts: { stop(): Promise<void> }[] = [];
  const stop = async (): Promise<void> => {
    say('\nStopping…');
    await Promise.all(parts.map((p) => p.stop()));
    await sys.stop();
    // The kubeconfigs, the clone and the links are no use without the system; the logs stay.
    for (const entry of await readdir(devDir)) {
      if (entry !== 'logs') await rm(join(devDir, entry), { recursive: true, force: true });
    }
    say('Stopped; the logs are in .dev/logs/.');
  };
  try {
    await showEveryPart(sys, parts);
  } catch (err) {
    await stop();
    throw err;
  }
  // Ctrl-C (or SIGTERM) stops everything in order; until then the demo tool's listening socket
  // keeps this process running.
  stopGracefullyOnSignal(stop);
}

async function showEveryPart(sys: LocalSystem, parts: { stop(): Promise<void> }[]): Promise<void> {
  const proxy = sys.connectorsProxy;
  const mysqlProxy = sys.mysqlProxy;
  if (!proxy || !mysqlProxy) throw new Error('the local system runs no Connectors Proxy or no MySQL proxy');
  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await sys.cp.kubectl(args, input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  say(
    'Applying the shipped ConnectorClasses and ResourceInterfaces, starting the demo tool, a Git server\n' +
      'and MariaDB…',
  );
  await sys.installClasses();

  const toolCredentials = { username: 'demo', password: randomBytes(12).toString('base64url') };
  const tool = await startDemoTool(toolCredentials);
  parts.push({ stop: () => tool.close() });
  const gitCredentials = { username: 'demo', password: randomBytes(12).toString('base64url') };
  const git = await startGitServer({ ...gitCredentials, logDir: join(devDir, 'logs') });
  parts.push(git);
  await git.createRepo(demoRepository, { branches: ['main', 'develop', 'feature-login'], tags: ['v1.0.0'] });
  const db = await startMariaDb({ logDir: join(devDir, 'logs') });
  parts.push(db);
  const dbCredentials = { username: 'orders', password: randomBytes(12).toString('base64url') };
  await db.sql(
    'CREATE DATABASE orders; CREATE TABLE orders.orders (id INT PRIMARY KEY, item VARCHAR(40)); ' +
      "INSERT INTO orders.orders VALUES (1, 'coffee'), (2, 'tea'); " +
      `CREATE USER '${dbCredentials.username}'@'%' IDENTIFIED BY '${dbCredentials.password}'; ` +
      `GRANT ALL ON orders.* TO '${dbCredentials.username}'@'%';`,
  );
  await kubectl(
    ['apply', '-f', '-'],
    asList([
      ...demoToolObjects({ url: tool.url, ...toolCredentials }),
      ...demoGitObjects({ url: git.url, ...gitCredentials }),
      ...demoCiObjects(),
      ...demoDatabaseObjects({ address: `mysql://${db.host}:${db.port}`, ...dbCredentials }),
    ]),
  );

  // Prove every path once before telling anyone to try it.
  for (const name of [...demoConnectors, 'demo-db']) {
    await until(`the status controller to report Connector ${demoNamespace}/${name} Ready`, async () => {
      const r = await sys.cp.kubectl(readyStatusArgs(name));
      return r.stdout === 'True';
    });
  }
  await until('the demo tool to answer through /proxy', async () => {
    const r = await sys.cp.kubectl(['get', '--raw', `${demoToolProxy}/hello`]);
    return r.code === 0 && r.stdout.includes('"authenticated":"demo"');
  });
  await until('the class API backend to list the branches', async () => {
    const r = await sys.cp.kubectl(['get', '--raw', demoBranches]);
    return r.code === 0 && r.stdout.includes('feature-login');
  });
  const ciToken = await sys.cp.createToken(demoNamespace, demoCiServiceAccount, { expirationSeconds: 600 });
  await until(`the Connectors Proxy to serve ${demoRepository} to ${demoCiServiceAccount}`, async () => {
    try {
      const r = await fetch(
        `${proxy.url}/namespaces/${demoNamespace}/connectors/demo-git/${demoRepository}/info/refs?service=git-upload-pack`,
        { headers: { authorization: `Bearer ${ciToken}` } },
      );
      await r.body?.cancel();
      return r.status === 200;
    } catch {
      return false;
    }
  });

  await copyFile(sys.cp.kubeconfigPath, join(devDir, 'kubeconfig'));
  await sys.cp.writeKubeconfig(
    join(devDir, 'alice.kubeconfig'),
    await sys.cp.issueClientCert('alice', ['dev']),
  );
  await symlink((await resolveBinaries()).kubectl, join(devDir, 'bin', 'kubectl'));
  // The kubectl plugin of this checkout, run by the Node.js that runs this (a shebang would take
  // whichever node comes first on PATH).
  await writeFile(
    join(devDir, 'bin', 'kubectl-connectors'),
    `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(join(root, 'dist', 'cli', 'main.js'))} "$@"\n`,
    { mode: 0o755 },
  );

  // What the CSI driver renders for a pod (docs/mysql.md), for this machine: the proxy on localhost,
  // the proxy CA by path; the password is the ServiceAccount token, given on the command line below.
  await writeFile(
    join(devDir, 'my.cnf'),
    [
      '[client]',
      'host = localhost',
      'protocol = TCP',
      `port = ${mysqlProxy.port}`,
      `user = ${demoNamespace}/demo-db`,
      'default-auth = mysql_clear_password',
      `ssl-ca = ${mysqlProxy.caFile}`,
      'ssl-verify-server-cert',
      '',
    ].join('\n'),
  );

  const alice = 'KUBECONFIG=.dev/alice.kubeconfig';
  const write = `echo '{"name":"x"}' |`;
  const lines: [command: string, note: string][] = [
    [
      'kubectl get connectors -A',
      "READY comes from the status controller's probes, with each Connector's Secret",
    ],
    ['kubectl get connectorclasses,resourceinterfaces', 'the shipped classes and ResourceInterfaces'],
    [
      `kubectl get --raw ${demoToolProxy}/hello`,
      'the tool confirms that the credential of Secret demo/demo-tool-credentials arrived; nobody sees it',
    ],
    [
      `${write} kubectl create --raw ${demoToolProxy}/items -f -`,
      'writing needs "create" on connectors/proxy',
    ],
    [`${alice} kubectl get --raw ${demoToolProxy}/hello`, 'alice may read through the Connector…'],
    [`${write} ${alice} kubectl create --raw ${demoToolProxy}/items -f -`, '…but not write: Forbidden'],
    [
      `kubectl connectors branches demo-git -n ${demoNamespace} --repository ${demoRepository}`,
      'the git class API, answered by the class API backend from the Git server',
    ],
    [`kubectl get --raw "${demoBranches}"`, 'the same, as the Kubernetes API serves it'],
    [
      `TOKEN=$(kubectl create token ${demoCiServiceAccount} -n ${demoNamespace})`,
      'all a pipeline holds: a ServiceAccount token whose RBAC allows cloning demo-git and querying demo-db, nothing else',
    ],
    [
      `git -c http.extraHeader="Authorization: Bearer $TOKEN" clone "$CONNECTORS_PROXY/namespaces/${demoNamespace}/connectors/demo-git/${demoRepository}" .dev/app`,
      "the Connectors Proxy checks the token and RBAC, then adds demo-git's credential",
    ],
    [
      `mariadb --defaults-file=.dev/my.cnf --password="$TOKEN" -e 'select * from orders.orders'`,
      "MariaDB through the MySQL proxy: the token is the password, the proxy logs in with demo-db's account",
    ],
    [
      `kubectl connectors resolve demo-git gitcoderepository -n ${demoNamespace} --param repository=${demoRepository}`,
      'the ResourceInterface resolved for demo-git: attributes and a WorkspaceBinding for a PipelineRun',
    ],
    [
      `kubectl patch connector demo-git -n ${demoNamespace} --dry-run=server --type=merge -p '{"spec":{"auth":{"name":"tokenAuth"}}}'`,
      'refused by the validating webhook: the git class has no auth type tokenAuth',
    ],
  ];

  say(`
Connectors is running (logs in .dev/logs/): etcd, kube-apiserver and kube-controller-manager; the
Connectors API server with its mutating and validating webhooks; the class API backend; the
Connectors Proxy at ${proxy.url}; the MySQL proxy at localhost:${mysqlProxy.port}; the status
controller. The shipped ConnectorClasses and ResourceInterfaces are applied.

The demo: demo/demo-tool, an HTTP tool at ${tool.url} that demands Basic auth; demo/demo-git, the
private repository ${demoRepository} on a Git server at ${git.url}; demo/demo-db, the database
orders on MariaDB at ${db.host}:${db.port}. Their credentials are only in the Secrets
demo/demo-tool-credentials, demo/demo-git-credentials and demo/demo-db-credentials: you, alice and
the ServiceAccount demo/demo-ci reach them through Kubernetes, as yourselves.

Try these, from the repository root:

  export PATH="$PWD/.dev/bin:$PATH" KUBECONFIG="$PWD/.dev/kubeconfig" CONNECTORS_PROXY=${proxy.url}
${lines.map(([command, note]) => `  ${command}\n      # ${note}`).join('\n')}

Press Ctrl-C to stop everything.`);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run dev failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
