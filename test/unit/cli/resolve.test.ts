// `resolve` and `pipelinerun` against the server's ResourceInterface subresources (stand-in answers
// of the contract): the query each sends (array params repeated), the snippet and the PipelineRun
// they print, the integrations annotation read as published (interface by name or by category,
// connectorRef, attributes → params, workspaces → bindings, params with setAtRuntime), and every
// missing piece reported with the flag that supplies it.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { dump, load } from 'js-yaml';
import {
  buildPipelineRun,
  parseIntegrations,
  planIntegrations,
  type Pipeline,
} from '../../../cli/integrations.js';
import type { ResolvedResourceInterface } from '../../../cli/resourceinterfaces.js';
import { runPlugin, status, useFakeCluster, type FakeCluster, type Seen } from './fake-cluster.js';

const sub = '/apis/subresources.connectors.alauda.io/v1alpha1/namespaces';

function resolvedGit(ns: string, connector: string, query: URLSearchParams): ResolvedResourceInterface {
  const repository = query.get('repository') ?? '';
  const revision = query.get('revision') ?? 'main';
  return {
    apiVersion: 'subresources.connectors.alauda.io/v1alpha1',
    kind: 'ResolvedResourceInterface',
    metadata: { name: 'gitcoderepository' },
    connector: { namespace: ns, name: connector, connectorClassName: 'git' },
    resourceInterface: { name: 'gitcoderepository', category: 'GitCodeRepository' },
    params: [
      { name: 'repository', value: repository },
      { name: 'revision', value: revision },
    ],
    attributes: [
      { name: 'url', type: 'string', value: `https://git.example.com/${repository}`, param: 'git-url' },
      { name: 'revision', type: 'string', value: revision, param: 'git-revision' },
      { name: 'internal', type: 'string', value: 'x' },
    ],
    workspaces: [
      {
        name: 'source-credentials',
        workspace: 'git-credentials',
        binding: {
          name: 'git-credentials',
          csi: {
            driver: 'connectors-csi',
            readOnly: true,
            volumeAttributes: { 'connector.name': connector },
          },
        },
      },
    ],
  };
}

function resolvedOci(ns: string, connector: string, query: URLSearchParams): ResolvedResourceInterface {
  return {
    apiVersion: 'subresources.connectors.alauda.io/v1alpha1',
    kind: 'ResolvedResourceInterface',
    metadata: { name: 'ociartifact' },
    connector: { namespace: ns, name: connector, connectorClassName: 'oci' },
    resourceInterface: { name: 'ociartifact', category: 'OCIArtifact' },
    params: [{ name: 'tags', value: query.getAll('tags') }],
    attributes: [
      {
        name: 'artifact-versions',
        type: 'array',
        value: query.getAll('tags').map((t) => `registry.example.com/app:${t}`),
        param: 'artifact-versions',
      },
    ],
    workspaces: [
      {
        name: 'registry-config',
        workspace: 'registry-config',
        binding: { name: 'registry-config', csi: { driver: 'connectors-csi' } },
      },
    ],
  };
}

/** The stand-in server: list and resolve for git Connectors (demo-git) and oci ones (harbor). */
function serve(req: Seen) {
  const url = new URL(req.url, 'http://x');
  const m =
    /^\/apis\/subresources\.connectors\.alauda\.io\/v1alpha1\/namespaces\/([^/]+)\/connectors\/([^/]+)\/resourceinterfaces(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
  if (!m) return undefined;
  const [, ns = '', name = '', ri] = m;
  const isOci = name.startsWith('harbor');
  if (ri === undefined) {
    return {
      body: {
        kind: 'ConnectorResourceInterfaceList',
        connector: { namespace: ns, name, connectorClassName: isOci ? 'oci' : 'git' },
        items: isOci
          ? [{ name: 'ociartifact', category: 'OCIArtifact', params: [{ name: 'tags', type: 'array' }] }]
          : [
              {
                name: 'gitcoderepository',
                category: 'GitCodeRepository',
                params: [
                  { name: 'repository', type: 'string' },
                  { name: 'revision', type: 'string', default: 'main' },
                ],
                attributes: [{ name: 'url' }, { name: 'revision' }],
                workspaces: [{ name: 'source-credentials' }],
              },
            ],
      },
    };
  }
  if (ri === 'gitcoderepository' && !isOci) {
    // As registry/resourceinterfaces.ts answers: every cause names its param in `field`.
    const causes = [
      ...(url.searchParams.get('repository')
        ? []
        : [
            {
              reason: 'FieldValueRequired',
              field: 'repository',
              message: 'param "repository" is required (string)',
            },
          ]),
      ...[...url.searchParams.keys()]
        .filter((k) => !['repository', 'revision'].includes(k))
        .map((k) => ({ reason: 'FieldValueNotSupported', field: k, message: `unknown param "${k}"` })),
    ];
    if (causes.length > 0) {
      return status(
        400,
        'BadRequest',
        `ResourceInterface "gitcoderepository" cannot be resolved for Connector ${ns}/${name}: ${causes.map((c) => c.message).join('; ')}`,
        { causes },
      );
    }
    return { body: resolvedGit(ns, name, url.searchParams) };
  }
  if (ri === 'ociartifact' && isOci) return { body: resolvedOci(ns, name, url.searchParams) };
  return status(404, 'NotFound', `Connector ${ns}/${name} does not support ResourceInterface ${ri}`);
}

const annotation = `
- name: git
  interface: {apiVersion: connectors.alauda.io/v1alpha1, name: gitcoderepository}
  connectorRef: {name: demo-git}
  attributes:
    - {name: url, param: REPO_URL, refPath: [tasks.clone.params.url]}
    - {name: revision, param: REVISION}
  workspaces:
    - {name: source-credentials, workspace: git-auth, refPath: [tasks.clone.workspaces.basic-auth]}
  params:
    - {name: repository, value: org/app.git, setAtRuntime: false}
    - {name: revision, setAtRuntime: true}
- name: image
  interface: {apiVersion: connectors.alauda.io/v1alpha1, category: OCIArtifact}
  connectorRef: {setAtRuntime: true}
  params:
    - {name: tags, value: [latest, "1.0"]}
`;

function pipeline(extra: Partial<NonNullable<Pipeline['spec']>> = {}): Pipeline {
  return {
    apiVersion: 'tekton.dev/v1',
    kind: 'Pipeline',
    metadata: { name: 'build', annotations: { 'integrations.tekton.dev/integrations': annotation } },
    spec: {
      params: [
        { name: 'REPO_URL' },
        { name: 'REVISION' },
        { name: 'artifact-versions', type: 'array' },
        { name: 'context', default: '.' },
        { name: 'replicas' },
      ],
      workspaces: [
        { name: 'git-auth' },
        { name: 'registry-config' },
        { name: 'cache', optional: true },
        { name: 'output' },
      ],
      ...extra,
    },
  };
}

describe('cli: resolve and pipelinerun', function () {
  const held = useFakeCluster();
  let fake: FakeCluster;
  let kc: string[];
  let dir: string;
  beforeEach(() => {
    ({ fake, kc, dir } = held);
    fake.routes = serve;
  });

  describe('resolve', () => {
    it('prints the params (attributes with a param) and workspaces to paste, naming the Connector and RI', async () => {
      const r = await runPlugin([
        'resolve',
        'demo-git',
        'gitcoderepository',
        '--param',
        'repository=org/app.git',
        ...kc,
      ]);
      expect(fake.seen[0]?.url).to.equal(
        `${sub}/team-a/connectors/demo-git/resourceinterfaces/gitcoderepository?repository=org%2Fapp.git`,
      );
      expect(r).to.deep.equal({
        code: 0,
        stderr: '',
        stdout: [
          "# ResourceInterface gitcoderepository (GitCodeRepository) resolved for Connector team-a/demo-git: params and workspaces of a PipelineRun's spec",
          'params:',
          '- name: git-url',
          '  value: https://git.example.com/org/app.git',
          '- name: git-revision',
          '  value: main',
          'workspaces:',
          '- name: git-credentials',
          '  csi:',
          '    driver: connectors-csi',
          '    readOnly: true',
          '    volumeAttributes:',
          '      connector.name: demo-git',
          '',
        ].join('\n'),
      });
    });

    it('a list param repeats its name in the query; -o json is the whole ResolvedResourceInterface', async () => {
      const r = await runPlugin([
        'resolve',
        'harbor',
        'ociartifact',
        '--param',
        'tags=1.0',
        '--param',
        'tags=latest',
        '-o',
        'json',
        ...kc,
      ]);
      expect(fake.seen[0]?.url).to.match(/\/resourceinterfaces\/ociartifact\?tags=1.0&tags=latest$/);
      expect(JSON.parse(r.stdout)).to.deep.equal(
        resolvedOci('team-a', 'harbor', new URLSearchParams('tags=1.0&tags=latest')),
      );
    });

    it('params the server says are missing or unknown: its message, and the flags to pass or check', async () => {
      const r = await runPlugin(['resolve', 'demo-git', 'gitcoderepository', '--param', 'colour=red', ...kc]);
      expect(r).to.deep.equal({
        code: 1,
        stdout: '',
        stderr:
          'error: ResourceInterface "gitcoderepository" cannot be resolved for Connector team-a/demo-git: ' +
          'param "repository" is required (string); unknown param "colour"\n' +
          '  pass --param repository=VALUE\n' +
          '  check --param colour=VALUE\n',
      });
    });

    it('without RI: the ResourceInterfaces the Connector supports, ? marking a param with a default', async () => {
      const r = await runPlugin(['resolve', 'demo-git', ...kc]);
      expect(r.stdout).to.equal(
        [
          'NAME                CATEGORY            PARAMS                 ATTRIBUTES     WORKSPACES',
          'gitcoderepository   GitCodeRepository   repository,revision?   url,revision   source-credentials',
          '',
        ].join('\n'),
      );
      expect(
        (await runPlugin(['resolve', 'demo-git', 'ociartifact', '--param', 'tags=1', ...kc])).stderr,
      ).to.equal(
        'Error from server (NotFound): Connector team-a/demo-git does not support ResourceInterface ociartifact\n',
      );
    });
  });

  describe('the integrations annotation', () => {
    /** The plan of pipeline() with these flags, in namespace ns. */
    const planOf = (connectors: [string, string][], params: [string, string][]) => {
      const p = pipeline();
      return planIntegrations(p, parseIntegrations(p), { namespace: 'ns', connectors, params });
    };

    it('reads the published shape; an integration without an interface, or twice, is named', () => {
      expect(parseIntegrations(pipeline())).to.deep.equal([
        {
          name: 'git',
          interface: { name: 'gitcoderepository' },
          connectorRef: { name: 'demo-git' },
          attributes: [
            { name: 'url', param: 'REPO_URL' },
            { name: 'revision', param: 'REVISION' },
          ],
          workspaces: [{ name: 'source-credentials', workspace: 'git-auth' }],
          params: [
            { name: 'repository', value: 'org/app.git', setAtRuntime: false },
            { name: 'revision', setAtRuntime: true },
          ],
        },
        {
          name: 'image',
          interface: { category: 'OCIArtifact' },
          connectorRef: {},
          attributes: [],
          workspaces: [],
          params: [{ name: 'tags', value: ['latest', '1.0'], setAtRuntime: false }],
        },
      ]);
      const bad = (text: string): Pipeline => ({
        metadata: { name: 'p', annotations: { 'integrations.tekton.dev/integrations': text } },
      });
      expect(() => parseIntegrations(bad('- name: a'))).to.throw('integration "a" needs an interface');
      expect(() =>
        parseIntegrations(bad('- {name: a, interface: {name: x}}\n- {name: a, interface: {name: x}}')),
      ).to.throw('integration "a" is there twice');
      expect(() => parseIntegrations({ metadata: { name: 'p' } })).to.throw(
        'Pipeline p has no annotation integrations.tekton.dev/integrations',
      );
    });

    it('everything missing at once, each with its flag', () => {
      const p = pipeline();
      expect(() =>
        planIntegrations(p, parseIntegrations(p), {
          namespace: 'ns',
          connectors: [['nope', 'x']],
          params: [['colour', 'red']],
        }),
      ).to.throw(
        [
          '--connector nope=x: the Pipeline has no integration "nope" (it has: git, image)',
          '--param colour=red: the Pipeline has no param "colour", and "colour" is none of its integrations (git, image)',
          'integration "git" needs the param "revision": pass --param git.revision=VALUE',
          'integration "image" needs a Connector: pass --connector image=NAME (or NAMESPACE/NAME)',
        ].join('\n'),
      );
    });

    it('flags replace the annotation’s values; NAMESPACE/NAME picks another namespace', () => {
      const plan = planOf(
        [['image', 'other/harbor']],
        [
          ['git.revision', 'v2'],
          ['image.tags', 'a'],
          ['image.tags', 'b'],
          ['replicas', '3'],
        ],
      );
      expect(plan.integrations.map((i) => [i.integration.name, i.connector, i.params])).to.deep.equal([
        [
          'git',
          { namespace: 'ns', name: 'demo-git' },
          [
            ['repository', 'org/app.git'],
            ['revision', 'v2'],
          ],
        ],
        [
          'image',
          { namespace: 'other', name: 'harbor' },
          [
            ['tags', 'a'],
            ['tags', 'b'],
          ],
        ],
      ]);
      expect([...plan.pipelineParams]).to.deep.equal([['replicas', ['3']]]);
    });

    it('the PipelineRun: mapped attributes and workspaces; without a mapping, those the Pipeline declares', () => {
      const p = pipeline();
      const plan = planOf(
        [['image', 'harbor']],
        [
          ['git.revision', 'v2'],
          ['replicas', '3'],
        ],
      );
      const resolved = [
        resolvedGit('ns', 'demo-git', new URLSearchParams('repository=org/app.git&revision=v2')),
        resolvedOci('ns', 'harbor', new URLSearchParams('tags=latest&tags=1.0')),
      ];
      const { pipelineRun, warnings } = buildPipelineRun(p, plan, resolved, { namespace: 'ns' });
      expect(pipelineRun).to.deep.equal({
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        metadata: { generateName: 'build-', namespace: 'ns' },
        spec: {
          pipelineRef: { name: 'build' },
          params: [
            { name: 'REPO_URL', value: 'https://git.example.com/org/app.git' },
            { name: 'REVISION', value: 'v2' },
            {
              name: 'artifact-versions',
              value: ['registry.example.com/app:latest', 'registry.example.com/app:1.0'],
            },
            { name: 'replicas', value: '3' },
          ],
          workspaces: [
            {
              name: 'git-auth',
              csi: {
                driver: 'connectors-csi',
                readOnly: true,
                volumeAttributes: { 'connector.name': 'demo-git' },
              },
            },
            { name: 'registry-config', csi: { driver: 'connectors-csi' } },
          ],
        },
      });
      expect(warnings).to.deep.equal([
        'the Pipeline\'s workspace "output" is bound by no integration: add its binding before you create the PipelineRun',
      ]);
      expect(
        buildPipelineRun(p, plan, resolved, { namespace: 'ns', name: 'run-1' }).pipelineRun['metadata'],
      ).to.deep.equal({
        name: 'run-1',
        namespace: 'ns',
      });
    });

    it('a required Pipeline param left unset, or set twice, is refused with the flag', () => {
      const p = pipeline();
      const resolved = [
        resolvedGit('ns', 'demo-git', new URLSearchParams('repository=r')),
        resolvedOci('ns', 'harbor', new URLSearchParams('tags=1')),
      ];
      const plan = (params: [string, string][]) =>
        planOf([['image', 'harbor']], [['git.revision', 'x'], ...params]);
      expect(() => buildPipelineRun(p, plan([]), resolved, { namespace: 'ns' })).to.throw(
        'the Pipeline param "replicas" has no default: pass --param replicas=VALUE',
      );
      expect(() =>
        buildPipelineRun(
          p,
          plan([
            ['REVISION', 'y'],
            ['replicas', '1'],
            ['replicas', '2'],
          ]),
          resolved,
          { namespace: 'ns' },
        ),
      ).to.throw(
        '--param REVISION: integration "git" fills it; drop the flag\n--param replicas is given 2 times; the param is no array',
      );
    });
  });

  describe('pipelinerun', () => {
    it('from a file: resolves each integration (by category through the list) and prints the PipelineRun', async () => {
      const file = join(dir, 'pipeline.yaml');
      writeFileSync(
        file,
        `${dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })}---\n${dump(pipeline())}`,
      );
      const r = await runPlugin([
        'pipelinerun',
        '-f',
        file,
        '--connector',
        'image=harbor',
        '--param',
        'git.revision=v2',
        '--param',
        'replicas=3',
        '-n',
        'ci',
        ...kc,
      ]);
      expect(r.stderr).to.equal(
        'Warning: the Pipeline\'s workspace "output" is bound by no integration: add its binding before you create the PipelineRun\n',
      );
      expect(r.code).to.equal(0);
      expect(fake.seen.map((s) => s.url)).to.deep.equal([
        `${sub}/ci/connectors/demo-git/resourceinterfaces/gitcoderepository?repository=org%2Fapp.git&revision=v2`,
        `${sub}/ci/connectors/harbor/resourceinterfaces`,
        `${sub}/ci/connectors/harbor/resourceinterfaces/ociartifact?tags=latest&tags=1.0`,
      ]);
      expect(r.stdout.split('\n').slice(0, 3)).to.deep.equal([
        '# PipelineRun of Pipeline build; its integrations:',
        '#   git: Connector ci/demo-git, ResourceInterface gitcoderepository',
        '#   image: Connector ci/harbor, ResourceInterface ociartifact',
      ]);
      const run = load(r.stdout) as {
        metadata: unknown;
        spec: { params: { name: string }[]; workspaces: { name: string }[] };
      };
      expect(run.metadata).to.deep.equal({ generateName: 'build-', namespace: 'ci' });
      expect(run.spec.params.map((p) => p.name)).to.deep.equal([
        'REPO_URL',
        'REVISION',
        'artifact-versions',
        'replicas',
      ]);
      expect(run.spec.workspaces.map((w) => w.name)).to.deep.equal(['git-auth', 'registry-config']);
    });

    it('from the cluster (tekton.dev/v1), or stdin; a cluster without Tekton says to use -f', async () => {
      fake.routes = (req) =>
        req.url === '/apis/tekton.dev/v1/namespaces/team-a/pipelines/build'
          ? { body: pipeline({ params: [], workspaces: [] }) }
          : serve(req);
      const args = ['--connector', 'image=harbor', '--param', 'git.revision=v1', '-o', 'json', ...kc];
      const fromCluster = await runPlugin(['pipelinerun', 'build', ...args]);
      expect(fromCluster.code, fromCluster.stderr).to.equal(0);
      expect(JSON.parse(fromCluster.stdout)).to.have.nested.property('spec.pipelineRef.name', 'build');
      const fromStdin = await runPlugin(['pipelinerun', '-f', '-', '--name', 'run-1', ...args], {
        stdin: JSON.stringify(pipeline({ params: [], workspaces: [] })),
      });
      expect(JSON.parse(fromStdin.stdout)).to.have.nested.property('metadata.name', 'run-1');
      fake.routes = serve;
      const none = await runPlugin(['pipelinerun', 'build', ...kc]);
      expect(none.stderr).to.equal(
        'error: this cluster serves no tekton.dev/v1 Pipelines (is Tekton Pipelines installed?): give the Pipeline as a file with -f FILE\n',
      );
    });

    it('a Connector whose class supports no RI of the category: which ones it does, and the flag', async () => {
      const file = join(dir, 'one.yaml');
      const p = pipeline({ params: [], workspaces: [] });
      p.metadata = {
        name: 'build',
        annotations: {
          'integrations.tekton.dev/integrations': '- {name: image, interface: {category: OCIArtifact}}',
        },
      };
      writeFileSync(file, dump(p));
      const r = await runPlugin(['pipelinerun', '-f', file, '--connector', 'image=demo-git', ...kc]);
      expect(r.stderr).to.equal(
        'error: integration "image": Connector team-a/demo-git (class git) supports no ResourceInterface of category OCIArtifact ' +
          '(it supports: gitcoderepository (GitCodeRepository)): pass --connector image=NAME for a Connector that does\n',
      );
      const missing = await runPlugin([
        'pipelinerun',
        '-f',
        file,
        '--connector',
        'image=harbor',
        '--param',
        'image.nope=1',
        ...kc,
      ]);
      expect(missing.code).to.equal(0);
      expect(fake.seen.at(-1)?.url).to.match(/ociartifact\?nope=1$/);
    });
  });
});
