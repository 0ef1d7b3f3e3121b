// Locates etcd, kube-apiserver and kubectl, the node components of the test cluster, csi-sanity
// and helm. hack/build-k8s.sh, hack/build-cluster.sh, hack/build-csi-sanity.sh and
// hack/build-helm.sh are the single source of truth for where they live (their cache, or
// KUBEBUILDER_ASSETS / CLUSTER_BINARIES / CSI_SANITY / HELM_BIN), so this module only runs them
// and reads the path they print; the scripts build nothing when the cache is already filled.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertExecutable } from './process.js';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  /** The directory holding all three. */
  dir: string;
}

let cached: Promise<Binaries> | undefined;

/**
 * Resolves the three binaries, building them on first use (minutes; progress goes to stderr).
 * Memoised per process, so suites can call it freely.
 */
export function resolveBinaries(): Promise<Binaries> {
  cached ??= resolveUncached().catch((error: unknown) => {
    // A failure (e.g. no Go toolchain) must not stick: the user may fix it and retry in-process.
    cached = undefined;
    throw error;
  });
  return cached;
}

/**
 * The repository root, found by walking up to package.json: this file runs as hack/binaries.ts
 * under a TS loader and as dist/hack/binaries.js once compiled, so a fixed '..' would be wrong in
 * one of the two.
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

async function resolveUncached(): Promise<Binaries> {
  const script = join(repoRoot(), 'hack', 'build-k8s.sh');
  const dir = await runBuildScript(script, 'etcd/kube-apiserver/kubectl');
  const binaries: Binaries = {
    etcd: join(dir, 'etcd'),
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubectl: join(dir, 'kubectl'),
    dir,
  };
  for (const path of [binaries.etcd, binaries.kubeApiserver, binaries.kubectl]) assertExecutable(path);
  return binaries;
}

export interface ClusterBinaries {
  kubelet: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubeProxy: string;
  coredns: string;
  /** The directory holding all five. */
  dir: string;
}

let clusterCached: Promise<ClusterBinaries> | undefined;

/** The node components and CoreDNS (hack/build-cluster.sh), built on first use (minutes); memoised. */
export function resolveClusterBinaries(): Promise<ClusterBinaries> {
  clusterCached ??= (async () => {
    const dir = await runBuildScript(join(repoRoot(), 'hack', 'build-cluster.sh'), 'the cluster binaries');
    const binaries: ClusterBinaries = {
      kubelet: join(dir, 'kubelet'),
      kubeControllerManager: join(dir, 'kube-controller-manager'),
      kubeScheduler: join(dir, 'kube-scheduler'),
      kubeProxy: join(dir, 'kube-proxy'),
      coredns: join(dir, 'coredns'),
      dir,
    };
    const { kubelet, kubeControllerManager, kubeScheduler, kubeProxy, coredns } = binaries;
    for (const path of [kubelet, kubeControllerManager, kubeScheduler, kubeProxy, coredns])
      assertExecutable(path);
    return binaries;
  })().catch((error: unknown) => {
    clusterCached = undefined;
    throw error;
  });
  return clusterCached;
}

/** The csi-sanity binary (kubernetes-csi/csi-test), built on first use (a few minutes). */
export async function resolveCsiSanity(): Promise<string> {
  const path = await runBuildScript(join(repoRoot(), 'hack', 'build-csi-sanity.sh'), 'csi-sanity');
  assertExecutable(path);
  return path;
}

/** The helm binary (Helm v4, helm.sh/helm/v4), built on first use (a few minutes). */
export async function resolveHelm(): Promise<string> {
  const path = await runBuildScript(join(repoRoot(), 'hack', 'build-helm.sh'), 'helm');
  assertExecutable(path);
  return path;
}

/** Runs a hack/build-*.sh-style script and resolves with the absolute path on its last stdout line. */
export function runBuildScript(script: string, what: string, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    // stderr is inherited so that a first-time build shows its progress instead of seeming to hang;
    // stdout carries only the directory.
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', (error) => {
      reject(new Error(`could not run ${script}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n');
      const last = lines[lines.length - 1]?.trim() ?? '';
      if (code !== 0) {
        const how = signal === null ? `exited with code ${code ?? '?'}` : `was killed by ${signal}`;
        reject(new Error(`${script} ${how} (its stderr is above); cannot locate ${what}`));
      } else if (!last.startsWith('/')) {
        reject(new Error(`${script} printed no path on its last stdout line (got '${last}')`));
      } else {
        resolve(last);
      }
    });
  });
}
