// Puts the built kubectl plugin on a PATH directory the way npm installs a package's "bin": a link
// named kubectl-connectors to dist/cli/main.js, which is made executable (tsc writes it 0644). A
// `kubectl` that has this directory on PATH then runs it for `kubectl connectors …` and lists it
// in `kubectl plugin list`. For `npm run dev` and the tests; users install the package itself.

import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './binaries.js';

export const pluginName = 'kubectl-connectors';

/** Links the plugin into `binDir` (created if needed); returns the link's path. */
export function linkPlugin(binDir: string): string {
  const target = join(repoRoot(), 'dist', 'cli', 'main.js');
  if (!existsSync(target)) throw new Error(`${target} is missing: build first (tsc -p tsconfig.json)`);
  chmodSync(target, 0o755);
  mkdirSync(binDir, { recursive: true });
  const link = join(binDir, pluginName);
  rmSync(link, { force: true });
  symlinkSync(target, link);
  return link;
}
