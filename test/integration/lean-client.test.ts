// No production process loads @kubernetes/client-node (~76 MB of RSS, docs/memory.md): each of
// the five is started from its real entry point with a preload that records every package module
// it resolves, made to use every kind of call it makes to kube-apiserver (lists and watches until
// ready, TokenReview, SubjectAccessReview, Secret reads, the proxy's CA ConfigMap, the
// controller's Lease, status writes and proxy Service, the CSI driver's TokenRequest and reads),
// and stopped; then its record is read. The SDK stays what the tests use, as a user's program would.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { Agent } from 'undici';
import { repoRoot } from '../../hack/binaries.js';
import { classApiClientName } from '../../hack/localsystem.js';
import { issueCert } from '../../hack/pki.js';
import { freePort, ManagedProcess } from '../../hack/process.js';
import { connectorReader, proxyRbac, send, startProxy } from '../helpers/connproxy.js';
import { kubeletPublishRequest, startCsiDriver } from '../helpers/csi.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  frontProxyCert,
  grant,
  kubectlOk,
  namespace,
} from '../helpers/env.js';
import { recordResponse } from '../helpers/leaks.js';

const clientNode = '/node_modules/@kubernetes/client-node/';

/** The node flag that records the package modules a process resolves into `out`. */
function traced(out: string): string {
  const url = new URL('../helpers/module-trace.js', import.meta.url);
  url.searchParams.set('out', out);
  return `--import=${url.href}`;
}

/** Starts dist/<entry>/main.js traced into `out`, as the process named `name`, logging to `logFile`. */
function startTraced(
  name: string,
  entry: string,
  out: string,
  args: string[],
  logFile: string,
): ManagedProcess {
  return ManagedProcess.start({
    name: `${name} (traced)`,
    binary: process.execPath,
    args: [traced(out), join(repoRoot(), 'dist', entry, 'main.js'), ...args],
    logFile,
  });
}

function packagesIn(out: string): string[] {
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  return [...new Set(lines.map((l) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(l)?.[1] ?? l))].sort();
}

/** The record shows the packages `expected` (so it is a real one) and no trace of client-node. */
function expectNoClientNode(out: string, expected: string[]): void {
  const packages = packagesIn(out);
  expect(packages).to.include.members(expected);
  expect(packages).not.to.include('@kubernetes/client-node');
  expect(readFileSync(out, 'utf8')).not.to.contain(clientNode);
}

describe('no production process loads @kubernetes/client-node', function () {
  this.timeout(120_000);
  let ns: string;

  before(async function () {
    ns = await namespace('lean');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
      // The proxy's caller: get on the Connector and on connectors/proxy.
      ...grant(ns, 'lean-user', { kind: 'ServiceAccount', name: 'user' }, ['get']),
      ...connectorReader(ns, 'user'),
    ]);
  });

  it('the trace sees a package imported lazily (so an empty finding below means something)', async function () {
    const out = join(env().sys.cp.dir, 'lean-control.modules');
    const r = await ManagedProcess.run(
      process.execPath,
      [
        traced(out),
        '--input-type=module',
        '-e',
        "await new Promise((r) => setTimeout(r, 50)); await import('@kubernetes/client-node');",
      ],
      { cwd: repoRoot() },
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(packagesIn(out)).to.include('@kubernetes/client-node');
  });

  it('the aggregated server (dist/apiserver/main.js)', async function () {
    const { cp } = env().sys;
    const out = join(cp.dir, 'lean-apiserver.modules');
    const token = await cp.createToken('connectors-system', 'connectors-apiserver', {
      expirationSeconds: 3600,
    });
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'lean-apiserver.kubeconfig'), { token });
    const serving = await cp.issueServingCert(['localhost'], ['127.0.0.1']);
    const files = { cert: join(cp.dir, 'lean-serving.crt'), key: join(cp.dir, 'lean-serving.key') };
    await writeFile(files.cert, serving.certPem);
    await writeFile(files.key, serving.keyPem, { mode: 0o600 });
    const port = await freePort();
    const server = startTraced(
      'connectors-apiserver',
      'apiserver',
      out,
      [
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        `--tls-cert-file=${files.cert}`,
        `--tls-private-key-file=${files.key}`,
        `--kubeconfig=${kubeconfig}`,
      ],
      join(env().sys.logDir, 'connectors-apiserver-traced.log'),
    );
    const agent = (cert?: { certPem: string; keyPem: string }): Agent =>
      new Agent({
        connect: { ca: cp.servingCaPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
      });
    const call = async (
      path: string,
      headers: Record<string, string>,
      cert?: { certPem: string; keyPem: string },
    ) => {
      const a = agent(cert);
      try {
        const r = await a.request({ origin: `https://127.0.0.1:${port}`, path, method: 'GET', headers });
        const body = await r.body.text();
        recordResponse(`connectors-apiserver (traced) GET ${path}`, r.headers, body);
        return { status: r.statusCode, body };
      } finally {
        await a.close();
      }
    };
    try {
      // Ready: both informers listed and watching, the authentication ConfigMap read.
      await server.waitUntil(async () => (await call('/readyz', {})).status === 200, {
        timeoutMs: 60_000,
        what: 'the traced server /readyz',
      });
      const proxy = `/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/${ns}/connectors/echo/proxy/x`;
      // A bearer token: TokenReview, then SubjectAccessReview (this ServiceAccount may do nothing).
      const nobody = await cp.createToken(ns, 'nobody');
      expect((await call(proxy, { authorization: `Bearer ${nobody}` })).status).to.equal(403);
      // The front proxy as the admin: the Connector's Secret is read and the tool answers.
      const r = await call(
        proxy,
        { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
        frontProxyCert(),
      );
      expect(r.status, r.body).to.equal(200);
    } finally {
      await server.stop();
    }
    expect(readFileSync(join(env().sys.logDir, 'connectors-apiserver-traced.log'), 'utf8')).to.contain(
      '"stopped"',
    );
    expectNoClientNode(out, ['undici', 'koa', 'js-yaml']);
  });

  it('the Connectors Proxy (dist/connproxy/main.js)', async function () {
    const { cp } = env().sys;
    const out = join(cp.dir, 'lean-connproxy.modules');
    await apply(proxyRbac('lean-connproxy', ns, 'lean-connproxy'));
    const token = await cp.createToken(ns, 'lean-connproxy', { expirationSeconds: 3600 });
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'lean-connproxy.kubeconfig'), { token });
    const proxy = await startProxy(
      'connectors-proxy-traced',
      kubeconfig,
      [`--publish-ca-configmap=${ns}/lean-proxy-ca`],
      [traced(out)],
    );
    try {
      const user = await cp.createToken(ns, 'user');
      // TokenReview and SubjectAccessReview for the caller, the Secret for the tool.
      for (let i = 0; ; i++) {
        const r = await send(proxy.port, `/namespaces/${ns}/connectors/echo/x`, {
          authorization: `Bearer ${user}`,
        });
        if (r.status === 200) break;
        if (i > 50) expect.fail(`the proxy answered ${r.status}: ${r.body}`);
        await new Promise((res) => setTimeout(res, 200)); // RBAC settles within moments
      }
    } finally {
      await proxy.proc.stop();
    }
    expect(readFileSync(proxy.log, 'utf8')).to.contain('proxy CA published');
    expectNoClientNode(out, ['undici']);
  });

  it('the class API backend (dist/classapi/main.js)', async function () {
    // It never calls kube-apiserver: started, ready, stopped.
    const { sys } = env();
    const out = join(sys.cp.dir, 'lean-classapi.modules');
    const serving = await issueCert(sys.classApiCA, {
      commonName: 'connectors-classapi',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      server: true,
    });
    const files = {
      cert: join(sys.cp.dir, 'lean-classapi.crt'),
      key: join(sys.cp.dir, 'lean-classapi.key'),
      ca: join(sys.cp.dir, 'lean-classapi-ca.crt'),
    };
    await writeFile(files.cert, serving.certPem);
    await writeFile(files.key, serving.keyPem, { mode: 0o600 });
    await writeFile(files.ca, sys.classApiCA.certPem);
    const port = await freePort();
    const log = join(sys.logDir, 'connectors-classapi-traced.log');
    const backend = startTraced(
      'connectors-classapi',
      'classapi',
      out,
      [
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--tls-cert-file=${files.cert}`,
        `--tls-private-key-file=${files.key}`,
        `--client-ca-file=${files.ca}`,
        `--allowed-client-names=${classApiClientName}`,
      ],
      log,
    );
    const trust = new Agent({ connect: { ca: sys.classApiCA.certPem } });
    try {
      await backend.waitUntil(
        async () => {
          const r = await trust.request({
            origin: `https://127.0.0.1:${port}`,
            path: '/readyz',
            method: 'GET',
          });
          await r.body.dump();
          return r.statusCode === 200;
        },
        { timeoutMs: 30_000, what: 'the traced class API backend /readyz' },
      );
    } finally {
      await trust.close();
      await backend.stop();
    }
    expectNoClientNode(out, ['undici', 'koa']);
  });

  it('the status controller (dist/controller/main.js)', async function () {
    const { sys, tool } = env();
    const out = join(sys.cp.dir, 'lean-controller.modules');
    await kubectlOk([
      'apply',
      '-f',
      join(repoRoot(), 'manifests', 'controller', 'serviceaccount.yaml'),
      '-f',
      join(repoRoot(), 'manifests', 'controller', 'rbac.yaml'),
    ]);
    const token = await sys.cp.createToken('connectors-system', 'connectors-controller', {
      expirationSeconds: 3600,
    });
    const kubeconfig = await sys.cp.writeKubeconfig(join(sys.cp.dir, 'lean-controller.kubeconfig'), {
      token,
    });
    // A class of the host resolver, so that the controller also creates the Connector's proxy Service.
    const className = `lean-host-${ns}`;
    await apply([
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: className, annotations: { 'connectors.cpaas.io/proxy-resolver': 'host' } },
        spec: {
          address: { name: 'address', type: 'string' },
          auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true }] },
          proxy: { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'connectors-system' } },
        },
      },
      connector(ns, 'hosted', { connectorClassName: className, address: tool.url, secret: 'creds' }),
    ]);
    const identity = `lean-${ns}`;
    const log = join(sys.logDir, `connectors-controller-${identity}.log`);
    const controller = startTraced(
      'connectors-controller',
      'controller',
      out,
      [
        `--kubeconfig=${kubeconfig}`,
        '--leader-elect=true',
        `--leader-elect-identity=${identity}`,
        '--leader-elect-lease-duration=6s',
        '--leader-elect-renew-deadline=4s',
        '--leader-elect-retry-period=500ms',
        '--secret-poll-interval=1s',
        '--bind-address=127.0.0.1',
        '--health-port=0',
        `--service-url-override=connectors-system/connectors-classapi=${sys.classApiUrl}`,
        ...sys.classApiClientFlags,
      ],
      log,
    );
    const get = async (args: string[]): Promise<string> =>
      (await kubectlOk(['get', ...args, '-n', ns])).trim();
    try {
      // It leads (the Lease), lists and watches, reads the Secret, creates the proxy Service and
      // writes the status (and an Event); the Secret poller reads metadata every second.
      await controller.waitUntil(
        async () =>
          (await get(['service', 'c-hosted', '--ignore-not-found', '-o', 'name'])) !== '' &&
          (await get([
            'connector',
            'hosted',
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ])) !== '',
        {
          timeoutMs: 60_000,
          intervalMs: 500,
          what: 'the traced controller to write the status and the Service',
        },
      );
      const holder = await kubectlOk([
        'get',
        'lease',
        'connectors-controller',
        '-n',
        'connectors-system',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      expect(holder).to.equal(identity);
    } finally {
      await controller.stop();
    }
    expect(readFileSync(log, 'utf8')).to.contain('"controller stopped"');
    expectNoClientNode(out, ['undici', 'prom-client']);
  });

  it('the CSI driver (dist/csi/main.js), minting the pod’s token', async function () {
    const { sys } = env();
    const out = join(sys.cp.dir, 'lean-csi.modules');
    const tokenRbac = join(repoRoot(), 'manifests', 'csi', 'rbac-token-request.yaml');
    await kubectlOk([
      'apply',
      '-f',
      join(repoRoot(), 'manifests', 'csi', 'namespace.yaml'),
      '-f',
      join(repoRoot(), 'manifests', 'csi', 'rbac.yaml'),
      '-f',
      tokenRbac,
    ]);
    const caConfigMap = 'lean-csi-proxy-ca';
    await apply([
      connector(ns, 'mounted', { address: 'https://tool.invalid' }),
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'mounter', namespace: ns } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'mounter', namespace: ns },
        spec: { serviceAccountName: 'mounter', containers: [{ name: 'tool', image: 'tool.invalid/tool' }] },
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'mounter-uses-connectors', namespace: ns },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'connectors-proxy-view',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'mounter', namespace: ns }],
      },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: caConfigMap, namespace: ns },
        data: { 'ca.crt': sys.cp.servingCaPem },
      },
      // The shipped RBAC names connectors-system/connectors-proxy-ca; this test's copy is its own.
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'lean-csi-ca-reader', namespace: ns },
        rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [caConfigMap], verbs: ['get'] }],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'lean-csi-ca-reader', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lean-csi-ca-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'connectors-csi', namespace: 'connectors-csi' }],
      },
    ]);
    await kubectlOk([
      'patch',
      'connector',
      'mounted',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { proxy: { httpAddress: { url: 'http://127.0.0.1:1/proxy' } } } }),
    ]);
    const uid = await kubectlOk(['get', 'pod', 'mounter', '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
    const kubeconfig = await sys.cp.writeKubeconfig(join(sys.cp.dir, 'lean-csi.kubeconfig'), {
      token: await sys.cp.createToken('connectors-csi', 'connectors-csi', { expirationSeconds: 3600 }),
    });
    const driver = await startCsiDriver({
      name: 'connectors-csi-traced',
      logDir: sys.logDir,
      kubeconfig,
      args: [
        '--volume-medium=directory',
        '--token-source=request',
        `--proxy-ca-configmap=${ns}/${caConfigMap}`,
      ],
      nodeArgs: [traced(out)],
    });
    const targets = mkdtempSync('/tmp/lean-csi-');
    try {
      const pod = { namespace: ns, name: 'mounter', uid: uid.trim(), serviceAccount: 'mounter' };
      const request = kubeletPublishRequest({
        pod,
        volumeId: 'lean-volume',
        targetPath: join(targets, 'mount'),
        attributes: { connectors: 'mounted' },
      });
      // TokenRequest, SubjectAccessReview, the Connector, its class and the proxy CA ConfigMap;
      // RBAC settles within moments of being created.
      for (let i = 0; ; i++) {
        try {
          await driver.client.call('Node', 'NodePublishVolume', request);
          break;
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(readFileSync(join(targets, 'mount', 'ca.crt'), 'utf8')).to.equal(sys.cp.servingCaPem);
      await driver.client.call('Node', 'NodeUnpublishVolume', {
        volume_id: 'lean-volume',
        target_path: join(targets, 'mount'),
      });
    } finally {
      await driver.stop();
      rmSync(targets, { recursive: true, force: true });
      await kubectlOk(['delete', '-f', tokenRbac]);
    }
    expectNoClientNode(out, ['@grpc/grpc-js', 'undici']);
  });
});
