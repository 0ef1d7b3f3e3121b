// The shipped ResourceInterfaces (manifests/resourceinterfaces) against the shipped ConnectorClasses
// and the CSI driver, from the YAML files: every class label names a ResourceInterface and every
// ResourceInterface has a class; the dynamic-form descriptors reference operations the classes declare;
// the members of a category keep one contract; and each one, resolved for a Connector of each class
// that supports it, gives the documented attributes and WorkspaceBindings whose volume attributes the
// CSI driver parses, whose configuration names the class declares, and whose rendered files match the
// attributes (the clone URL is one the .gitconfig rewrites to the proxy, the image's host is the one
// config.json logs in to, the repository is the one settings.xml names). Expressions run in the
// server's sandbox (expression/); resolution through kube-apiserver is in
// test/integration/resourceinterfaces-shipped.test.ts.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { load } from 'js-yaml';
import { AddressResolver } from '../../../controller/addresses.js';
import { parseVolumeAttributes, podInfoKeys, volumeAttributeKeys } from '../../../csi/attributes.js';
import type { ConfiguredClass } from '../../../csi/cluster.js';
import { renderConfigurations } from '../../../csi/content.js';
import { ExpressionSandbox, expressionSource, type JsonValue } from '../../../expression/index.js';
import type { ResourceInterface } from '../../../registry/resourceinterface.js';
import type { Connector } from '../../../registry/types.js';
import {
  caseConnector,
  riDir,
  shippedCases,
  shippedClasses,
  shippedResourceInterfaces,
  supportedResourceInterfaces,
  type ResolvedWorkspace,
  type ShippedCase,
} from '../../helpers/shipped-resourceinterfaces.js';

const riPrefix = 'resourceinterface.connectors.cpaas.io/';

const supported = supportedResourceInterfaces;

const categories: Record<string, string> = {
  gitcoderepository: 'GitCodeRepository',
  gitlabcoderepository: 'GitCodeRepository',
  githubcoderepository: 'GitCodeRepository',
  ociartifact: 'OCIArtifact',
  mavenartifact: 'MavenArtifact',
};

/** The class operations each ResourceInterface's form picks a param from, and the classes declaring it. */
const pickers: Record<string, Record<string, { operationId: string; classes: string[] }>> = {
  gitcoderepository: { revision: { operationId: 'listGitRefs', classes: ['git'] } },
  gitlabcoderepository: {
    repository: { operationId: 'listProjects', classes: ['gitlab'] },
    revision: { operationId: 'listBranches', classes: ['gitlab'] },
  },
  githubcoderepository: {
    repository: { operationId: 'listUserRepositories', classes: ['github'] },
    revision: { operationId: 'listBranches', classes: ['github'] },
  },
  ociartifact: { tags: { operationId: 'listTags', classes: ['oci'] } },
  mavenartifact: {},
};

interface Operation {
  operationId?: string;
  parameters?: { name: string; required?: boolean }[];
  'x-display-schema'?: { parameters?: { name: string; value: string }[]; descriptors?: string[] };
}

function operation(cls: ConfiguredClass, operationId: string): Operation | undefined {
  const paths = cls.spec?.api?.openapi?.paths as Record<string, Record<string, Operation>> | undefined;
  return Object.values(paths ?? {})
    .flatMap((ops) => Object.values(ops))
    .find((op) => op.operationId === operationId);
}

interface Descriptor {
  path: string;
  'x-descriptors': string[];
}

function descriptors(ri: ResourceInterface): Descriptor[] {
  const text = ri.metadata?.annotations?.['style.tekton.dev/descriptors'] ?? '';
  return (load(text) as Descriptor[] | undefined) ?? [];
}

// --- resolution, as the server does it: `{…}` strings run in the expression sandbox over params and
// connector, in attributes[].expression and anywhere in workspaces[].value

interface Resolved {
  params: [string, unknown][];
  attributes: [string, unknown, string][];
  workspaces: ResolvedWorkspace[];
}

/** A deep copy of `value` with each expression string replaced by what `evaluated` gives for it. */
function filled(value: unknown, evaluated: (text: string) => unknown): unknown {
  if (typeof value === 'string') return evaluated(value);
  if (Array.isArray(value)) return value.map((v) => filled(v, evaluated));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, filled(v, evaluated)]));
  }
  return value;
}

async function resolve(
  sandbox: ExpressionSandbox,
  ri: ResourceInterface,
  connector: Connector,
  given: ShippedCase['given'],
): Promise<Resolved> {
  const spec = ri.spec ?? {};
  const params = (spec.params ?? []).map((p): [string, unknown] => [p.name, given[p.name] ?? p.default]);
  const context = JSON.parse(
    JSON.stringify({
      params: Object.fromEntries(params),
      connector: { ...connector, metadata: { labels: {}, annotations: {}, ...connector.metadata } },
    }),
  ) as Record<string, JsonValue>;
  // Every expression string of the ResourceInterface, evaluated in one batch.
  const texts = new Set<string>();
  filled({ a: (spec.attributes ?? []).map((a) => a.expression), w: spec.workspaces }, (t) => texts.add(t));
  const sources = [...texts].filter((t) => expressionSource(t) !== null);
  const outcomes = await sandbox.evaluate(
    sources.map((t) => expressionSource(t) ?? ''),
    context,
  );
  const values = new Map<string, unknown>();
  outcomes.forEach((o, i) => {
    if (!o.ok) throw new Error(`${ri.metadata?.name ?? ''}: ${sources[i] ?? ''}: ${o.error}`);
    values.set(sources[i] ?? '', o.value);
  });
  const evaluated = (text: string): unknown => (values.has(text) ? values.get(text) : text);
  return {
    params,
    attributes: (spec.attributes ?? []).map((a) => [
      a.name,
      evaluated(a.expression ?? ''),
      a.parameterize?.name ?? a.name,
    ]),
    workspaces: (spec.workspaces ?? []).map((w) => {
      const workspace = w.workspaceMapping?.name ?? w.name;
      return {
        name: w.name,
        workspace,
        binding: { name: workspace, ...(filled(w.value ?? {}, evaluated) as Record<string, unknown>) },
      };
    }),
  };
}

describe('shipped ResourceInterfaces (manifests/resourceinterfaces)', () => {
  const ris = shippedResourceInterfaces();
  const classes = shippedClasses() as Map<string, ConfiguredClass>;
  const addresses = new AddressResolver('connectors-system');
  const sandbox = new ExpressionSandbox({ timeoutMs: 2000 });
  after(() => sandbox.close());

  it('ships one file per ResourceInterface, each listed in the kustomization', () => {
    const files = readdirSync(riDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    const kustomization = load(readFileSync(join(riDir, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
      labels: { pairs: Record<string, string> }[];
    };
    expect([...kustomization.resources].sort()).to.deep.equal([...files].sort());
    expect(files.map((f) => f.replace(/\.yaml$/, '')).sort()).to.deep.equal([...ris.keys()].sort());
    expect(kustomization.labels[0]?.pairs).to.deep.equal({ 'app.kubernetes.io/part-of': 'connectors' });
    const classesKustomization = load(
      readFileSync(join(riDir, '..', 'classes', 'kustomization.yaml'), 'utf8'),
    ) as { resources: string[] };
    expect(classesKustomization.resources, 'applied with the classes').to.include('../resourceinterfaces');
  });

  it('each has its category, version and schema-version labels and display annotations', () => {
    expect([...ris.keys()].sort()).to.deep.equal(Object.keys(categories).sort());
    for (const [name, ri] of ris) {
      expect(ri.metadata?.labels, name).to.deep.equal({
        [`${riPrefix}category`]: categories[name],
        [`${riPrefix}version`]: '1',
        [`${riPrefix}schema-version`]: '1',
      });
      for (const key of ['cpaas.io/display-name', 'cpaas.io/description']) {
        expect(ri.metadata?.annotations?.[key], `${name} ${key}`).to.be.a('string').and.not.empty;
      }
      for (const p of ri.spec?.params ?? [])
        expect(p.description, `${name} params.${p.name}`).to.not.be.empty;
      for (const a of ri.spec?.attributes ?? []) {
        expect(expressionSource(a.expression ?? ''), `${name} ${a.name}: an expression`).to.not.equal(null);
        expect(a.parameterize?.name, `${name} ${a.name}: a pipeline param name`).to.be.a('string');
        for (const d of a.dependsOn ?? []) {
          const declared = d === 'connector' || (ri.spec?.params ?? []).some((p) => `params.${p.name}` === d);
          expect(declared, `${name} ${a.name} dependsOn ${d}`).to.equal(true);
        }
      }
    }
  });

  it('every class label names a shipped ResourceInterface, and every one has a class', () => {
    expect([...classes.keys()].sort()).to.deep.equal(Object.keys(supported).sort());
    const used = new Set<string>();
    for (const [name, cls] of classes) {
      const labels = Object.entries(cls.metadata?.labels ?? {}).filter(([k]) => k.startsWith(riPrefix));
      for (const [key, value] of labels) {
        expect(value, `${name} ${key}`).to.equal('true');
        expect(
          ris.has(key.slice(riPrefix.length)),
          `${name}: ${key} names no shipped ResourceInterface`,
        ).to.equal(true);
        used.add(key.slice(riPrefix.length));
      }
      expect(labels.map(([k]) => k.slice(riPrefix.length)).sort(), name).to.deep.equal(supported[name]);
    }
    expect([...used].sort(), 'ResourceInterfaces with a class').to.deep.equal([...ris.keys()].sort());
  });

  it('the members of a category share its attributes and workspaces', () => {
    const contract = (ri: ResourceInterface) => ({
      attributes: (ri.spec?.attributes ?? []).map((a) => [a.name, a.type, a.parameterize]),
      workspaces: (ri.spec?.workspaces ?? []).map((w) => [w.name, w.workspaceMapping, w.value]),
    });
    const git = contract(ris.get('gitcoderepository')!);
    expect(git.attributes).to.have.length(2);
    for (const name of ['gitlabcoderepository', 'githubcoderepository']) {
      expect(contract(ris.get(name)!), name).to.deep.equal(git);
      expect(ris.get(name)?.spec?.params, name).to.deep.equal(ris.get('gitcoderepository')?.spec?.params);
    }
  });

  it('the forms describe declared params and pick them with operations the classes declare, mapped', () => {
    for (const [name, ri] of ris) {
      const declared = (ri.spec?.params ?? []).map((p) => `params.${p.name}`);
      const picked: Record<string, string> = {};
      for (const d of descriptors(ri)) {
        expect(declared, `${name}: descriptor for ${d.path}`).to.include(d.path);
        const labelled = d['x-descriptors'].some((x) => x.startsWith('urn:alm:descriptor:label:en:'));
        expect(labelled, `${name} ${d.path}: an English label`).to.equal(true);
        for (const x of d['x-descriptors']) {
          const m =
            /^urn:alm:descriptor:expression:props\.options:schema:openapi:context\.connectorClass\.spec\.api\.openapi:(\w+)$/.exec(
              x,
            );
          if (m) picked[d.path.slice('params.'.length)] = m[1] ?? '';
        }
      }
      expect(
        Object.fromEntries(Object.entries(pickers[name] ?? {}).map(([p, v]) => [p, v.operationId])),
        name,
      ).to.deep.equal(picked);
      for (const [param, { operationId, classes: declaring }] of Object.entries(pickers[name] ?? {})) {
        const supporting = [...classes].filter(
          ([, c]) => c.metadata?.labels?.[`${riPrefix}${name}`] === 'true',
        );
        expect(
          supporting.filter(([, c]) => operation(c, operationId)).map(([n]) => n),
          `${name}: classes declaring ${operationId}`,
        ).to.deep.equal(declaring);
        for (const className of declaring) {
          const op = operation(classes.get(className)!, operationId)!;
          const schema = op['x-display-schema'];
          expect(schema?.descriptors, `${className} ${operationId} x-display-schema`).to.not.be.empty;
          const mapped = (schema?.parameters ?? []).map((p) => p.name);
          for (const p of op.parameters ?? []) {
            if (p.required)
              expect(mapped, `${className} ${operationId}: required ${p.name}`).to.include(p.name);
          }
          for (const p of schema?.parameters ?? []) {
            expect(
              op.parameters?.map((x) => x.name),
              `${className} ${operationId}: ${p.name}`,
            ).to.include(p.name);
            for (const m of p.value.matchAll(/context\.params\.(\w+)/g)) {
              expect(declared, `${className} ${operationId} (picks ${param}): ${m[0]}`).to.include(
                `params.${m[1] ?? ''}`,
              );
            }
          }
        }
      }
    }
  });

  it('the resolution table covers every ResourceInterface with every class that supports it', () => {
    const pairs = Object.entries(supported).flatMap(([cls, names]) => names.map((n) => `${n} ${cls}`));
    expect([...new Set(shippedCases.map((c) => `${c.ri} ${c.className}`))].sort()).to.deep.equal(
      pairs.sort(),
    );
  });

  for (const c of shippedCases) {
    describe(`${c.ri} for ${c.connector} (class ${c.className})`, () => {
      const namespace = 'team-a';
      const ri = ris.get(c.ri)!;
      const cls = classes.get(c.className)!;
      const connector = caseConnector(c, namespace);
      const proxy = addresses.connectorProxyUrl(connector, cls);
      const withStatus = { ...connector, status: { proxy: { httpAddress: { url: proxy ?? '' } } } };
      let resolved: Resolved;
      before(async () => {
        resolved = await resolve(sandbox, ri, withStatus, c.given);
      });

      it('resolves to the documented params, attributes and WorkspaceBindings', () => {
        expect(proxy).to.be.a('string');
        expect(resolved.params).to.deep.equal(c.params);
        expect(resolved.attributes).to.deep.equal(c.attributes({ namespace, proxy: new URL(proxy ?? '') }));
        expect(resolved.workspaces).to.deep.equal(c.workspaces(namespace));
      });

      it('binds connectors-csi volumes the CSI driver mounts with the class’s configurations', () => {
        const csiBindings = resolved.workspaces.filter((w) => 'csi' in w.binding);
        expect(csiBindings).to.have.length(1);
        const known: string[] = Object.values(volumeAttributeKeys);
        for (const w of csiBindings) {
          const volume = w.binding.csi as {
            driver: string;
            readOnly: boolean;
            volumeAttributes: Record<string, string>;
          };
          expect(volume.driver).to.equal('connectors-csi');
          expect(volume.readOnly, 'the driver mounts read-only volumes only').to.equal(true);
          for (const key of Object.keys(volume.volumeAttributes)) {
            expect(known, `${w.name}: volume attribute ${key}`).to.include(key);
          }
          const attrs = parseVolumeAttributes(
            {
              ...volume.volumeAttributes,
              [podInfoKeys.name]: 'pipeline-pod',
              [podInfoKeys.namespace]: namespace,
              [podInfoKeys.uid]: 'uid-1',
              [podInfoKeys.serviceAccount]: 'pipeline',
              [podInfoKeys.ephemeral]: 'true',
            },
            { multiConnector: false },
          );
          expect(attrs.connectors).to.deep.equal([{ namespace, name: c.connector }]);
          const offered = (cls.spec?.configurations ?? []).map((x) => x.name);
          expect(attrs.configurationNames).to.not.be.empty;
          for (const n of attrs.configurationNames) {
            expect(offered, `configuration.names: ${n} of ConnectorClass ${c.className}`).to.include(n);
          }
          // Even from a pod of another namespace, the binding names this Connector, not a namesake.
          const elsewhere = parseVolumeAttributes(
            {
              ...volume.volumeAttributes,
              [podInfoKeys.name]: 'p',
              [podInfoKeys.namespace]: 'other',
              [podInfoKeys.uid]: 'u',
              [podInfoKeys.serviceAccount]: 's',
            },
            { multiConnector: false },
          );
          expect(elsewhere.connectors).to.deep.equal([{ namespace, name: c.connector }]);
        }
      });

      it('gives attributes that work with the files the volume holds', () => {
        const volume = resolved.workspaces.find((w) => 'csi' in w.binding)?.binding.csi as {
          volumeAttributes: Record<string, string>;
        };
        const files = renderConfigurations(
          [
            {
              ref: { namespace, name: c.connector },
              connector: withStatus,
              className: c.className,
              connectorClass: cls,
              proxyAddress: proxy ?? '',
            },
          ],
          {
            configurationNames: volume.volumeAttributes['configuration.names']?.split(',') ?? [],
            configurationParams: {},
          },
          { token: 'pod-token', caCert: 'ca' },
        );
        const value = (name: string) => resolved.attributes.find(([n]) => n === name)?.[1];
        if (c.ri.endsWith('coderepository')) {
          // git clone <url> with this .gitconfig goes to the Connector's proxy address.
          const gitconfig = files.get('.gitconfig') ?? '';
          const insteadOf = /insteadOf = (\S+)/.exec(gitconfig)?.[1] ?? '(none)';
          const rewrittenTo = /\[url "([^"]+)"\]/.exec(gitconfig)?.[1];
          expect(
            String(value('url')).startsWith(insteadOf),
            `${String(value('url'))} under ${insteadOf}`,
          ).to.equal(true);
          expect(rewrittenTo).to.equal(`${proxy ?? ''}/`);
        } else if (c.ri === 'ociartifact') {
          // The reference's registry host is the one config.json holds the pod's token for.
          const auths = Object.keys(
            (JSON.parse(files.get('config.json') ?? '{}') as { auths: object }).auths,
          );
          const images = [
            value('repository-address'),
            value('artifact-version'),
            ...(value('artifact-versions') as string[]),
          ];
          for (const ref of images) expect(auths, String(ref)).to.deep.equal([String(ref).split('/')[0]]);
          expect(files.get('buildkitd.toml')).to.contain(`[registry."${auths[0] ?? ''}"]`);
        } else {
          // settings.xml names the repository, with the id the deploy repository uses.
          const settings = files.get('settings.xml') ?? '';
          const [id, url] = String(value('deploy-repository')).split('::');
          expect(url).to.equal(value('repository-url'));
          expect(settings)
            .to.contain(`<id>${id ?? ''}</id>`)
            .and.contain(`<url>${url ?? ''}</url>`);
          const artifact = String(value('artifact-url'));
          if (artifact) expect(artifact.startsWith(String(url).replace(/\/+$/, '') + '/')).to.equal(true);
        }
      });
    });
  }
});
