// Writing a Connector is not reading its Secret (issue 16 item 6). Through the real kube-apiserver and
// the Connectors admission webhooks, with the status controller running under its shipped RBAC: a
// user allowed to create and patch Connectors but refused `get` on Secrets cannot
//   (a) create a Connector that points their listener at an existing Secret,
//   (b) move an administrator's Connector to their listener,
//   (c) have the status controller's auth probe deliver the credential there,
// while a user who may get the Secret can, and the admitted-state stamp cannot be forged. A
// Connector written while the mutating webhook was not registered is not probed until a user who
// may read its Secret updates it.

import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../../hack/binaries.js';
import { mutatingWebhookName } from '../../../hack/localsystem.js';
import { ManagedProcess } from '../../../hack/process.js';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import {
  apply,
  basicAuthSecret,
  env,
  eventually,
  kubectl,
  kubectlOk,
  namespace,
  secretValue,
  userKubeconfig,
} from '../../helpers/env.js';
import { allowSecret, registerRecorder } from '../../helpers/leaks.js';

const root = repoRoot();
const admitted = 'connectors.alauda.io/admitted';
const probeInterval = 2000;
const authHeader =
  '{{- if .Secret }}Basic {{ printf "%s:%s" .Secret.StringData.username .Secret.StringData.password | b64enc }}{{ end }}';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface StoredConnector {
  metadata: { annotations?: Record<string, string> };
  spec: { address: string };
  status?: { conditions?: Condition[] };
}

describe('hardening: writing a Connector needs the right to read its Secret (issue 16 item 6)', function () {
  this.timeout(120_000);
  const run = Math.random().toString(36).slice(2, 7);
  const className = `authority-${run}`;
  const user = 'tool-admin';
  const password = secretValue('authority-admin-password');
  const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  let ns: string;
  let mallory: string;
  let carol: string;
  let adminTool: EchoTool;
  let listener: EchoTool;
  let carolsTool: EchoTool;
  let legacyTool: EchoTool;
  let controller: ManagedProcess | undefined;

  const connectorObject = (name: string, address: string, extra: Record<string, unknown> = {}): object => ({
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace: ns, ...extra },
    spec: {
      connectorClassName: className,
      address,
      auth: { name: 'basicAuth', secretRef: { name: 'admin-creds' } },
    },
  });

  async function stored(name: string): Promise<StoredConnector> {
    return JSON.parse(await kubectlOk(['get', 'connector', name, '-n', ns, '-o', 'json'])) as StoredConnector;
  }

  const condition = (c: StoredConnector, type: string): Condition | undefined =>
    c.status?.conditions?.find((x) => x.type === type);

  /**
   * Waits until the controller has sent `n` more liveness probes to the admin's tool or the listener
   * (wherever the admin's Connector points): a few full probe rounds passed.
   */
  async function controllerRounds(n = 3): Promise<void> {
    const probes = (): number =>
      [...adminTool.requests, ...listener.requests].filter((r) => r.url === '/').length;
    const start = probes();
    // Generous: a loaded machine stretches the 2 s rounds; this waits for the rounds, not a time.
    await eventually(
      `${n} more probe rounds of the status controller`,
      () => Promise.resolve(probes() >= start + n),
      60_000,
    );
  }

  const denial = (name: string): string[] => [
    'admission webhook "admit.connectors.alauda.io" denied the request',
    `connectors.connectors.alauda.io "${name}" is forbidden: spec.auth.secretRef: Forbidden: User "mallory" cannot ` +
      `get resource "secrets" in API group "" in the namespace "${ns}", so may not reference Secret "admin-creds"`,
  ];

  before(async function () {
    const { sys } = env();
    adminTool = await startEchoTool({ username: user, password });
    listener = await startEchoTool();
    carolsTool = await startEchoTool({ username: user, password });
    legacyTool = await startEchoTool({ username: user, password });
    // The listener may see no known secret at all; the others only the Connector's own.
    registerRecorder('the admin’s tool', adminTool, [password]);
    registerRecorder('mallory’s listener', listener);
    registerRecorder('carol’s tool', carolsTool, [password]);
    registerRecorder('the legacy Connector’s tool', legacyTool);

    await kubectlOk(['apply', '-f', join(root, 'manifests', 'controller', 'serviceaccount.yaml')]);
    await kubectlOk(['apply', '-f', join(root, 'manifests', 'controller', 'rbac.yaml')]);
    const token = await sys.cp.createToken('connectors-system', 'connectors-controller', {
      expirationSeconds: 7200,
    });
    const kubeconfig = await sys.cp.writeKubeconfig(
      join(sys.cp.dir, `authority-controller-${run}.kubeconfig`),
      {
        token,
      },
    );

    ns = await namespace('authority');
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: className },
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
                http: { path: '/whoami', httpHeaders: [{ name: 'Authorization', value: authHeader }] },
              },
            },
          ],
        },
      },
      basicAuthSecret(ns, 'admin-creds', user, password),
      connectorObject('admin-conn', adminTool.url),
      // Both users may write Connectors (and use them through /proxy); only carol may read Secrets.
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'connector-writer', namespace: ns },
        rules: [
          {
            apiGroups: ['connectors.alauda.io'],
            resources: ['connectors'],
            verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
          },
          {
            apiGroups: ['subresources.connectors.alauda.io'],
            resources: ['connectors/proxy'],
            verbs: ['get'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'connector-writers', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'connector-writer' },
        subjects: ['mallory', 'carol'].map((name) => ({
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'User',
          name,
        })),
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'secret-reader', namespace: ns },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'secret-readers', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'carol' }],
      },
    ]);
    mallory = await userKubeconfig('mallory');
    carol = await userKubeconfig('carol');

    controller = ManagedProcess.start({
      name: `connectors-controller-authority-${run}`,
      binary: process.execPath,
      args: [
        join(root, 'dist', 'controller', 'main.js'),
        `--kubeconfig=${kubeconfig}`,
        `--probe-interval=${probeInterval / 1000}s`,
        '--leader-elect=false',
        '--secret-poll-interval=1s',
        '--bind-address=127.0.0.1',
        '--health-port=0',
      ],
      logFile: join(sys.logDir, `connectors-controller-authority-${run}.log`),
    });
    await eventually(
      'the admin’s Connector to be Ready',
      async () => condition(await stored('admin-conn'), 'Ready')?.status === 'True',
      60_000,
    );
  });

  after(async function () {
    await controller?.stop();
    await Promise.all([adminTool, listener, carolsTool, legacyTool].map((t) => t.close()));
  });

  it('(a) refuses a Connector that points the author’s listener at a Secret they may not get', async () => {
    const r = await kubectl(['apply', '-f', '-'], {
      kubeconfig: mallory,
      input: JSON.stringify(connectorObject('mine', listener.url)),
    });
    expect(r.code, r.stdout).to.not.equal(0);
    for (const part of denial('mine')) expect(r.stderr).to.contain(part);
    expect((await kubectl(['get', 'connector', 'mine', '-n', ns])).code).to.not.equal(0);

    // The same Connector with a caCertSecretRef the author may not get, and no credential, is refused too.
    const ca = await kubectl(['apply', '-f', '-'], {
      kubeconfig: mallory,
      input: JSON.stringify({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'mine-ca', namespace: ns },
        spec: {
          connectorClassName: className,
          address: listener.url,
          caCertSecretRef: { name: 'admin-creds' },
        },
      }),
    });
    expect(ca.code).to.not.equal(0);
    expect(ca.stderr).to.contain(
      `spec.caCertSecretRef: Forbidden: User "mallory" cannot get resource "secrets" in API group "" in the namespace "${ns}"`,
    );
  });

  it('(b) refuses moving an administrator’s Connector to the author’s listener, but lets them relabel it', async () => {
    const r = await kubectl(
      [
        'patch',
        'connector',
        'admin-conn',
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { address: listener.url } }),
      ],
      { kubeconfig: mallory },
    );
    expect(r.code).to.not.equal(0);
    for (const part of denial('admin-conn')) expect(r.stderr).to.contain(part);
    expect((await stored('admin-conn')).spec.address).to.equal(adminTool.url);

    // An update that does not change where the credential goes is not re-checked, and keeps the stamp.
    const stamp = (await stored('admin-conn')).metadata.annotations?.[admitted];
    const label = await kubectl(['label', 'connector', 'admin-conn', '-n', ns, 'team=mallory'], {
      kubeconfig: mallory,
    });
    expect(label.code, label.stderr).to.equal(0);
    expect((await stored('admin-conn')).metadata.annotations?.[admitted]).to.equal(stamp);
  });

  it('(c) the status controller never sends the credential to the author’s listener', async () => {
    await controllerRounds();
    expect(listener.requests.filter((r) => r.headers.authorization !== undefined)).to.deep.equal([]);
    expect(listener.requests.map((r) => `${r.method} ${r.url}`)).to.deep.equal([]);
    // The administrator's Connector is still probed where it points.
    expect(condition(await stored('admin-conn'), 'Ready')?.status).to.equal('True');
  });

  it('the admitted-state stamp cannot be forged: the webhook overwrites what the author sends', async () => {
    const forged = 'sha256:' + '0'.repeat(64);
    const r = await kubectl(['apply', '-f', '-'], {
      kubeconfig: mallory,
      input: JSON.stringify({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'anonymous', namespace: ns, annotations: { [admitted]: forged } },
        spec: { connectorClassName: className, address: listener.url },
      }),
    });
    expect(r.code, r.stderr).to.equal(0);
    const stamp = (await stored('anonymous')).metadata.annotations?.[admitted];
    expect(stamp).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(stamp).to.not.equal(forged);
  });

  it('a user who may get the Secret may point a Connector at their tool, and the controller probes it with it', async () => {
    const r = await kubectl(['apply', '-f', '-'], {
      kubeconfig: carol,
      input: JSON.stringify(connectorObject('carols', carolsTool.url)),
    });
    expect(r.code, r.stderr).to.equal(0);
    await eventually('the controller to probe carol’s tool with the credential', () =>
      Promise.resolve(
        carolsTool.requests.some((q) => q.url === '/whoami' && q.headers.authorization === basic),
      ),
    );
    const moved = await kubectl(
      [
        'patch',
        'connector',
        'carols',
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { address: `${carolsTool.url}/moved` } }),
      ],
      { kubeconfig: carol },
    );
    expect(moved.code, moved.stderr).to.equal(0);
  });

  describe('a Connector written while the mutating webhook was not registered', function () {
    after(async function () {
      await env().sys.admitConnectors();
    });

    it('is not probed until a user who may get its Secret updates it', async () => {
      allowSecret(legacyTool, password);
      await kubectlOk(['delete', 'mutatingwebhookconfiguration', mutatingWebhookName]);
      await eventually('Connector writes to go unstamped', async () => {
        const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], {
          input: JSON.stringify(connectorObject('legacy', legacyTool.url)),
        });
        return r.code === 0 && !r.stdout.includes(admitted);
      });
      await apply([connectorObject('legacy', legacyTool.url)]);
      await env().sys.admitConnectors();

      const notAdmitted = async (): Promise<void> => {
        let last: StoredConnector | undefined;
        await eventually('the legacy Connector to report NotAdmitted', async () => {
          last = await stored('legacy');
          return condition(last, 'AuthReady')?.reason === 'NotAdmitted';
        });
        expect(condition(last as StoredConnector, 'AuthReady')?.message).to.contain(
          `kubectl annotate --overwrite -n ${ns} connector/legacy ${admitted}=renew`,
        );
        await controllerRounds();
        expect(legacyTool.requests).to.deep.equal([]);
      };
      await notAdmitted();

      // Mallory may relabel it (she may update Connectors) but that does not admit it.
      const relabel = await kubectl(
        ['annotate', '--overwrite', '-n', ns, 'connector/legacy', `${admitted}=renew`],
        {
          kubeconfig: mallory,
        },
      );
      expect(relabel.code, relabel.stderr).to.equal(0);
      expect(relabel.stderr).to.contain(
        'not admitted: spec.auth.secretRef: Forbidden: User "mallory" cannot get',
      );
      expect((await stored('legacy')).metadata.annotations?.[admitted]).to.equal(undefined);
      await notAdmitted();

      // Carol may read the Secret: her update admits it, and the controller probes it.
      const renew = await kubectl(
        ['annotate', '--overwrite', '-n', ns, 'connector/legacy', `${admitted}=renew`],
        {
          kubeconfig: carol,
        },
      );
      expect(renew.code, renew.stderr).to.equal(0);
      await eventually(
        'the legacy Connector to be probed once admitted',
        async () =>
          legacyTool.requests.some((q) => q.url === '/whoami' && q.headers.authorization === basic) &&
          condition(await stored('legacy'), 'Ready')?.status === 'True',
      );
    });
  });
});
