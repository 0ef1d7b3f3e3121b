// Discovery and OpenAPI through kube-apiserver. Discovery never depends on a tool: it answers while
// a proxied request is stuck on a hanging tool.

import { expect } from 'chai';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  direct,
  env,
  frontProxyCert,
  gvPath,
  kubectl,
  kubectlOk,
  kubeRequest,
  namespace,
  proxyPath,
} from '../helpers/env.js';

const aggregatedAccept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

interface ResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}

describe('discovery and OpenAPI', function () {
  it('the APIService is Available=True', async function () {
    const out = await kubectlOk([
      'get',
      'apiservice',
      'v1alpha1.subresources.connectors.alauda.io',
      '-o',
      'json',
    ]);
    const conditions = (JSON.parse(out) as { status: { conditions: { type: string; status: string }[] } })
      .status.conditions;
    expect(conditions.find((c) => c.type === 'Available')?.status).to.equal('True');
  });

  it('the group version lists connectors/proxy with its verbs and kind, and nothing list-able', async function () {
    const list = JSON.parse(await kubectlOk(['get', '--raw', gvPath])) as ResourceList;
    expect(list.groupVersion).to.equal('subresources.connectors.alauda.io/v1alpha1');
    const proxy = list.resources.find((r) => r.name === 'connectors/proxy');
    expect(proxy).to.deep.include({ kind: 'ConnectorProxyOptions', namespaced: true });
    expect(proxy?.verbs).to.deep.equal(['create', 'delete', 'get', 'patch', 'update']);
    for (const r of list.resources) {
      expect(r.name).to.contain('/'); // subresources only: `kubectl get connectors` stays with the CRD
      expect(r.verbs).not.to.include('list');
      expect(r.verbs).not.to.include('deletecollection');
    }
  });

  it('kube-apiserver’s aggregated discovery carries connectors/proxy', async function () {
    const r = await kubeRequest('/apis', { headers: { accept: aggregatedAccept } });
    expect(r.status).to.equal(200);
    const doc = JSON.parse(r.body) as {
      items: {
        metadata: { name: string };
        versions: {
          version: string;
          freshness?: string;
          resources: { resource: string; subresources?: { subresource: string; verbs: string[] }[] }[];
        }[];
      }[];
    };
    const ours = doc.items.find((g) => g.metadata.name === 'subresources.connectors.alauda.io');
    const v = ours?.versions.find((x) => x.version === 'v1alpha1');
    expect(v?.freshness ?? 'Current').to.equal('Current');
    const subresources = v?.resources.find((x) => x.resource === 'connectors')?.subresources ?? [];
    expect(subresources.map((s) => s.subresource)).to.include('proxy');
  });

  it('kubectl api-resources and api-versions succeed with the group installed', async function () {
    // kubectl api-resources never prints subresources (client-go's ServerPreferredResources drops
    // every name with a '/'), so what matters is that discovery of our group does not fail it.
    const res = await kubectl(['api-resources']);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stderr).not.to.contain('unable to retrieve the complete list');
    expect(res.stdout).to.match(/^connectors\s+connectors\.alauda\.io\/v1alpha1\s+true\s+Connector/m);
    const versions = await kubectlOk(['api-versions']);
    expect(versions).to.contain('subresources.connectors.alauda.io/v1alpha1');
  });

  it('our /apis answers 406 to an aggregated-discovery-only Accept and JSON otherwise', async function () {
    const as = { cert: frontProxyCert(), headers: { 'x-remote-user': 'system:kube-aggregator' } };
    const only = await direct('/apis', { ...as, headers: { ...as.headers, accept: aggregatedAccept } });
    expect(only.status).to.equal(406);
    const both = await direct('/apis', {
      ...as,
      headers: { ...as.headers, accept: `${aggregatedAccept},application/json` },
    });
    expect(both.status).to.equal(200);
    expect(JSON.parse(both.body)).to.include({ kind: 'APIGroupList' });
    const etag = both.headers.etag as string;
    const again = await direct('/apis', { ...as, headers: { ...as.headers, 'if-none-match': etag } });
    expect(again.status).to.equal(304);
  });

  it('serves /openapi/v2 and /openapi/v3 (and kube-apiserver aggregates them)', async function () {
    const as = { cert: frontProxyCert(), headers: { 'x-remote-user': 'system:aggregator' } };
    const v2 = JSON.parse((await direct('/openapi/v2', as)).body) as {
      swagger: string;
      paths: Record<string, unknown>;
    };
    expect(v2.swagger).to.equal('2.0');
    expect(Object.keys(v2.paths)).to.include(
      `${gvPath}/namespaces/{namespace}/connectors/{name}/proxy/{path}`,
    );
    const root = JSON.parse((await direct('/openapi/v3', as)).body) as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    const url = root.paths['apis/subresources.connectors.alauda.io/v1alpha1']?.serverRelativeURL ?? '';
    expect(url).to.match(/^\/openapi\/v3\/apis\/subresources\.connectors\.alauda\.io\/v1alpha1\?hash=/);
    const v3 = JSON.parse((await direct(url, as)).body) as { openapi: string };
    expect(v3.openapi).to.match(/^3\./);
    // The aggregator downloads our v3 document and serves it as its own.
    let served = 0;
    for (let i = 0; i < 100 && served !== 200; i++) {
      served = (await kubeRequest('/openapi/v3/apis/subresources.connectors.alauda.io/v1alpha1')).status;
      if (served !== 200) await new Promise((r) => setTimeout(r, 300));
    }
    expect(served).to.equal(200);
  });

  it('discovery answers while a proxied request hangs on a tool', async function () {
    const ns = await namespace('disc');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
    ]);
    let hungDone = false;
    const hung = kubeRequest(proxyPath(ns, 'echo', '/hang')).then((r) => {
      hungDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const d = await kubeRequest(gvPath);
    const ms = Date.now() - started;
    expect(d.status).to.equal(200);
    expect(hungDone, 'discovery must not wait for a tool').to.equal(false);
    expect((await hung).status).to.equal(504);
    this.test!.title += ` (discovery took ${ms} ms)`;
  });
});
