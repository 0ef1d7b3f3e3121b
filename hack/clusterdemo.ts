// Connectors in the real single-node cluster, as `npm run cluster` shows it and the cluster tests
// use it: the image built from the Containerfile (hack/image.sh) and imported into the node's
// containerd, the install exactly as the README tells (hack/install.ts), and the demo of
// hack/demo.ts with its tools on the host, listening on the cluster bridge's address where the
// in-cluster API server, class API backend, controller and Connectors Proxy reach them, and named in
// the cluster by Services of the namespace `tools` (no selector; an EndpointSlice names the host's
// address), so that a Connector's address and a Pod's clone URL read as they would with in-cluster
// tools: http://git.tools.svc.cluster.local/team/app.git. Returns the lines to try, each of which
// the cluster tests run.

import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rm, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.js';
import type { Cluster } from './cluster.js';
import {
  asList,
  demoBranches,
  demoConnectors,
  demoGitObjects,
  demoNamespace,
  demoRepository,
  demoToolObjects,
  demoToolProxy,
  groupVersionPath,
  readyStatusArgs,
} from './demo.js';
import { buildClientImage } from './images.js';
import { installConnectors, type InstallResult } from './install.js';
import { startEchoTool, type EchoTool } from './tools/echo-tool.js';
import { startGitServer, type GitServer } from './tools/gitserver.js';

export interface TryLine {
  /** A shell command, run from the repository root after the `export` line. */
  command: string;
  /** What it shows; printed after it. */
  note: string;
  /** Whether it is meant to be refused (RBAC). */
  refused?: boolean;
}

export interface ClusterDemo {
  image: { archive: string; names: string[] };
  install: InstallResult;
  tool: EchoTool;
  git: GitServer;
  toolCredentials: { username: string; password: string };
  gitCredentials: { username: string; password: string };
  /** The addresses the demo's Connectors name: the tools' in-cluster Services. */
  toolAddress: string;
  gitAddress: string;
  /** `export PATH=… KUBECONFIG=…`, relative to the repository root. */
  exportLine: string;
  tryLines: TryLine[];
  /** Applies the demo's objects again (e.g. after a reinstall took its Connectors with the CRDs). */
  applyDemoObjects(): Promise<void>;
  /** Waits until both demo Connectors are Ready. */
  waitReady(): Promise<void>;
  /** Stops the demo tools (the cluster is the caller's). */
  stop(): Promise<void>;
}

export interface ClusterDemoOptions {
  /** Where kubeconfigs and the kubectl link go (e.g. <repo>/.cluster). */
  dir: string;
  kubectlBinary: string;
  log?: (line: string) => void;
}

/**
 * Builds (or reuses) the image archive: hack/image.sh prints its path last. On the local base
 * (Debian from debootstrap plus Node from the npm registry) unless CONNECTORS_IMAGE_BASE names
 * another, so that nothing tries a registry this machine may not reach.
 */
export function buildImage(): Promise<string> {
  const base = process.env['CONNECTORS_IMAGE_BASE'] ?? 'local';
  return runBuildScript(join(repoRoot(), 'hack', 'image.sh'), 'the connectors image archive', [
    `--base=${base}`,
  ]);
}

/** The namespace of the Services that name the demo's host tools in the cluster. */
export const toolsNamespace = 'tools';

/**
 * A Service without a selector and its EndpointSlice: `<name>.tools.svc.cluster.local:<servicePort>`
 * reaches `port` on the host's bridge address, through kube-proxy like any Service.
 */
export function hostToolService(
  name: string,
  host: string,
  port: number,
  servicePort = 80,
): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: toolsNamespace },
      spec: { ports: [{ name: 'tool', port: servicePort, targetPort: port, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-host`,
        namespace: toolsNamespace,
        labels: {
          'kubernetes.io/service-name': name,
          'endpointslice.kubernetes.io/managed-by': 'connectors-demo',
        },
      },
      addressType: 'IPv4',
      ports: [{ name: 'tool', port, protocol: 'TCP' }],
      endpoints: [{ addresses: [host], conditions: { ready: true } }],
    },
  ];
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function installClusterDemo(
  cluster: Cluster,
  options: ClusterDemoOptions,
): Promise<ClusterDemo> {
  const log = options.log ?? (() => undefined);
  const root = repoRoot();
  await rm(options.dir, { recursive: true, force: true });
  await mkdir(join(options.dir, 'bin'), { recursive: true });

  log('building the image (npm run image) and the clients image (hack/client-image.sh)…');
  const [archive, clients] = await Promise.all([buildImage(), buildClientImage()]);
  const names = await cluster.importImage(archive);
  log(`imported ${names.join(', ')}`);
  // For the Pod examples of docs/csi.md: git, skopeo, npm, kubectl and curl, as a non-root user.
  log(`imported ${(await cluster.importImage(clients.archive)).join(', ')}`);

  const install = await installConnectors(
    { kubeconfig: cluster.kubeconfig, kubectlBinary: options.kubectlBinary },
    { method: 'kustomize', log },
  );

  const kubectl = async (args: string[], input?: string): Promise<string> => {
    const r = await cluster.kubectl(args, input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const host = cluster.network.gateway;
  const toolCredentials = { username: 'demo', password: randomBytes(12).toString('base64url') };
  // The tool's answers never carry the credential it received: kubectl get --raw …/hello shows its
  // caller what reached the tool, except the Connector's Basic header.
  const tool = await startEchoTool({ ...toolCredentials, host, hideAuthorization: true });
  const gitCredentials = { username: 'demo', password: randomBytes(12).toString('base64url') };
  const toolAddress = `http://echo.${toolsNamespace}.svc.cluster.local`;
  const gitAddress = `http://git.${toolsNamespace}.svc.cluster.local`;
  // READY comes from the in-cluster status controller's probes.
  const waitReady = async (): Promise<void> => {
    for (const name of demoConnectors) {
      await waitFor(`Connector ${demoNamespace}/${name} to be Ready`, 120_000, async () => {
        const r = await cluster.kubectl(readyStatusArgs(name));
        return r.stdout === 'True';
      });
    }
  };
  let applyDemoObjects: () => Promise<void> = () => Promise.resolve();
  let git: GitServer | undefined;
  try {
    git = await startGitServer({ ...gitCredentials, host });
    await git.createRepo(demoRepository, {
      branches: ['main', 'develop', 'feature-login'],
      tags: ['v1.0.0'],
    });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: toolsNamespace } },
      ...hostToolService('echo', host, tool.port),
      ...hostToolService('git', host, git.port),
      ...demoToolObjects({ url: toolAddress, ...toolCredentials }),
      ...demoGitObjects({ url: gitAddress, ...gitCredentials }),
    ];
    applyDemoObjects = async () => {
      await kubectl(['apply', '-f', '-'], asList(objects));
    };
    await applyDemoObjects();
    await waitReady();
  } catch (err) {
    await Promise.all([tool.close(), git?.stop()]);
    throw err;
  }

  const kubeconfig = join(options.dir, 'kubeconfig');
  await copyFile(cluster.kubeconfig, kubeconfig);
  const alice = join(options.dir, 'alice.kubeconfig');
  await cluster.controlPlane.writeKubeconfig(
    alice,
    await cluster.controlPlane.issueClientCert('alice', ['demo']),
  );
  await symlink(options.kubectlBinary, join(options.dir, 'bin', 'kubectl'));
  const rel = relative(root, options.dir);
  const exportLine = `export PATH="$PWD/${rel}/bin:$PATH" KUBECONFIG="$PWD/${rel}/kubeconfig"`;
  const gitServer = git;
  return {
    image: { archive, names },
    install,
    tool,
    git: gitServer,
    toolCredentials,
    gitCredentials,
    toolAddress,
    gitAddress,
    exportLine,
    tryLines: [
      {
        command: 'kubectl get pods -n connectors-system -o wide',
        note: 'the API server, class API backend, Connectors Proxy and controller, run by kubelet',
      },
      { command: 'kubectl get connectors -A', note: 'READY from the in-cluster status controller' },
      {
        command: `kubectl get --raw ${demoToolProxy}/hello`,
        note: `answered by the in-cluster API server; the tool at ${toolAddress} (${tool.url}) saw only the Connector's Basic credential`,
      },
      {
        command: `kubectl get --raw "${demoBranches}"`,
        note: `branches of ${demoRepository} on the Git server at ${gitServer.url}, via the class API backend`,
      },
      {
        command: `KUBECONFIG=${rel}/alice.kubeconfig kubectl get --raw ${demoToolProxy}/hello`,
        note: 'alice may read through the Connector',
      },
      {
        command: `echo '{"name":"x"}' | KUBECONFIG=${rel}/alice.kubeconfig kubectl create --raw ${demoToolProxy}/items -f -`,
        note: 'Forbidden: writing needs "create" on connectors/proxy',
        refused: true,
      },
      { command: `kubectl get --raw ${groupVersionPath}`, note: 'discovery of the aggregated API' },
      {
        command: 'kubectl logs -n connectors-system deployment/connectors-apiserver --tail=3',
        note: "the API server's JSON log, credentials redacted",
      },
    ],
    applyDemoObjects,
    waitReady,
    stop: async () => {
      await Promise.all([tool.close(), gitServer.stop()]);
    },
  };
}
