// The README's "the RBAC a user needs" commands, run as written (the blocks bind-view, can-i-list
// and access-review, with the example's namespace replaced by this test's), must agree with what
// the caller really gets through kube-apiserver. The command the README used to give
// (`kubectl auth can-i get connectors --subresource=proxy`) is shown to say "no" even to a caller
// who can read, which is why it is gone.

import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { resolveBinaries } from '../../hack/binaries.js';
import { allDocBlocks, docBlock } from '../helpers/docs.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  kubectl,
  kubectlOk,
  kubeRequest,
  namespace,
  proxyPath,
} from '../helpers/env.js';

const run = promisify(execFile);

/** A documented shell block, by its id. */
function readmeBlock(id: string): string {
  return docBlock(id).text;
}

describe('README: checking what a caller may do through a Connector', function () {
  let ns: string;
  let token: string;
  let shell: (script: string) => Promise<string>;

  before(async function () {
    ns = await namespace('rbaccheck');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'tool-creds', toolUser, toolPassword),
      connector(ns, 'gitlab', { address: `${tool.url}/base`, secret: 'tool-creds' }),
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci', namespace: ns } },
    ]);
    // The README's binding, verbatim but for the namespace.
    await kubectlOk(
      readmeBlock('bind-view')
        .trim()
        .replace(/^kubectl /, '')
        .replaceAll('team-a', ns)
        .split(/\s+/),
    );
    token = await env().sys.cp.createToken(ns, 'ci');
    const kubectlDir = dirname((await resolveBinaries()).kubectl);
    shell = async (script) => {
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script.replaceAll('team-a', ns)], {
        env: {
          ...process.env,
          PATH: `${kubectlDir}:${process.env.PATH ?? ''}`,
          KUBECONFIG: env().sys.cp.kubeconfigPath,
        },
      });
      return stdout;
    };
  });

  it('kubectl auth can-i --list shows the verbs the caller really has on connectors/proxy', async function () {
    const out = await shell(readmeBlock('can-i-list'));
    const line = out
      .split('\n')
      .find((l) => l.startsWith('connectors.subresources.connectors.alauda.io/proxy'));
    expect(line, out).to.match(/\[get\]\s*$/);
    expect(out).not.to.match(/create/);
    const read = await kubeRequest(proxyPath(ns, 'gitlab', '/x'), { token });
    expect(read.status).to.equal(200);
  });

  it('the SubjectAccessReview answers as the real request is answered, per method', async function () {
    const review = readmeBlock('access-review');
    for (const [method, verb] of [
      ['GET', 'get'],
      ['POST', 'create'],
      ['DELETE', 'delete'],
    ] as const) {
      const allowed = (await shell(review.replace('verb: create', `verb: ${verb}`))).trim();
      const real = await kubeRequest(proxyPath(ns, 'gitlab', '/x'), { token, method });
      expect(allowed, `${method}: review said ${allowed}, the request got ${real.status}`).to.equal(
        real.status === 403 ? 'false' : 'true',
      );
    }
  });

  it('the old command says "no" even to a caller who can read, so the README no longer gives it', async function () {
    const r = await kubectl([
      'auth',
      'can-i',
      'get',
      'connectors',
      '--subresource=proxy',
      '-n',
      ns,
      `--as=system:serviceaccount:${ns}:ci`,
    ]);
    expect(r.stdout.trim()).to.equal('no');
    for (const b of allDocBlocks()) {
      expect(b.text, `${b.doc}:${b.line}`).not.to.match(
        /^kubectl auth can-i get connectors --subresource=proxy/m,
      );
    }
  });
});
