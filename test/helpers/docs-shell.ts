// Running a documented shell block as a reader would, in integration tests: bash with `set -eu`,
// the pinned kubectl first on PATH and the admin kubeconfig, in a directory of its own that is also
// HOME (so `npm config set`, Maven's ~/.m2 and git's global config stay there and never touch the
// machine's), with the names a test must make its own (namespace, addresses) replaced.

import { mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resolveBinaries } from '../../hack/binaries.js';
import { ManagedProcess, type RunResult } from '../../hack/process.js';
import { env } from './env.js';

/** [what the documentation says, what this test has instead], applied in order. */
export type Replacements = readonly (readonly [string, string])[];

export function replaceAll(text: string, replacements: Replacements): string {
  return replacements.reduce((t, [from, to]) => t.replaceAll(from, to), text);
}

/** A fresh working directory (and HOME) for one documented block. */
export function docWorkdir(name: string): string {
  return mkdtempSync(join(env().sys.cp.dir, `doc-${name}-`));
}

/**
 * Runs `script` with bash in `cwd`. The environment is a reader's: no proxy variables but those
 * the script sets, git without system config or prompts.
 */
export async function runDocShell(
  script: string,
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const kubectlDir = dirname((await resolveBinaries()).kubectl);
  // Nor npm's settings of the run that started the tests (`npm test` exports its config as
  // npm_config_*, userconfig included): `npm config set` must write to this HOME's .npmrc.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^((https?|no|all)_proxy|npm_.*)$/i.test(k)),
  );
  return ManagedProcess.run('/bin/bash', ['-eu', '-c', script], {
    cwd: opts.cwd,
    timeoutMs: opts.timeoutMs ?? 120_000,
    env: {
      ...inherited,
      PATH: `${kubectlDir}:${process.env.PATH ?? ''}`,
      KUBECONFIG: env().sys.cp.kubeconfigPath,
      HOME: opts.cwd,
      // Java takes user.home from the passwd entry, not HOME: Maven's ~/.m2 would be the real one.
      JAVA_TOOL_OPTIONS: `-Duser.home=${opts.cwd}`,
      XDG_RUNTIME_DIR: opts.cwd,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      npm_config_update_notifier: 'false',
      ...opts.env,
    },
  });
}

/** Like runDocShell, but a failure throws with what the script printed. */
export async function runDocShellOk(
  script: string,
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<string> {
  const r = await runDocShell(script, opts);
  if (r.code !== 0) {
    throw new Error(
      `the documented commands failed (${r.code ?? r.signal ?? '?'}):\n${script}\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

/**
 * `attempt`'s value once it stops throwing (informers, RBAC and webhooks settle a moment after the
 * objects are written); past `timeoutMs`, its last error.
 */
export async function retried<T>(attempt: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
