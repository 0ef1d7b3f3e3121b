// The install overlay of docs/install.md ("Your registry or kubelet path"), taken from the page
// itself (the block marked install-overlay): with its `resources` line pointed at this checkout's manifests/, `kubectl kustomize` must
// move every image to the new registry and every kubelet path of the CSI DaemonSet to the new
// root — the host paths, the pods mount and the registration path kubelet is told — and nothing
// else. A manifest change that shifts an index the overlay patches fails here.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import yaml from 'js-yaml';
import { repoRoot } from '../../hack/binaries.js';
import { docBlock } from '../helpers/docs.js';
import { kubectl } from '../helpers/env.js';

interface Obj {
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: {
      spec: {
        containers: {
          image: string;
          command?: string[];
          volumeMounts?: { name: string; mountPath: string }[];
        }[];
        volumes?: { name: string; hostPath?: { path: string } }[];
      };
    };
  };
}

async function render(dir: string): Promise<Obj[]> {
  const r = await kubectl(['kustomize', dir]);
  expect(r.code, r.stderr).to.equal(0);
  return yaml.loadAll(r.stdout) as Obj[];
}

describe('install: the documented overlay for another registry and kubelet root', function () {
  let dir: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'overlay-'));
    // kustomize takes only relative paths to a local base.
    const base = relative(dir, join(repoRoot(), 'manifests'));
    const overlay = docBlock('install-overlay').text.replace(/^ {2}- https:\/\/\S+.*$/m, `  - ${base}`);
    expect(overlay).to.contain(`  - ${base}\n`);
    writeFileSync(join(dir, 'kustomization.yaml'), overlay);
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves every image and every kubelet path, and changes nothing else', async function () {
    const base = await render(join(repoRoot(), 'manifests'));
    const changed = await render(dir);
    expect(changed.map((o) => `${o.kind}/${o.metadata.name}`)).to.have.members(
      base.map((o) => `${o.kind}/${o.metadata.name}`),
    );
    const images = changed.flatMap((o) => o.spec?.template?.spec.containers.map((c) => c.image) ?? []);
    expect(images).to.have.length.greaterThan(4);
    expect(new Set(images)).to.deep.equal(new Set(['registry.example.com/connectors/connectors:0.1.0']));

    const ds = changed.find((o) => o.kind === 'DaemonSet')?.spec?.template?.spec;
    expect(ds).to.not.equal(undefined);
    const paths = JSON.stringify([
      ds?.volumes?.map((v) => v.hostPath?.path),
      ds?.containers[0]?.volumeMounts,
      ds?.containers[0]?.command,
    ]);
    expect(paths).to.not.contain('/var/lib/kubelet');
    expect(ds?.volumes?.map((v) => [v.name, v.hostPath?.path])).to.deep.equal([
      ['plugin-dir', '/var/lib/k0s/kubelet/plugins/connectors-csi'],
      ['registration-dir', '/var/lib/k0s/kubelet/plugins_registry'],
      ['pods-dir', '/var/lib/k0s/kubelet/pods'],
    ]);
    expect(ds?.containers[0]?.volumeMounts?.find((m) => m.name === 'pods-dir')?.mountPath).to.equal(
      '/var/lib/k0s/kubelet/pods',
    );
    expect(ds?.containers[0]?.command).to.include(
      '--kubelet-registration-path=/var/lib/k0s/kubelet/plugins/connectors-csi/csi.sock',
    );

    // Apart from images and those paths, the objects are the base's.
    const normalize = (objs: Obj[]): string =>
      JSON.stringify(objs)
        .replaceAll('registry.example.com/connectors/connectors', 'ghcr.io/connectors/connectors')
        .replaceAll('/var/lib/k0s/kubelet', '/var/lib/kubelet');
    const sort = (objs: Obj[]): Obj[] =>
      [...objs].sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
    expect(normalize(sort(changed))).to.equal(normalize(sort(base)));
  });
});
