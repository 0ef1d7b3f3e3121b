// Starting the Connectors Proxy (dist/connproxy/main.js) from its real entry point in integration
// tests, with the RBAC it needs, and calling it over plain HTTP.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from '../../hack/binaries.js';
import { freePort, ManagedProcess } from '../../hack/process.js';
import { env } from './env.js';
import { recordResponse } from './leaks.js';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to the proxy, exactly as given (path may be absolute-form, Host free). */
export function send(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        recordResponse(`connectors-proxy :${port} ${method} ${path}`, res.headers, body);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface RunningConnectorsProxy {
  proc: ManagedProcess;
  port: number;
  log: string;
  caFile: string;
}

/** Starts the proxy from its real entry point (`nodeArgs` go to node) and waits until /readyz answers 200. */
export async function startProxy(
  name: string,
  kubeconfig: string,
  extra: string[],
  nodeArgs: string[] = [],
): Promise<RunningConnectorsProxy> {
  const port = await freePort();
  const log = join(env().sys.logDir, `${name}.log`);
  const caFile = join(env().sys.cp.dir, `${name}-ca.crt`);
  const proc = ManagedProcess.start({
    name,
    binary: process.execPath,
    args: [
      ...nodeArgs,
      join(repoRoot(), 'dist', 'connproxy', 'main.js'),
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--kubeconfig=${kubeconfig}`,
      `--proxy-ca-out=${caFile}`,
      '--upstream-response-timeout=10s',
      ...extra,
    ],
    logFile: log,
  });
  await proc.waitUntil(
    async () => {
      const r = await send(port, '/readyz');
      return r.status === 200;
    },
    { timeoutMs: 30_000, what: `${name} /readyz` },
  );
  return { proc, port, log, caFile };
}

/**
 * The proxy's own RBAC, bound to the ServiceAccount `serviceAccount` in `ns`: read Connectors and
 * classes, get Secrets, write its CA ConfigMap, review tokens and access.
 */
export function proxyRbac(name: string, ns: string, serviceAccount: string): object[] {
  const group = 'connectors.alauda.io';
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules: [
        {
          apiGroups: [group],
          resources: ['connectors', 'connectorclasses'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update'] },
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: ns }],
    },
  ];
}

/** RBAC: `get` on the Connectors themselves, which the Connectors Proxy checks besides connectors/proxy. */
export function connectorReader(ns: string, serviceAccount: string): object[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'connector-reader', namespace: ns },
      rules: [{ apiGroups: ['connectors.alauda.io'], resources: ['connectors'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'connector-reader', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'connector-reader' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: ns }],
    },
  ];
}

/**
 * RBAC of a Connectors Proxy caller: `get` on the Connectors themselves and `verbs` on
 * connectors/proxy (each method is authorized as its own verb), bound to `serviceAccount`.
 */
export function proxyUser(ns: string, serviceAccount: string, verbs: readonly string[]): object[] {
  const group = 'connectors.alauda.io';
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'proxy-user', namespace: ns },
      rules: [
        { apiGroups: [group], resources: ['connectors'], verbs: ['get'] },
        { apiGroups: [`subresources.${group}`], resources: ['connectors/proxy'], verbs: [...verbs] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'proxy-user', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'proxy-user' },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: ns }],
    },
  ];
}
