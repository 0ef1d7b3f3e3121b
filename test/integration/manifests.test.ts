// The shipped manifests are valid for a real kube-apiserver, and upstream's example objects apply
// unchanged to our CRDs (field compatibility with the published Connectors API).

import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../hack/binaries.js';
import { kubectl, kubectlOk, namespace } from '../helpers/env.js';

describe('manifests', function () {
  it('kubectl apply -k manifests/ is accepted by the API server (server-side dry run)', async function () {
    // A dry run creates no namespace, so objects in one the manifests create would be NotFound; the
    // csi tests create connectors-csi, but this must not depend on running after them.
    await kubectl(['create', 'namespace', 'connectors-csi']);
    const r = await kubectl(['apply', '-k', join(repoRoot(), 'manifests'), '--dry-run=server']);
    expect(r.code, r.stderr).to.equal(0);
    for (const kind of [
      'apiservice.apiregistration.k8s.io',
      'deployment.apps',
      'service/connectors-apiserver',
      'csidriver.storage.k8s.io/connectors-csi',
      'daemonset.apps/connectors-csi',
      'validatingwebhookconfiguration.admissionregistration.k8s.io/connectors-validation',
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/connectors-admission',
    ]) {
      expect(r.stdout).to.contain(kind);
    }
  });

  it('upstream’s example Connector and ConnectorClass apply unchanged', async function () {
    await kubectlOk(['create', 'namespace', 'default']).catch(() => undefined);
    const r = await kubectl(['apply', '-f', join(repoRoot(), 'test', 'fixtures', 'upstream-examples.yaml')]);
    expect(r.code, r.stderr).to.equal(0);
    const cls = JSON.parse(await kubectlOk(['get', 'connectorclass', 'git', '-o', 'json'])) as {
      spec: { authProbes: { probe: { http: { path: string } } }[] };
    };
    expect(cls.spec.authProbes[0]?.probe.http.path).to.contain('info/refs?service=git-upload-pack');
    const c = JSON.parse(
      await kubectlOk(['get', 'connector', 'git-github', '-n', 'default', '-o', 'json']),
    ) as {
      spec: { auth: { params: { name: string; value: string }[] } };
    };
    expect(c.spec.auth.params[0]).to.deep.equal({ name: 'repository', value: 'org/repo.git' });
  });

  it('printer columns show Class and Address', async function () {
    // Its own objects, whichever tests ran before it: upstream's example, as the test above applies it.
    await kubectlOk(['apply', '-f', join(repoRoot(), 'test', 'fixtures', 'upstream-examples.yaml')]);
    const out = await kubectlOk(['get', 'connectors', '-n', 'default']);
    expect(out).to.match(/NAME\s+CLASS\s+ADDRESS\s+READY\s+REASON\s+AGE/);
    expect(out).to.match(/git-github\s+git\s+https:\/\/github\.com/);
  });

  it('the CRD schema rejects what can never work', async function () {
    const ns = await namespace('schema');
    const bad = {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'bad', namespace: ns },
      spec: { connectorClassName: 'git', address: 'ftp://example.com' },
    };
    const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('spec.address');
  });
});
