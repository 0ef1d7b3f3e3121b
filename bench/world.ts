// What a run sets up before its sections: the peers prepared once and cached (the Node 20 baseline,
// the Go relay), the objects every section relies on, and what kube-apiserver's services/proxy needs
// to reach the tool without controllers or a kubelet.

import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { cacheRoot } from '../hack/cache.js';
import type { LocalSystem } from '../hack/localsystem.js';
import { prepareBaseline } from './baseline.js';
import { findGo, goRelayBinary } from './gorelay.js';
import { connectorSpec, ns, password, progress, user, type Runtime, type Section } from './harness.js';

/** A non-loopback, non-link-local IPv4 address of this machine, if it has one. */
export function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address;
    }
  }
  return undefined;
}

/**
 * The Node 20 baseline and the Go relay, prepared before anything starts (once: both are cached).
 * Either may be missing; the reason goes into the report's notes.
 */
export async function preparePeers(
  root: string,
  sections: Section[],
  notes: string[],
): Promise<{
  baseline?: Runtime;
  goRelay?: { binary: string; goVersion: string };
  seconds: Record<string, number>;
}> {
  const seconds: Record<string, number> = {};
  const out: { baseline?: Runtime; goRelay?: { binary: string; goVersion: string } } = {};
  const cache = cacheRoot();
  if (sections.some((s) => s === 'http' || s === 'connproxy' || s === 'streaming')) {
    const start = Date.now();
    try {
      const prepared = await prepareBaseline({ repo: root, cache, log: progress });
      if ('skipped' in prepared) {
        notes.push(`no Node 20 column: ${prepared.skipped}`);
      } else {
        const { baseline } = prepared;
        out.baseline = {
          label: 'Node 20',
          node: baseline.node,
          root: baseline.root,
          version: baseline.nodeVersion,
          suffix: '-node20',
        };
        Object.assign(seconds, prepared.seconds);
      }
    } catch (err) {
      notes.push(
        `no Node 20 column: its preparation failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    seconds.baseline = (Date.now() - start) / 1000;
  }
  if (sections.some((s) => s === 'http' || s === 'connproxy')) {
    const start = Date.now();
    const go = findGo();
    if (!go) {
      notes.push('no Go reverse proxy rows: no Go toolchain (go on PATH or /usr/local/go/bin/go)');
    } else {
      try {
        const built = await goRelayBinary({ source: join(root, 'bench', 'go-relay'), cache, go });
        out.goRelay = { binary: built.binary, goVersion: built.goVersion };
      } catch (err) {
        notes.push(`no Go reverse proxy rows: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    seconds.goRelay = (Date.now() - start) / 1000;
  }
  for (const n of notes) progress(n);
  return { ...out, seconds };
}

/**
 * What kube-apiserver's services/proxy needs to reach the tool at `toolUrl` without a
 * kube-controller-manager, scheduler or kubelet (the local control plane has none): a Service
 * without a selector, and its endpoints written by hand. kube-apiserver 1.34 reads Endpoints (later
 * versions read EndpointSlices, so one is written too) and takes an address only if it names a Pod
 * of the namespace whose status lists that IP: a Pod object that never runs stands for the tool, its
 * IP set by setToolPodIp. Also the right to use services/proxy, and Connector tool-external, our
 * /proxy to the same address.
 */
function servicesProxyObjects(toolUrl: string): Record<string, unknown>[] {
  const { hostname, port } = new URL(toolUrl);
  const toolPort = Number(port);
  const targetRef = { kind: 'Pod', name: 'tool', namespace: ns };
  return [
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'tool', namespace: ns },
      // ServiceAccount bench exists (createToken); `default` would not, without the controllers.
      spec: {
        serviceAccountName: 'bench',
        automountServiceAccountToken: false,
        containers: [{ name: 'tool', image: 'stands-for-the-bench-tool' }],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'tool', namespace: ns },
      spec: { ports: [{ port: 80, targetPort: toolPort, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'tool', namespace: ns },
      subsets: [{ addresses: [{ ip: hostname, targetRef }], ports: [{ port: toolPort, protocol: 'TCP' }] }],
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'tool', namespace: ns, labels: { 'kubernetes.io/service-name': 'tool' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: [hostname], conditions: { ready: true }, targetRef }],
      ports: [{ port: toolPort, protocol: 'TCP' }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'bench-services-proxy', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['services/proxy'], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'bench-services-proxy', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'bench-services-proxy' },
      subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns }],
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'tool-external', namespace: ns },
      spec: connectorSpec(toolUrl),
    },
  ];
}

/** Writes the tool's address into its Pod's status, as a kubelet would (see servicesProxyObjects). */
export async function setToolPodIp(sys: LocalSystem, toolUrl: string): Promise<void> {
  const ip = new URL(toolUrl).hostname;
  const patched = await sys.cp.kubectl([
    'patch',
    'pod',
    'tool',
    '-n',
    ns,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { podIP: ip, podIPs: [{ ip }] } }),
  ]);
  if (patched.code !== 0) throw new Error(patched.stderr);
}

/**
 * What every section relies on: namespace bench, class bench-http, the tool's Secret and Connector
 * tool, the bench ServiceAccount's right to read and write through Connectors and to read discovery,
 * and kube-apiserver's services/proxy to the tool where this machine has an external address.
 */
export function benchObjects(tool: { url: string; externalUrl?: string }): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: 'bench-http' },
        spec: { auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth' }] } },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'tool', namespace: ns },
        type: 'kubernetes.io/basic-auth',
        stringData: { username: user, password },
      },
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'tool', namespace: ns },
        spec: connectorSpec(tool.url),
      },
      ...(tool.externalUrl ? servicesProxyObjects(tool.externalUrl) : []),
      // Reads through the Connectors, and the uploads (PUT) of the streaming rows.
      ...['connectors-proxy-view', 'connectors-proxy-edit'].map((role) => ({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: role, namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns }],
      })),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'bench-discovery' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' },
        subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: ns }],
      },
    ],
  };
}
