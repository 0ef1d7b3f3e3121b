// The demo that `npm run dev` and `npm run cluster` install: namespace `demo`, a plain HTTP tool
// behind Basic auth registered as the Connector demo/demo-tool (class `http`), a private Git
// repository as demo/demo-git (the shipped `git` class), and alice, who may read through the
// Connectors but not write. Only the credentials' holders (these objects' Secrets) know the
// passwords; everyone else goes through the Kubernetes API. `npm run dev` adds demo-ci, a
// pipeline's ServiceAccount that may clone demo/demo-git through the Connectors Proxy and do
// nothing else.

export const demoNamespace = 'demo';
export const groupVersionPath = '/apis/subresources.connectors.alauda.io/v1alpha1';
export const demoToolProxy = `${groupVersionPath}/namespaces/${demoNamespace}/connectors/demo-tool/proxy`;
export const demoRepository = 'team/app.git';
export const demoBranches = `${groupVersionPath}/namespaces/${demoNamespace}/connectors/demo-git/branches?repository=${demoRepository}`;

/** The demo's Connectors, Ready once the status controller has probed each with its Secret. */
export const demoConnectors = ['demo-tool', 'demo-git'] as const;

/** kubectl arguments that print a demo Connector's Ready status: 'True' once probed. */
export function readyStatusArgs(name: string): string[] {
  return [
    'get',
    'connector',
    name,
    '-n',
    demoNamespace,
    '-o',
    'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
  ];
}

export interface DemoTool {
  url: string;
  username: string;
  password: string;
}

type KubeObject = Record<string, unknown>;

/** The `http` class (not shipped: any HTTP tool with optional Basic auth), the tool's Secret and Connector, and alice's RoleBinding. */
export function demoToolObjects(tool: DemoTool): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: demoNamespace } },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'ConnectorClass',
      // Pods reach it through the Connectors Proxy of the install, by path
      // (…/namespaces/demo/connectors/demo-tool/) or as http_proxy.
      metadata: { name: 'http', annotations: { 'connectors.cpaas.io/proxy-resolver': 'path' } },
      spec: {
        address: { name: 'address', type: 'string' },
        auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true }] },
        proxy: { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'connectors-system' } },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'demo-tool-credentials', namespace: demoNamespace },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: tool.username, password: tool.password },
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'demo-tool', namespace: demoNamespace },
      spec: {
        connectorClassName: 'http',
        address: `${tool.url}/api`,
        auth: { name: 'basicAuth', secretRef: { name: 'demo-tool-credentials' } },
      },
    },
    // alice may read through the Connector but not write: RBAC alone decides.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'alice-proxy-view', namespace: demoNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'connectors-proxy-view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
    },
  ];
}

/** The Git server's Secret and the Connector of the shipped `git` class for demoRepository. */
export function demoGitObjects(git: DemoTool): KubeObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'demo-git-credentials', namespace: demoNamespace },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: git.username, password: git.password },
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'demo-git', namespace: demoNamespace },
      spec: {
        connectorClassName: 'git',
        address: git.url,
        auth: {
          name: 'basicAuth',
          secretRef: { name: 'demo-git-credentials' },
          params: [{ name: 'repository', value: demoRepository }],
        },
      },
    },
  ];
}

/** The ServiceAccount of demo/demo-git's clones through the Connectors Proxy. */
export const demoCiServiceAccount = 'demo-ci';

/**
 * demo-ci and exactly the RBAC a clone through the Connectors Proxy needs: `get` on the Connector,
 * and `get` (ref advertisement) and `create` (git-upload-pack is a POST) on its connectors/proxy.
 */
export function demoCiObjects(): KubeObject[] {
  const name = demoCiServiceAccount;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: demoNamespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: demoNamespace },
      rules: [
        {
          apiGroups: ['connectors.alauda.io'],
          resources: ['connectors'],
          resourceNames: ['demo-git'],
          verbs: ['get'],
        },
        {
          apiGroups: ['subresources.connectors.alauda.io'],
          resources: ['connectors/proxy'],
          resourceNames: ['demo-git'],
          verbs: ['get', 'create'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: demoNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: demoNamespace }],
    },
  ];
}

/**
 * demo/demo-db, a MySQL Connector (class mysql) to `address` (mysql://host:port) with the account in
 * its Secret, and the RBAC demo-ci needs to open a session through the MySQL Connectors Proxy:
 * `get` on the Connector and `create` on its connectors/proxy (a session may write).
 */
export function demoDatabaseObjects(db: {
  address: string;
  username: string;
  password: string;
}): KubeObject[] {
  const name = `${demoCiServiceAccount}-demo-db`;
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'demo-db-credentials', namespace: demoNamespace },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: db.username, password: db.password },
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'demo-db', namespace: demoNamespace },
      spec: {
        connectorClassName: 'mysql',
        address: db.address,
        auth: { name: 'basicAuth', secretRef: { name: 'demo-db-credentials' } },
      },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: demoNamespace },
      rules: [
        {
          apiGroups: ['connectors.alauda.io'],
          resources: ['connectors'],
          resourceNames: ['demo-db'],
          verbs: ['get'],
        },
        {
          apiGroups: ['subresources.connectors.alauda.io'],
          resources: ['connectors/proxy'],
          resourceNames: ['demo-db'],
          verbs: ['create'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: demoNamespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: demoCiServiceAccount, namespace: demoNamespace }],
    },
  ];
}

/** A kubectl-applicable List. */
export function asList(items: KubeObject[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}
