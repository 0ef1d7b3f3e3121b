// One version per release: the package, its lock file, the Helm chart (version and appVersion), the
// image tag the manifests and the chart install, and the top entry of CHANGELOG.md must all name
// the same version, or a user would install an image other than the one the notes describe.
// hack/set-version.sh <x.y.z> changes all of them at once.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { load } from 'js-yaml';
import { repoRoot } from '../../hack/binaries.js';

const IMAGE = 'ghcr.io/connectors/connectors';
const FIX = 'run hack/set-version.sh <version> to set every one of them';

function read(path: string): string {
  return readFileSync(join(repoRoot(), path), 'utf8');
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Every place that carries the version, as [where, version found]. */
function carriedVersions(): [string, string][] {
  const found: [string, string][] = [];
  const pkg = JSON.parse(read('package.json')) as { version: string };
  found.push(['package.json version', pkg.version]);

  const lock = JSON.parse(read('package-lock.json')) as {
    version: string;
    packages: Record<string, { version?: string }>;
  };
  found.push(['package-lock.json version', lock.version]);
  found.push(['package-lock.json packages[""].version', lock.packages['']?.version ?? '(none)']);

  const chart = load(read('charts/connectors/Chart.yaml')) as { version: string; appVersion: string };
  found.push(['charts/connectors/Chart.yaml version', chart.version]);
  found.push(['charts/connectors/Chart.yaml appVersion', chart.appVersion]);

  // '' means "the chart's appVersion", which is checked above; a pinned tag must be the release's.
  const values = load(read('charts/connectors/values.yaml')) as { image: { tag: string } };
  if (values.image.tag !== '') found.push(['charts/connectors/values.yaml image.tag', values.image.tag]);

  const root = repoRoot();
  for (const file of yamlFiles(join(root, 'manifests'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/^\s*(?:-\s+)?image:\s*['"]?([^\s'"]+)/gm)) {
      const image = match[1] ?? '';
      if (!image.startsWith(`${IMAGE}:`) && image !== IMAGE) continue;
      // Without a tag (or with :latest) the manifests would not name the release's image at all.
      found.push([`${relative(root, file)} image`, image.slice(IMAGE.length + 1) || '(no tag)']);
    }
  }

  const top = /^## \[(\d[^\]]*)\]/m.exec(read('CHANGELOG.md'));
  found.push(['CHANGELOG.md top entry', top?.[1] ?? '(none)']);
  return found;
}

describe('release: one version everywhere', () => {
  it('every place that carries the version names the same one', () => {
    const found = carriedVersions();
    const expected = found[0]?.[1];
    const wrong = found.filter(([, version]) => version !== expected);
    expect(
      wrong.map(([where, version]) => `${where}: ${version}`),
      `package.json says ${expected ?? '?'}; ${FIX}`,
    ).to.deep.equal([]);
  });

  it('finds the image of every component in the manifests', () => {
    // Guards the check itself: were the image lines not found, the test above would pass vacuously.
    const images = carriedVersions().filter(([where]) => where.endsWith(' image'));
    expect(images.map(([where]) => where.split('/')[1])).to.include.members([
      'apiserver',
      'classapi',
      'connproxy',
      'controller',
      'csi',
    ]);
  });

  it('the version is semantic and the CHANGELOG entry is dated', () => {
    const pkg = JSON.parse(read('package.json')) as { version: string };
    expect(pkg.version).to.match(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    const heading = new RegExp(`^## \\[${pkg.version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm');
    expect(read('CHANGELOG.md')).to.match(heading);
  });
});
