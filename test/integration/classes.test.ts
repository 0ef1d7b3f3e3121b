// The shipped ConnectorClasses (manifests/classes) against the real kube-apiserver and our CRD schema:
// they apply with `kubectl apply -k`, list, keep the published auth types, probes and documents, and the
// server routes the APIs they declare (class API backend for `api`, the tool or an address extension
// for `proxy`) with the right credential.

import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../hack/binaries.js';
import { issueCert } from '../../hack/pki.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import {
  apply,
  env,
  eventually,
  gvPath,
  kubectl,
  kubectlOk,
  namespace,
  secretValue,
} from '../helpers/env.js';
import { allowSecret, registerRecorder } from '../helpers/leaks.js';
import { supportedResourceInterfaces } from '../helpers/shipped-resourceinterfaces.js';

const classesDir = join(repoRoot(), 'manifests', 'classes');

interface AuthType {
  name: string;
  secretType?: string;
  optional?: boolean;
  params?: { name: string }[];
}

interface Operation {
  operationId?: string;
  'x-provider-type'?: string;
  'x-openapi-address'?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: Record<string, unknown> }[];
}

interface ClassObject {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    address?: { name: string; type?: string };
    addressExtensions?: { name: string; type?: string; default?: unknown; description?: string }[];
    params?: { name: string; default?: unknown }[];
    auth?: { types?: AuthType[] };
    livenessProbe?: { http?: { path: string } };
    authProbes?: { authName: string; probe: { http?: { path: string; httpHeaders?: unknown[] } } }[];
    api?: {
      ref?: { kind: string; name: string; namespace?: string };
      uri?: string;
      openapi?: { openapi?: string; paths?: Record<string, Record<string, Operation>> };
    };
    proxy?: { ref?: { kind: string; name: string; namespace?: string } };
    configurations?: { name: string; data: Record<string, string> }[];
  };
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** The published auth types of the shipped classes (the published Connectors API's classes). */
const published: Record<string, { name: string; secretType: string; optional: boolean; keys: string[] }> = {
  git: {
    name: 'basicAuth',
    secretType: 'kubernetes.io/basic-auth',
    optional: true,
    keys: ['username', 'password'],
  },
  oci: {
    name: 'tokenAuth',
    secretType: 'cpaas.io/distribution-registry-token',
    optional: true,
    keys: ['username', 'password'],
  },
  gitlab: {
    name: 'patAuth',
    secretType: 'connectors.cpaas.io/gitlab-pat-auth',
    optional: true,
    keys: ['token'],
  },
  github: { name: 'patAuth', secretType: 'Opaque', optional: true, keys: ['token'] },
  harbor: {
    name: 'basicAuth',
    secretType: 'kubernetes.io/basic-auth',
    optional: true,
    keys: ['username', 'password'],
  },
  k8s: {
    name: 'bearerTokenAuth',
    secretType: 'connectors.cpaas.io/bearer-token',
    optional: false,
    keys: ['token'],
  },
  maven: {
    name: 'basicAuth',
    secretType: 'kubernetes.io/basic-auth',
    optional: true,
    keys: ['username', 'password'],
  },
  npm: {
    name: 'basicAuth',
    secretType: 'kubernetes.io/basic-auth',
    optional: true,
    keys: ['username', 'password'],
  },
  pypi: {
    name: 'basicAuth',
    secretType: 'kubernetes.io/basic-auth',
    optional: true,
    keys: ['username', 'password'],
  },
  sonarqube: {
    name: 'tokenAuth',
    secretType: 'connectors.cpaas.io/bearer-token',
    optional: false,
    keys: ['token'],
  },
};
const classNames = Object.keys(published);
/** Shipped classes the published API has no counterpart of. */
const ownClasses = ['mysql'];

/** Every operation the classes declare: [class, path, provider, operationId, address extension]. */
const declared: [string, string, string, string, string][] = [
  ['git', '/branches', 'api', 'listBranches', ''],
  ['git', '/tags', 'api', 'listTags', ''],
  ['git', '/git/gitrefs', 'api', 'listGitRefs', ''],
  ['oci', '/tags', 'api', 'listTags', ''],
  ['gitlab', '/api/v4/projects', 'proxy', 'listProjects', ''],
  ['gitlab', '/api/v4/projects/{id}/repository/branches', 'proxy', 'listBranches', ''],
  ['gitlab', '/api/v4/projects/{id}/repository/tags', 'proxy', 'listTags', ''],
  ['github', '/repos/{owner}/{repo}/branches', 'proxy', 'listBranches', 'api'],
  ['github', '/repos/{owner}/{repo}/tags', 'proxy', 'listTags', 'api'],
  ['github', '/user/repos', 'proxy', 'listUserRepositories', 'api'],
  ['harbor', '/api/v2.0/projects', 'proxy', 'listProjects', ''],
  ['harbor', '/api/v2.0/projects/{project_name}/repositories', 'proxy', 'listRepositories', ''],
  [
    'harbor',
    '/api/v2.0/projects/{project_name}/repositories/{repository_name}/artifacts',
    'proxy',
    'listArtifacts',
    '',
  ],
];

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

async function getClass(name: string): Promise<ClassObject> {
  return JSON.parse(await kubectlOk(['get', 'connectorclass', name, '-o', 'json'])) as ClassObject;
}

function subresourcePath(ns: string, name: string, rest: string): string {
  return `${gvPath}/namespaces/${ns}/connectors/${name}/${rest}`;
}

describe('shipped ConnectorClasses (manifests/classes)', function () {
  const classes = new Map<string, ClassObject>();

  // Every test finds the classes applied and read, whichever tests ran before it (--grep, say);
  // the first test checks the apply itself.
  before(async function () {
    await kubectlOk(['apply', '-k', classesDir]);
    for (const name of [...classNames, ...ownClasses]) classes.set(name, await getClass(name));
  });

  after(async function () {
    // Leave the cluster as the other suites expect it (manifests.test.ts applies upstream's `git`).
    await kubectl(['delete', '-k', classesDir, '--ignore-not-found', '--wait=false']);
  });

  it('kubectl apply -k manifests/classes is accepted by the API server and its CRD schema', async function () {
    const dry = await kubectl(['apply', '-k', classesDir, '--dry-run=server']);
    expect(dry.code, dry.stderr).to.equal(0);
    const r = await kubectl(['apply', '-k', classesDir]);
    expect(r.code, r.stderr).to.equal(0);
    for (const name of [...classNames, ...ownClasses]) {
      expect(r.stdout).to.match(
        new RegExp(`connectorclass\\.connectors\\.alauda\\.io/${name} (created|configured|unchanged)`),
      );
    }
    expect(r.stdout).to.match(/clusterrole\.rbac\.authorization\.k8s\.io\/connectors-class-apis-view/);
    // The ResourceInterfaces the classes support come in the same apply (../resourceinterfaces).
    for (const ri of new Set(Object.values(supportedResourceInterfaces).flat())) {
      expect(r.stdout).to.match(
        new RegExp(`resourceinterface\\.connectors\\.alauda\\.io/${ri} (created|configured|unchanged)`),
      );
    }
    // The structural schema prunes unknown fields silently: what is stored must be what we ship.
    const shipped = JSON.parse(
      await kubectlOk(['apply', '-k', classesDir, '--dry-run=client', '-o', 'json']),
    ) as {
      items: (ClassObject & { kind: string })[];
    };
    const shippedClasses = shipped.items.filter((o) => o.kind === 'ConnectorClass');
    expect(shippedClasses.map((o) => o.metadata.name).sort()).to.deep.equal(
      [...classNames, ...ownClasses].sort(),
    );
    for (const o of shippedClasses) {
      expect((await getClass(o.metadata.name)).spec, o.metadata.name).to.deep.equal(o.spec);
    }
  });

  it('kubectl get connectorclasses lists all ten', async function () {
    const names = (await kubectlOk(['get', 'connectorclasses', '-o', 'name'])).split('\n').filter(Boolean);
    for (const name of classNames) {
      expect(names).to.include(`connectorclass.connectors.alauda.io/${name}`);
    }
    const table = await kubectlOk(['get', 'connectorclasses']);
    expect(table).to.match(/NAME\s+READY\s+REASON\s+AGE/);
    for (const name of classNames) expect(table).to.match(new RegExp(`^${name}\\s`, 'm'));
  });

  it('each class labels the ResourceInterfaces it supports, and they are installed', async function () {
    const installed = (await kubectlOk(['get', 'resourceinterfaces', '-o', 'name'])).split('\n');
    for (const name of classNames) {
      const prefix = 'resourceinterface.connectors.cpaas.io/';
      const labels = Object.entries(classes.get(name)?.metadata.labels ?? {}).filter(([k]) =>
        k.startsWith(prefix),
      );
      expect(
        labels.every(([, v]) => v === 'true'),
        name,
      ).to.equal(true);
      const supported = labels.map(([k]) => k.slice(prefix.length)).sort();
      expect(supported, name).to.deep.equal([...(supportedResourceInterfaces[name] ?? [])].sort());
      for (const ri of supported) {
        expect(installed, `${name}: ${ri}`).to.include(`resourceinterface.connectors.alauda.io/${ri}`);
      }
    }
  });

  it('each class declares exactly the published auth type and Secret type', function () {
    for (const name of classNames) {
      const want = published[name]!;
      const types = classes.get(name)?.spec.auth?.types ?? [];
      expect(
        types.map((t) => ({ name: t.name, secretType: t.secretType, optional: t.optional ?? false })),
        name,
      ).to.deep.equal([{ name: want.name, secretType: want.secretType, optional: want.optional }]);
      expect(
        types[0]?.params?.map((p) => p.name),
        `${name}: the Secret keys`,
      ).to.deep.equal(want.keys);
    }
  });

  it('every class has display metadata, a string address and the Connectors Proxy', function () {
    for (const name of classNames) {
      const cls = classes.get(name)!;
      expect(cls.metadata.annotations?.['cpaas.io/display-name'], name).to.be.a('string').and.not.empty;
      expect(cls.metadata.annotations?.['cpaas.io/description'], name).to.be.a('string').and.not.empty;
      expect(cls.spec.address, name).to.deep.include({ name: 'address', type: 'string' });
      expect(cls.spec.proxy?.ref, name).to.deep.equal({
        kind: 'Service',
        name: 'connectors-proxy',
        namespace: 'connectors-system',
      });
    }
  });

  it('mysql: mysql:// addresses, API probes by the class API backend, the MySQL proxy, my.cnf', function () {
    const cls = classes.get('mysql')!;
    const spec = cls.spec as ClassObject['spec'] & {
      address: { annotations?: Record<string, string> };
      livenessProbe: { api?: { path: string } };
      authProbes: { authName: string; probe: { api?: { path: string } } }[];
    };
    expect(spec.address.annotations).to.deep.equal({ 'connectors.cpaas.io/address-schemes': 'mysql' });
    expect(spec.auth?.types).to.deep.equal([
      {
        name: 'basicAuth',
        secretType: 'kubernetes.io/basic-auth',
        displayName: 'Basic Auth',
        description:
          'The database account the MySQL proxy logs in with on behalf of the pods that use the Connector.',
        params: [
          { name: 'username', type: 'string', description: 'The MySQL user name.' },
          { name: 'password', type: 'string', description: 'Its password.' },
        ],
      },
    ]);
    expect(spec.livenessProbe).to.deep.equal({ api: { path: '/handshake' } });
    expect(spec.authProbes).to.deep.equal([{ authName: 'basicAuth', probe: { api: { path: '/login' } } }]);
    expect(spec.api).to.deep.equal({
      ref: { kind: 'Service', name: 'connectors-classapi', namespace: 'connectors-system' },
      uri: '/mysql',
    });
    expect(spec.proxy?.ref).to.deep.equal({
      kind: 'Service',
      name: 'connectors-mysql-proxy',
      namespace: 'connectors-system',
    });
    expect(cls.metadata.annotations?.['connectors.cpaas.io/proxy-resolver']).to.equal('host');
    expect(spec.configurations?.map((c) => [c.name, Object.keys(c.data)])).to.deep.equal([
      ['mycnf', ['my.cnf']],
    ]);
  });

  it('git keeps the published probes: liveness GET /, auth template of upstream’s example unchanged', async function () {
    const fixture = JSON.parse(
      await kubectlOk([
        'apply',
        '--dry-run=client',
        '-o',
        'json',
        '-f',
        join(repoRoot(), 'test', 'fixtures', 'upstream-examples.yaml'),
      ]),
    ) as { items: (ClassObject & { kind: string })[] };
    const upstream = fixture.items.find((o) => o.kind === 'ConnectorClass' && o.metadata.name === 'git')!;
    const git = classes.get('git')!;
    expect(git.spec.livenessProbe).to.deep.equal({ http: { path: '/' } });
    expect(git.spec.authProbes).to.deep.equal(upstream.spec.authProbes);
    expect(git.spec.params?.find((p) => p.name === 'sslVerify')).to.deep.include({
      type: 'string',
      default: 'true',
    });
  });

  it('spec.api: git and oci go to the class API backend, the others to the tool', function () {
    const backend = { kind: 'Service', name: 'connectors-classapi', namespace: 'connectors-system' };
    expect(classes.get('git')?.spec.api).to.deep.include({ ref: backend, uri: '/git' });
    expect(classes.get('oci')?.spec.api).to.deep.include({ ref: backend, uri: '/oci' });
    for (const name of ['gitlab', 'github', 'harbor']) {
      expect(classes.get(name)?.spec.api?.ref, name).to.equal(undefined);
      expect(classes.get(name)?.spec.api?.uri, name).to.equal(undefined);
    }
    for (const name of ['k8s', 'maven', 'npm', 'pypi', 'sonarqube']) {
      expect(classes.get(name)?.spec.api, name).to.equal(undefined);
    }
    expect(classes.get('github')?.spec.addressExtensions).to.deep.equal([
      {
        name: 'api',
        type: 'string',
        default: 'https://api.github.com',
        description: classes.get('github')?.spec.addressExtensions?.[0]?.description,
      },
    ]);

    for (const name of ['git', 'oci', 'gitlab', 'github', 'harbor']) {
      const doc = classes.get(name)?.spec.api?.openapi;
      expect(doc?.openapi, name).to.equal('3.0.3');
      const mine = declared.filter(([c]) => c === name).map(([, path]) => path);
      expect(Object.keys(doc?.paths ?? {}).sort(), name).to.deep.equal([...mine].sort());
    }
    for (const [name, path, provider, operationId, address] of declared) {
      const ops = classes.get(name)?.spec.api?.openapi?.paths?.[path] ?? {};
      expect(Object.keys(ops), `${name} ${path}`).to.deep.equal(['get']);
      const op = ops.get!;
      expect(op.operationId, `${name} ${path}`).to.equal(operationId);
      expect(op['x-provider-type'], `${name} ${path}`).to.equal(provider);
      expect(op['x-openapi-address'] ?? '', `${name} ${path}`).to.equal(address);
      for (const p of (path.match(/\{[^}]+\}/g) ?? []).map((s) => s.slice(1, -1))) {
        const param = op.parameters?.find((x) => x.name === p);
        expect(param, `${name} ${path}: path parameter ${p}`).to.deep.include({ in: 'path', required: true });
      }
    }
    // The class API query contract: repository/repositoryUrl required, paging bounded.
    for (const [name, path, required] of [
      ['git', '/branches', 'repository'],
      ['git', '/tags', 'repository'],
      ['git', '/git/gitrefs', 'repositoryUrl'],
      ['oci', '/tags', 'repository'],
    ] as const) {
      const params = classes.get(name)?.spec.api?.openapi?.paths?.[path]?.get?.parameters ?? [];
      expect(
        params.map((p) => [p.name, p.in, p.required ?? false]),
        `${name} ${path}`,
      ).to.deep.equal([
        [required, 'query', true],
        ['search', 'query', false],
        ['page', 'query', false],
        ['itemsPerPage', 'query', false],
      ]);
      expect(params.find((p) => p.name === 'page')?.schema).to.deep.include({ type: 'integer', minimum: 1 });
      expect(params.find((p) => p.name === 'itemsPerPage')?.schema).to.deep.include({
        type: 'integer',
        minimum: 1,
        maximum: 1000,
      });
    }
  });

  it('configurations: the files upstream’s clients read', function () {
    const want: Record<string, Record<string, string[]>> = {
      git: { gitconfig: ['.gitconfig'] },
      oci: { 'registry-config': ['config.json'], buildkitd: ['buildkitd.toml'] },
      gitlab: { gitconfig: ['.gitconfig'], gitlabconfig: ['config.yml'] },
      github: { gitconfig: ['.gitconfig'], githubconfig: ['config.yml', 'hosts.yml'] },
      harbor: {
        'registry-config': ['config.json'],
        buildkitd: ['buildkitd.toml'],
        'harbor-cli-config': ['HARBOR_ENCRYPTION_KEY', 'config.yaml'],
      },
      k8s: { kubeconfig: ['kubeconfig'] },
      maven: { settings: ['settings.xml'] },
      npm: { npmrc: ['.npmrc'] },
      pypi: { pipconf: ['pip.conf'], pypirc: ['.pypirc'] },
      sonarqube: { 'sonar-scanner': ['sonar-project.properties'] },
    };
    for (const name of classNames) {
      const got = Object.fromEntries(
        (classes.get(name)?.spec.configurations ?? []).map((c) => [c.name, Object.keys(c.data).sort()]),
      );
      expect(got, name).to.deep.equal(want[name]);
    }
    const gitconfig = classes.get('git')?.spec.configurations?.[0]?.data['.gitconfig'] ?? '';
    expect(gitconfig)
      .to.contain('.status.proxyAddress')
      .and.contain('insteadOf')
      .and.contain('.context.token');
  });

  it('connectors-class-apis-view grants get on every subresource the classes declare, aggregated', async function () {
    const role = JSON.parse(
      await kubectlOk(['get', 'clusterrole', 'connectors-class-apis-view', '-o', 'json']),
    ) as {
      metadata: { labels: Record<string, string> };
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    for (const to of ['view', 'edit', 'admin']) {
      expect(role.metadata.labels[`rbac.authorization.k8s.io/aggregate-to-${to}`]).to.equal('true');
    }
    const firstSegments = new Set(declared.map(([, path]) => `connectors/${path.split('/')[1] ?? ''}`));
    expect(role.rules).to.have.length(1);
    expect(role.rules[0]?.apiGroups).to.deep.equal(['subresources.connectors.alauda.io']);
    expect(role.rules[0]?.verbs).to.deep.equal(['get']);
    expect([...(role.rules[0]?.resources ?? [])].sort()).to.deep.equal([...firstSegments].sort());
  });

  describe('the server routes the declared APIs', function () {
    let ns: string;
    let tool: EchoTool;
    let backend: EchoTool;
    const gitPassword = secretValue('classes-git-password');
    const gitlabToken = secretValue('classes-gitlab-token');
    const githubToken = secretValue('classes-github-token');
    const harborPassword = secretValue('classes-harbor-password');
    const sonarToken = secretValue('classes-sonar-token');

    before(async function () {
      tool = await startEchoTool(); // accepts any credential, records what arrived
      // The class API backend stand-in: HTTPS with a certificate of the backend CA, as the server
      // sends Secret data (X-Plugin-Secret) over https only.
      backend = await startEchoTool({
        host: '127.0.0.1',
        tls: await issueCert(env().sys.classApiCA, {
          commonName: '127.0.0.1',
          ipAddresses: ['127.0.0.1'],
          server: true,
        }),
      });
      // Each secret may reach its own Connector's address (git's is the class API backend's) only.
      registerRecorder('classes: the echo tool behind every Connector', tool);
      registerRecorder('classes: the class API backend stand-in', backend);
      allowSecret(backend, gitPassword, '/classapi/git');
      allowSecret(tool, gitlabToken, '/gitlab');
      allowSecret(tool, githubToken, '/github-api');
      allowSecret(tool, harborPassword, '/');
      allowSecret(tool, sonarToken, '/sonarqube');
      ns = await namespace('classes');
      const secret = (name: string, type: string, stringData: Record<string, string>): object => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: ns },
        type,
        stringData,
      });
      const conn = (name: string, spec: object): object => ({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name, namespace: ns },
        spec,
      });
      await apply([
        secret('git-creds', 'kubernetes.io/basic-auth', { username: 'git-user', password: gitPassword }),
        secret('gitlab-token', 'connectors.cpaas.io/gitlab-pat-auth', { token: gitlabToken }),
        secret('github-token', 'Opaque', { token: githubToken }),
        secret('harbor-creds', 'kubernetes.io/basic-auth', {
          username: 'harbor-user',
          password: harborPassword,
        }),
        secret('sonar-token', 'connectors.cpaas.io/bearer-token', { token: sonarToken }),
        conn('git', {
          connectorClassName: 'git',
          address: `${tool.url}/scm`,
          auth: {
            name: 'basicAuth',
            secretRef: { name: 'git-creds' },
            params: [{ name: 'repository', value: 'org/repo.git' }],
          },
        }),
        conn('oci', {
          connectorClassName: 'oci',
          address: `${tool.url}/registry`,
          auth: { name: 'tokenAuth', params: [{ name: 'repository', value: 'library/alpine' }] },
        }),
        conn('gitlab', {
          connectorClassName: 'gitlab',
          address: `${tool.url}/gitlab`,
          auth: { name: 'patAuth', secretRef: { name: 'gitlab-token' } },
        }),
        conn('github', {
          connectorClassName: 'github',
          address: 'https://github.com',
          addressExtensions: [{ name: 'api', value: `${tool.url}/github-api` }],
          auth: { name: 'patAuth', secretRef: { name: 'github-token' } },
        }),
        conn('harbor', {
          connectorClassName: 'harbor',
          address: tool.url,
          auth: { name: 'basicAuth', secretRef: { name: 'harbor-creds' } },
        }),
        conn('sonarqube', {
          connectorClassName: 'sonarqube',
          address: `${tool.url}/sonarqube`,
          auth: { name: 'tokenAuth', secretRef: { name: 'sonar-token' } },
        }),
      ]);
      // No controller runs here to resolve spec.api.ref (Service connectors-classapi): stand in for it
      // with the resolved address it would write, pointing at the recording backend.
      for (const name of ['git', 'oci']) {
        await kubectlOk([
          'patch',
          'connectorclass',
          name,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({ status: { api: { address: { url: `${backend.url}/classapi/${name}` } } } }),
        ]);
      }
    });

    after(async function () {
      await Promise.all([tool.close(), backend.close()]);
    });

    /** GET through kube-apiserver once the server's informers have the objects; the tool's record. */
    async function get(connectorName: string, rest: string): Promise<Echo> {
      let out = '';
      await eventually(`GET ${connectorName}/${rest}`, async () => {
        const r = await kubectl(['get', '--raw', subresourcePath(ns, connectorName, rest)]);
        out = r.stdout;
        return r.code === 0 && out.includes('"url"');
      });
      return JSON.parse(out) as Echo;
    }

    it('discovery lists the subresources the classes declare', async function () {
      await eventually('discovery of the class subresources', async () => {
        const list = JSON.parse(await kubectlOk(['get', '--raw', gvPath])) as {
          resources: { name: string }[];
        };
        const names = list.resources.map((r) => r.name);
        return ['branches', 'tags', 'git', 'api', 'repos', 'user'].every((s) =>
          names.includes(`connectors/${s}`),
        );
      });
    });

    it('git branches, tags and git/gitrefs go to the class API backend with the X-Plugin headers', async function () {
      for (const [rest, path] of [
        ['branches?repository=org/repo.git&search=ma&page=1&itemsPerPage=10', '/classapi/git/branches'],
        ['tags?repository=org/repo.git', '/classapi/git/tags'],
        [
          `git/gitrefs?repositoryUrl=${encodeURIComponent(`${tool.url}/scm/org/repo.git`)}`,
          '/classapi/git/git/gitrefs',
        ],
      ] as const) {
        const echo = await get('git', rest);
        const url = new URL(echo.url, tool.url);
        expect(url.pathname).to.equal(path);
        expect(unb64(echo.headers['x-plugin-meta'])).to.equal(JSON.stringify({ baseURL: `${tool.url}/scm` }));
        expect(unb64(echo.headers['x-plugin-auth'])).to.equal('kubernetes.io/basic-auth');
        const data = JSON.parse(unb64(echo.headers['x-plugin-secret'])) as Record<string, string>;
        expect(data).to.deep.equal({ username: b64('git-user'), password: b64(gitPassword) });
        expect(echo.headers.authorization).to.equal(undefined); // the backend injects, not the server
      }
      const echo = await get('git', 'branches?repository=org/repo.git&search=ma');
      const q = new URL(echo.url, tool.url).searchParams;
      expect(q.get('repository')).to.equal('org/repo.git');
      expect(q.get('search')).to.equal('ma');
    });

    it('oci tags go to the class API backend; no Secret, so no X-Plugin-Secret', async function () {
      const echo = await get('oci', 'tags?repository=library/alpine');
      const url = new URL(echo.url, tool.url);
      expect(url.pathname).to.equal('/classapi/oci/tags');
      expect(url.searchParams.get('repository')).to.equal('library/alpine');
      expect(unb64(echo.headers['x-plugin-meta'])).to.equal(
        JSON.stringify({ baseURL: `${tool.url}/registry` }),
      );
      expect(echo.headers['x-plugin-secret']).to.equal(undefined);
    });

    it('the declared query contract is enforced before anything is sent', async function () {
      for (const rest of [
        'branches?search=x', // repository is required
        'branches?repository=org/repo.git&itemsPerPage=5000',
        'git/gitrefs?search=x', // repositoryUrl is required
      ]) {
        const before = tool.requests.length;
        const r = await kubectl(['get', '--raw', subresourcePath(ns, 'git', rest)]);
        expect(r.code, rest).to.not.equal(0);
        expect(r.stderr, rest).to.match(/BadRequest|400/);
        expect(tool.requests.length, rest).to.equal(before);
      }
    });

    it('gitlab projects, branches and tags go to the tool with PRIVATE-TOKEN', async function () {
      for (const [rest, path] of [
        ['api/v4/projects?search=demo&per_page=20', '/gitlab/api/v4/projects'],
        [
          'api/v4/projects/42/repository/branches?search=main',
          '/gitlab/api/v4/projects/42/repository/branches',
        ],
        ['api/v4/projects/42/repository/tags', '/gitlab/api/v4/projects/42/repository/tags'],
      ] as const) {
        const echo = await get('gitlab', rest);
        expect(new URL(echo.url, tool.url).pathname).to.equal(path);
        expect(echo.headers['private-token']).to.equal(gitlabToken);
        expect(echo.headers['x-plugin-secret']).to.equal(undefined);
      }
    });

    it('github repos and user go to the `api` address extension with the token as Bearer', async function () {
      for (const [rest, path] of [
        ['repos/org/repo/branches?per_page=100', '/github-api/repos/org/repo/branches'],
        ['repos/org/repo/tags', '/github-api/repos/org/repo/tags'],
        ['user/repos?visibility=all', '/github-api/user/repos'],
      ] as const) {
        const echo = await get('github', rest);
        expect(new URL(echo.url, tool.url).pathname).to.equal(path);
        expect(echo.headers.authorization).to.equal(`Bearer ${githubToken}`);
      }
    });

    it('harbor projects, repositories and artifacts go to the tool with Basic', async function () {
      for (const [rest, path] of [
        ['api/v2.0/projects?q=name%3D~lib&page_size=10', '/api/v2.0/projects'],
        ['api/v2.0/projects/library/repositories', '/api/v2.0/projects/library/repositories'],
        [
          'api/v2.0/projects/library/repositories/alpine/artifacts?with_tag=true',
          '/api/v2.0/projects/library/repositories/alpine/artifacts',
        ],
      ] as const) {
        const echo = await get('harbor', rest);
        expect(new URL(echo.url, tool.url).pathname).to.equal(path);
        expect(echo.headers.authorization).to.equal(`Basic ${b64(`harbor-user:${harborPassword}`)}`);
      }
    });

    it('sonarqube through connectors/{name}/proxy: the token as the Basic username (its auth type’s credential scheme)', async function () {
      const echo = await get('sonarqube', 'proxy/api/authentication/validate');
      expect(new URL(echo.url, tool.url).pathname).to.equal('/sonarqube/api/authentication/validate');
      expect(echo.headers.authorization).to.equal(`Basic ${b64(`${sonarToken}:`)}`);
    });
  });
});
