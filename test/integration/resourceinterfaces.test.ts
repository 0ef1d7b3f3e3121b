// connectors/{name}/resourceinterfaces[/{ri}] through the real kube-apiserver: kubectl, the
// Kubernetes SDK and a ServiceAccount token with only the shipped connectors-resourceinterfaces-view
// role get the ResourceInterfaces a Connector supports and one of them resolved: defaults applied,
// expressions evaluated in the sandbox, WorkspaceBindings ready to paste; every bad input a Status
// that names it. (The shipped ResourceInterfaces are checked in resourceinterfaces-shipped.test.ts;
// hostile expressions in hardening/expressions.test.ts.)

import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import { docBlock, shellCommands } from '../helpers/docs.js';
import { apply, env, gvPath, kubeRequest, kubectl, kubectlOk, namespace } from '../helpers/env.js';

const className = 'it-ri-class';
/** The published GitCodeRepository example (resource_interface.mdx, "Examples"), under our test's name. */
const gitRi = 'it-ri-gitcoderepository';
const arrayRi = 'it-ri-artifacts';
const unsupportedRi = 'it-ri-unsupported';
const brokenRi = 'it-ri-broken';

function resourceInterface(name: string, spec: object, category = 'GitCodeRepository'): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'ResourceInterface',
    metadata: {
      name,
      labels: { 'resourceinterface.connectors.cpaas.io/category': category },
      annotations: { 'cpaas.io/display-name': `Display ${name}` },
    },
    spec,
  };
}

const gitSpec = {
  params: [
    { name: 'repository', type: 'string', description: 'Repository name' },
    { name: 'revision', type: 'string', default: 'refs/heads/main', description: 'Git revision' },
  ],
  attributes: [
    {
      name: 'url',
      type: 'string',
      expression: "{connector.spec.address + '/' + params.repository}",
      parameterize: { name: 'git-url' },
      dependsOn: ['params.repository', 'connector'],
    },
    {
      name: 'revision',
      type: 'string',
      expression: '{params.revision}',
      parameterize: { name: 'git-revision' },
      dependsOn: ['params.revision'],
    },
  ],
  workspaces: [
    {
      name: 'git-source',
      workspaceMapping: { name: 'git-source' },
      value: {
        volumeClaimTemplate: {
          spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '200Mi' } } },
        },
      },
    },
    {
      name: 'git-basic-auth',
      workspaceMapping: { name: 'git-basic-auth' },
      value: {
        csi: {
          driver: 'connectors-csi',
          readOnly: true,
          volumeAttributes: {
            'connector.name': '{connector.metadata.name}',
            'connector.namespace': '{connector.metadata.namespace}',
            'configuration.names': 'gitconfig',
            'token.expiration': '30m',
          },
        },
      },
    },
  ],
};

const arraySpec = {
  params: [
    { name: 'repository', type: 'string' },
    { name: 'tags', type: 'array', default: ['latest'] },
    { name: 'settings', type: 'object', default: {} },
    { name: 'mode', type: 'string', default: 'pull', enum: ['pull', 'push'] },
  ],
  attributes: [
    {
      name: 'artifact-versions',
      type: 'array',
      expression:
        "{params.tags.map(tag => url(connector.spec.address).host + '/' + params.repository + ':' + tag)}",
    },
    {
      name: 'mirror',
      type: 'string',
      expression:
        "{connector.spec.address.replace(/\\/+$/, '') + '/repository/' + (params.settings.mirror || 'none')}",
      parameterize: { disable: true },
    },
    { name: 'mode', expression: '{params.mode}' },
  ],
  workspaces: [
    {
      name: 'config',
      value: {
        csi: {
          driver: 'connectors-csi',
          volumeAttributes: {
            connectors: '{connector.metadata.name}',
            'configuration.params': '{JSON.stringify({settings: {mirror: params.settings.mirror || ""}})}',
          },
        },
      },
    },
  ],
};

interface Resolved {
  kind: string;
  connector: { namespace: string; name: string; connectorClassName: string };
  resourceInterface: { name: string; category: string };
  params: { name: string; value: unknown }[];
  attributes: { name: string; type: string; value: unknown; param?: string }[];
  workspaces: { name: string; workspace: string; binding: Record<string, unknown> }[];
}

interface StatusBody {
  kind: string;
  code: number;
  reason: string;
  message: string;
  details?: { causes?: { field?: string; reason?: string; message: string }[] };
}

describe('connectors/{name}/resourceinterfaces', function () {
  let ns = '';
  const address = 'https://git.example.com/scm';
  const base = (): string => `${gvPath}/namespaces/${ns}/connectors/repo/resourceinterfaces`;

  before(async function () {
    ns = await namespace('ri');
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: {
          name: className,
          labels: {
            [`resourceinterface.connectors.cpaas.io/${gitRi}`]: 'true',
            [`resourceinterface.connectors.cpaas.io/${arrayRi}`]: 'true',
            [`resourceinterface.connectors.cpaas.io/${brokenRi}`]: 'true',
            // Labelled, but no such ResourceInterface is installed: not listed.
            'resourceinterface.connectors.cpaas.io/it-ri-not-installed': 'true',
            // Another value than "true" does not declare support.
            [`resourceinterface.connectors.cpaas.io/${unsupportedRi}`]: 'false',
          },
        },
        spec: { address: { name: 'address', type: 'string' } },
      },
      resourceInterface(gitRi, gitSpec),
      resourceInterface(arrayRi, arraySpec, 'OCIArtifact'),
      resourceInterface(unsupportedRi, gitSpec),
      resourceInterface(brokenRi, {
        params: [{ name: 'repository', type: 'string', default: 'x' }],
        attributes: [
          { name: 'ok', expression: "{'fine'}" },
          { name: 'broken', expression: '{connector.spec.nothing.deeper}' },
          { name: 'wrong-type', type: 'array', expression: "{'not an array'}" },
        ],
      }),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'repo', namespace: ns },
        spec: { connectorClassName: className, address },
      },
    ]);
    // The server's informers follow the objects just created.
    for (let i = 0; i < 100; i++) {
      const r = await kubectl(['get', '--raw', `${base()}/${arrayRi}?repository=a`]);
      if (r.code === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  after(async function () {
    await kubectl([
      'delete',
      'resourceinterfaces',
      gitRi,
      arrayRi,
      unsupportedRi,
      brokenRi,
      '--ignore-not-found',
      '--wait=false',
    ]);
    await kubectl(['delete', 'connectorclass', className, '--ignore-not-found', '--wait=false']);
  });

  const getJson = async <T>(path: string, kubeconfig?: string): Promise<T> =>
    JSON.parse(await kubectlOk(['get', '--raw', path], kubeconfig ? { kubeconfig } : {})) as T;

  const failure = async (path: string): Promise<StatusBody> => {
    const r = await kubeRequest(path);
    expect(r.status, r.body).to.be.at.least(400);
    return JSON.parse(r.body) as StatusBody;
  };

  it('is in discovery as connectors/resourceinterfaces, verb get', async function () {
    const list = await getJson<{ resources: { name: string; verbs: string[]; kind: string }[] }>(gvPath);
    const entry = list.resources.find((r) => r.name === 'connectors/resourceinterfaces');
    expect(entry, JSON.stringify(list.resources.map((r) => r.name))).to.deep.include({ verbs: ['get'] });
  });

  it('lists the installed ResourceInterfaces the class labels "true", with their params', async function () {
    const list = await getJson<{
      kind: string;
      connector: object;
      items: { name: string; category: string; displayName?: string; params: { name: string }[] }[];
    }>(base());
    expect(list.kind).to.equal('ConnectorResourceInterfaceList');
    expect(list.connector).to.deep.equal({ namespace: ns, name: 'repo', connectorClassName: className });
    expect(list.items.map((i) => i.name)).to.deep.equal([arrayRi, brokenRi, gitRi]);
    const git = list.items.find((i) => i.name === gitRi);
    expect(git).to.include({ category: 'GitCodeRepository', displayName: `Display ${gitRi}` });
    expect(git?.params.map((p) => p.name)).to.deep.equal(['repository', 'revision']);
  });

  it('resolves the published GitCodeRepository example: defaults applied, bindings ready to paste', async function () {
    const r = await getJson<Resolved>(`${base()}/${gitRi}?repository=org/app.git`);
    expect(r.kind).to.equal('ResolvedResourceInterface');
    expect(r.resourceInterface).to.deep.equal({ name: gitRi, category: 'GitCodeRepository' });
    expect(r.params).to.deep.equal([
      { name: 'repository', value: 'org/app.git' },
      { name: 'revision', value: 'refs/heads/main' },
    ]);
    expect(r.attributes).to.deep.equal([
      { name: 'url', type: 'string', value: `${address}/org/app.git`, param: 'git-url' },
      { name: 'revision', type: 'string', value: 'refs/heads/main', param: 'git-revision' },
    ]);
    expect(r.workspaces).to.deep.equal([
      {
        name: 'git-source',
        workspace: 'git-source',
        binding: {
          name: 'git-source',
          volumeClaimTemplate: {
            spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '200Mi' } } },
          },
        },
      },
      {
        name: 'git-basic-auth',
        workspace: 'git-basic-auth',
        binding: {
          name: 'git-basic-auth',
          csi: {
            driver: 'connectors-csi',
            readOnly: true,
            volumeAttributes: {
              'connector.name': 'repo',
              'connector.namespace': ns,
              'configuration.names': 'gitconfig',
              'token.expiration': '30m',
            },
          },
        },
      },
    ]);
  });

  it('answers the raw GET that docs/resourceinterfaces.md shows', async function () {
    const [command = ''] = shellCommands(docBlock('ri-raw').text);
    const shown = /"([^"]+)"/.exec(command)?.[1] ?? '';
    expect(shown).to.contain('/namespaces/team-a/connectors/repo/resourceinterfaces/gitcoderepository?');
    const r = await getJson<Resolved>(
      shown.replace('/namespaces/team-a/', `/namespaces/${ns}/`).replace('/gitcoderepository?', `/${gitRi}?`),
    );
    expect(r.attributes[0]).to.include({ value: `${address}/org/app.git`, param: 'git-url' });
  });

  it('takes array params by repeated keys and object params as JSON; a param is data, never code', async function () {
    const injected = "x' + process.exit(1) + '";
    const r = await getJson<Resolved>(
      `${base()}/${arrayRi}?repository=${encodeURIComponent(injected)}&tags=v1&tags=v2` +
        `&settings=${encodeURIComponent('{"mirror":"central"}')}&mode=push`,
    );
    expect(r.attributes).to.deep.equal([
      {
        name: 'artifact-versions',
        type: 'array',
        value: [`git.example.com/${injected}:v1`, `git.example.com/${injected}:v2`],
        param: 'artifact-versions',
      },
      { name: 'mirror', type: 'string', value: `${address}/repository/central` },
      { name: 'mode', type: 'string', value: 'push', param: 'mode' },
    ]);
    expect(r.workspaces[0]?.binding).to.deep.equal({
      name: 'config',
      csi: {
        driver: 'connectors-csi',
        volumeAttributes: {
          connectors: 'repo',
          'configuration.params': '{"settings":{"mirror":"central"}}',
        },
      },
    });
    // Defaults for the array and the object.
    const d = await getJson<Resolved>(`${base()}/${arrayRi}?repository=r`);
    expect(d.attributes[0]?.value).to.deep.equal(['git.example.com/r:latest']);
    expect(d.attributes[1]?.value).to.equal(`${address}/repository/none`);
  });

  it('answers a missing, unknown, repeated or disallowed param with a 400 that names each', async function () {
    const missing = await failure(`${base()}/${gitRi}`);
    expect(missing).to.include({ code: 400, reason: 'BadRequest' });
    expect(missing.message).to.contain('param "repository" is required');
    expect(missing.details?.causes).to.deep.include({
      reason: 'FieldValueRequired',
      field: 'repository',
      message: 'param "repository" is required (string: Repository name)',
    });

    const unknown = await failure(`${base()}/${gitRi}?repository=a&branch=main&other=1`);
    expect(unknown.code).to.equal(400);
    expect(unknown.details?.causes?.map((c) => c.field)).to.deep.equal(['branch', 'other']);
    expect(unknown.message).to.contain(
      'unknown param "branch"; this ResourceInterface takes: repository, revision',
    );

    const twice = await failure(`${base()}/${gitRi}?repository=a&repository=b`);
    expect(twice.message).to.contain('param "repository" is a string but was given 2 times');

    const notEnum = await failure(`${base()}/${arrayRi}?repository=a&mode=delete`);
    expect(notEnum.message).to.contain('param "mode" must be one of: pull, push');

    const notObject = await failure(`${base()}/${arrayRi}?repository=a&settings=mirror`);
    expect(notObject.message).to.contain('param "settings" is an object');
  });

  it('answers 404 for a ResourceInterface that is not installed or that the class does not support', async function () {
    const missing = await failure(`${base()}/it-ri-not-installed?repository=a`);
    expect(missing).to.include({ code: 404, reason: 'NotFound' });
    expect(missing.message).to.contain('no such ResourceInterface is installed');

    const unsupported = await failure(`${base()}/${unsupportedRi}?repository=a`);
    expect(unsupported.code).to.equal(404);
    expect(unsupported.message).to.contain(
      `ConnectorClass "${className}" of Connector ${ns}/repo does not support it (it lacks the label ` +
        `resourceinterface.connectors.cpaas.io/${unsupportedRi}: "true")`,
    );

    const noConnector = await failure(`${gvPath}/namespaces/${ns}/connectors/absent/resourceinterfaces`);
    expect(noConnector.code).to.equal(404);
    expect(noConnector.message).to.contain('connectors.connectors.alauda.io "absent" not found');

    const deeper = await failure(`${base()}/${gitRi}/more`);
    expect(deeper.code).to.equal(404);
  });

  it('answers 422 naming every expression that failed or has the wrong type', async function () {
    const s = await failure(`${base()}/${brokenRi}`);
    expect(s).to.include({ code: 422, reason: 'Invalid' });
    expect(s.details?.causes?.map((c) => c.field)).to.deep.equal([
      'spec.attributes[1].expression',
      'spec.attributes[2].expression',
    ]);
    expect(s.message).to.match(/spec\.attributes\[1\]\.expression: TypeError: /);
    expect(s.message).to.contain("evaluated to a string, not the attribute's type array");
  });

  it('is a read: other methods are refused, whoever asks', async function () {
    const post = await kubeRequest(`${base()}/${gitRi}?repository=a`, { method: 'POST', body: '{}' });
    expect(post.status, post.body).to.equal(405);
    expect(post.body).to.contain('resolving is a GET');
  });

  it('serves a ServiceAccount holding only connectors-resourceinterfaces-view, through the SDK', async function () {
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'pipeline', namespace: ns } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'pipeline-ri', namespace: ns },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'connectors-resourceinterfaces-view',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'pipeline', namespace: ns }],
      },
    ]);
    const token = await env().sys.cp.createToken(ns, 'pipeline');
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'c',
          server: env().sys.cp.server,
          caData: Buffer.from(env().sys.cp.caCertPem).toString('base64'),
        },
      ],
      users: [{ name: 'u', token }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    let list: { items?: { name: string }[] } = {};
    for (let i = 0; i < 50 && !list.items; i++) {
      // RBAC changes take a moment to reach the authorizers' caches.
      list = (await api
        .getNamespacedCustomObject({
          group: 'subresources.connectors.alauda.io',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'connectors',
          name: 'repo/resourceinterfaces',
        })
        .catch(
          () =>
            new Promise((r) =>
              setTimeout(() => {
                r({});
              }, 200),
            ),
        )) as typeof list;
    }
    expect(list.items?.map((i) => i.name)).to.include(gitRi);
    const resolved = await kubeRequest(`${base()}/${gitRi}?repository=org/app.git`, { token });
    expect(resolved.status, resolved.body).to.equal(200);
    expect((JSON.parse(resolved.body) as Resolved).attributes[0]?.value).to.equal(`${address}/org/app.git`);

    // The same ServiceAccount cannot write through the Connector.
    const write = await kubeRequest(`${gvPath}/namespaces/${ns}/connectors/repo/proxy/x`, {
      token,
      method: 'POST',
      body: '{}',
    });
    expect(write.status).to.equal(403);
  });

  it('refuses a caller with the subresource but not get on the Connector, and one without the subresource', async function () {
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sub-only', namespace: ns } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'get-only', namespace: ns } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'sub-only', namespace: ns },
        rules: [
          {
            apiGroups: ['subresources.connectors.alauda.io'],
            resources: ['connectors/resourceinterfaces'],
            verbs: ['get'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'get-only', namespace: ns },
        rules: [{ apiGroups: ['connectors.alauda.io'], resources: ['connectors'], verbs: ['get'] }],
      },
      ...['sub-only', 'get-only'].map((name) => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name, namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
      })),
    ]);
    const subOnlyToken = await env().sys.cp.createToken(ns, 'sub-only');
    let subOnly = await kubeRequest(`${base()}/${gitRi}?repository=a`, { token: subOnlyToken });
    for (let i = 0; i < 50 && !subOnly.body.includes('needs get on it'); i++) {
      // Until RBAC reaches kube-apiserver's authorizer, kube-apiserver itself refuses.
      await new Promise((r) => setTimeout(r, 200));
      subOnly = await kubeRequest(`${base()}/${gitRi}?repository=a`, { token: subOnlyToken });
    }
    expect(subOnly.status, subOnly.body).to.equal(403);
    expect(subOnly.body).to.contain(
      'cannot get resource \\"connectors\\" in API group \\"connectors.alauda.io\\"',
    );
    expect(subOnly.body).to.contain('needs get on it');

    const getOnly = await kubeRequest(`${base()}/${gitRi}?repository=a`, {
      token: await env().sys.cp.createToken(ns, 'get-only'),
    });
    expect(getOnly.status, getOnly.body).to.equal(403);
    expect(getOnly.body).to.contain('connectors/resourceinterfaces');
    expect(getOnly.body).to.not.contain('git.example.com');
  });
});
