// What holds a volume's files at target_path.
//
// tmpfs (production): a small tmpfs mounted directly on target_path, as secrets-store-csi-driver
// does, so tokens never touch the node's disk and a driver restart leaves running pods' volumes
// intact (the next republish writes into the same mount). The host side stays read-write so that a
// republish can replace the files; kubelet bind-mounts it read-only into the containers because the
// volume must be `readOnly: true`. Mounting needs CAP_SYS_ADMIN: the DaemonSet runs privileged.
//
// directory (development and unprivileged tests only): the same files in a plain directory. It is
// never chosen automatically — tokens would land on disk and survive a reboot — only with
// --volume-medium=directory, and the driver logs a warning at startup.

import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { internal } from './errors.js';
import { removeVolumeFiles } from './writer.js';

const run = promisify(execFile);

export type MediumKind = 'tmpfs' | 'directory';

export interface VolumeMedium {
  readonly kind: MediumKind;
  /** True when target holds a published volume of ours (then a publish is a republish). */
  isPublished(target: string): Promise<boolean>;
  /** Creates target and what holds the files; on failure nothing is left behind. */
  setUp(target: string): Promise<void>;
  /** Removes the files, the mount and target itself; nothing there is fine. */
  tearDown(target: string): Promise<void>;
}

/** The source name our mounts carry, so that they are told apart from anyone else's tmpfs. */
export const mountSource = 'connectors-csi';

/** Undoes the octal escapes of /proc/self/mountinfo (space, tab, newline, backslash). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Parses /proc/self/mountinfo: `id parent major:minor root mountpoint opts [optional…] - fstype source superopts`. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    const mountPoint = fields[4];
    const fsType = fields[dash + 1];
    const source = fields[dash + 2];
    if (dash < 0 || mountPoint === undefined || fsType === undefined || source === undefined) continue;
    entries.push({ mountPoint: unescapeMountPath(mountPoint), fsType, source: unescapeMountPath(source) });
  }
  return entries;
}

async function mountsAt(target: string): Promise<MountEntry[]> {
  const path = resolve(target);
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === path);
}

const isOurs = (m: MountEntry): boolean => m.fsType === 'tmpfs' && m.source === mountSource;

function commandError(what: string, err: unknown): never {
  const stderr = (err as { stderr?: string }).stderr?.trim();
  throw internal(`${what}: ${stderr || (err as Error).message}`);
}

export class TmpfsMedium implements VolumeMedium {
  readonly kind = 'tmpfs';

  constructor(
    /** tmpfs size, e.g. 4m: configuration files and a token take a few KiB. */
    private readonly size: string,
  ) {}

  async isPublished(target: string): Promise<boolean> {
    return (await mountsAt(target)).some(isOurs);
  }

  async setUp(target: string): Promise<void> {
    await mkdir(target, { recursive: true });
    const options = `size=${this.size},mode=0755,nosuid,nodev,noexec`;
    try {
      await run('mount', ['-t', 'tmpfs', '-o', options, mountSource, target]);
    } catch (err) {
      await rmdir(target).catch(() => undefined);
      commandError(
        `cannot mount a tmpfs at ${target} (the driver needs CAP_SYS_ADMIN: run it privileged)`,
        err,
      );
    }
  }

  async tearDown(target: string): Promise<void> {
    // A mount of ours can only be stacked by a lost race elsewhere; unmount until none is left.
    for (let mounts = await mountsAt(target); mounts.some(isOurs); mounts = await mountsAt(target)) {
      try {
        await run('umount', [target]);
      } catch (err) {
        commandError(`cannot unmount ${target}`, err);
      }
    }
    // The tmpfs took the files with it; an empty target remains (or the files of directory mode).
    await removeVolumeFiles(target);
  }
}

export class DirectoryMedium implements VolumeMedium {
  readonly kind = 'directory';

  async isPublished(target: string): Promise<boolean> {
    try {
      return (await lstat(join(target, '..data'))).isSymbolicLink();
    } catch {
      return false;
    }
  }

  async setUp(target: string): Promise<void> {
    await mkdir(target, { recursive: true });
    await chmod(target, 0o755); // as the tmpfs root: readable by a non-root container
  }

  async tearDown(target: string): Promise<void> {
    await removeVolumeFiles(target);
  }
}
