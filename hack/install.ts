// Installs Connectors into a cluster exactly as the README's "Install" section tells users to, one
// command at a time, so that `npm run cluster` and the cluster tests walk the documented path and a
// step that breaks fails here with the command that broke. Two ways, as documented:
//   kustomize: kubectl apply -k manifests/ → wait for the CRDs → hack/certificates.sh →
//              kubectl apply -k manifests/classes/ → wait for every rollout and the APIService
//   helm:      helm install connectors charts/connectors → the same steps after it
// and the certificates either way (docs/install.md "3. Certificates"): hack/certificates.sh, or with
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
  'connectors-mysql-proxy',
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

/** One documented step: the program, its arguments, and the command as a user types it. */
export interface InstallStep {
  program: 'kubectl' | 'helm' | 'bash';
  args: string[];
  shown: string;
}

const kubectlStep = (args: string[]): InstallStep => ({
  program: 'kubectl',
  args,
  shown: `kubectl ${args.join(' ')}`,
});

/**
 * The steps of an install, in order, as the README's "Install" and docs/install.md give them (a unit
 * test holds those blocks to this list); `--timeout=` flags are the only thing the documentation
 * leaves out.
 */
export function installSteps(
  options: Pick<InstallOptions, 'method' | 'certificates' | 'helmValues' | 'timeoutSeconds'>,
): InstallStep[] {
  const timeout = `--timeout=${options.timeoutSeconds ?? 180}s`;
  const steps: InstallStep[] = [];
  if (options.method === 'kustomize') {
    steps.push(kubectlStep(['apply', '-k', 'manifests/']));
  } else {
    const args = [
      'install',
      'connectors',
      'charts/connectors',
      ...(options.helmValues ?? []).flatMap((v) => ['--set', v]),
    ];
    steps.push({ program: 'helm', args, shown: `helm ${args.join(' ')}` });
  }
  steps.push(
    kubectlStep([
      'wait',
      '--for=condition=Established',
      timeout,
      'crd/connectors.connectors.alauda.io',
      'crd/connectorclasses.connectors.alauda.io',
      'crd/resourceinterfaces.connectors.alauda.io',
    ]),
  );
  if (options.certificates === 'cert-manager') {
    steps.push(kubectlStep(['apply', '-k', 'manifests/cert-manager/']));
  } else {
    steps.push({ program: 'bash', args: [join('hack', 'certificates.sh')], shown: 'hack/certificates.sh' });
  }
  steps.push(kubectlStep(['apply', '-k', 'manifests/classes/']));
  for (const d of deployments) {
    steps.push(kubectlStep(['-n', systemNamespace, 'rollout', 'status', `deployment/${d}`, timeout]));
  }
  steps.push(kubectlStep(['-n', csiNamespace, 'rollout', 'status', 'daemonset/connectors-csi', timeout]));
  steps.push(kubectlStep(['wait', '--for=condition=Available', timeout, `apiservice/${apiServiceName}`]));
  return steps;
}

/**
 * The uninstall of a kustomize install, as docs/install.md gives it (a unit test holds that block to
 * this list): kubectl arguments, paths relative to the repository root.
 */
export const uninstallSteps: readonly (readonly string[])[] = [
  ['delete', '-k', 'manifests/classes/'],
  ['delete', '-k', 'manifests/'],
  ['delete', 'apiservice', apiServiceName, '--ignore-not-found'],
];

export async function installConnectors(
  target: InstallTarget,
  options: InstallOptions,
): Promise<InstallResult> {
  const started = performance.now();
  const log = options.log ?? (() => undefined);
  const waitMs = ((options.timeoutSeconds ?? 180) + 30) * 1000;
  if (options.method === 'helm' && !options.helmBinary) {
    throw new Error('installConnectors: method helm needs helmBinary');
  }
  const binaries = {
    kubectl: target.kubectlBinary,
    helm: options.helmBinary ?? '',
    bash: '/bin/bash',
  };
  const commands: string[] = [];
  for (const s of installSteps(options)) {
    commands.push(s.shown);
    await step(target, s.shown, binaries[s.program], s.args, log, waitMs);
  }
  return { commands, seconds: (performance.now() - started) / 1000 };
}
