// The client setups of docs/connectors-proxy.md, and the private-CA Connector of docs/classes.md,
// run as written: git (reverse with the token in the URL and in a header, forward with HTTPS
// intercepted), curl, a Private-Token header, npm, Maven, skopeo and kubectl, each with only a
// ServiceAccount token, through the Connectors Proxy from its real entry point, against real tools:
// a Git server and a tool behind private CAs, an npm and Maven repository behind Basic auth and a
// private CA (trusted with --upstream-ca-file), a registry with the token flow, and kube-apiserver
// as "another cluster". Replaced: the proxy's address, the namespace `team-a`, the tools'
// addresses, and in the kubeconfig the `TOKEN` placeholder the page says to replace.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { createCA, issueCert } from '../../hack/pki.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import { startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import {
  parentPom,
  projectWithParent,
  startPackageRepository,
  type PackageRepository,
} from '../../hack/tools/package-repository.js';
import { startRegistry, type Registry } from '../../hack/tools/registry.js';
import { proxyRbac, startProxy, type RunningConnectorsProxy } from '../helpers/connproxy.js';
import { docBlock } from '../helpers/docs.js';
import {
  docWorkdir,
  replaceAll,
  retried,
  runDocShell,
  runDocShellOk,
  type Replacements,
} from '../helpers/docs-shell.js';
import {
  apply,
  basicAuthSecret,
  connector,
  env,
  knownSecrets,
  kubectlOk,
  namespace,
  secret,
  secretValue,
} from '../helpers/env.js';
import { registerRecorder } from '../helpers/leaks.js';

interface Echoed {
  url: string;
  headers: Record<string, string | undefined>;
}

const parent = { groupId: 'com.example', artifactId: 'connectors-parent', version: '1.0.0' };

/** A ServiceAccount token as it appears in a URL or a file. */
const jwt = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

/**
 * A Connector with its Secret `<name>-credentials` and, with `caPem`, the CA Secret `<name>-ca` its
 * spec.caCertSecretRef names.
 */
function withSecret(
  ns: string,
  c: {
    name: string;
    className: string;
    address: string;
    auth: string;
    secret: { type: string; stringData: Record<string, string> };
    caPem?: string;
  },
): object[] {
  return [
    secret(ns, `${c.name}-credentials`, c.secret.type, c.secret.stringData),
    ...(c.caPem ? [secret(ns, `${c.name}-ca`, 'Opaque', { 'ca.crt': c.caPem })] : []),
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: c.name, namespace: ns },
      spec: {
        connectorClassName: c.className,
        address: c.address,
        auth: { name: c.auth, secretRef: { name: `${c.name}-credentials` } },
        ...(c.caPem ? { caCertSecretRef: { name: `${c.name}-ca` } } : {}),
      },
    },
  ];
}

describe('docs: the Connectors Proxy client setups, as written', function () {
  this.timeout(180_000);
  let ns: string;
  let git: GitServer;
  let tool: EchoTool;
  let packages: PackageRepository;
  let registry: Registry;
  let proxy: RunningConnectorsProxy;
  let replacements: Replacements;
  let gitlabToken: string;
  const clusterRole = `docs-prod-reader-${Math.random().toString(36).slice(2, 7)}`;

  /** A working directory with the page's setup done in it: $TOKEN exported, the proxy's CA in ca.crt. */
  const withSetup = (id: string): { cwd: string; script: string } => ({
    cwd: docWorkdir(id),
    script: replaceAll(docBlock('proxy-setup').text + docBlock(id).text, replacements),
  });

  before(async function () {
    const gitPassword = secretValue('docs-proxy-git-password');
    const packagesPassword = secretValue('docs-proxy-packages-password');
    const registryPassword = secretValue('docs-proxy-registry-password');
    gitlabToken = secretValue('docs-proxy-gitlab-token');
    const toolCa = await createCA('docs-proxy-tool-ca');
    const toolCert = await issueCert(toolCa, {
      commonName: '127.0.0.1',
      ipAddresses: ['127.0.0.1'],
      server: true,
    });
    [git, tool, packages, registry] = await Promise.all([
      startGitServer({ username: 'git-user', password: gitPassword, tls: true, logDir: env().sys.logDir }),
      startEchoTool({ tls: toolCert }),
      startPackageRepository({ username: 'deployer', password: packagesPassword }),
      startRegistry({ auth: 'token', username: 'reg-user', password: registryPassword }),
    ]);
    registerRecorder('docs: the tool behind a private CA (gitlab.example.com)', tool, [gitlabToken]);
    await git.createRepo('org/app.git', { branches: ['main'], tags: [] });
    await packages.addNpmPackage('connectors-demo', '1.0.0');
    packages.addMavenPom(parent.groupId, parent.artifactId, parent.version, parentPom(parent));
    await registry.push('team/app', '1.0');
    await env().sys.installClasses();
    ns = await namespace('docsproxy');

    const cp = env().sys.cp;
    const proxyName = 'connectors-proxy-docs';
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: proxyName, namespace: ns } },
      ...proxyRbac(proxyName, ns, proxyName),
    ]);
    const proxyToken = await cp.createToken(ns, proxyName, { expirationSeconds: 86_400 });
    knownSecrets.push(proxyToken);
    const upstreamCa = join(cp.dir, 'docs-proxy-upstream-ca.crt');
    writeFileSync(upstreamCa, packages.caCertPem);
    proxy = await startProxy(
      proxyName,
      await cp.writeKubeconfig(join(cp.dir, `${proxyName}.kubeconfig`), { token: proxyToken }),
      [`--upstream-ca-file=${upstreamCa}`, `--publish-ca-configmap=${ns}/connectors-proxy-ca`],
    );
    const proxyAddress = `127.0.0.1:${proxy.port}`;
    replacements = [
      // Maven's settings name the host and the port apart.
      ['<host>connectors-proxy.connectors-system.svc</host>', '<host>127.0.0.1</host>'],
      ['<port>80</port>', `<port>${proxy.port}</port>`],
      ['connectors-proxy.connectors-system.svc:80', proxyAddress],
      ['connectors-proxy.connectors-system.svc', proxyAddress],
      ['-n connectors-system', `-n ${ns}`],
      ['https://git.example.com', git.url],
      ['https://gitlab.example.com', tool.url],
      ['https://npm.example.com/', packages.npmRegistry],
      ['https://maven.example.com/repository/maven-public/', packages.mavenRepository],
      ['https://prod.example.com:6443', cp.server],
      ['team-a', ns],
    ];

    // The private-CA Connector of docs/classes.md, as written: its CA Secret, its Secret, itself.
    const caDir = docWorkdir('ca-secret');
    writeFileSync(join(caDir, 'git-ca.crt'), git.caCertPem ?? '');
    await runDocShellOk(replaceAll(docBlock('ca-secret').text, replacements), { cwd: caDir });
    await kubectlOk(['apply', '-f', '-'], {
      input: replaceAll(docBlock('connector-with-ca').text, [...replacements, ['change-me', gitPassword]]),
    });

    // The other Connectors the page uses, and the ServiceAccount `ci` it assumes, bound to the
    // shipped roles; `prod-reader`'s token is the other cluster's credential of the Connector prod.
    const prodToken = await cp.createToken(ns, 'prod-reader');
    knownSecrets.push(prodToken);
    const binding = (role: string): object => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `ci-${role}`, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: 'ci', namespace: ns }],
    });
    await apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci', namespace: ns } },
      binding('connectors-proxy-view'),
      binding('connectors-proxy-edit'),
      ...withSecret(ns, {
        name: 'gitlab',
        className: 'gitlab',
        address: tool.url,
        auth: 'patAuth',
        secret: { type: 'connectors.cpaas.io/gitlab-pat-auth', stringData: { token: gitlabToken } },
        caPem: toolCa.certPem,
      }),
      basicAuthSecret(ns, 'packages-creds', 'deployer', packagesPassword),
      connector(ns, 'npm', {
        connectorClassName: 'npm',
        address: packages.npmRegistry,
        secret: 'packages-creds',
      }),
      connector(ns, 'maven', {
        connectorClassName: 'maven',
        address: packages.mavenRepository,
        secret: 'packages-creds',
      }),
      ...withSecret(ns, {
        name: 'registry',
        className: 'oci',
        address: registry.url,
        auth: 'tokenAuth',
        secret: {
          type: 'cpaas.io/distribution-registry-token',
          stringData: { username: 'reg-user', password: registryPassword },
        },
      }),
      ...withSecret(ns, {
        name: 'prod',
        className: 'k8s',
        address: cp.server,
        auth: 'bearerTokenAuth',
        secret: { type: 'connectors.cpaas.io/bearer-token', stringData: { token: prodToken } },
        caPem: cp.caCertPem,
      }),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: clusterRole },
        rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: clusterRole },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
        subjects: [{ kind: 'ServiceAccount', name: 'prod-reader', namespace: ns }],
      },
    ]);
    // The proxy serves once its informers have the Connectors and RBAC has the bindings.
    const { cwd, script } = withSetup('proxy-git-reverse');
    await retried(() => runDocShellOk(script, { cwd }), 30_000);
  });

  after(async function () {
    this.timeout(60_000);
    // As shipped, also when the Private-Token test stopped half-way.
    await kubectlOk([
      'annotate',
      '--overwrite',
      'connectorclass',
      'gitlab',
      'connectors.alauda.io/proxy-token-header=PRIVATE-TOKEN',
    ]);
    await kubectlOk(['delete', 'clusterrolebinding,clusterrole', clusterRole, '--ignore-not-found']);
    await Promise.all([proxy.proc.stop(), git.stop(), tool.close(), packages.stop(), registry.stop()]);
  });

  describe('git', function () {
    it('reverse, the token in the URL: the clone works, and its .git/config holds the token', async function () {
      const { cwd, script } = withSetup('proxy-git-reverse');
      await runDocShellOk(script, { cwd });
      expect(readFileSync(join(cwd, 'app', '.git', 'HEAD'), 'utf8')).to.contain('refs/heads/main');
      const config = readFileSync(join(cwd, 'app', '.git', 'config'), 'utf8');
      const token = jwt.exec(config)?.[0];
      expect(token, 'the token in .git/config, as the page warns').to.be.a('string');
      knownSecrets.push(token ?? '');
      // The Connector's Git user, from its Secret, is who the Git server saw.
      expect(readFileSync(git.accessLog, 'utf8')).to.match(/ git-user \[.*git-upload-pack/);
    });

    it('reverse, the token in a header for one command: the clone holds no token', async function () {
      const { cwd, script } = withSetup('proxy-git-header');
      await runDocShellOk(script, { cwd });
      expect(readFileSync(join(cwd, 'app', '.git', 'HEAD'), 'utf8')).to.contain('refs/heads/main');
      const config = readFileSync(join(cwd, 'app', '.git', 'config'), 'utf8');
      expect(config).to.contain(
        `url = http://127.0.0.1:${proxy.port}/namespaces/${ns}/connectors/git/org/app.git`,
      );
      expect(config).not.to.match(jwt);
    });

    it('forward: the HTTPS URL of the Git server, intercepted, its private CA from caCertSecretRef', async function () {
      const { cwd, script } = withSetup('proxy-git-forward');
      await runDocShellOk(script, { cwd });
      expect(readFileSync(join(cwd, 'app', '.git', 'HEAD'), 'utf8')).to.contain('refs/heads/main');
      expect(readFileSync(join(cwd, 'app', '.git', 'config'), 'utf8')).to.contain(
        `url = ${git.url}/org/app.git`,
      );
    });
  });

  it('curl in forward mode: the tool behind a private CA gets the Connector’s PRIVATE-TOKEN', async function () {
    const { cwd, script } = withSetup('proxy-curl');
    const answer = JSON.parse(await runDocShellOk(script, { cwd })) as Echoed;
    expect(answer.url).to.equal('/api/v4/projects');
    expect(answer.headers['private-token']).to.equal(gitlabToken);
    expect(answer.headers.authorization).to.equal(undefined);
  });

  it('a token in Private-Token works while the class is annotated (the shipped gitlab is), and only then', async function () {
    const [annotate = '', call = ''] = docBlock('proxy-token-header').text.trimEnd().split('\n');
    const { cwd } = withSetup('proxy-token-header');
    const setup = replaceAll(docBlock('proxy-setup').text, replacements);
    const curl = setup + replaceAll(call, replacements);
    const reaches = async (): Promise<Partial<Echoed>> =>
      retried(async () => {
        const a = JSON.parse(await runDocShellOk(curl, { cwd })) as Partial<Echoed>;
        if (a.url === undefined) throw new Error(`not the tool's answer: ${JSON.stringify(a)}`);
        return a;
      });
    const shipped = await reaches();
    expect(shipped.url).to.equal('/api/v4/projects');
    expect(shipped.headers?.['private-token']).to.equal(gitlabToken);

    await kubectlOk(['annotate', 'connectorclass', 'gitlab', 'connectors.alauda.io/proxy-token-header-']);
    const refused = await retried(async () => {
      const r = JSON.parse(await runDocShellOk(curl, { cwd })) as { kind?: string; code?: number };
      if (r.code !== 401) throw new Error(`not refused yet: ${JSON.stringify(r)}`);
      return r;
    });
    expect(refused).to.include({ kind: 'Status', code: 401 });

    await runDocShellOk(replaceAll(annotate, replacements), { cwd });
    const answer = await reaches();
    expect(answer.headers?.['private-token']).to.equal(gitlabToken);
  });

  it('npm install from the private registry the npm Connector names', async function () {
    const { cwd, script } = withSetup('proxy-npm');
    const before = packages.requests.length;
    await runDocShellOk(script, { cwd });
    expect(readFileSync(join(cwd, 'node_modules', 'connectors-demo', 'index.js'), 'utf8')).to.contain(
      'connectors-demo',
    );
    const seen = packages.requests.slice(before);
    expect(seen.some((r) => r.url === '/npm/connectors-demo' && r.user === 'deployer')).to.equal(true);
  });

  it('mvn with the settings.xml of the page: ${env.TOKEN}, a trust store keytool builds without asking', async function () {
    const { cwd, script } = withSetup('proxy-maven');
    writeFileSync(join(cwd, 'settings.xml'), replaceAll(docBlock('proxy-maven-settings').text, replacements));
    writeFileSync(join(cwd, 'pom.xml'), projectWithParent(parent));
    expect(readFileSync(join(cwd, 'settings.xml'), 'utf8')).not.to.match(jwt);
    // keytool with no terminal: a prompt would fail it, not hang it.
    const r = await runDocShell(script, { cwd, timeoutMs: 180_000 });
    expect(r.code, r.stdout.slice(-3000) + r.stderr).to.equal(0);
    expect(
      existsSync(
        join(
          cwd,
          '.m2',
          'repository',
          'com',
          'example',
          'connectors-parent',
          '1.0.0',
          'connectors-parent-1.0.0.pom',
        ),
      ),
    ).to.equal(true);
  });

  it('skopeo inspect through the path form, the registry’s token flow done by the proxy', async function () {
    const { cwd, script } = withSetup('proxy-skopeo');
    const out = await runDocShellOk(script, { cwd });
    expect((JSON.parse(out) as { Name: string }).Name).to.match(/team\/app$/);
  });

  it('kubectl to another cluster with the kubeconfig of the page', async function () {
    const { cwd, script } = withSetup('proxy-kubectl');
    const token = await env().sys.cp.createToken(ns, 'ci');
    knownSecrets.push(token);
    writeFileSync(
      join(cwd, 'prod.kubeconfig'),
      replaceAll(docBlock('proxy-kubeconfig').text, [...replacements, [':TOKEN@', `:${token}@`]]),
    );
    const out = await runDocShellOk(script, { cwd });
    // Listed with the Connector's token (prod-reader's, which may), not the caller's (ci's may not).
    expect(out.split('\n')).to.include(`namespace/${ns}`);
  });
});
