// The shared integration environment: one local system per test run (control plane, manifests,
// aggregated server, APIService), one recording tool, and helpers to create what a test needs.
// Started by test/integration/fixture.ts before any integration test and stopped after all.

import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { Agent, type Dispatcher } from 'undici';
import { repoRoot } from '../../hack/binaries.js';
import type { CertKeyPem } from '../../hack/pki.js';
import { startLocalSystem, type LocalSystem } from '../../hack/localsystem.js';
import { startEchoTool, type EchoTool } from '../../hack/tools/echo-tool.js';
import { recordOutput, recordResponse, registerRecorder, secretValue } from './leaks.js';

export { knownSecrets, registerSecret, secretValue } from './leaks.js';

export const group = 'subresources.connectors.alauda.io';
export const gvPath = `/apis/${group}/v1alpha1`;

export interface TestEnv {
  /** Date.now() before anything started: logs written since belong to this run. */
  startedAt: number;
  sys: LocalSystem;
  tool: EchoTool;
  toolUser: string;
  toolPassword: string;
}

let current: TestEnv | undefined;

export function env(): TestEnv {
  if (!current) throw new Error('the integration environment is not running (fixture.ts starts it)');
  return current;
}

export async function startEnv(): Promise<void> {
  const startedAt = Date.now();
  const logDir = process.env.CONNECTORS_TEST_LOG_DIR ?? join(repoRoot(), '.test-logs');
  // Short tool timeouts, so that tests of a tool that never answers, or stalls mid-body, end soon.
  const sys = await startLocalSystem({
    logDir,
    serverArgs: ['--upstream-response-timeout=3s', '--upstream-idle-timeout=10s'],
    // The example custom proxy, which the API server reaches by --proxy-url-override.
    signingProxy: true,
  });
  const toolUser = 'tool-user';
  const toolPassword = secretValue('tool-password');
  const tool = await startEchoTool({ username: toolUser, password: toolPassword });
  registerRecorder('the shared echo tool', tool, [toolPassword]);
  current = { startedAt, sys, tool, toolUser, toolPassword };
}

export async function stopEnv(): Promise<void> {
  const e = current;
  current = undefined;
  if (!e) return;
  await e.tool.close();
  await e.sys.stop();
}

/** kubectl as the admin (or `kubeconfig`'s user); its output is recorded for the leak check. */
export async function kubectl(args: string[], opts: { input?: string; kubeconfig?: string } = {}) {
  const r = await env().sys.cp.kubectl(args, opts);
  recordOutput(`kubectl ${args.join(' ')}`, r);
  return r;
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(
  args: string[],
  opts: { input?: string; kubeconfig?: string } = {},
): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export async function apply(objects: object[]): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
}

/** A fresh namespace for one test file, so tests never see each other's objects. */
export async function namespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${Math.random().toString(36).slice(2, 7)}`;
  await kubectlOk(['create', 'namespace', ns]);
  return ns;
}

/** A Secret of `type` holding `stringData`. */
export function secret(ns: string, name: string, type: string, stringData: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, type, stringData };
}

export function basicAuthSecret(ns: string, name: string, username: string, password: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    type: 'kubernetes.io/basic-auth',
    stringData: { username, password },
  };
}

/** A Secret holding a `token` (connectors.cpaas.io/bearer-token, gitlab-pat-auth, Opaque). */
export function tokenSecret(ns: string, name: string, type: string, token: string): object {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, type, stringData: { token } };
}

export function connector(
  ns: string,
  name: string,
  spec: {
    connectorClassName?: string;
    address: string;
    secret?: string;
    authName?: string;
    caSecret?: string;
  },
): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace: ns },
    spec: {
      connectorClassName: spec.connectorClassName ?? 'http-test',
      address: spec.address,
      ...(spec.secret
        ? { auth: { name: spec.authName ?? 'basicAuth', secretRef: { name: spec.secret } } }
        : {}),
      ...(spec.caSecret ? { caCertSecretRef: { name: spec.caSecret } } : {}),
    },
  };
}

/**
 * A Connector whose tool is the test kube-apiserver itself ("another cluster"): a bearer-token
 * Secret with `token`, and the cluster's CA trusted through caCertSecretRef.
 */
export function clusterConnector(ns: string, className: string, token: string): object[] {
  return [
    tokenSecret(ns, 'cluster-token', 'connectors.cpaas.io/bearer-token', token),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'cluster-ca', namespace: ns },
      type: 'Opaque',
      stringData: { 'ca.crt': env().sys.cp.caCertPem },
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'cluster', namespace: ns },
      spec: {
        connectorClassName: className,
        address: env().sys.cp.server,
        auth: { name: 'bearerTokenAuth', secretRef: { name: 'cluster-token' } },
        caCertSecretRef: { name: 'cluster-ca' },
      },
    },
  ];
}

export function connectorClass(name: string): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'ConnectorClass',
    metadata: { name },
    spec: {
      address: { name: 'address', type: 'string' },
      auth: {
        types: [
          { name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true },
          { name: 'bearerTokenAuth', secretType: 'connectors.cpaas.io/bearer-token', optional: true },
          { name: 'patAuth', secretType: 'connectors.cpaas.io/gitlab-pat-auth', optional: true },
          { name: 'tokenAuth', secretType: 'Opaque', optional: true },
        ],
      },
    },
  };
}

/** A Role + RoleBinding giving `subject` the verbs on connectors/<subresources> in `ns`. */
export function grant(
  ns: string,
  name: string,
  subject: { kind: 'User' | 'ServiceAccount'; name: string; namespace?: string },
  verbs: string[],
  subresources = ['proxy'],
): object[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: ns },
      rules: [{ apiGroups: [group], resources: subresources.map((s) => `connectors/${s}`), verbs }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [
        subject.kind === 'User'
          ? { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: subject.name }
          : { kind: 'ServiceAccount', name: subject.name, namespace: subject.namespace ?? ns },
      ],
    },
  ];
}

/** A kubeconfig for a user identified by a client certificate (CN = user). */
export async function userKubeconfig(user: string, groups: string[] = []): Promise<string> {
  const creds = await env().sys.cp.issueClientCert(user, groups);
  return env().sys.cp.writeKubeconfig(join(env().sys.cp.dir, `${user}.kubeconfig`), creds);
}

export function proxyPath(ns: string, name: string, rest = ''): string {
  return `${gvPath}/namespaces/${ns}/connectors/${name}/proxy${rest}`;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Calls our server directly (not through kube-apiserver), optionally as the front proxy. */
export async function direct(
  path: string,
  opts: {
    method?: Dispatcher.HttpMethod;
    headers?: Record<string, string>;
    cert?: CertKeyPem;
    body?: string;
  } = {},
): Promise<RawResponse> {
  const agent = new Agent({
    connect: {
      ca: env().sys.servingCaPem,
      ...(opts.cert ? { cert: opts.cert.certPem, key: opts.cert.keyPem } : {}),
    },
  });
  try {
    // Dispatcher.request sends `path` as is; request(url) would normalise `%2e%2e` away first.
    const r = await agent.request({
      origin: env().sys.serverUrl,
      path,
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      body: opts.body ?? null,
    });
    const body = await r.body.text();
    recordResponse(`connectors-apiserver ${opts.method ?? 'GET'} ${path}`, r.headers, body);
    return { status: r.statusCode, headers: r.headers, body };
  } finally {
    await agent.close();
  }
}

/**
 * A raw HTTPS request to kube-apiserver, as a pod (bearer token) or a user (client certificate,
 * default: the admin) would send it. Bodies may be streams.
 */
export async function kubeRequest(
  path: string,
  opts: {
    token?: string;
    cert?: CertKeyPem;
    method?: Dispatcher.HttpMethod;
    headers?: Record<string, string>;
    body?: string | Readable;
  } = {},
): Promise<RawResponse> {
  const cp = env().sys.cp;
  const cert = opts.token ? undefined : (opts.cert ?? cp.admin);
  // HTTP/1.1, so that a response's repeated headers arrive as sent (kubectl's HTTP/2 is tested
  // with kubectl itself).
  const agent = new Agent({
    connect: { ca: cp.caCertPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
    allowH2: false,
  });
  try {
    const r = await agent.request({
      origin: cp.server,
      path,
      method: opts.method ?? 'GET',
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers },
      body: opts.body ?? null,
    });
    const body = await r.body.text();
    recordResponse(`kube-apiserver ${opts.method ?? 'GET'} ${path}`, r.headers, body);
    return { status: r.statusCode, headers: r.headers, body };
  } finally {
    await agent.close();
  }
}

/**
 * Writes a raw HTTP/1.1 request to our server over TLS (for request shapes no client library
 * sends, such as an absolute-form target) and returns the status line's code and the body.
 */
export async function rawDirect(head: string, cert?: CertKeyPem): Promise<{ status: number; text: string }> {
  const url = new URL(env().sys.serverUrl);
  const socket = connect({
    host: url.hostname,
    port: Number(url.port),
    ca: env().sys.servingCaPem,
    servername: 'localhost',
    ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
  });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => {
      socket.write(head);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', resolve);
    socket.once('close', () => {
      resolve();
    });
    socket.once('error', reject);
  });
  const text = Buffer.concat(chunks).toString('utf8');
  recordResponse(`connectors-apiserver raw ${head.split('\r\n', 1)[0] ?? ''}`, {}, text);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
}

/** The front-proxy identity kube-apiserver uses, for direct calls that mimic the aggregator. */
export function frontProxyCert(): CertKeyPem {
  const fp = env().sys.cp.frontProxy;
  return { certPem: fp.clientCertPem, keyPem: fp.clientKeyPem };
}

/**
 * The messages one of our processes wrote to its JSON-lines log `file` at or after `since`
 * (Date.now()): a process started again under the same name appends to the log of earlier runs.
 */
export function loggedSince(file: string, since: number): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      if (!line.startsWith('{')) return [];
      const record = JSON.parse(line) as { ts?: string; msg?: string };
      return record.msg !== undefined && Date.parse(record.ts ?? '') >= since ? [record.msg] : [];
    });
}

export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
