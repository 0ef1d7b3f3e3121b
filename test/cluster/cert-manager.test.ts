// The other certificates path of docs/install.md in a real cluster: with cert-manager running,
// `kubectl apply -k manifests/` then `kubectl apply -k manifests/cert-manager/` (hack/install.ts
// with certificates 'cert-manager') in place of hack/certificates.sh. cert-manager's controller
// issues the four Secrets and its cainjector fills the caBundle of the APIService and both webhook
// configurations; the proof is that the aggregated API answers and a Connector write passes both
// webhooks (failurePolicy Fail: a wrong caBundle refuses it with x509). It uninstalls everything it
// installed, cert-manager included, so that install.test.ts (which mocha runs after this file)
// starts from a clean cluster.

import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot, resolveBinaries } from '../../hack/binaries.js';
import { startCertManager, type CertManager } from '../../hack/certmanager.js';
import { buildImage } from '../../hack/clusterdemo.js';
import { apiServiceName, csiNamespace, installConnectors, systemNamespace } from '../../hack/install.js';
import { cluster, kubectlOk, namespaceWithConnector } from './fixture.js';

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectlOk(['get', ...args, '-o', 'json'])) as T;
}

async function waitGone(args: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await cluster().kubectl(['get', ...args])).code === 0) {
    if (Date.now() > deadline) throw new Error(`${args.join(' ')} still exists after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

interface Secret {
  metadata: { annotations?: Record<string, string> };
  data: Record<string, string>;
}

const issuedSecrets = [
  'connectors-apiserver-tls',
  'connectors-classapi-tls',
  'connectors-classapi-client',
  'connectors-proxy-ca',
];

describe('install with cert-manager in the real cluster', function () {
  this.timeout(15 * 60_000);
  let certManager: CertManager | undefined;
  let installed = false;

  before(async function () {
    const t0 = performance.now();
    certManager = await startCertManager(cluster());
    console.log(`      cert-manager running in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const names = await cluster().importImage(await buildImage());
    console.log(`      imported ${names.join(', ')}`);
    installed = true;
    const install = await installConnectors(
      { kubeconfig: cluster().kubeconfig, kubectlBinary: (await resolveBinaries()).kubectl },
      {
        method: 'kustomize',
        certificates: 'cert-manager',
        log: (line) => {
          console.log(`      ${line}`);
        },
      },
    );
    console.log(`      installed in ${install.seconds.toFixed(1)} s`);
  });

  after(async function () {
    // The uninstall of docs/install.md, in reverse order, while cert-manager still runs; then cert-manager
    // and its CRDs. Each step runs even if one before it failed, so the cluster is left clean.
    const errors: string[] = [];
    const attempt = async (what: () => Promise<unknown>): Promise<void> => {
      try {
        await what();
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    };
    if (installed) {
      await attempt(() =>
        kubectlOk(['delete', '-k', join(repoRoot(), 'manifests', 'classes'), '--ignore-not-found']),
      );
      await attempt(() =>
        kubectlOk(['delete', '-k', join(repoRoot(), 'manifests', 'cert-manager'), '--ignore-not-found']),
      );
      await attempt(() =>
        kubectlOk([
          'delete',
          '-k',
          join(repoRoot(), 'manifests'),
          '--ignore-not-found',
          '--wait=true',
          '--timeout=180s',
        ]),
      );
      await attempt(() => kubectlOk(['delete', 'apiservice', apiServiceName, '--ignore-not-found']));
      for (const ns of [systemNamespace, csiNamespace])
        await attempt(() => waitGone(['namespace', ns], 180_000));
    }
    await attempt(() => certManager?.stop() ?? Promise.resolve());
    if (errors.length > 0) throw new Error(`uninstall failed:\n${errors.join('\n')}`);
  });

  it('cert-manager issued the four Secrets', async function () {
    for (const name of issuedSecrets) {
      const secret = await getJson<Secret>(['secret', name, '-n', systemNamespace]);
      expect(secret.metadata.annotations?.['cert-manager.io/certificate-name'], name).to.equal(name);
      expect(secret.data['tls.crt'], name).to.be.a('string');
      expect(secret.data['tls.key'], name).to.be.a('string');
    }
    const ready = await kubectlOk([
      'get',
      'certificates',
      '-n',
      systemNamespace,
      '-o',
      'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
    ]);
    for (const name of [...issuedSecrets, 'connectors-apiserver-ca'])
      expect(ready.split('\n'), 'every Certificate is Ready').to.include(`${name}=True`);
  });

  it('the cainjector put the CA of connectors-apiserver-tls into the APIService and both webhooks', async function () {
    const tls = await getJson<Secret>(['secret', 'connectors-apiserver-tls', '-n', systemNamespace]);
    const caPem = Buffer.from(tls.data['ca.crt'] ?? '', 'base64').toString('utf8');
    const ca = new X509Certificate(caPem);
    expect(ca.subject).to.contain('CN=connectors-apiserver-ca');
    expect(
      new X509Certificate(Buffer.from(tls.data['tls.crt'] ?? '', 'base64')).verify(ca.publicKey),
    ).to.equal(true);
    const bundles = async (): Promise<[string, string][]> => {
      const found: [string, string][] = [];
      const apiService = await getJson<{ spec: { caBundle?: string } }>(['apiservice', apiServiceName]);
      found.push([`apiservice/${apiServiceName}`, apiService.spec.caBundle ?? '']);
      for (const kind of [
        'validatingwebhookconfiguration/connectors-validation',
        'mutatingwebhookconfiguration/connectors-admission',
      ]) {
        const config = await getJson<{ webhooks: { name: string; clientConfig: { caBundle?: string } }[] }>([
          kind,
        ]);
        expect(config.webhooks.length, kind).to.be.greaterThan(0);
        for (const w of config.webhooks) found.push([`${kind} ${w.name}`, w.clientConfig.caBundle ?? '']);
      }
      return found.map(([where, b]) => [where, Buffer.from(b, 'base64').toString('utf8')]);
    };
    // The cainjector patches once the Secret exists, which may be after the rollouts are done.
    const t0 = performance.now();
    let found = await bundles();
    while (found.some(([, pem]) => pem !== caPem) && performance.now() - t0 < 60_000) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      found = await bundles();
    }
    console.log(
      `      caBundles: waited ${((performance.now() - t0) / 1000).toFixed(1)} s after the install`,
    );
    for (const [where, pem] of found) expect(pem, where).to.equal(caPem);
  });

  it('the aggregated API answers through the APIService', async function () {
    // The aggregator takes up a changed caBundle within moments, not at once.
    const deadline = Date.now() + 30_000;
    let r = await cluster().kubectl(['get', '--raw', '/apis/subresources.connectors.alauda.io/v1alpha1']);
    while (r.code !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      r = await cluster().kubectl(['get', '--raw', '/apis/subresources.connectors.alauda.io/v1alpha1']);
    }
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.include({
      kind: 'APIResourceList',
      groupVersion: 'subresources.connectors.alauda.io/v1alpha1',
    });
  });

  it('a Connector write passes both webhooks, and its namespace deletes to the end', async function () {
    const ns = 'cert-manager-check';
    await namespaceWithConnector(ns, {
      name: 'git',
      className: 'git',
      // The cluster's own bridge address: nothing listens on port 1, no packet leaves.
      address: `http://${cluster().network.gateway}:1/`,
      params: [{ name: 'repository', value: 'team/app' }],
    });
    expect(
      await kubectlOk(['get', 'connector', 'git', '-n', ns, '-o', 'jsonpath={.spec.connectorClassName}']),
    ).to.equal('git');
    await kubectlOk(['delete', 'namespace', ns, '--wait=true', '--timeout=120s']);
    await waitGone(['namespace', ns], 60_000);
  });
});
