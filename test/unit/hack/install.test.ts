// The install the documentation gives is the install the cluster suite runs: hack/install.ts runs
// installSteps (kustomize and Helm, with hack/certificates.sh or cert-manager) and uninstallSteps
// against a real kubelet, and these tests hold the documented blocks to those lists, command for
// command. Only the `--timeout=` flags the suite adds are left out of the documentation.

import { expect } from 'chai';
import { apiServiceName, installSteps, uninstallSteps } from '../../../hack/install.js';
import { docBlock, shellCommands } from '../../helpers/docs.js';

const withoutTimeouts = (command: string): string => command.replace(/ --timeout=\d+s/g, '');

/** The commands of a documented block, `a && b` as two. */
function documented(id: string): string[] {
  return shellCommands(docBlock(id).text).flatMap((c) => c.split(' && '));
}

describe('hack/install.ts: the documented install, step by step', function () {
  it('the kustomize install of the README, hack/certificates.sh issuing the certificates', function () {
    expect(documented('install-kustomize')).to.deep.equal(
      installSteps({ method: 'kustomize' }).map((s) => withoutTimeouts(s.shown)),
    );
  });

  it('with cert-manager, its kustomization takes the place of hack/certificates.sh', function () {
    const block = docBlock('install-kustomize').text;
    const steps = installSteps({ method: 'kustomize', certificates: 'cert-manager' }).map((s) => s.shown);
    expect(steps).to.include('kubectl apply -k manifests/cert-manager/');
    expect(steps).not.to.include('hack/certificates.sh');
    expect(block).to.match(
      /^hack\/certificates\.sh +# without cert-manager; with it: kubectl apply -k manifests\/cert-manager\/$/m,
    );
  });

  it('the Helm install of docs/install.md', function () {
    expect(documented('install-helm')).to.deep.equal(
      installSteps({ method: 'helm' }).map((s) => withoutTimeouts(s.shown)),
    );
  });

  it('the uninstall of docs/install.md', function () {
    expect(documented('uninstall')).to.deep.equal(uninstallSteps.map((args) => `kubectl ${args.join(' ')}`));
    expect(uninstallSteps.at(-1)).to.include(apiServiceName);
  });

  it('every step waits at most the timeout it is given', function () {
    const steps = installSteps({ method: 'kustomize', timeoutSeconds: 42 });
    const waits = steps.filter((s) => s.args.includes('wait') || s.args.includes('rollout'));
    expect(waits).to.have.length(8);
    for (const s of waits) expect(s.args, s.shown).to.include('--timeout=42s');
  });
});
