// The house's floors are enforced by lint (eslint.config.js, `layers/imports-point-down`): an import
// that points back up fails, with a message that says which way imports go. These tests run the
// real configuration, so they fail if the rule is removed or weakened.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const configUrl = new URL('../../../../eslint.config.js', import.meta.url).href;

interface LayersModule {
  layers: Record<string, string[]>;
  layersPlugin: NonNullable<Linter.Config['plugins']>[string];
}

/** Only the layers rule, on every production folder: fast enough to run on the whole tree. */
async function layersOnly(): Promise<ESLint> {
  const { layersPlugin } = (await import(configUrl)) as LayersModule;
  return new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { layers: layersPlugin },
        rules: { 'layers/imports-point-down': 'error' },
      },
    ],
  });
}

async function problems(eslint: ESLint, file: string, extraImport: string): Promise<string[]> {
  const text = `${extraImport}\n${await readFile(`${root}${file}`, 'utf8')}`;
  const [result] = await eslint.lintText(text, { filePath: `${root}${file}` });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'layers/imports-point-down')
    .map((m) => m.message);
}

describe('lint: imports point down (entry points → registry → proxy → kube → machinery)', function () {
  this.timeout(120_000);

  it('the full configuration fails an import from machinery/ back up into apiserver/', async () => {
    const eslint = new ESLint({ cwd: root });
    const found = await problems(eslint, 'machinery/status.ts', "import '../apiserver/app.js';");
    expect(found).to.have.length(1);
    expect(found[0]).to.contain('machinery/ may import only itself, not apiserver/');
  });

  const upwards: [string, string, string][] = [
    ['kube/client.ts', "import '../registry/types.js';", 'kube/ may import only machinery/, not registry/'],
    ['proxy/headers.ts', "export * from '../registry/types.js';", 'proxy/ may import only kube/, machinery/'],
    ['registry/types.ts', "import '../connproxy/route.js';", 'not connproxy/'],
    ['csi/access.ts', "import '../connproxy/route.js';", 'not connproxy/'],
    ['template/index.ts', "import '../kube/client.js';", 'template/ may import only machinery/'],
    ['expression/index.ts', "import '../registry/types.js';", 'expression/ may import only machinery/'],
    ['controller/main.ts', "import '../hack/process.js';", 'not hack/'],
    [
      'cli/run.ts',
      "import '../apiserver/app.js';",
      'cli/ may import only kit/, registry/, proxy/, kube/, template/, expression/, machinery/, not apiserver/',
    ],
    // The custom-proxy kit sits below the entry points and above registry/: neither way round.
    ['kit/http.ts', "import '../connproxy/route.js';", 'kit/ may import only registry/, proxy/, kube/'],
    ['registry/proxy.ts', "import '../kit/index.js';", 'not kit/'],
    ['examples/signing-proxy/main.ts', "import '../../connproxy/route.js';", 'not connproxy/'],
    [
      'controller/main.ts',
      "import '@kubernetes/client-node';",
      'controller/ may not load @kubernetes/client-node: production code talks to kube-apiserver through kube/',
    ],
    [
      'kube/client.ts',
      "export { KubeConfig } from '@kubernetes/client-node/dist/config.js';",
      'kube/ may not load',
    ],
  ];
  for (const [file, line, message] of upwards) {
    it(`refuses ${line} in ${file}`, async () => {
      const found = await problems(await layersOnly(), file, line);
      expect(found.join('\n')).to.contain(message);
    });
  }

  it('allows imports down a floor and within a folder', async () => {
    expect(
      await problems(await layersOnly(), 'csi/access.ts', "import '../registry/types.js';"),
    ).to.deep.equal([]);
    expect(await problems(await layersOnly(), 'kube/client.ts', "import './objects.js';")).to.deep.equal([]);
    expect(
      await problems(await layersOnly(), 'registry/types.ts', "import '../expression/index.js';"),
    ).to.deep.equal([]);
  });

  it('every production folder keeps to its floor', async () => {
    const { layers } = (await import(configUrl)) as LayersModule;
    const results = await (await layersOnly()).lintFiles(Object.keys(layers).map((f) => `${f}/**/*.ts`));
    const found = results.flatMap((r) =>
      r.messages
        .filter((m) => m.ruleId === 'layers/imports-point-down')
        .map((m) => `${r.filePath.slice(root.length)}: ${m.message}`),
    );
    expect(results.length, 'production files linted').to.be.greaterThan(50);
    expect(found).to.deep.equal([]);
  });

  it('the image builds every folder of the servers (.dockerignore lets each in), and not the kubectl plugin or the examples', async () => {
    const { layers } = (await import(configUrl)) as LayersModule;
    const context = (await readFile(`${root}.dockerignore`, 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('!'));
    // cli/ is the kubectl plugin: it runs on a user's machine, installed from the package, and no
    // process of the image runs it. examples/ are custom proxies written with the kit, for a user to
    // build an image of their own from.
    const clientOnly = ['cli', 'examples'];
    const servers = Object.keys(layers).filter((f) => !clientOnly.includes(f));
    expect(context).to.include.members(servers.map((f) => `!${f}`));
    expect(context).not.to.include.members(clientOnly.map((f) => `!${f}`));
  });
});
