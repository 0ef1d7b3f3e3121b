// The Connectors Proxy (dist/connproxy/main.js) for the benchmarks: started from its real entry
// point under its production ServiceAccount and RBAC (manifests/connproxy/rbac.yaml), on loopback.

import { join } from 'node:path';
import { request } from 'undici';
import { repoRoot } from '../hack/binaries.js';
import type { LocalSystem } from '../hack/localsystem.js';
import { freePort, ManagedProcess } from '../hack/process.js';

export interface ConnectorsProxy {
  url: string;
  process: ManagedProcess;
}

/** Which build runs, on which Node: by default this tree's dist/ on this process's Node. */
export interface Build {
  /** Names the process and its log, e.g. 'connectors-proxy-node20'. */
  name: string;
  node: string;
  /** The tree whose dist/ holds the entry point. */
  root: string;
}

/**
 * Starts the proxy and waits until it serves `probe` (a reverse-mode path) with `authorization`:
 * then its informers hold the Connector and RBAC has settled. Another build (the Node 20 baseline)
 * starts with the same flags and under the same ServiceAccount.
 */
export async function startConnectorsProxy(
  sys: LocalSystem,
  probe: { path: string; authorization: string },
  build: Build = { name: 'connectors-proxy', node: process.execPath, root: repoRoot() },
): Promise<ConnectorsProxy> {
  const root = repoRoot();
  const { cp } = sys;
  const applied = await cp.kubectl(['apply', '-f', join(root, 'manifests', 'connproxy', 'rbac.yaml')]);
  if (applied.code !== 0) throw new Error(applied.stderr);
  const token = await cp.createToken('connectors-system', 'connectors-proxy', { expirationSeconds: 86_400 });
  const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-proxy.kubeconfig'), { token });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = ManagedProcess.start({
    name: build.name,
    binary: build.node,
    args: [
      join(build.root, 'dist', 'connproxy', 'main.js'),
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--kubeconfig=${kubeconfig}`,
      '--log-level=warn',
    ],
    logFile: join(sys.logDir, `${build.name}.log`),
  });
  await proc.waitUntil(
    async () => {
      const r = await request(`${url}${probe.path}`, { headers: { authorization: probe.authorization } });
      await r.body.dump();
      return r.statusCode === 200;
    },
    { timeoutMs: 60_000, what: `${build.name} to serve ${probe.path}` },
  );
  return { url, process: proc };
}
