// Every ResourceInterface expression the upstream documentation publishes, as published, evaluates
// in the sandbox to what the documentation says it computes. Sources: the "ResourceInterface"
// concept page (docs/en/connectors/concepts/resource_interface.mdx: the examples' `expression:`
// lines, the workspace volumeAttributes, the "Example" bullet list) and the Nexus design
// (docs/en/design/connector-nexus/tech-design.md: the MavenArtifact attribute and settings).
// YAML lines are decoded as YAML first (`\\/` in a double-quoted scalar is `\/`), then recognised
// as expressions by expressionSource(), exactly as the server will read a ResourceInterface.

import { expect } from 'chai';
import { load } from 'js-yaml';
import { ExpressionSandbox, expressionSource, type JsonValue } from '../../../expression/index.js';

const gitConnector = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'Connector',
  metadata: { name: 'github', namespace: 'team-a' },
  spec: { connectorClassName: 'git', address: 'https://github.com' },
};
const harborConnector = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'Connector',
  metadata: { name: 'harbor', namespace: 'team-a' },
  spec: { connectorClassName: 'oci', address: 'https://harbor.example.com' },
};
const nexusConnector = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'Connector',
  metadata: { name: 'nexus', namespace: 'team-a' },
  spec: { connectorClassName: 'nexus', address: 'https://nexus.example.com/' },
};

type Published = { yaml: string } | { markdown: string };
interface Row {
  where: string;
  published: Published;
  context: Record<string, JsonValue>;
  expected: JsonValue;
}

const git = { connector: gitConnector, params: { repository: 'org/app', revision: 'refs/heads/main' } };
const oci = {
  connector: harborConnector,
  params: { repository: 'library/app', tag: 'v1', tags: ['v1', 'latest'] },
};

const rows: Row[] = [
  {
    where: 'concept page, first example and GitCodeRepository example: attribute url',
    published: { yaml: `expression: "{connector.spec.address + '/' + params.repository}"` },
    context: git,
    expected: 'https://github.com/org/app',
  },
  {
    where: 'concept page, GitCodeRepository example: attribute revision (default refs/heads/main)',
    published: { yaml: `expression: "{params.revision}"` },
    context: git,
    expected: 'refs/heads/main',
  },
  {
    where: 'concept page, workspace git-basic-auth: volumeAttributes connector.name',
    published: { yaml: `connector.name: "{connector.metadata.name}"` },
    context: git,
    expected: 'github',
  },
  {
    where: 'concept page, workspace git-basic-auth: volumeAttributes connector.namespace',
    published: { yaml: `connector.namespace: "{connector.metadata.namespace}"` },
    context: git,
    expected: 'team-a',
  },
  {
    where: 'concept page, Expression Syntax example: the address of the repository',
    published: { markdown: `{connector.spec.address + '/' + params.repository}` },
    context: git,
    expected: 'https://github.com/org/app',
  },
  {
    where: 'concept page, Expression Syntax example: the address of the artifact',
    published: {
      markdown: `{url(connector.spec.address).host + '/' + params.repository + ':' + params.tag}`,
    },
    context: oci,
    expected: 'harbor.example.com/library/app:v1',
  },
  {
    where: 'concept page, Expression Syntax example: the addresses of the artifacts, one per tag',
    published: {
      markdown: `{params.tags.map(tag => url(connector.spec.address).host + '/' + params.repository + ':' + tag)}`,
    },
    context: oci,
    expected: ['harbor.example.com/library/app:v1', 'harbor.example.com/library/app:latest'],
  },
  // The OCIArtifact example reads connector.spec.registry, a field no Connector has (its address is
  // spec.address). Real JavaScript turns the missing field into "undefined" in a concatenation;
  // that is what the published text computes, and what the sandbox returns: no special case.
  {
    where: 'concept page, OCIArtifact example: attribute repository-address (spec.registry does not exist)',
    published: { yaml: `expression: "{connector.spec.registry + '/' + params.repository}"` },
    context: oci,
    expected: 'undefined/library/app',
  },
  {
    where:
      'concept page, attributes and OCIArtifact example: artifact-versions (spec.registry does not exist)',
    published: {
      yaml: `expression: "{params.tags.map(tag => connector.spec.registry + '/' + params.repository + ':' + tag)}"`,
    },
    context: oci,
    expected: ['undefined/library/app:v1', 'undefined/library/app:latest'],
  },
  {
    where: 'Nexus design, MavenArtifact: attribute mirrorRepository (trailing slashes removed)',
    published: {
      yaml: `expression: "{connector.spec.address.replace(/\\\\/+$/, '') + '/repository/' + params.mirrorRepository}"`,
    },
    context: { connector: nexusConnector, params: { mirrorRepository: 'maven-public' } },
    expected: 'https://nexus.example.com/repository/maven-public',
  },
  {
    where: 'Nexus design, MavenArtifact: workspace settings, volumeAttributes connectors',
    published: { yaml: `connectors: "{connector.metadata.name}"` },
    context: { connector: nexusConnector, params: { mirrorRepository: 'maven-public' } },
    expected: 'nexus',
  },
  {
    where: 'Nexus design, MavenArtifact: configuration.params with a mirror repository',
    published: {
      yaml: `configuration.params: "{JSON.stringify({settings: {mirrorRepository: params.mirrorRepository || ''}})}"`,
    },
    context: { connector: nexusConnector, params: { mirrorRepository: 'maven-public' } },
    expected: '{"settings":{"mirrorRepository":"maven-public"}}',
  },
  {
    where: 'Nexus design, MavenArtifact: configuration.params with the default "" mirror repository',
    published: {
      yaml: `configuration.params: "{JSON.stringify({settings: {mirrorRepository: params.mirrorRepository || ''}})}"`,
    },
    context: { connector: nexusConnector, params: { mirrorRepository: '' } },
    expected: '{"settings":{"mirrorRepository":""}}',
  },
];

/** The string as a ResourceInterface holds it: the YAML scalar's value, or the Markdown code. */
function publishedText(published: Published): string {
  if ('markdown' in published) return published.markdown;
  const values = Object.values(load(published.yaml) as Record<string, unknown>);
  expect(values).to.have.length(1);
  expect(values[0]).to.be.a('string');
  return values[0] as string;
}

describe('expression: every published ResourceInterface expression evaluates as documented', function () {
  this.timeout(30_000);
  // These rows check values, not bounds: a deadline no busy test machine can reach.
  const sandbox = new ExpressionSandbox({ timeoutMs: 10_000 });
  after(() => sandbox.close());

  for (const row of rows) {
    it(row.where, async function () {
      const source = expressionSource(publishedText(row.published));
      expect(source, 'recognised as an expression').to.be.a('string');
      const [outcome] = await sandbox.evaluate([source!], row.context);
      expect(outcome).to.deep.equal({ ok: true, value: row.expected });
    });
  }

  it('the published literals around them stay literals', function () {
    for (const yaml of [
      'configuration.names: "gitconfig"',
      'token.expiration: 30m',
      'driver: connectors-csi',
      'configuration.names: settings',
    ]) {
      expect(expressionSource(publishedText({ yaml })), yaml).to.equal(null);
    }
  });

  it('the whole GitCodeRepository example resolves in one call sharing one context', async function () {
    const published = [
      `{connector.spec.address + '/' + params.repository}`,
      '{params.revision}',
      '{connector.metadata.name}',
      '{connector.metadata.namespace}',
    ];
    const outcomes = await sandbox.evaluate(
      published.map((text) => expressionSource(text)!),
      git,
    );
    expect(outcomes).to.deep.equal(
      ['https://github.com/org/app', 'refs/heads/main', 'github', 'team-a'].map((value) => ({
        ok: true,
        value,
      })),
    );
  });
});
