// The status controller from its real entry point, under its own ServiceAccount token bound to the
// shipped RBAC (manifests/controller/rbac.yaml), against the real kube-apiserver and live tools: what
// `kubectl get connectors` shows, how fast it follows a changed Secret or a stopped tool, that it
// writes only when something changed, and that of two replicas only the Lease holder writes. The
// mysql class's API probes run against a real MariaDB through the class API backend.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { request } from 'undici';
import { repoRoot } from '../../hack/binaries.js';
import { ManagedProcess } from '../../hack/process.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import { startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import { startMariaDb, type MariaDbServer } from '../../hack/tools/mariadb.js';
import { startPackageRepository, type PackageRepository } from '../../hack/tools/package-repository.js';
import { startSonarQube, type SonarQube } from '../../hack/tools/sonarqube.js';
import {
  apply,
  basicAuthSecret,
  connector,
  env,
  eventually,
  kubectl,
  kubectlOk,
  knownSecrets,
  namespace,
  secretValue,
  tokenSecret,
} from '../helpers/env.js';
import { allowSecret, recordMetrics, registerRecorder } from '../helpers/leaks.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

interface StatusObject {
  metadata: { resourceVersion: string; generation?: number };
  status?: {
    conditions?: Condition[];
    observedGeneration?: number;
    api?: { path?: string; address?: { url?: string } };
    proxy?: { httpAddress?: { url?: string } };
  };
}

const probeInterval = 2000;
const leaseNamespace = 'connectors-system';
const root = repoRoot();

const cond = (o: StatusObject, type: string): Condition | undefined =>
  o.status?.conditions?.find((c) => c.type === type);

async function getConnector(ns: string, name: string): Promise<StatusObject> {
  return JSON.parse(await kubectlOk(['get', 'connector', name, '-n', ns, '-o', 'json'])) as StatusObject;
}

/** Polls until the Connector's Ready condition has `status` (and `reason`); returns the object. */
async function waitForReady(
  ns: string,
  name: string,
  status: string,
  reason?: string,
  timeoutMs = 15_000,
): Promise<StatusObject> {
  let last: StatusObject | undefined;
  try {
    await eventually(
      `Connector ${ns}/${name} Ready=${status}${reason ? ` (${reason})` : ''}`,
      async () => {
        last = await getConnector(ns, name);
        const ready = cond(last, 'Ready');
        return ready?.status === status && (reason === undefined || ready.reason === reason);
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`);
  }
  return last as StatusObject;
}

async function leaseHolder(): Promise<string> {
  const out = await kubectlOk([
    'get',
    'lease',
    'connectors-controller',
    '-n',
    leaseNamespace,
    '-o',
    'jsonpath={.spec.holderIdentity}',
    '--ignore-not-found',
  ]);
  return out.trim();
}

interface LogLine {
  msg?: string;
  name?: string;
  namespace?: string;
  identity?: string;
  healthPort?: number;
}

function logLines(file: string, identity?: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => identity === undefined || l.identity === identity);
}

/** Status writes of Connectors in `ns` (or of ns/name) that a controller's log records. */
function writesOf(file: string, identity: string, ns: string, name?: string): number {
  return logLines(file, identity).filter(
    (l) => l.msg === 'status updated' && l.namespace === ns && (name === undefined || l.name === name),
  ).length;
}

const gitAuthHeader =
  '{{- if .Secret }}Basic {{ printf "%s:%s" .Secret.StringData.username .Secret.StringData.password | b64enc }}{{ end }}';

describe('status controller', function () {
  this.timeout(120_000);
  // Per-run names: logs in .test-logs are appended to across runs (as every log there), so every
  // assertion on them filters by this run's identities and namespace.
  const run = Math.random().toString(36).slice(2, 7);
  const className = `ctl-echo-${run}`;
  const idA = `ctl-a-${run}`;
  const idB = `ctl-b-${run}`;
  let ns: string;
  let kubeconfig: string;
  const controllers = new Map<string, ManagedProcess>();
  const logFile = (identity: string): string =>
    join(env().sys.logDir, `connectors-controller-${identity}.log`);
  let spare: EchoTool | undefined;
  let git: GitServer | undefined;
  let mysql: MariaDbServer | undefined;
  let packages: PackageRepository | undefined;
  let sonar: SonarQube | undefined;

  function startController(identity: string): ManagedProcess {
    const proc = ManagedProcess.start({
      name: `connectors-controller-${identity}`,
      binary: process.execPath,
      args: [
        join(root, 'dist', 'controller', 'main.js'),
        `--kubeconfig=${kubeconfig}`,
        `--probe-interval=${probeInterval / 1000}s`,
        '--leader-elect=true',
        `--leader-elect-identity=${identity}`,
        '--leader-elect-lease-duration=6s',
        '--leader-elect-renew-deadline=4s',
        '--leader-elect-retry-period=500ms',
        '--secret-poll-interval=1s',
        '--bind-address=127.0.0.1',
        '--health-port=0',
        '--log-level=debug', // the leak check reads every line
        // The shipped classes reference the Service connectors-classapi; here it runs on the host.
        `--service-url-override=connectors-system/connectors-classapi=${env().sys.classApiUrl}`,
        // Class API backends are https with mutual TLS: the API server's client certificate and CA.
        ...env().sys.classApiClientFlags,
      ],
      logFile: logFile(identity),
    });
    controllers.set(identity, proc);
    return proc;
  }

  async function setPassword(secretName: string, username: string, password: string): Promise<void> {
    await apply([basicAuthSecret(ns, secretName, username, password)]);
  }

  before(async function () {
    const { sys, tool, toolUser, toolPassword } = env();
    await kubectlOk(['apply', '-f', join(root, 'manifests', 'controller', 'serviceaccount.yaml')]);
    await kubectlOk(['apply', '-f', join(root, 'manifests', 'controller', 'rbac.yaml')]);
    const token = await sys.cp.createToken(leaseNamespace, 'connectors-controller', {
      expirationSeconds: 7200,
    });
    kubeconfig = await sys.cp.writeKubeconfig(join(sys.cp.dir, 'connectors-controller.kubeconfig'), {
      token,
    });

    ns = await namespace('ctl');
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: className, annotations: { 'connectors.cpaas.io/proxy-resolver': 'host' } },
        spec: {
          address: { name: 'address', type: 'string' },
          auth: {
            types: [
              {
                name: 'basicAuth',
                secretType: 'kubernetes.io/basic-auth',
                optional: true,
                params: [
                  { name: 'username', type: 'string' },
                  { name: 'password', type: 'string' },
                ],
              },
            ],
          },
          livenessProbe: { http: { path: '/' } },
          authProbes: [
            {
              authName: 'basicAuth',
              probe: {
                http: { path: '/whoami', httpHeaders: [{ name: 'Authorization', value: gitAuthHeader }] },
              },
            },
          ],
          proxy: { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'connectors-system' } },
        },
      },
      basicAuthSecret(ns, 'echo-creds', toolUser, toolPassword),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'echo', namespace: ns },
        spec: {
          connectorClassName: className,
          address: `${tool.url}/some/prefix`,
          auth: { name: 'basicAuth', secretRef: { name: 'echo-creds' } },
        },
      },
    ]);

    const a = startController(idA);
    await a.waitUntil(async () => (await leaseHolder()) === idA, {
      timeoutMs: 30_000,
      what: `controller ${idA} to hold the Lease`,
    });
  });

  after(async function () {
    // Their metrics go with them: keep what the running ones expose for the leak check.
    for (const [identity, proc] of controllers) {
      const port = logLines(logFile(identity), identity).find(
        (l) => l.msg === 'controller started',
      )?.healthPort;
      if (proc.exitStatus !== undefined || port === undefined) continue;
      const res = await request(`http://127.0.0.1:${port}/metrics`);
      recordMetrics(`connectors-controller ${identity} /metrics`, await res.body.text());
    }
    await Promise.all([...controllers.values()].map((c) => c.stop()));
    await spare?.close();
    await git?.stop();
    await mysql?.stop();
    await packages?.stop();
    await sonar?.close();
  });

  it('kubectl get connectors shows Ready True for a Connector to the live basic-auth tool', async () => {
    const o = await waitForReady(ns, 'echo', 'True');
    for (const type of [
      'ConnectorClassReady',
      'SecretReady',
      'LivenessReady',
      'AuthReady',
      'ProxyServiceReady',
    ]) {
      expect(cond(o, type)?.status, type).to.equal('True');
      expect(cond(o, type)?.lastTransitionTime, type).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    expect(o.status?.observedGeneration).to.equal(o.metadata.generation);
    expect(o.status?.api?.path).to.equal(
      `/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/${ns}/connectors/echo`,
    );
    expect(o.status?.proxy?.httpAddress?.url).to.equal(`http://c-echo.${ns}.svc.cluster.local`);

    const table = await kubectlOk(['get', 'connectors', '-n', ns]);
    expect(table).to.match(/NAME\s+CLASS\s+ADDRESS\s+READY\s+REASON\s+AGE/);
    expect(table).to.match(new RegExp(`echo\\s+${className}\\s+\\S+\\s+True\\s`));

    // The probes reached the tool as published: liveness on `/` (the address prefix dropped), the
    // auth probe with the Basic header rendered from the Secret.
    const probes = env().tool.requests.filter((r) => r.url === '/whoami');
    expect(probes.length).to.be.greaterThan(0);
    const { toolUser, toolPassword } = env();
    expect(probes.at(-1)?.headers.authorization).to.equal(
      `Basic ${Buffer.from(`${toolUser}:${toolPassword}`).toString('base64')}`,
    );
    expect(env().tool.requests.some((r) => r.url === '/')).to.equal(true);

    const cls = await kubectlOk(['get', 'connectorclass', className]);
    expect(cls).to.match(new RegExp(`${className}\\s+True\\s`));
  });

  it('writes status only when it changed: resourceVersion stable across probe periods', async () => {
    const before = await waitForReady(ns, 'echo', 'True');
    const writes = writesOf(logFile(idA), idA, ns, 'echo');
    const probesBefore = env().tool.requests.filter((r) => r.url === '/whoami').length;
    await new Promise((r) => setTimeout(r, 3 * probeInterval + 500));
    const after = await getConnector(ns, 'echo');
    // It kept probing…
    expect(env().tool.requests.filter((r) => r.url === '/whoami').length).to.be.at.least(probesBefore + 2);
    // …and wrote nothing.
    expect(after.metadata.resourceVersion).to.equal(before.metadata.resourceVersion);
    expect(writesOf(logFile(idA), idA, ns, 'echo')).to.equal(writes);
  });

  it('flips to AuthenticationFailed within one probe period of a wrong password, and back when fixed', async () => {
    const { toolUser, toolPassword } = env();
    const before = await waitForReady(ns, 'echo', 'True');
    const readySince = cond(before, 'LivenessReady')?.lastTransitionTime;

    const changed = Date.now();
    const wrong = secretValue('wrong-password');
    allowSecret(env().tool, wrong); // the auth probe sends the Secret's (wrong) credential to the tool
    await setPassword('echo-creds', toolUser, wrong);
    const failed = await waitForReady(ns, 'echo', 'False', 'AuthenticationFailed', probeInterval * 3);
    const flipMs = Date.now() - changed;
    expect(flipMs, `flipped after ${flipMs} ms`).to.be.below(probeInterval + 1000);
    expect(cond(failed, 'AuthReady')).to.include({
      status: 'False',
      reason: 'AuthenticationFailed',
      message: 'Authentication failed: status code 401',
    });
    expect(cond(failed, 'Ready')?.message).to.equal('Authentication failed: status code 401');
    // Conditions that did not change keep their transition time.
    expect(cond(failed, 'LivenessReady')?.lastTransitionTime).to.equal(readySince);
    expect(await kubectlOk(['get', 'connectors', '-n', ns])).to.match(
      /echo\s+\S+\s+\S+\s+False\s+AuthenticationFailed/,
    );

    const fixed = Date.now();
    await setPassword('echo-creds', toolUser, toolPassword);
    await waitForReady(ns, 'echo', 'True', undefined, probeInterval * 3);
    expect(Date.now() - fixed).to.be.below(probeInterval + 1000);

    const events = await kubectlOk([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      'involvedObject.name=echo',
    ]);
    expect(events).to.contain('AuthenticationFailed');
  });

  it('reports ConnectionFailed when the tool is stopped', async () => {
    const password = secretValue('spare-password');
    spare = await startEchoTool({ username: 'spare', password });
    registerRecorder('controller: the spare tool', spare, [password]);
    await apply([
      basicAuthSecret(ns, 'spare-creds', 'spare', password),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'spare', namespace: ns },
        spec: {
          connectorClassName: className,
          address: spare.url,
          auth: { name: 'basicAuth', secretRef: { name: 'spare-creds' } },
        },
      },
    ]);
    await waitForReady(ns, 'spare', 'True');
    const url = spare.url;
    await spare.close();
    spare = undefined;
    const down = await waitForReady(ns, 'spare', 'False', 'ConnectionFailed', probeInterval * 3);
    expect(cond(down, 'LivenessReady')).to.include({ status: 'False', reason: 'ConnectionFailed' });
    expect(cond(down, 'LivenessReady')?.message).to.match(new RegExp(`^Get "${url}/": .*ECONNREFUSED`));
    expect(cond(down, 'AuthReady')?.status).to.equal('Unknown');

    // A dead tool is probed once per period, not in a loop: the status settles and is not rewritten.
    const rv = down.metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 2 * probeInterval));
    expect((await getConnector(ns, 'spare')).metadata.resourceVersion).to.equal(rv);
  });

  it('reports ConnectorClassNotFound, and recovers within seconds once the class exists', async () => {
    const missing = `${className}-later`;
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'orphan', namespace: ns },
        spec: { connectorClassName: missing, address: env().tool.url },
      },
    ]);
    const o = await waitForReady(ns, 'orphan', 'False', 'ConnectorClassNotFound');
    expect(cond(o, 'ConnectorClassReady')).to.deep.include({
      status: 'False',
      reason: 'ConnectorClassNotFound',
      message: `connectorclass.connectors.alauda.io "${missing}" not found`,
    });
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: missing },
        spec: { address: { name: 'address', type: 'string' } },
      },
    ]);
    const fixed = await waitForReady(ns, 'orphan', 'True', undefined, 5000);
    expect(cond(fixed, 'LivenessReady')).to.include({ status: 'True', reason: 'NonLivenessProbe' });
    expect(cond(fixed, 'AuthReady')).to.include({ status: 'True', reason: 'NonAuthProbe' });
    expect(cond(fixed, 'ProxyServiceReady')).to.include({ status: 'True', reason: 'NonProxy' });
    expect(cond(fixed, 'SecretReady')).to.include({ status: 'True', reason: 'SecretOptional' });
    await kubectlOk(['delete', 'connectorclass', missing]);
  });

  it('reports SecretNotFound with the published message, and recovers when the Secret appears', async () => {
    const { tool, toolUser, toolPassword } = env();
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'nosecret', namespace: ns },
        spec: {
          connectorClassName: className,
          address: tool.url,
          auth: { name: 'basicAuth', secretRef: { name: 'not-yet' } },
        },
      },
    ]);
    const o = await waitForReady(ns, 'nosecret', 'False', 'SecretNotFound');
    expect(cond(o, 'SecretReady')).to.deep.include({
      status: 'False',
      reason: 'SecretNotFound',
      message: 'secrets "not-yet" not found',
    });
    expect(cond(o, 'Ready')?.message).to.equal('secrets "not-yet" not found');
    await apply([basicAuthSecret(ns, 'not-yet', toolUser, toolPassword)]);
    await waitForReady(ns, 'nosecret', 'True', undefined, probeInterval * 3);
  });

  it('the published git class: Ready against a real Git server, AuthenticationFailed with a wrong password', async function () {
    const password = secretValue('ctl-git-password');
    git = await startGitServer({ username: 'ctl-git', password, logDir: env().sys.logDir });
    await git.createRepo('org/app.git', { branches: ['main'], tags: [] });
    await env().sys.installClasses();
    await apply([
      basicAuthSecret(ns, 'git-creds', 'ctl-git', password),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'git', namespace: ns },
        spec: {
          connectorClassName: 'git',
          address: git.url,
          auth: {
            name: 'basicAuth',
            secretRef: { name: 'git-creds' },
            params: [{ name: 'repository', value: 'org/app.git' }],
          },
        },
      },
    ]);
    const o = await waitForReady(ns, 'git', 'True');
    expect(o.status?.proxy?.httpAddress?.url).to.equal(`http://c-git.${ns}.svc.cluster.local`);
    const access = readFileSync(git.accessLog, 'utf8');
    expect(access).to.contain('/org/app.git/info/refs?service=git-upload-pack');

    const cls = JSON.parse(await kubectlOk(['get', 'connectorclass', 'git', '-o', 'json'])) as StatusObject;
    expect(cond(cls, 'APIReady')?.status).to.equal('True');
    expect(cls.status?.api?.address?.url).to.equal(`${env().sys.classApiUrl}/git`);

    await setPassword('git-creds', 'ctl-git', secretValue('ctl-git-wrong'));
    const failed = await waitForReady(ns, 'git', 'False', 'AuthenticationFailed', probeInterval * 3);
    expect(cond(failed, 'AuthReady')?.message).to.equal('Authentication failed: status code 401');
  });

  it('the published pypi class: Ready against a package index, AuthenticationFailed with a wrong password', async function () {
    const password = secretValue('ctl-pypi-password');
    packages = await startPackageRepository({ username: 'ctl-pypi', password });
    await env().sys.installClasses();
    await apply([
      basicAuthSecret(ns, 'pypi-creds', 'ctl-pypi', password),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'pypi-ca', namespace: ns },
        stringData: { 'ca.crt': packages.caCertPem },
      },
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'pypi', namespace: ns },
        spec: {
          connectorClassName: 'pypi',
          address: packages.pypiIndex,
          auth: { name: 'basicAuth', secretRef: { name: 'pypi-creds' } },
          // The index's certificate is from a fresh CA, which the Connector names.
          caCertSecretRef: { name: 'pypi-ca' },
        },
      },
    ]);
    await waitForReady(ns, 'pypi', 'True');
    // Both probes asked the simple index below the address's path; the auth probe as the Connector.
    const simple = packages.requests.filter((r) => r.url === '/pypi/simple/');
    expect(simple.map((r) => r.user)).to.include('ctl-pypi');

    await setPassword('pypi-creds', 'ctl-pypi', secretValue('ctl-pypi-wrong'));
    const failed = await waitForReady(ns, 'pypi', 'False', 'AuthenticationFailed', probeInterval * 3);
    expect(cond(failed, 'AuthReady')?.message).to.equal('Authentication failed: status code 401');
    // A private index answers the anonymous liveness probe 401: still alive.
    expect(cond(failed, 'LivenessReady')?.status).to.equal('True');
  });

  it('the published sonarqube class: Ready when SonarQube says valid, AuthenticationFailed when it says not', async function () {
    const token = secretValue('ctl-sonar-token');
    sonar = await startSonarQube({ token, context: '/sonarqube' });
    registerRecorder('controller: the SonarQube stand-in', sonar, [token]);
    await env().sys.installClasses();
    await apply([
      tokenSecret(ns, 'sonar-token', 'connectors.cpaas.io/bearer-token', token),
      connector(ns, 'sonar', {
        connectorClassName: 'sonarqube',
        address: `${sonar.url}/`,
        secret: 'sonar-token',
        authName: 'tokenAuth',
      }),
    ]);
    await waitForReady(ns, 'sonar', 'True');
    // The probes kept the context path; the auth probe sent the token as the Basic username.
    expect(sonar.requests.some((r) => r.url === '/sonarqube/api/system/status')).to.equal(true);
    const validations = sonar.requests.filter((r) => r.url === '/sonarqube/api/authentication/validate');
    expect(validations.at(-1)?.valid).to.equal(true);

    // SonarQube answers a token it does not know with 200 {"valid":false}: response.cel decides.
    sonar.setToken(secretValue('ctl-sonar-rotated'));
    const failed = await waitForReady(ns, 'sonar', 'False', 'AuthenticationFailed', probeInterval * 3);
    expect(cond(failed, 'AuthReady')?.message).to.match(/^Authentication failed/);
  });

  it('the host resolver’s address has its Service: c-<name>, ExternalName to the proxy, owned by the Connector', async () => {
    // The published git class names the connectors-proxy Service; the git Connector above uses it.
    let svc:
      | {
          spec: { type: string; externalName: string };
          metadata: { ownerReferences: { kind: string; name: string }[] };
        }
      | undefined;
    await eventually('Service c-git', async () => {
      const r = await kubectl(['get', 'service', 'c-git', '-n', ns, '-o', 'json']);
      if (r.code === 0) svc = JSON.parse(r.stdout) as typeof svc;
      return r.code === 0;
    });
    expect(svc?.spec).to.include({
      type: 'ExternalName',
      externalName: 'connectors-proxy.connectors-system.svc.cluster.local',
    });
    expect(svc?.metadata.ownerReferences[0]).to.include({ kind: 'Connector', name: 'git' });
    const git = await getConnector(ns, 'git');
    expect(cond(git, 'ProxyServiceReady')?.status).to.equal('True');
    expect(git.status?.proxy?.httpAddress?.url).to.equal(`http://c-git.${ns}.svc.cluster.local`);
  });

  it('the mysql class: Ready against a real MariaDB through the class API backend; a wrong password and a stopped server say why', async function () {
    const password = secretValue('ctl-mysql-password');
    mysql = await startMariaDb();
    const where = `127.0.0.1:${mysql.port}`;
    await mysql.sql(`CREATE USER 'ctl'@'%' IDENTIFIED BY '${password}'`);
    await env().sys.installClasses();
    await apply([
      basicAuthSecret(ns, 'mysql-creds', 'ctl', password),
      connector(ns, 'mysql', {
        connectorClassName: 'mysql',
        address: `mysql://${where}`,
        secret: 'mysql-creds',
      }),
    ]);
    const o = await waitForReady(ns, 'mysql', 'True');
    expect(o.status?.proxy?.httpAddress?.url).to.equal(`http://c-mysql.${ns}.svc.cluster.local`);
    let externalName = '';
    await eventually('Service c-mysql', async () => {
      const r = await kubectl(['get', 'service', 'c-mysql', '-n', ns, '-o', 'jsonpath={.spec.externalName}']);
      externalName = r.stdout;
      return r.code === 0;
    });
    expect(externalName).to.equal('connectors-mysql-proxy.connectors-system.svc.cluster.local');

    await setPassword('mysql-creds', 'ctl', secretValue('ctl-mysql-wrong'));
    const failed = await waitForReady(ns, 'mysql', 'False', 'AuthenticationFailed', probeInterval * 3);
    expect(cond(failed, 'AuthReady')?.message).to.equal(
      `Authentication failed: status code 401 (the MySQL server at ${where} refused the Connector's ` +
        `credential: Access denied for user 'ctl'@'127.0.0.1' (using password: YES))`,
    );

    await mysql.stop();
    mysql = undefined;
    const gone = await waitForReady(ns, 'mysql', 'False', 'LivenessProbeFailed', probeInterval * 5);
    expect(cond(gone, 'LivenessReady')?.message).to.match(
      new RegExp(
        `^Liveness probe failed: status code 503 \\(the MySQL server at ${where} cannot be reached: `,
      ),
    );
    expect(cond(gone, 'AuthReady')?.reason).to.equal('LivenessNotReady');
  });

  it('two replicas: only the Lease holder writes; stopping it hands over', async () => {
    const { toolUser, toolPassword } = env();
    const b = startController(idB);
    await b.waitUntil(
      () => Promise.resolve(logLines(logFile(idB), idB).some((l) => l.msg === 'controller started')),
      {
        timeoutMs: 20_000,
        what: `controller ${idB} to start`,
      },
    );
    expect(await leaseHolder()).to.equal(idA);

    // A change while both run: written by the Lease holder only.
    const wrong = secretValue('wrong-again');
    allowSecret(env().tool, wrong);
    await setPassword('echo-creds', toolUser, wrong);
    await waitForReady(ns, 'echo', 'False', 'AuthenticationFailed');
    await new Promise((r) => setTimeout(r, probeInterval));
    expect(writesOf(logFile(idB), idB, ns)).to.equal(0);
    expect(logLines(logFile(idB), idB).some((l) => l.msg === 'became leader')).to.equal(false);
    expect(writesOf(logFile(idA), idA, ns, 'echo')).to.be.greaterThan(0);

    // The leader goes away (SIGTERM: it releases the Lease); the stand-by takes over and writes.
    await controllers.get(idA)?.stop();
    await eventually(`${idB} to hold the Lease`, async () => (await leaseHolder()) === idB, 10_000);
    await setPassword('echo-creds', toolUser, toolPassword);
    await waitForReady(ns, 'echo', 'True');
    expect(writesOf(logFile(idB), idB, ns, 'echo')).to.be.greaterThan(0);
  });

  it('never puts a credential into a condition, an event or its log', async () => {
    const all = await kubectlOk(['get', 'connectors', '-n', ns, '-o', 'json']);
    const events = await kubectlOk(['get', 'events', '-n', ns, '-o', 'json']);
    const logs = [...controllers.keys()].map((id) => readFileSync(logFile(id), 'utf8')).join('\n');
    expect(logs.length).to.be.greaterThan(0);
    for (const text of [all, events, logs]) {
      for (const secret of knownSecrets) {
        expect(text.includes(secret), 'a known secret leaked').to.equal(false);
        expect(text.includes(Buffer.from(secret).toString('base64'))).to.equal(false);
      }
      expect(text).not.to.match(/Basic [A-Za-z0-9+/=]{8,}/);
    }
  });
  it('1,000 Connectors reconcile with bounded memory and no status write once nothing changes', async function () {
    this.timeout(300_000);
    const leader = await leaseHolder();
    const proc = controllers.get(leader);
    if (!proc?.pid) throw new Error(`the Lease holder ${leader} is not one of this suite's controllers`);
    const scaleNs = await namespace('ctl-scale');
    const scaleClass = `ctl-scale-${run}`;
    const count = 1000;
    const rss = (): number =>
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(proc.pid)}/status`, 'utf8'))?.[1] ?? 0) *
      1024;
    // A class without probes: this measures the controller, not a tool.
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: scaleClass },
        spec: {
          address: { name: 'address', type: 'string' },
          auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true }] },
        },
      },
    ]);
    const items = Array.from({ length: count }, (_, n) => ({
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: `c-${String(n).padStart(4, '0')}`, namespace: scaleNs },
      spec: { connectorClassName: scaleClass, address: `https://tool-${n}.example.com` },
    }));
    const created = await kubectl(['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
    });
    expect(created.code, created.stderr).to.equal(0);
    const readyCount = async (): Promise<number> => {
      const list = JSON.parse(await kubectlOk(['get', 'connectors', '-n', scaleNs, '-o', 'json'])) as {
        items: StatusObject[];
      };
      return list.items.filter((o) => cond(o, 'Ready')?.status === 'True').length;
    };
    await eventually(`${count} Connectors Ready`, async () => (await readyCount()) === count, 240_000);
    const settledWrites = writesOf(logFile(leader), leader, scaleNs);
    const settledRss = rss();
    expect(settledWrites).to.be.at.least(count); // each was written once when it became Ready
    // Three more probe periods: every Connector is reconciled again, nothing changes, nothing is written.
    await new Promise((r) => setTimeout(r, 3 * probeInterval + 500));
    expect(writesOf(logFile(leader), leader, scaleNs)).to.equal(settledWrites);
    const laterRss = rss();
    this.test!.title += ` (RSS ${(settledRss / 2 ** 20).toFixed(0)} → ${(laterRss / 2 ** 20).toFixed(0)} MiB, ${settledWrites} writes)`;
    expect(laterRss).to.be.below(400 * 2 ** 20);
    expect(laterRss - settledRss).to.be.below(32 * 2 ** 20);
    await kubectl(['delete', 'connectorclass', scaleClass, '--wait=false']);
  });
});
