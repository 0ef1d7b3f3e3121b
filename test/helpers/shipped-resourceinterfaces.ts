// The shipped ResourceInterfaces (manifests/resourceinterfaces) resolved for a Connector of each class
// that supports them: the Connector, the params a caller gives, and what resolution must answer
// (params with defaults, attribute values with their pipeline param names, WorkspaceBindings). One
// table, read by the unit test over the YAML files (test/unit/manifests/resourceinterfaces.test.ts)
// and by the tests that resolve through the server.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { repoRoot } from '../../hack/binaries.js';
import type { ResourceInterface } from '../../registry/resourceinterface.js';
import type { Connector, ConnectorClass } from '../../registry/types.js';

export const riDir = join(repoRoot(), 'manifests', 'resourceinterfaces');
export const classesDir = join(repoRoot(), 'manifests', 'classes');

function objects<T extends { kind?: string }>(dir: string, kind: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const doc of loadAllYaml(readFileSync(join(dir, file), 'utf8')) as T[]) {
      const name = (doc as { metadata?: { name?: string } }).metadata?.name;
      if (doc.kind === kind && name) out.set(name, doc);
    }
  }
  return out;
}

/** The shipped ResourceInterfaces by name, as in their files. */
export const shippedResourceInterfaces = (): Map<string, ResourceInterface> =>
  objects<ResourceInterface>(riDir, 'ResourceInterface');

/** The shipped ConnectorClasses by name, as in their files. */
export const shippedClasses = (): Map<string, ConnectorClass> =>
  objects<ConnectorClass>(classesDir, 'ConnectorClass');

/** Which shipped ResourceInterfaces each shipped class supports (labels `…/<name>: "true"`). */
export const supportedResourceInterfaces: Readonly<Record<string, readonly string[]>> = {
  git: ['gitcoderepository'],
  gitlab: ['gitcoderepository', 'gitlabcoderepository'],
  github: ['gitcoderepository', 'githubcoderepository'],
  oci: ['ociartifact'],
  harbor: ['ociartifact'],
  maven: ['mavenartifact'],
  k8s: [],
  npm: [],
  mysql: [],
  pypi: [],
  sonarqube: [],
};

export type Value = string | string[];

export interface ResolvedWorkspace {
  name: string;
  workspace: string;
  binding: Record<string, unknown>;
}

export interface ShippedCase {
  ri: string;
  className: string;
  /** The Connector's name (one per case, so cases can share a namespace). */
  connector: string;
  address: string;
  /** The caller's params: the query of …/resourceinterfaces/{ri}. */
  given: Record<string, Value>;
  /** Every param after defaults, in declaration order. */
  params: [string, Value][];
  /** Every attribute: name, value, pipeline param; `proxy` is the Connector's proxy address. */
  attributes: (at: { namespace: string; proxy: URL }) => [string, Value, string][];
  /** Every workspace as resolved for a Connector in `namespace`. */
  workspaces: (namespace: string) => ResolvedWorkspace[];
}

const csi = (
  namespace: string,
  name: string,
  names: string,
  expiration: string,
): Record<string, unknown> => ({
  csi: {
    driver: 'connectors-csi',
    readOnly: true,
    volumeAttributes: {
      connectors: `${namespace}/${name}`,
      'configuration.names': names,
      'token.expiration': expiration,
    },
  },
});

const gitWorkspaces = (name: string) => (namespace: string) => [
  {
    name: 'git-source',
    workspace: 'git-source',
    binding: {
      name: 'git-source',
      volumeClaimTemplate: {
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    },
  },
  {
    name: 'git-basic-auth',
    workspace: 'git-basic-auth',
    binding: { name: 'git-basic-auth', ...csi(namespace, name, 'gitconfig', '30m') },
  },
];

function gitCase(
  ri: string,
  className: string,
  connector: string,
  address: string,
  given: { repository: string; revision?: string },
  url: string,
): ShippedCase {
  const revision = given.revision ?? 'refs/heads/main';
  return {
    ri,
    className,
    connector,
    address,
    given,
    params: [
      ['repository', given.repository],
      ['revision', revision],
    ],
    attributes: () => [
      ['url', url, 'git-url'],
      ['revision', revision, 'git-revision'],
    ],
    workspaces: gitWorkspaces(connector),
  };
}

/** The image reference of `repository` through the Connector's proxy address (path resolver). */
const image = (proxy: URL, repository: string): string =>
  `${proxy.host}${proxy.pathname.replace(/\/+$/, '')}/${repository}`;

const ociWorkspaces = (name: string) => (namespace: string) => [
  {
    name: 'registry-config',
    workspace: 'registry-config',
    binding: { name: 'registry-config', ...csi(namespace, name, 'registry-config,buildkitd', '60m') },
  },
];

const mavenWorkspaces = (name: string) => (namespace: string) => [
  {
    name: 'settings',
    workspace: 'maven-settings',
    binding: { name: 'maven-settings', ...csi(namespace, name, 'settings', '30m') },
  },
];

const digest = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

export const shippedCases: ShippedCase[] = [
  // A trailing slash on the address and a leading one on the repository: still one slash between.
  gitCase(
    'gitcoderepository',
    'git',
    'git',
    'https://git.example.com/scm/',
    { repository: '/team/app.git' },
    'https://git.example.com/scm/team/app.git',
  ),
  gitCase(
    'gitcoderepository',
    'gitlab',
    'gitlab-generic',
    'https://gitlab.example.com',
    { repository: 'group/sub/app', revision: 'v1.0.0' },
    'https://gitlab.example.com/group/sub/app',
  ),
  gitCase(
    'gitcoderepository',
    'github',
    'github-generic',
    'https://github.com',
    { repository: 'org/app', revision: 'main' },
    'https://github.com/org/app',
  ),
  gitCase(
    'gitlabcoderepository',
    'gitlab',
    'gitlab',
    'https://git.example.com/gitlab',
    { repository: 'group/app', revision: 'refs/tags/v2' },
    'https://git.example.com/gitlab/group/app',
  ),
  gitCase(
    'githubcoderepository',
    'github',
    'github',
    'https://github.com',
    { repository: 'org/app.git' },
    'https://github.com/org/app.git',
  ),
  {
    ri: 'ociartifact',
    className: 'oci',
    connector: 'registry',
    address: 'https://registry.example.com',
    given: { repository: 'team/app', tags: ['1.0', digest] },
    params: [
      ['repository', 'team/app'],
      ['tags', ['1.0', digest]],
    ],
    attributes: ({ proxy }) => [
      ['repository-address', image(proxy, 'team/app'), 'image-repository'],
      [
        'artifact-versions',
        [`${image(proxy, 'team/app')}:1.0`, `${image(proxy, 'team/app')}@${digest}`],
        'images',
      ],
      ['artifact-version', `${image(proxy, 'team/app')}:1.0`, 'image'],
    ],
    workspaces: ociWorkspaces('registry'),
  },
  {
    ri: 'ociartifact',
    className: 'harbor',
    connector: 'harbor',
    address: 'https://harbor.example.com',
    given: { repository: 'library/alpine' },
    params: [
      ['repository', 'library/alpine'],
      ['tags', ['latest']],
    ],
    attributes: ({ proxy }) => [
      ['repository-address', image(proxy, 'library/alpine'), 'image-repository'],
      ['artifact-versions', [`${image(proxy, 'library/alpine')}:latest`], 'images'],
      ['artifact-version', `${image(proxy, 'library/alpine')}:latest`, 'image'],
    ],
    workspaces: ociWorkspaces('harbor'),
  },
  {
    ri: 'mavenartifact',
    className: 'maven',
    connector: 'maven',
    address: 'https://nexus.example.com/repository/maven-public/',
    given: { groupId: 'com.example.tools', artifactId: 'app', version: '1.0.0' },
    params: [
      ['groupId', 'com.example.tools'],
      ['artifactId', 'app'],
      ['version', '1.0.0'],
    ],
    attributes: () => [
      ['repository-url', 'https://nexus.example.com/repository/maven-public/', 'maven-repository-url'],
      [
        'deploy-repository',
        'maven::https://nexus.example.com/repository/maven-public/',
        'maven-deploy-repository',
      ],
      [
        'artifact-url',
        'https://nexus.example.com/repository/maven-public/com/example/tools/app/1.0.0/',
        'maven-artifact-url',
      ],
    ],
    workspaces: mavenWorkspaces('maven'),
  },
  {
    ri: 'mavenartifact',
    className: 'maven',
    connector: 'maven-bare',
    address: 'https://repo.example.com/maven2',
    given: {},
    params: [
      ['groupId', ''],
      ['artifactId', ''],
      ['version', ''],
    ],
    attributes: () => [
      ['repository-url', 'https://repo.example.com/maven2', 'maven-repository-url'],
      ['deploy-repository', 'maven-bare::https://repo.example.com/maven2', 'maven-deploy-repository'],
      ['artifact-url', '', 'maven-artifact-url'],
    ],
    workspaces: mavenWorkspaces('maven-bare'),
  },
];

/** The Connector of a case in `namespace` (no Secret: every shipped class's auth is optional). */
export function caseConnector(c: ShippedCase, namespace: string): Connector {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name: c.connector, namespace },
    spec: { connectorClassName: c.className, address: c.address },
  };
}

/** The query string of a case's params (an array param repeats its key). */
export function caseQuery(c: ShippedCase): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(c.given)) for (const x of [v].flat()) q.append(k, x);
  return q.toString();
}
