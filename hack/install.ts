// Installs Connectors into a cluster exactly as the README's "Install" section tells users to, one
// command at a time, so that `npm run cluster` and the cluster tests walk the documented path and a
// step that breaks fails here with the command that broke. Two ways, as documented:
//   kustomize: kubectl apply -k manifests/ → wait for the CRDs → hack/certificates.sh →
//              kubectl apply -k manifests/classes/ → wait for every rollout and the APIService
//   helm:      helm install connectors charts/connectors → the same steps after it
// and the certificates either way (README "3. Certificates"): hack/certificates.sh, or with
// cert-manager running `kubectl apply -k manifests/cert-manager/` in its place.
// Returns the commands it ran (what a user would type), for the printed summary.

import { join } from 'node:path';
import { repoRoot } from './binaries.js';
import { ManagedProcess, type RunResult } from './process.js';

export const systemNamespace = 'connectors-system';
export const csiNamespace = 'connectors-csi';
export const apiServiceName = 'v1alpha1.subresources.connectors.alauda.io';
export const deployments = [
  'connectors-apiserver',
  'connectors-classapi',
  'connectors-proxy',
  'connectors-controller',
];

export interface InstallTarget {
  kubeconfig: string;
  /** The pinned kubectl binary. */
  kubectlBinary: string;
}

export interface InstallOptions {
  method: 'kustomize' | 'helm';
  /** Who issues the certificates (default 'script': hack/certificates.sh). */
  certificates?: 'script' | 'cert-manager';
  /** The helm binary (method helm). */
  helmBinary?: string;
  /** Extra `--set k=v` values (method helm). */
  helmValues?: string[];
  /** How long each wait may take (default 180 s). */
  timeoutSeconds?: number;
  log?: (line: string) => void;
}

export interface InstallResult {
  /** The commands, as a user types them from the repository root. */
  commands: string[];
  seconds: number;
}

export class InstallError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const how = result.timedOut ? 'timed out' : `exited with ${result.code ?? result.signal ?? '?'}`;
    super(`\`${command}\` ${how}:\n${result.stderr.trim() || result.stdout.trim()}`);
  }
}

/** Runs one documented step; `shown` is the command as the README writes it. */
async function step(
  target: InstallTarget,
  shown: string,
  binary: string,
  args: string[],
  log: (line: string) => void,
  timeoutMs: number,
): Promise<string> {
  log(`$ ${shown}`);
  const result = await ManagedProcess.run(binary, args, {
    cwd: repoRoot(),
    env: { ...process.env, KUBECONFIG: target.kubeconfig, KUBECTL: target.kubectlBinary },
    timeoutMs,
  });
  if (result.code !== 0) throw new InstallError(shown, result);
  return result.stdout;
}

export async function installConnectors(
  target: InstallTarget,
  options: InstallOptions,
): Promise<InstallResult> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const timeout = options.timeoutSeconds ?? 180;
  const waitMs = (timeout + 30) * 1000;
  const commands: string[] = [];
  const kubectl = async (args: string[]): Promise<string> => {
    const shown = `kubectl ${args.join(' ')}`;
    commands.push(shown);
    return step(target, shown, target.kubectlBinary, args, log, waitMs);
  };

  if (options.method === 'kustomize') {
    await kubectl(['apply', '-k', 'manifests/']);
  } else {
    const helm = options.helmBinary;
    if (!helm) throw new Error('installConnectors: method helm needs helmBinary');
    const args = [
      'install',
      'connectors',
      'charts/connectors',
      ...(options.helmValues ?? []).flatMap((v) => ['--set', v]),
    ];
    const shown = `helm ${args.join(' ')}`;
    commands.push(shown);
    await step(target, shown, helm, args, log, waitMs);
  }
  await kubectl([
    'wait',
    '--for=condition=Established',
    `--timeout=${timeout}s`,
    'crd/connectors.connectors.alauda.io',
    'crd/connectorclasses.connectors.alauda.io',
  ]);
  if (options.certificates === 'cert-manager') {
    await kubectl(['apply', '-k', 'manifests/cert-manager/']);
  } else {
    commands.push('hack/certificates.sh');
    await step(target, 'hack/certificates.sh', '/bin/bash', [join('hack', 'certificates.sh')], log, waitMs);
  }
  await kubectl(['apply', '-k', 'manifests/classes/']);
  for (const d of deployments) {
    await kubectl(['-n', systemNamespace, 'rollout', 'status', `deployment/${d}`, `--timeout=${timeout}s`]);
  }
  await kubectl([
    '-n',
    csiNamespace,
    'rollout',
    'status',
    'daemonset/connectors-csi',
    `--timeout=${timeout}s`,
  ]);
  await kubectl([
    'wait',
    '--for=condition=Available',
    `--timeout=${timeout}s`,
    `apiservice/${apiServiceName}`,
  ]);
  return { commands, seconds: (performance.now() - started) / 1000 };
}
