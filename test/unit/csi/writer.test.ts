// The atomic writer and the volume media: generations switched by one rename, stale files and
// generations removed, modes a non-root reader can use, concurrent readers that only ever see a
// whole file, and (as root) a real tmpfs mounted, detected through /proc/self/mountinfo and removed.

import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DirectoryMedium, parseMountInfo, TmpfsMedium } from '../../../csi/medium.js';
import { isValidFileName, removeVolumeFiles, writeVolumeFiles } from '../../../csi/writer.js';
import { skipBecause } from '../../helpers/skip.js';

const files = (entries: Record<string, string>): Map<string, string> => new Map(Object.entries(entries));

describe('csi/writer', function () {
  let root: string;
  beforeEach(function () {
    root = mkdtempSync(join(tmpdir(), 'csi-writer-'));
  });
  afterEach(function () {
    rmSync(root, { recursive: true, force: true });
  });

  it('writes every file behind ..data, 0644 in a 0755 generation', async function () {
    await writeVolumeFiles(root, files({ '.gitconfig': 'a', 'context.token': 'tok' }));
    expect(readFileSync(join(root, '.gitconfig'), 'utf8')).to.equal('a');
    expect(lstatSync(join(root, 'context.token')).isSymbolicLink()).to.equal(true);
    expect(lstatSync(join(root, '..data')).isSymbolicLink()).to.equal(true);
    expect(statSync(join(root, 'context.token')).mode & 0o777).to.equal(0o644);
    expect(statSync(join(root, '..data')).mode & 0o777).to.equal(0o755);
  });

  it('a rewrite switches the generation, drops files no longer there, keeps one previous generation', async function () {
    await writeVolumeFiles(root, files({ a: '1', gone: 'x' }));
    await writeVolumeFiles(root, files({ a: '2', b: '2' }));
    await writeVolumeFiles(root, files({ a: '3', b: '3' }));
    expect(readFileSync(join(root, 'a'), 'utf8')).to.equal('3');
    expect(existsSync(join(root, 'gone'))).to.equal(false);
    const generations = readdirSync(root).filter((e) => e.startsWith('..') && e !== '..data');
    expect(generations).to.have.length(2);
  });

  it('leaves files it did not create alone, and says so when removing the directory', async function () {
    await writeVolumeFiles(root, files({ a: '1' }));
    writeFileSync(join(root, 'foreign'), 'not ours');
    await writeVolumeFiles(root, files({ b: '1' }));
    expect(readFileSync(join(root, 'foreign'), 'utf8')).to.equal('not ours');
    let error: unknown;
    await removeVolumeFiles(root).catch((err: unknown) => (error = err));
    expect((error as NodeJS.ErrnoException).code).to.equal('ENOTEMPTY');
    expect(readdirSync(root)).to.deep.equal(['foreign']);
  });

  it('removeVolumeFiles removes everything it wrote and the directory; a missing one is fine', async function () {
    const dir = join(root, 'vol');
    mkdirSync(dir);
    await writeVolumeFiles(dir, files({ a: '1' }));
    await writeVolumeFiles(dir, files({ a: '2' }));
    await removeVolumeFiles(dir);
    expect(existsSync(dir)).to.equal(false);
    await removeVolumeFiles(dir);
  });

  it('refuses names that could escape or collide with its own', async function () {
    for (const name of ['..data', '../x', 'a/b', '', '.', '..hidden', 'sp ace']) {
      expect(isValidFileName(name), name).to.equal(false);
      let error: unknown;
      await writeVolumeFiles(root, files({ [name]: 'x' })).catch((err: unknown) => (error = err));
      expect(error, name).to.be.instanceOf(Error);
    }
    for (const name of ['.gitconfig', 'config.json', 'settings.xml', 'context.proxy.caCert', 'a_b-c']) {
      expect(isValidFileName(name), name).to.equal(true);
    }
  });

  it('a reader never sees a half-written file while generations switch', async function () {
    this.timeout(30_000);
    const big = (c: string): string => c.repeat(256 * 1024);
    const versions = new Set([big('a'), big('b')]);
    await writeVolumeFiles(root, files({ token: big('a') }));
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        const text = await readFile(join(root, 'token'), 'utf8');
        expect(versions.has(text), `read ${text.length} bytes of a partial file`).to.equal(true);
        reads++;
      }
    })();
    for (let i = 0; i < 100; i++) await writeVolumeFiles(root, files({ token: big(i % 2 ? 'a' : 'b') }));
    reading = false;
    await reader;
    expect(reads).to.be.greaterThan(0);
  });
});

describe('csi/medium', function () {
  it('parses /proc/self/mountinfo, octal escapes and optional fields included', function () {
    const text = [
      '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '42 27 0:39 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/v/mount rw,relatime - tmpfs connectors-csi rw,size=4096k,mode=755',
      'garbage',
    ].join('\n');
    expect(parseMountInfo(text)).to.deep.equal([
      { mountPoint: '/mnt/with space', fsType: 'ext3', source: '/dev/root' },
      {
        mountPoint: '/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/v/mount',
        fsType: 'tmpfs',
        source: 'connectors-csi',
      },
    ]);
  });

  it('directory: published once ..data exists; tearDown removes the target', async function () {
    const root = mkdtempSync(join(tmpdir(), 'csi-medium-'));
    const target = join(root, 'mount');
    const medium = new DirectoryMedium();
    expect(await medium.isPublished(target)).to.equal(false);
    await medium.setUp(target);
    expect(statSync(target).mode & 0o777).to.equal(0o755);
    await writeVolumeFiles(target, files({ a: '1' }));
    expect(await medium.isPublished(target)).to.equal(true);
    await medium.tearDown(target);
    expect(existsSync(target)).to.equal(false);
    rmSync(root, { recursive: true, force: true });
  });

  it('tmpfs (root only): a real tmpfs at target, readable by a non-root user, gone after tearDown', async function () {
    if (process.getuid?.() !== 0) skipBecause(this, 'mounting a tmpfs needs root');
    const root = mkdtempSync(join(tmpdir(), 'csi-medium-'));
    execFileSync('chmod', ['0755', root]);
    const target = join(root, 'mount');
    const medium = new TmpfsMedium('1m');
    try {
      await medium.setUp(target);
      expect(await medium.isPublished(target)).to.equal(true);
      const mount = parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).find(
        (m) => m.mountPoint === target,
      );
      expect(mount).to.deep.include({ fsType: 'tmpfs', source: 'connectors-csi' });
      await writeVolumeFiles(target, files({ 'context.token': 'tok' }));
      // What a container running as nobody (65534) reads through the volume.
      const read = await new Promise<string>((resolve, reject) => {
        const cat = spawn('cat', [join(target, 'context.token')], { uid: 65534, gid: 65534 });
        let out = '';
        cat.stdout.on('data', (c: Buffer) => (out += c.toString()));
        cat.on('error', reject);
        cat.on('close', (code) => {
          if (code === 0) resolve(out);
          else reject(new Error(`cat exited ${String(code)}`));
        });
      });
      expect(read).to.equal('tok');
      await medium.tearDown(target);
      expect(await medium.isPublished(target)).to.equal(false);
      expect(existsSync(target)).to.equal(false);
    } finally {
      if (await medium.isPublished(target)) execFileSync('umount', [target]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
