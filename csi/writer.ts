// Writes a volume's files so that a reader never sees a half-written one: kubelet's AtomicWriter
// (pkg/volume/util/atomic_writer.go), as secrets-store-csi-driver and cert-manager's csi-lib copy it.
//
//   <dir>/..<timestamp>.<random>/   one generation: every file, written in full
//   <dir>/..data -> ..<timestamp>…   switched to a new generation by one rename(2)
//   <dir>/<name> -> ..data/<name>    what the pod reads
//
// A reader resolving <name> goes through ..data, which names either the old or the new generation,
// never something in between. The previous generation is kept until the next write, so a reader
// that resolved ..data just before the switch still finds its file. Files are 0644 and directories
// 0755: kubelet never applies fsGroup to a read-only volume, so a non-root container can read them
// only if everyone can (the volume is mounted into this pod's containers only).

import {
  chmod,
  lstat,
  mkdtemp,
  readdir,
  readlink,
  rename,
  rm,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { basename, join } from 'node:path';

const dataLink = '..data';
const dataTmpLink = '..data_tmp';

/** A file name the writer accepts: what ConnectorClass configurations may name (no `..` prefix). */
export function isValidFileName(name: string): boolean {
  return /^[A-Za-z0-9._-]+$/.test(name) && !name.startsWith('..') && name !== '.';
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function currentGeneration(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, dataLink));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Replaces the files in `dir` (a directory the caller created) with `files`, atomically. */
export async function writeVolumeFiles(dir: string, files: ReadonlyMap<string, string>): Promise<void> {
  for (const name of files.keys()) {
    if (!isValidFileName(name)) throw new Error(`invalid file name ${JSON.stringify(name)}`);
  }
  const previous = await currentGeneration(dir);
  const stamp = new Date().toISOString().replace(/[:.]/g, '_');
  const generation = await mkdtemp(join(dir, `..${stamp}.`));
  for (const [name, content] of files) {
    const path = join(generation, name);
    await writeFile(path, content, { mode: 0o644 });
    await chmod(path, 0o644); // writeFile's mode is reduced by the umask
  }
  await chmod(generation, 0o755);

  const tmp = join(dir, dataTmpLink);
  await rm(tmp, { force: true });
  await symlink(basename(generation), tmp);
  await rename(tmp, join(dir, dataLink));

  for (const name of files.keys()) {
    const path = join(dir, name);
    if (!(await exists(path))) await symlink(join(dataLink, name), path);
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..')) {
      // Generations older than the previous one (left by a crash between writes, too).
      const keep = entry === dataLink || entry === basename(generation) || entry === previous;
      if (!keep) await rm(join(dir, entry), { recursive: true, force: true });
    } else if (!files.has(entry) && (await lstat(join(dir, entry))).isSymbolicLink()) {
      await rm(join(dir, entry));
    }
  }
}

/**
 * Removes what writeVolumeFiles created in `dir`, then `dir` itself (which must then be empty:
 * anything the writer did not create is left alone, and the error says so).
 */
export async function removeVolumeFiles(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (entry.startsWith('..')) await rm(path, { recursive: true, force: true });
    else if ((await lstat(path)).isSymbolicLink()) await rm(path);
  }
  await rmdir(dir);
}
