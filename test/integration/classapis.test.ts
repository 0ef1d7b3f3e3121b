// Class-declared subresources through kube-apiserver: routing by the class's OpenAPI to the tool
// (x-provider-type: proxy, x-openapi-address) or to the class API backend (x-provider-type: api,
// with the published X-Plugin-* headers), query validation, discovery that follows the installed
// classes, and RBAC per subresource. A recording HTTPS tool stands in for the class API backend,
// with a certificate the API server trusts (--classapi-ca-file), so the headers it got can be read.

import { expect } from 'chai';
import { issueCert } from '../../hack/pki.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import { registerRecorder } from '../helpers/leaks.js';
import {
  apply,
  basicAuthSecret,
  env,
  eventually,
  grant,
  gvPath,
  kubectl,
  kubectlOk,
  kubeRequest,
  namespace,
  secretValue,
  userKubeconfig,
} from '../helpers/env.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

const paging = [
  { name: 'search', in: 'query', schema: { type: 'string' } },
  { name: 'page', in: 'query', schema: { type: 'integer', minimum: 1 } },
];

function forgeClass(
  name: string,
  toolUrl: string,
  backendUrl: string,
  extraPaths: Record<string, unknown> = {},
): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'ConnectorClass',
    metadata: { name },
    spec: {
      address: { name: 'address', type: 'string' },
      addressExtensions: [{ name: 'api', type: 'string', default: `${toolUrl}/api-extension` }],
      auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true }] },
      api: {
        uri: `${backendUrl}/backend`,
        openapi: {
          openapi: '3.0.3',
          info: { title: name, version: '1' },
          paths: {
            '/branches': {
              get: {
                operationId: 'listBranches',
                'x-provider-type': 'api',
                parameters: [
                  { name: 'repository', in: 'query', required: true, schema: { type: 'string' } },
                  ...paging,
                ],
              },
            },
            '/projects/{id}/repository/branches': {
              get: { operationId: 'projectBranches', 'x-provider-type': 'proxy', parameters: paging },
              post: { operationId: 'createBranch' },
            },
            '/user/repos': { get: { operationId: 'userRepos', 'x-openapi-address': 'api' } },
            ...extraPaths,
          },
        },
      },
    },
  };
}

describe('class-declared APIs', function () {
  let ns: string;
  let secretPassword: string;
  let backend: EchoTool;

  before(async function () {
    ns = await namespace('classapi');
    const { tool, toolUser, toolPassword, sys } = env();
    secretPassword = toolPassword;
    backend = await startEchoTool({
      host: '127.0.0.1',
      tls: await issueCert(sys.classApiCA, {
        commonName: '127.0.0.1',
        ipAddresses: ['127.0.0.1'],
        server: true,
      }),
    });
    // It gets the Connector's Secret in X-Plugin-Secret, as the class API backend does.
    registerRecorder('the class API backend stand-in', backend, [toolPassword]);
    await apply([
      forgeClass('forge', tool.url, backend.url),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'forge', namespace: ns },
        spec: {
          connectorClassName: 'forge',
          address: `${tool.url}/tool`,
          auth: { name: 'basicAuth', secretRef: { name: 'creds' } },
        },
      },
    ]);
    await eventually('the class to show up in discovery', async () => {
      const list = await kubectlOk(['get', '--raw', gvPath]);
      return list.includes('connectors/branches');
    });
  });

  after(async function () {
    await backend.close();
  });

  const path = (rest: string): string => `${gvPath}/namespaces/${ns}/connectors/forge/${rest}`;

  it('proxy operations go to the tool with the Connector’s credential, path templates included', async function () {
    const { tool, toolUser, toolPassword } = env();
    const echo = JSON.parse(
      await kubectlOk(['get', '--raw', path('projects/12/repository/branches?page=2')]),
    ) as Echo;
    expect(echo.url).to.equal('/tool/projects/12/repository/branches?page=2');
    expect(echo.headers.authorization).to.equal(
      `Basic ${Buffer.from(`${toolUser}:${toolPassword}`).toString('base64')}`,
    );
    expect(tool.requests.at(-1)?.url).to.equal('/tool/projects/12/repository/branches?page=2');
  });

  it('x-openapi-address sends an operation to the named address extension (class default)', async function () {
    const echo = JSON.parse(await kubectlOk(['get', '--raw', path('user/repos')])) as Echo;
    expect(echo.url).to.equal('/api-extension/user/repos');
    expect(echo.headers.authorization).to.match(/^Basic /);
  });

  it('api operations go to the class API backend with X-Plugin-Meta/Auth/Secret and the original query', async function () {
    const echo = JSON.parse(
      await kubectlOk(['get', '--raw', path('branches?repository=org%2Frepo.git&search=ma')]),
    ) as Echo;
    expect(echo.url).to.equal('/backend/branches?repository=org%2Frepo.git&search=ma');
    const meta = JSON.parse(Buffer.from(echo.headers['x-plugin-meta'] ?? '', 'base64').toString()) as {
      baseURL: string;
    };
    expect(meta.baseURL).to.equal(`${env().tool.url}/tool`);
    expect(Buffer.from(echo.headers['x-plugin-auth'] ?? '', 'base64').toString()).to.equal(
      'kubernetes.io/basic-auth',
    );
    const data = JSON.parse(
      Buffer.from(echo.headers['x-plugin-secret'] ?? '', 'base64').toString(),
    ) as Record<string, string>;
    expect(Buffer.from(data.password ?? '', 'base64').toString()).to.equal(secretPassword);
    expect(echo.headers.authorization).to.equal(undefined); // the backend injects; we never send it ourselves
  });

  it('a caller cannot forge X-Plugin-* headers', async function () {
    const token = await env().sys.cp.createToken(ns, 'forger');
    await apply(grant(ns, 'forger', { kind: 'ServiceAccount', name: 'forger' }, ['get'], ['branches']));
    let r = await kubeRequest(path('branches?repository=x'), {
      token,
      headers: { 'x-plugin-meta': Buffer.from('{"baseURL":"http://evil.example"}').toString('base64') },
    });
    for (let i = 0; i < 50 && r.status === 403; i++) {
      await new Promise((res) => setTimeout(res, 200));
      r = await kubeRequest(path('branches?repository=x'), { token, headers: { 'x-plugin-meta': 'Zm9v' } });
    }
    const echo = JSON.parse(r.body) as Echo;
    const meta = JSON.parse(Buffer.from(echo.headers['x-plugin-meta'] ?? '', 'base64').toString()) as {
      baseURL: string;
    };
    expect(meta.baseURL).to.equal(`${env().tool.url}/tool`);
  });

  it('a missing required query parameter is a 400 naming it, and nothing is sent', async function () {
    const before = backend.requests.length;
    const r = await kubectl(['get', '--raw', path('branches?search=x')]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain('Error from server (BadRequest)');
    expect(r.stderr).to.contain('query parameter "repository" is required');
    const bad = await kubectl(['get', '--raw', path('branches?repository=a&page=zero')]);
    expect(bad.stderr).to.contain('query parameter "page" must be integer');
    expect(backend.requests.length).to.equal(before);
  });

  it('an undeclared path is a 404 Status; an undeclared method a 405', async function () {
    const r = await kubectl(['get', '--raw', path('projects/12/nothing')]);
    expect(r.stderr).to.contain('Error from server (NotFound)');
    expect(r.stderr).to.contain('ConnectorClass "forge" declares no API at /projects/12/nothing');
    const del = await kubeRequest(path('projects/12/repository/branches'), { method: 'DELETE' });
    expect(del.status).to.equal(405);
    expect((JSON.parse(del.body) as { reason: string }).reason).to.equal('MethodNotAllowed');
  });

  it('RBAC is per subresource: get on connectors/proxy alone does not open branches', async function () {
    await apply(grant(ns, 'carol-proxy', { kind: 'User', name: 'carol' }, ['get'], ['proxy']));
    const carol = await userKubeconfig('carol');
    await eventually('RBAC to apply', async () =>
      (
        await kubectl(['get', '--raw', path('projects/1/repository/branches')], { kubeconfig: carol })
      ).stderr.includes('connectors/projects'),
    );
    const r = await kubectl(['get', '--raw', path('branches?repository=x')], { kubeconfig: carol });
    expect(r.stderr).to.contain('cannot get resource "connectors/branches"');
    await apply(grant(ns, 'carol-branches', { kind: 'User', name: 'carol' }, ['get'], ['branches']));
    await eventually(
      'the branches grant to apply',
      async () =>
        (await kubectl(['get', '--raw', path('branches?repository=x')], { kubeconfig: carol })).code === 0,
    );
  });

  it('discovery follows the classes: a new class’s path appears without a restart and goes with the class', async function () {
    const name = `extra-${secretValue('x').slice(2, 7).toLowerCase()}`;
    const sub = `widgets${name.slice(-4)}`;
    await apply([
      forgeClass(name, env().tool.url, backend.url, { [`/${sub}`]: { get: { operationId: 'listWidgets' } } }),
    ]);
    await eventually(`connectors/${sub} in discovery`, async () =>
      (await kubectlOk(['get', '--raw', gvPath])).includes(`"connectors/${sub}"`),
    );
    const aggregated = await kubeRequest('/apis', {
      headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' },
    });
    expect(aggregated.status).to.equal(200);
    await kubectlOk(['delete', 'connectorclass', name]);
    await eventually(
      `connectors/${sub} gone from discovery`,
      async () => !(await kubectlOk(['get', '--raw', gvPath])).includes(`"connectors/${sub}"`),
    );
    expect(await kubectlOk(['get', '--raw', gvPath])).to.contain('"connectors/branches"'); // still declared by forge
  });
});
