// OCI image archives written by hand: our machines reach no container registry, so the images a
// test cluster needs (the pod sandbox "pause" image, a busybox for test pods) are assembled here
// from local files. An OCI archive is a tar of `oci-layout`, `index.json` and content-addressed
// blobs (image-spec image-layout.md); `ctr images import` reads it. The tar format is ustar, the
// subset every reader accepts, which is all these few short paths need.
import { createHash } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

export interface TarEntry {
  /** Relative path inside the archive, without a leading '/' (e.g. 'bin/busybox'). */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits; default 0o755 for files and directories, 0o777 for symlinks. */
  mode?: number;
  /** File content (type 'file'). */
  content?: Buffer;
  /** Symlink target (type 'symlink'). */
  target?: string;
}

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

export interface ImageSpec {
  /**
   * Full reference with a registry host, e.g. 'localhost/connectors/pause:3.10'. A bare name
   * ('busybox:1') would be normalised by the kubelet's CRI to 'docker.io/library/busybox:1' and no
   * longer match what the import stored.
   */
  name: string;
  /** Each layer is a list of entries; later layers overlay earlier ones. */
  layers: TarEntry[][];
  config: ImageConfig;
}

/** The annotation containerd's importer names an image by. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';
/** The image-layout annotation skopeo, buildah and podman read and write. */
export const OCI_REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

const BLOCK = 512;

/** A ustar archive of `entries`, with zero owner and mtime so that equal input gives equal bytes. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.type === 'file' ? (entry.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
    parts.push(tarHeader(entry, content.length), content);
    const pad = (BLOCK - (content.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK)); // end-of-archive marker
  return Buffer.concat(parts);
}

function tarHeader(entry: TarEntry, size: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const [prefix, name] = splitPath(path);
  const mode = entry.mode ?? (entry.type === 'symlink' ? 0o777 : 0o755);
  header.write(name, 0, 100, 'utf8');
  writeOctal(header, 100, 8, mode);
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, size);
  writeOctal(header, 136, 12, 0); // mtime
  header.write(' '.repeat(8), 148, 8, 'ascii'); // checksum field counts as spaces while summing
  header.write(entry.type === 'file' ? '0' : entry.type === 'symlink' ? '2' : '5', 156, 1, 'ascii');
  if (entry.type === 'symlink') {
    const target = entry.target ?? '';
    if (Buffer.byteLength(target) > 100) throw new Error(`symlink target too long for ustar: ${target}`);
    header.write(target, 157, 100, 'utf8');
  }
  header.write('ustar\u000000', 257, 8, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return header;
}

/** ustar keeps up to 155 bytes of directory in `prefix` and up to 100 of the rest in `name`. */
function splitPath(path: string): [string, string] {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  for (let i = path.lastIndexOf('/', path.length - 2); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
  }
  throw new Error(`path too long for ustar: ${path}`);
}

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'ascii');
}

interface Blob {
  digest: string;
  size: number;
  bytes: Buffer;
}

function blob(bytes: Buffer): Blob {
  return { digest: `sha256:${sha256(bytes)}`, size: bytes.length, bytes };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Go's GOARCH for this machine, which the image config must name for containerd to unpack it. */
export function goArch(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  const goarch = map[arch];
  if (goarch === undefined) throw new Error(`no OCI architecture known for Node's process.arch '${arch}'`);
  return goarch;
}

/** Writes `spec` as an OCI image archive (a tar of the image layout) to `path`. */
export async function writeOciArchive(path: string, spec: ImageSpec): Promise<void> {
  const layers = spec.layers.map((entries) => {
    const raw = tar(entries);
    return { diffId: `sha256:${sha256(raw)}`, blob: blob(gzipSync(raw)) };
  });
  const config = blob(
    Buffer.from(
      JSON.stringify({
        created: '1970-01-01T00:00:00Z',
        architecture: goArch(),
        os: 'linux',
        config: spec.config,
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: config.digest,
          size: config.size,
        },
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: l.blob.digest,
          size: l.blob.size,
        })),
      }),
    ),
  );
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifest.digest,
        size: manifest.size,
        platform: { architecture: goArch(), os: 'linux' },
        annotations: { [CONTAINERD_NAME_ANNOTATION]: spec.name, [OCI_REF_NAME_ANNOTATION]: spec.name },
      },
    ],
  };
  const blobs = [config, manifest, ...layers.map((l) => l.blob)];
  const entries: TarEntry[] = [
    { path: 'oci-layout', type: 'file', mode: 0o644, content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { path: 'index.json', type: 'file', mode: 0o644, content: Buffer.from(JSON.stringify(index)) },
    { path: 'blobs', type: 'dir' },
    { path: 'blobs/sha256', type: 'dir' },
    ...blobs.map((b): TarEntry => ({
      path: `blobs/sha256/${b.digest.slice(7)}`,
      type: 'file',
      mode: 0o644,
      content: b.bytes,
    })),
  ];
  await writeFile(path, tar(entries));
}

/**
 * The content of the first member of the tar file at `path` whose name `matches`, or undefined.
 * Reads headers only and seeks over other members, so an image archive of hundreds of megabytes
 * costs a few reads. Understands the pax and GNU long-name records Go's archive/tar writes.
 */
export async function readTarMember(
  path: string,
  matches: (name: string) => boolean,
): Promise<Buffer | undefined> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(BLOCK);
    let offset = 0;
    let longName: string | undefined;
    for (;;) {
      const { bytesRead } = await file.read(header, 0, BLOCK, offset);
      if (bytesRead < BLOCK || header.every((b) => b === 0)) return undefined;
      const size = readNumber(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] ?? 0);
      const dataOffset = offset + BLOCK;
      offset = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (type === 'x' || type === 'L') {
        const data = Buffer.alloc(size);
        await file.read(data, 0, size, dataOffset);
        longName = type === 'L' ? cString(data) : paxPath(data.toString('utf8'));
        continue;
      }
      if (type === 'g') continue; // global pax header: no member of its own
      const prefix = cString(header.subarray(345, 500));
      const short = cString(header.subarray(0, 100));
      const name = (longName ?? (prefix === '' ? short : `${prefix}/${short}`)).replace(/^\.\//, '');
      longName = undefined;
      if (matches(name)) {
        const data = Buffer.alloc(size);
        await file.read(data, 0, size, dataOffset);
        return data;
      }
    }
  } finally {
    await file.close();
  }
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

/** Octal, or base-256 when the top bit of the first byte is set (GNU, for sizes of 8 GiB and more). */
function readNumber(field: Buffer): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = cString(field).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** The `path` record of a pax extended header ("<len> path=<value>\n" records). */
function paxPath(records: string): string | undefined {
  for (const line of records.split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

export interface IndexManifest {
  digest: string;
  annotations: Record<string, string>;
}

/** The manifests listed by the `index.json` of the OCI archive at `path`. */
export async function readOciIndex(path: string): Promise<IndexManifest[]> {
  const data = await readTarMember(path, (name) => name === 'index.json');
  if (data === undefined) throw new Error(`${path} is not an OCI archive: it has no index.json`);
  const index: unknown = JSON.parse(data.toString('utf8'));
  const manifests = isRecord(index) ? index['manifests'] : undefined;
  if (!Array.isArray(manifests)) throw new Error(`${path}: index.json has no manifests list`);
  return manifests.map((m: unknown): IndexManifest => {
    const digest = isRecord(m) ? m['digest'] : undefined;
    if (!isRecord(m) || typeof digest !== 'string')
      throw new Error(`${path}: index.json lists a manifest without a digest`);
    const annotations = isRecord(m['annotations']) ? m['annotations'] : {};
    return {
      digest,
      annotations: Object.fromEntries(
        Object.entries(annotations).filter((e): e is [string, string] => typeof e[1] === 'string'),
      ),
    };
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
