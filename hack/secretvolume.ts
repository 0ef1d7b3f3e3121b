// Files laid out as the kubelet lays out a Secret volume (its AtomicWriter), so that the local
// system exercises certificate reloading exactly as a cluster does: every key is a symlink
// `<key> -> ..data/<key>`, `..data` is a symlink to a timestamped directory, and an update writes
// a new directory and swaps `..data` with one rename. The key files themselves never change.

import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let generation = 0;

/** Writes `files` (name → content) into `dir` as a Secret volume, replacing what it held. */
export async function writeSecretVolume(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const version = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}.${++generation}`;
  await mkdir(join(dir, version), { mode: 0o700 });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, version, name), content, { mode: 0o600 });
  }
  let previous: string | undefined;
  try {
    previous = await readlink(join(dir, '..data'));
  } catch {
    previous = undefined; // first write
  }
  await symlink(version, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    try {
      await symlink(join('..data', name), join(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
}
