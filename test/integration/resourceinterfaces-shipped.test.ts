// ResourceInterfaces against the real kube-apiserver and our CRD: the published examples that are
// complete documents (test/fixtures/upstream/, copied verbatim) apply unchanged and are stored as
// written; the schema refuses what resolution could not work with, in the API server's own words; and
// the shipped ResourceInterfaces (manifests/resourceinterfaces) apply, alone and with the classes, and
// resolve through the server (connectors/{name}/resourceinterfaces/{ri}) for a Connector of every class
// that supports them to the values test/helpers/shipped-resourceinterfaces.ts tables.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import { AddressResolver } from '../../controller/addresses.js';
import { repoRoot } from '../../hack/binaries.js';
import type { ResourceInterface } from '../../registry/resourceinterface.js';
import {
  caseConnector,
  caseQuery,
  classesDir,
  riDir,
  shippedCases,
  shippedClasses,
  shippedResourceInterfaces,
  supportedResourceInterfaces,
  type ResolvedWorkspace,
  type ShippedCase,
} from '../helpers/shipped-resourceinterfaces.js';
import { apply, env, eventually, gvPath, kubectl, kubectlOk, namespace } from '../helpers/env.js';

const upstreamDir = join(repoRoot(), 'test', 'fixtures', 'upstream');
const upstreamFiles = readdirSync(upstreamDir).filter((f) => f.endsWith('.yaml'));

function document(file: string): ResourceInterface {
  const docs = loadAllYaml(readFileSync(file, 'utf8')) as ResourceInterface[];
  expect(docs, file).to.have.length(1);
  return docs[0]!;
}

async function stored(name: string): Promise<ResourceInterface> {
  return JSON.parse(await kubectlOk(['get', 'resourceinterface', name, '-o', 'json'])) as ResourceInterface;
}

/** A valid ResourceInterface (the published GitCodeRepository example) with `change` applied to a copy. */
function variant(change: (ri: ResourceInterface & { spec: Record<string, unknown[]> }) => void): string {
  const ri = structuredClone(
    document(join(upstreamDir, 'resourceinterface-gitcoderepository.yaml')),
  ) as ResourceInterface & { spec: Record<string, unknown[]> };
  ri.metadata = { name: 'it-refused' };
  change(ri);
  return JSON.stringify(ri);
}

describe('ResourceInterface CRD: the published examples and the shipped ResourceInterfaces', function () {
  const upstreamNames = [
    ...new Set(upstreamFiles.map((f) => document(join(upstreamDir, f)).metadata?.name ?? '')),
  ];
  const shippedNames = [...shippedResourceInterfaces().keys()];

  // The published examples reuse the shipped names (gitcoderepository, ociartifact): start from
  // neither, and leave neither behind (classes.test.ts removes the classes and ours the same way).
  const clean = async () => {
    await kubectl([
      'delete',
      'resourceinterface',
      ...new Set([...upstreamNames, ...shippedNames]),
      '--ignore-not-found',
    ]);
  };
  before(clean);
  after(clean);

  it('has the five published examples that are complete documents, each from the page it names', function () {
    expect(upstreamFiles.sort()).to.deep.equal([
      'nexusmavenartifact.yaml',
      'resourceinterface-display.yaml',
      'resourceinterface-gitcoderepository.yaml',
      'resourceinterface-ociartifact.yaml',
      'resourceinterface-overview.yaml',
    ]);
    for (const file of upstreamFiles) {
      const text = readFileSync(join(upstreamDir, file), 'utf8');
      expect(text, file).to.match(
        /^# A published ResourceInterface example, verbatim: alauda\/devops-connectors-docs\n# docs\/en\//,
      );
      expect(document(join(upstreamDir, file)).kind, file).to.equal('ResourceInterface');
    }
  });

  for (const file of upstreamFiles) {
    it(`${file} applies unchanged (server-side dry run, then for real) and is stored as published`, async function () {
      const path = join(upstreamDir, file);
      const published = document(path);
      const name = published.metadata?.name ?? '';
      await kubectl(['delete', 'resourceinterface', name, '--ignore-not-found']);
      const dry = await kubectl(['apply', '--dry-run=server', '-f', path]);
      expect(dry.code, dry.stderr).to.equal(0);
      expect(dry.stdout).to.contain(
        `resourceinterface.connectors.alauda.io/${name} created (server dry run)`,
      );
      const r = await kubectl(['apply', '-f', path]);
      expect(r.code, r.stderr).to.equal(0);
      // The structural schema prunes unknown fields silently: what is stored must be what was published.
      const got = await stored(name);
      expect(got.spec ?? {}).to.deep.equal(published.spec ?? {});
      expect(got.metadata?.labels ?? {}).to.deep.equal(published.metadata?.labels ?? {});
      for (const [k, v] of Object.entries(published.metadata?.annotations ?? {})) {
        expect(got.metadata?.annotations?.[k], k).to.equal(v);
      }
      await kubectlOk(['delete', '-f', path]);
    });
  }

  it('refuses what resolution cannot work with, in the API server’s words', async function () {
    const cases: [string, string, string][] = [
      [
        'two params of one name',
        variant((ri) => ri.spec.params?.push({ name: 'repository', type: 'string' })),
        'spec.params: Invalid value: "array": param names must be unique',
      ],
      [
        'a param type Tekton does not have',
        variant((ri) => {
          (ri.spec.params as { type: string }[])[0]!.type = 'integer';
        }),
        'spec.params[0].type: Unsupported value: "integer": supported values: "string", "array", "object"',
      ],
      [
        'a csi workspace without a driver',
        variant((ri) => {
          delete (ri.spec.workspaces as { value: { csi?: { driver?: string } } }[])[1]!.value.csi!.driver;
        }),
        'spec.workspaces[1].value.csi.driver: Required value',
      ],
      [
        'two attributes of one name',
        variant((ri) => ri.spec.attributes?.push({ name: 'url', expression: '{params.repository}' })),
        'spec.attributes: Invalid value: "array": attribute names must be unique',
      ],
      [
        'two workspaces of one name',
        variant((ri) => ri.spec.workspaces?.push({ name: 'git-source', value: { emptyDir: {} } })),
        'spec.workspaces: Invalid value: "array": workspace names must be unique',
      ],
    ];
    for (const [what, input, message] of cases) {
      for (const dryRun of [['--dry-run=server'], []]) {
        const r = await kubectl(['apply', ...dryRun, '-f', '-'], { input });
        expect(r.code, `${what} ${dryRun.join('')}`).to.not.equal(0);
        expect(r.stderr, what).to.contain('The ResourceInterface "it-refused" is invalid');
        expect(r.stderr, what).to.contain(message);
      }
    }
    const none = await kubectl(['get', 'resourceinterface', 'it-refused']);
    expect(none.stderr).to.contain('NotFound');
  });

  it('kubectl apply -k manifests/resourceinterfaces applies them as shipped, listed by category', async function () {
    const dry = await kubectl(['apply', '-k', riDir, '--dry-run=server']);
    expect(dry.code, dry.stderr).to.equal(0);
    const r = await kubectl(['apply', '-k', riDir]);
    expect(r.code, r.stderr).to.equal(0);
    const built = JSON.parse(await kubectlOk(['apply', '-k', riDir, '--dry-run=client', '-o', 'json'])) as {
      items: ResourceInterface[];
    };
    expect(built.items.map((o) => o.metadata?.name).sort()).to.deep.equal([...shippedNames].sort());
    for (const o of built.items) {
      const got = await stored(o.metadata?.name ?? '');
      expect(got.spec, o.metadata?.name).to.deep.equal(o.spec);
      expect(got.metadata?.labels, o.metadata?.name).to.deep.equal(o.metadata?.labels);
    }
    const table = await kubectlOk(['get', 'resourceinterfaces']);
    expect(table).to.match(/NAME\s+CATEGORY\s+AGE/);
    for (const [name, category] of [
      ['gitcoderepository', 'GitCodeRepository'],
      ['gitlabcoderepository', 'GitCodeRepository'],
      ['githubcoderepository', 'GitCodeRepository'],
      ['ociartifact', 'OCIArtifact'],
      ['mavenartifact', 'MavenArtifact'],
    ]) {
      expect(table).to.match(new RegExp(`^${name}\\s+${category}\\s`, 'm'));
    }
  });

  it('kubectl apply -k manifests/classes brings them with the classes, and every class label names one', async function () {
    const r = await kubectl(['apply', '-k', classesDir, '--dry-run=server']);
    expect(r.code, r.stderr).to.equal(0);
    for (const name of shippedNames) {
      expect(r.stdout).to.match(
        new RegExp(`resourceinterface\\.connectors\\.alauda\\.io/${name} \\w+ \\(server dry run\\)`),
      );
    }
    const installed = (await kubectlOk(['get', 'resourceinterfaces', '-o', 'name']))
      .split('\n')
      .filter(Boolean);
    for (const [className, cls] of shippedClasses()) {
      for (const key of Object.keys(cls.metadata?.labels ?? {})) {
        if (!key.startsWith('resourceinterface.connectors.cpaas.io/')) continue;
        const ri = key.slice('resourceinterface.connectors.cpaas.io/'.length);
        expect(installed, `${className}: ${key}`).to.include(`resourceinterface.connectors.alauda.io/${ri}`);
      }
    }
  });
});

describe('the shipped ResourceInterfaces resolved through the server, for a Connector of each class', function () {
  let ns: string;
  const addresses = new AddressResolver('connectors-system');
  const classes = shippedClasses();
  /** The proxy address the status controller writes for the case's Connector (the class's resolver). */
  const proxyOf = (c: ShippedCase): string =>
    addresses.connectorProxyUrl(caseConnector(c, ns), classes.get(c.className)!) ?? '';

  before(async function () {
    // The classes with their ResourceInterfaces, as an install applies them.
    await env().sys.installClasses();
    ns = await namespace('ri-shipped');
    await apply(shippedCases.map((c) => caseConnector(c, ns)));
    // No status controller runs here: write the proxy address it would.
    for (const c of shippedCases) {
      await kubectlOk([
        'patch',
        'connector',
        c.connector,
        '-n',
        ns,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status: { proxy: { httpAddress: { url: proxyOf(c) } } } }),
      ]);
    }
  });

  after(async function () {
    // Leave the cluster as the other suites expect it (classes.test.ts does the same).
    await kubectl(['delete', '-k', classesDir, '--ignore-not-found', '--wait=false']);
  });

  /** GET through kube-apiserver, once the server's informers have what the answer needs. */
  async function get<T>(rest: string): Promise<T> {
    let out = '';
    await eventually(rest, async () => {
      const r = await kubectl(['get', '--raw', `${gvPath}/namespaces/${ns}/connectors/${rest}`]);
      out = r.stdout;
      return r.code === 0;
    });
    return JSON.parse(out) as T;
  }

  for (const c of shippedCases) {
    it(`${c.ri} for ${c.connector} (class ${c.className})`, async function () {
      const list = await get<{ items: { name: string }[] }>(`${c.connector}/resourceinterfaces`);
      expect(list.items.map((i) => i.name)).to.deep.equal(
        [...(supportedResourceInterfaces[c.className] ?? [])].sort(),
      );

      const resolved = await get<{
        kind: string;
        connector: object;
        resourceInterface: object;
        params: { name: string; value: unknown }[];
        attributes: { name: string; type: string; value: unknown; param?: string }[];
        workspaces: ResolvedWorkspace[];
      }>(`${c.connector}/resourceinterfaces/${c.ri}?${caseQuery(c)}`);
      expect(resolved.kind).to.equal('ResolvedResourceInterface');
      expect(resolved.connector).to.deep.equal({
        namespace: ns,
        name: c.connector,
        connectorClassName: c.className,
      });
      expect(resolved.resourceInterface).to.deep.include({ name: c.ri });
      expect(resolved.params).to.deep.equal(c.params.map(([name, value]) => ({ name, value })));
      expect(resolved.attributes).to.deep.equal(
        c.attributes({ namespace: ns, proxy: new URL(proxyOf(c)) }).map(([name, value, param]) => ({
          name,
          type: Array.isArray(value) ? 'array' : 'string',
          value,
          param,
        })),
      );
      expect(resolved.workspaces).to.deep.equal(c.workspaces(ns));
    });
  }

  it('a Connector the controller has not reconciled yet: 422 saying to retry once it is Ready', async function () {
    const c = shippedCases.find((x) => x.ri === 'ociartifact');
    if (!c) throw new Error('no ociartifact case');
    const fresh = { ...caseConnector(c, ns), metadata: { name: `${c.connector}-new`, namespace: ns } };
    await apply([fresh]);
    let body = '';
    await eventually('the new Connector in the server', async () => {
      const r = await kubectl([
        'get',
        '--raw',
        `${gvPath}/namespaces/${ns}/connectors/${fresh.metadata.name}/resourceinterfaces/${c.ri}?${caseQuery(c)}`,
      ]);
      body = r.stderr;
      return !r.stderr.includes('NotFound');
    });
    expect(body).to.include('"ociartifact" is invalid');
    expect(body).to.include('* spec.attributes[0].expression: TypeError');
    expect(body).to.include('reads connector.status, which the Connectors controller writes');
    expect(body).to.include('no status yet');
  });
});
