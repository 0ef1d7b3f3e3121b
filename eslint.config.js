// ESLint flat config: type-checked rules for every TypeScript file; floating promises are errors
// because an unawaited promise on the request path is a silently dropped failure.
import { dirname, relative, resolve, sep } from 'node:path';
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The house's floors, and what each may import of ours: imports point down, never up or sideways.
 * Entry points (one folder per process; examples/ holds custom proxies) → kit (the custom-proxy
 * kit) → registry → proxy → kube → machinery; the Go-template
 * engine and the expression sandbox sit beside kube (registry resolves ResourceInterfaces with the
 * sandbox). Folders not named here (hack, bench, test) may import anything; nothing here may
 * import them. README "Layout" draws the same picture.
 */
const below = ['registry', 'proxy', 'kube', 'template', 'expression', 'machinery'];
/** Entry points may also use the custom-proxy kit: custom proxies are entry points that import it. */
const entryPointMay = ['kit', ...below];
export const layers = {
  apiserver: entryPointMay,
  classapi: entryPointMay,
  connproxy: entryPointMay,
  controller: entryPointMay,
  csi: entryPointMay,
  cli: entryPointMay,
  mysqlproxy: entryPointMay,
  examples: entryPointMay,
  kit: below,
  registry: ['proxy', 'kube', 'expression', 'machinery'],
  proxy: ['kube', 'machinery'],
  kube: ['machinery'],
  template: ['machinery'],
  expression: ['machinery'],
  machinery: [],
};

/** The top-level folder of a path inside the repository, or null outside it. */
function topFolder(root, path) {
  const rel = relative(root, path);
  return rel.startsWith('..') || !rel.includes(sep) ? null : rel.split(sep)[0];
}

/**
 * `layers/imports-point-down`: a relative import may reach only the floors below its own, and no
 * production folder loads @kubernetes/client-node (kube/ is the one client; tests use the SDK).
 */
export const layersPlugin = {
  rules: {
    'imports-point-down': {
      meta: {
        type: 'problem',
        docs: { description: 'imports point from entry points down to machinery, never back up' },
        schema: [],
      },
      create(context) {
        const root = context.cwd;
        const from = topFolder(root, context.filename);
        if (from === null || !(from in layers)) return {};
        const check = (source) => {
          if (typeof source?.value !== 'string') return;
          const spec = source.value;
          if (spec === '@kubernetes/client-node' || spec.startsWith('@kubernetes/client-node/')) {
            context.report({
              node: source,
              message: `${from}/ may not load @kubernetes/client-node: production code talks to kube-apiserver through kube/ (the SDK is for tests, as a user's program would use it)`,
            });
            return;
          }
          if (!spec.startsWith('.')) return;
          const to = topFolder(root, resolve(dirname(context.filename), spec));
          if (to === from) return;
          const allowed = layers[from];
          if (to !== null && allowed.includes(to)) return;
          context.report({
            node: source,
            message: `${from}/ may import only ${allowed.length ? allowed.map((f) => `${f}/`).join(', ') : 'itself'}, not ${to === null ? spec : `${to}/`}: imports point down (entry points → registry → proxy → kube → machinery); move what both need down a floor`,
          });
        };
        return {
          ImportDeclaration: (node) => check(node.source),
          ExportNamedDeclaration: (node) => check(node.source),
          ExportAllDeclaration: (node) => check(node.source),
          ImportExpression: (node) => check(node.source),
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'eslint.config.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': ['error', { allowConstantLoopConditions: true }],
      // Node hands out its own classes (a request's TLSSocket, a server) typed as their bases, and
      // tests stand in for them with plain objects: both are deliberate.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { layers: layersPlugin },
    rules: { 'layers/imports-point-down': 'error' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // chai's `expect(x).to.be.true` style is an expression statement by design.
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
