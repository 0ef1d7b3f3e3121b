// Where the bench and the cluster harness keep what they build or download once (the Go relay,
// the Node 20 baseline, the pause and test images): outside the repository, beside the Kubernetes
// binaries of hack/go-build-env.sh, under the same root and with the same overrides.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CONNECTORS_CACHE) return env.CONNECTORS_CACHE;
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'connectors');
}

/**
 * A short content key: sha256 over each part, length-prefixed so that moving text from one part
 * to the next gives another key.
 */
export function contentKey(parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const p of parts) {
    const bytes = typeof p === 'string' ? Buffer.from(p) : p;
    hash.update(`${bytes.length}:`);
    hash.update(bytes);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Builds `dest` in a fresh directory beside it and renames that into place, so that an interrupted
 * build never looks finished: `dest` existing means complete.
 */
export async function buildInto(dest: string, build: (dir: string) => Promise<void>): Promise<void> {
  const tmp = await mkdtemp(`${dest}.build-`);
  try {
    await build(tmp);
    await rename(tmp, dest).catch((err: unknown) => {
      // Another run finished first; its result is the same.
      if (!existsSync(dest)) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
