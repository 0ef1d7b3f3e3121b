// The image cluster tests run the tools' real clients in (hack/client-image.sh, buildClientImage()),
// checked without a cluster: built or reused, then run with buildah as a Pod runs it. Every client
// starts as the image's non-root user; as a user with no passwd entry whose HOME is a read-only
// directory mounted in (as a connectors-csi volume is), git, npm, skopeo, curl and kubectl take
// their configuration and credentials from there and reach this suite's real servers on loopback
// (git http-backend, an npm repository, docker-registry, kube-apiserver); kubectl is the cluster's
// own build; the image keeps no apt sources or lists and names none of the host's Debian mirrors;
// and a second build with the same inputs is a cache hit.
//
// Needs root and buildah (hack/test-tools.sh installs it). A cold first run builds the Node.js base
// and the image (several minutes); later runs reuse the archive.

import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { resolveBinaries } from '../../hack/binaries.js';
import { buildClientImage, type BuiltImage } from '../../hack/images.js';
import { ManagedProcess, type RunResult } from '../../hack/process.js';
import { findBinary, startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { startPackageRepository, type PackageRepository } from '../../hack/tools/package-repository.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import { env, secretValue } from '../helpers/env.js';

/** Where HOME is mounted in the container, as a CSI volume would be. */
const HOME = '/connector';
/** A non-root user (and group) the image has no passwd entry for: no client may need one. */
const STRANGER = 65532;

function ok(r: RunResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code ?? r.signal}:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

function basic(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

/** The host names of every apt source on this machine, read now and never written anywhere. */
function hostMirrorHosts(): string[] {
  const files = ['/etc/apt/sources.list'];
  if (existsSync('/etc/apt/sources.list.d'))
    files.push(...readdirSync('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f)));
  const hosts = new Set<string>();
  for (const file of files.filter((f) => existsSync(f) && statSync(f).isFile())) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\b(?:https?|ftp):\/\/([^/\s\]]+)/g)) {
      if (m[1]) hosts.add(m[1]);
    }
  }
  return [...hosts];
}

describe('the clients image (hack/client-image.sh)', function () {
  this.timeout(30 * 60_000); // a cold run builds the Node.js base and the image
  let buildah = '';
  let image: BuiltImage;
  let container = '';
  let imageId = '';
  let home = '';
  let git: GitServer | undefined;
  let packages: PackageRepository | undefined;
  let registry: Registry | undefined;
  const username = 'deployer';
  const password = secretValue('client-image-password');

  /**
   * Runs `script` with sh in the image. `as: 'pod'`: as a user with no passwd entry, HOME the
   * read-only directory `home`, the caches a Pod would put on an emptyDir in /tmp, and this
   * machine's network (the servers listen on its loopback). Otherwise: as the image's user, with no
   * network.
   */
  async function inImage(script: string, as: 'image' | 'pod' = 'image'): Promise<RunResult> {
    const podEnv = [
      `HOME=${HOME}`,
      'GIT_TERMINAL_PROMPT=0',
      'npm_config_cache=/tmp/npm',
      'npm_config_update_notifier=false',
      'KUBECACHEDIR=/tmp/kube',
    ];
    const args =
      as === 'image'
        ? ['--network', 'none']
        : [
            ...['--network', 'host', '--user', `${STRANGER}:${STRANGER}`],
            ...['--volume', `${home}:${HOME}:ro`],
            ...podEnv.flatMap((e) => ['--env', e]),
          ];
    return ManagedProcess.run(buildah, ['run', ...args, container, '--', 'sh', '-euc', script], {
      name: `buildah run sh -c ${script.trim().split('\n')[0] ?? ''}`,
    });
  }

  before(async function () {
    if (process.getuid?.() !== 0)
      throw new Error('the clients image needs root (buildah storage, debootstrap)');
    buildah = findBinary('buildah', 'buildah');
    image = await buildClientImage();
    container = ok(
      await ManagedProcess.run(buildah, ['from', '--quiet', `oci-archive:${image.archive}`], {
        timeoutMs: 300_000,
      }),
      'buildah from',
    ).trim();
    imageId = ok(
      await ManagedProcess.run(buildah, ['inspect', '--format', '{{.FromImageID}}', container]),
      'buildah inspect',
    ).trim();
    // The Pod's user may read it, as a connectors-csi volume; no one else.
    home = mkdtempSync(join(tmpdir(), 'connectors-client-home-'));
    chownSync(home, STRANGER, STRANGER);
  });

  after(async function () {
    await Promise.all([git?.stop(), packages?.stop(), registry?.stop()]);
    if (container) await ManagedProcess.run(buildah, ['rm', container]);
    // The archive is what callers use; the copy `buildah from` made is not kept.
    if (imageId) await ManagedProcess.run(buildah, ['rmi', imageId]);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('names localhost/connectors/clients:1 and is reused while its inputs are unchanged', async function () {
    expect(image.name).to.equal('localhost/connectors/clients:1');
    const before = statSync(image.archive).mtimeMs;
    const again = await buildClientImage();
    expect(again).to.deep.equal(image);
    expect(statSync(image.archive).mtimeMs, 'the archive was rewritten').to.equal(before);
  });

  it('runs every client as the non-root user 1000:1000 by default', async function () {
    const out = ok(
      await inImage(`
        id -u; id -g
        git --version
        skopeo --version
        node --version
        npm --version
        curl --version
        mysql --version
        kubectl version --client
        sha256sum /usr/local/bin/kubectl
      `),
      'the clients',
    );
    const { kubectl } = await resolveBinaries();
    const kubectlSum = createHash('sha256').update(readFileSync(kubectl)).digest('hex');
    expect(out).to.match(/^1000\n1000\n/);
    expect(out).to.match(/^git version 2\./m);
    expect(out).to.match(/^skopeo version 1\./m);
    expect(out).to.match(/^v24\./m);
    expect(out).to.match(/^\d+\.\d+\.\d+$/m); // npm
    expect(out).to.match(/^curl \d/m);
    expect(out).to.match(/^mysql .*MariaDB/m);
    // The cluster's kubectl, byte for byte.
    expect(out).to.match(/^Client Version: v1\.34\./m);
    expect(out).to.contain(`${kubectlSum}  /usr/local/bin/kubectl`);
  });

  it('keeps no apt sources, lists or caches, and names none of the host’s Debian mirrors', async function () {
    const hosts = hostMirrorHosts();
    expect(hosts, 'this machine has no apt sources to check against').not.to.deep.equal([]);
    const out = ok(
      await inImage(`
        test ! -e /etc/apt/sources.list
        ls -A /etc/apt/sources.list.d /var/lib/apt/lists /var/cache/apt
        # Only the names of the files that name a host: the host names go into no log.
        grep -rIlF ${hosts.map((h) => `-e '${h}'`).join(' ')} /etc /var /home /root || true
      `),
      'the apt check',
    );
    expect(out.split('\n').filter((l) => l !== '' && !l.endsWith(':'))).to.deep.equal([]);
  });

  describe('as a Pod with HOME a read-only volume, against this machine’s servers', function () {
    before(async function () {
      // getent's "not found": the image really has no passwd entry for the Pod's user.
      expect((await inImage(`getent passwd ${STRANGER}`)).code).to.equal(2);
      const logDir = env().sys.logDir;
      [git, packages, registry] = await Promise.all([
        startGitServer({ username, password, logDir }),
        startPackageRepository({ username, password }),
        startRegistry({ auth: 'htpasswd', username, password, logDir }),
      ]);
      await Promise.all([
        git.createRepo('org/repo.git', { branches: ['main'], tags: ['v1'] }),
        packages.addNpmPackage('connectors-demo', '1.0.0'),
      ]);
      const auth = basic(username, password);
      // What a connectors-csi volume holds for each client, with the tool's own credentials here.
      const files: Record<string, string> = {
        '.gitconfig': `[http "${git.url}/"]\n\textraHeader = Authorization: Basic ${auth}\n`,
        'ca.crt': packages.caCertPem,
        '.npmrc': [
          `registry=${packages.npmRegistry}`,
          `${packages.npmRegistry.replace(/^https:/, '')}:_auth=${auth}`,
          `cafile=${HOME}/ca.crt`,
          '',
        ].join('\n'),
        '.netrc': `machine localhost login ${username} password ${password}\n`,
        '.docker/config.json': JSON.stringify({ auths: { [registry.host]: { auth } } }),
        '.kube/config': readFileSync(env().sys.cp.kubeconfigPath, 'utf8'),
      };
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(home, path)), { recursive: true });
        writeFileSync(join(home, path), content);
      }
    });

    it('git ls-remote with the credentials of $HOME/.gitconfig', async function () {
      const out = ok(await inImage(`git ls-remote ${git?.url}/org/repo.git`, 'pod'), 'git ls-remote');
      const [main] = (await git?.lsRemote('org/repo.git', 'heads')) ?? [];
      expect(main?.name).to.equal('main');
      expect(out).to.contain(`${main?.commitID}\trefs/heads/main`);
      expect(out).to.match(/\trefs\/tags\/v1$/m);
    });

    it('npm view from the private registry $HOME/.npmrc names, trusting the CA it names', async function () {
      const out = ok(await inImage('npm view connectors-demo version', 'pod'), 'npm view');
      expect(out.trim()).to.equal('1.0.0');
      expect(packages?.requests.filter((r) => r.user === username && r.status === 200)).not.to.deep.equal([]);
    });

    it('curl with the credentials of $HOME/.netrc', async function () {
      const port = new URL(packages?.url ?? '').port;
      const url = `https://localhost:${port}/npm/connectors-demo`;
      const out = ok(await inImage(`curl -sSf --netrc --cacert ${HOME}/ca.crt ${url}`, 'pod'), 'curl');
      expect((JSON.parse(out) as { name: string }).name).to.equal('connectors-demo');
    });

    it('skopeo inspect of a private image with the credentials of $HOME/.docker/config.json', async function () {
      const digest = await registry?.push('team/app', '1.0');
      const ref = `docker://${registry?.host}/team/app:1.0`;
      const out = ok(await inImage(`skopeo inspect --tls-verify=false ${ref}`, 'pod'), 'skopeo inspect');
      expect((JSON.parse(out) as { Digest: string }).Digest).to.equal(digest);
    });

    it('kubectl with $HOME/.kube/config', async function () {
      const out = ok(await inImage('kubectl get namespace default -o name', 'pod'), 'kubectl get');
      expect(out.trim()).to.equal('namespace/default');
    });
  });
});
