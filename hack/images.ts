// The images a test cluster needs that no registry can give us here: the pod sandbox ("pause")
// image containerd starts for every pod, a busybox image for test pods, and an image with the tools'
// real clients. The first two are built from local files into OCI archives (hack/oci.ts), the
// clients image by hack/client-image.sh from Debian packages; all are cached beside the built
// binaries, and rebuilt only when their inputs change.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, runBuildScript } from './binaries.js';
import { buildInto, cacheRoot, contentKey } from './cache.js';
import {
  OCI_REF_NAME_ANNOTATION,
  readOciIndex,
  writeOciArchive,
  type ImageSpec,
  type TarEntry,
} from './oci.js';

const run = promisify(execFile);

/** The name containerd's sandbox_image points at. */
export const PAUSE_IMAGE = 'localhost/connectors/pause:3.10';
/** busybox-static's applets, for test pods (imagePullPolicy: Never). */
export const BUSYBOX_IMAGE = 'localhost/connectors/busybox:1';
/** Where Debian's busybox-static package puts its binary. */
const BUSYBOX_BINARY = '/bin/busybox';
// Part of every cache key: bump it when the way an image is assembled changes.
const FORMAT = 'oci-v1';

export interface BuiltImage {
  /** The reference the archive names, and that pods use. */
  name: string;
  /** Path of the OCI archive, for Cluster.importImage. */
  archive: string;
}

/** The pause image: hack/pause/pause.c built with `gcc -static`. */
export async function buildPauseImage(): Promise<BuiltImage> {
  const source = join(repoRoot(), 'hack', 'pause', 'pause.c');
  const code = await readFile(source);
  const gcc = await run('gcc', ['--version']).catch((error: unknown) => {
    throw new Error(`gcc is needed to build the pause image (Debian: gcc libc6-dev): ${String(error)}`);
  });
  return cachedImage('pause', [FORMAT, code, gcc.stdout], async (dir) => {
    const binary = join(dir, 'pause');
    await run('gcc', ['-static', '-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', binary, source]);
    return {
      name: PAUSE_IMAGE,
      layers: [[{ path: 'pause', type: 'file', mode: 0o755, content: await readFile(binary) }]],
      config: { Entrypoint: ['/pause'] },
    };
  });
}

export interface ExtraFile {
  /** Path inside the image, e.g. 'usr/local/bin/kubectl'. */
  path: string;
  /** Path of a statically linked executable (or any file) on this machine. */
  source: string;
}

/**
 * A busybox image: /bin/busybox and a symlink per applet (sh, nc, wget, nslookup, ip, ...), plus
 * `extra` files in a second layer (e.g. a static kubectl, for a pod that talks to the API server
 * with its own ServiceAccount token).
 */
export async function buildBusyboxImage(
  opts: { name?: string; extra?: ExtraFile[] } = {},
): Promise<BuiltImage> {
  const name = opts.name ?? BUSYBOX_IMAGE;
  const busybox = await readFile(BUSYBOX_BINARY).catch(() => {
    throw new Error(`${BUSYBOX_BINARY} is missing: install Debian's busybox-static`);
  });
  if (await isDynamic(BUSYBOX_BINARY)) {
    throw new Error(`${BUSYBOX_BINARY} is dynamically linked: install Debian's busybox-static, not busybox`);
  }
  const extra = await Promise.all(
    (opts.extra ?? []).map(async (f) => ({ ...f, content: await readFile(f.source) })),
  );
  const key = [FORMAT, name, busybox, ...extra.flatMap((f) => [f.path, f.content])];
  return cachedImage(`busybox-${name.replace(/[^a-z0-9.-]+/gi, '_')}`, key, async () => {
    const applets = (await run(BUSYBOX_BINARY, ['--list'])).stdout
      .split('\n')
      .filter((a) => /^[\w.[-]+$/.test(a));
    const base: TarEntry[] = [
      { path: 'bin', type: 'dir' },
      { path: 'bin/busybox', type: 'file', mode: 0o755, content: busybox },
      ...applets
        .filter((a) => a !== 'busybox')
        .map((a): TarEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' })),
      { path: 'etc', type: 'dir' },
      {
        path: 'etc/passwd',
        type: 'file',
        mode: 0o644,
        content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n'),
      },
      { path: 'etc/group', type: 'file', mode: 0o644, content: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
      { path: 'root', type: 'dir', mode: 0o700 },
      { path: 'tmp', type: 'dir', mode: 0o1777 },
    ];
    const dirs = new Set(extra.flatMap((f) => parentDirs(f.path)));
    const layers = [base];
    if (extra.length > 0) {
      layers.push([
        ...[...dirs].sort().map((d): TarEntry => ({ path: d, type: 'dir' })),
        ...extra.map((f): TarEntry => ({ path: f.path, type: 'file', mode: 0o755, content: f.content })),
      ]);
    }
    return {
      name,
      layers,
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/bin:/usr/bin:/bin'] },
    };
  });
}

/**
 * The image for Pods that run the tools' real clients: git, skopeo, Node.js and npm, kubectl (the
 * cluster's version), curl, sh and mysql (MariaDB's), as the non-root user 1000:1000, each reading
 * its configuration from HOME (e.g. a connectors-csi volume). hack/client-image.sh builds it on the
 * local Node.js base with Debian's packages (minutes the first time; then reused while the base,
 * kubectl and the script are unchanged). The name is the one the archive carries.
 */
export async function buildClientImage(): Promise<BuiltImage> {
  const archive = await runBuildScript(
    join(repoRoot(), 'hack', 'client-image.sh'),
    'the client image archive',
  );
  const names = (await readOciIndex(archive)).map((m) => m.annotations[OCI_REF_NAME_ANNOTATION]);
  const [name] = names;
  if (names.length !== 1 || name === undefined) {
    throw new Error(`${archive} should name one image; its index names ${JSON.stringify(names)}`);
  }
  return { name, archive };
}

function parentDirs(path: string): string[] {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Whether the ELF file at `path` asks for a program interpreter (the dynamic loader). */
async function isDynamic(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false; // not 64-bit ELF: let it be
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return true; // PT_INTERP
    return false;
  } finally {
    await file.close();
  }
}

async function cachedImage(
  what: string,
  keyParts: (string | Buffer)[],
  build: (dir: string) => Promise<ImageSpec>,
): Promise<BuiltImage> {
  const parent = join(cacheRoot(), 'cluster-images');
  await mkdir(parent, { recursive: true });
  const dest = join(parent, `${what}-${contentKey(keyParts)}`);
  const archiveName = 'image.oci.tar';
  let name: string | undefined;
  if (!existsSync(dest)) {
    await buildInto(dest, async (dir) => {
      const spec = await build(dir);
      name = spec.name;
      await writeOciArchive(join(dir, archiveName), spec);
      await writeFile(join(dir, 'name'), `${spec.name}\n`);
    });
  }
  name ??= (await readFile(join(dest, 'name'), 'utf8')).trim();
  return { name, archive: join(dest, archiveName) };
}
