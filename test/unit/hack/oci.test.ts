// hack/oci.ts writes the image archives the test cluster imports; GNU tar and the archive's own
// reader must both see what was written.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  CONTAINERD_NAME_ANNOTATION,
  OCI_REF_NAME_ANNOTATION,
  readOciIndex,
  readTarMember,
  tar,
  writeOciArchive,
} from '../../../hack/oci.js';

describe('hack/oci', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'oci-test-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a ustar archive that GNU tar lists with modes, symlinks and long paths', function () {
    const long = `${'d'.repeat(120)}/file`;
    const path = join(dir, 'a.tar');
    writeFileSync(
      path,
      tar([
        { path: 'bin', type: 'dir' },
        { path: 'bin/busybox', type: 'file', mode: 0o755, content: Buffer.from('x'.repeat(1000)) },
        { path: 'bin/sh', type: 'symlink', target: 'busybox' },
        { path: 'tmp', type: 'dir', mode: 0o1777 },
        { path: long, type: 'file', mode: 0o644, content: Buffer.from('long') },
      ]),
    );
    const listing = execFileSync('tar', ['-tvf', path], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/)[0])).to.deep.equal([
      'drwxr-xr-x',
      '-rwxr-xr-x',
      'lrwxrwxrwx',
      'drwxrwxrwt',
      '-rw-r--r--',
    ]);
    expect(listing[1]).to.match(/root\/root\s+1000 .* bin\/busybox$/);
    expect(listing[2]).to.match(/bin\/sh -> busybox$/);
    expect(listing[4]).to.match(new RegExp(`${long}$`));
    expect(execFileSync('tar', ['-xOf', path, long], { encoding: 'utf8' })).to.equal('long');
  });

  it('writes an OCI image archive whose index names the image for containerd and for OCI tools', async function () {
    const path = join(dir, 'image.tar');
    await writeOciArchive(path, {
      name: 'localhost/test/image:1',
      layers: [[{ path: 'hello', type: 'file', content: Buffer.from('hi') }]],
      config: { Entrypoint: ['/hello'] },
    });
    const names = execFileSync('tar', ['-tf', path], { encoding: 'utf8' }).trim().split('\n');
    expect(names.slice(0, 4)).to.deep.equal(['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']);
    const [manifest] = await readOciIndex(path);
    expect(manifest?.annotations).to.deep.equal({
      [CONTAINERD_NAME_ANNOTATION]: 'localhost/test/image:1',
      [OCI_REF_NAME_ANNOTATION]: 'localhost/test/image:1',
    });
    // Every blob is where its digest says, and the layer unpacks to the file.
    const blob = async (digest: string): Promise<Buffer> => {
      const data = await readTarMember(path, (n) => n === `blobs/sha256/${digest.slice(7)}`);
      if (!data) throw new Error(`missing blob ${digest}`);
      return data;
    };
    const parsed = JSON.parse((await blob(manifest?.digest ?? '')).toString()) as {
      config: { digest: string };
      layers: { digest: string }[];
    };
    const config = JSON.parse((await blob(parsed.config.digest)).toString()) as {
      config: { Entrypoint: string[] };
    };
    expect(config.config.Entrypoint).to.deep.equal(['/hello']);
    const layer = join(dir, 'layer.tar');
    writeFileSync(layer, gunzipSync(await blob(parsed.layers[0]?.digest ?? '')));
    expect(execFileSync('tar', ['-xOf', layer, 'hello'], { encoding: 'utf8' })).to.equal('hi');
  });

  it('reads a member behind pax headers, as Go archive/tar writes them', async function () {
    const path = join(dir, 'pax.tar');
    const src = join(dir, 'src');
    execFileSync('mkdir', ['-p', join(src, 'x'.repeat(150))]);
    writeFileSync(join(src, 'x'.repeat(150), 'index.json'), '{"manifests":[]}');
    execFileSync('tar', ['--format=pax', '-cf', path, '-C', src, '.']);
    const data = await readTarMember(path, (n) => n === `${'x'.repeat(150)}/index.json`);
    expect(data?.toString()).to.equal('{"manifests":[]}');
  });
});
