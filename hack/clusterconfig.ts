// The configuration of the single-node cluster's components (hack/cluster.ts): its fixed names and
// address ranges, containerd's config.toml, the CNI network, RBAC for the node's own clients, the
// Corefile, and kube-proxy's and kubelet's configuration files. Each setting that differs from a
// component's default says why; most come from what a kubelet needs on machines of this kind
// (real-cluster.md in the project's reference notes).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAUSE_IMAGE } from './images.js';

/** Everything of the cluster that is not kubelet's lives here; removed on stop. */
export const RUN_DIR = '/var/lib/connectors-cluster';
/** kubelet's default, which the shipped CSI DaemonSet's hostPaths name. */
export const KUBELET_ROOT_DIR = '/var/lib/kubelet';
/** Resolves to 127.0.0.1 on every machine, so kube-apiserver reaches kubelet (logs, exec) by it. */
export const NODE_NAME = 'localhost';

export interface ClusterNetwork {
  /** The Linux bridge pods are attached to; the harness creates it. */
  bridge: string;
  /** The bridge's address: pods' gateway, kube-apiserver's and CoreDNS's listen address, the node IP. */
  gateway: string;
  podCIDR: string;
  serviceCIDR: string;
  /** The `kubernetes` Service's ClusterIP (KUBERNETES_SERVICE_HOST in pods). */
  kubernetesServiceIP: string;
  /** Where pods send DNS queries (kubelet's clusterDNS). */
  dnsServer: string;
  clusterDomain: string;
}

export const NETWORK: ClusterNetwork = {
  bridge: 'connectors0',
  gateway: '10.244.0.1',
  podCIDR: '10.244.0.0/24',
  serviceCIDR: '10.96.0.0/24',
  kubernetesServiceIP: '10.96.0.1',
  dnsServer: '10.244.0.1',
  clusterDomain: 'cluster.local',
};

export const CGROUP = 'connectors-cluster';
export const CNI_NETWORK = 'connectors-cluster';

// --- containerd and CNI --------------------------------------------------------------------------------------------

export function writeContainerdConfig(address: string, cniBinDir: string): string {
  const base = join(RUN_DIR, 'containerd');
  const confDir = join(RUN_DIR, 'cni', 'net.d');
  mkdirSync(confDir, { recursive: true });
  writeFileSync(join(confDir, '10-connectors.conflist'), JSON.stringify(cniConfig(), null, 2));
  const q = (s: string): string => JSON.stringify(s); // TOML basic strings share JSON's escapes
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const toml = [
    'version = 2',
    `root = ${q(join(base, 'root'))}`,
    `state = ${q(join(base, 'state'))}`,
    // Plugins that would write outside our dirs (opt: /opt/containerd) or that we do not use.
    'disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", ' +
      '"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", ' +
      '"io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]',
    '[grpc]',
    `  address = ${q(address)}`,
    '[ttrpc]',
    `  address = ${q(`${address}.ttrpc`)}`,
    '[metrics]',
    '  address = ""',
    `[${cri}]`,
    `  sandbox_image = ${q(PAUSE_IMAGE)}`,
    // Root here lacks CAP_SYS_RESOURCE: runc must not lower oom_score_adj below ours.
    '  restrict_oom_score_adj = true',
    // Network namespaces under our state dir rather than /var/run/netns.
    '  netns_mounts_under_state_dir = true',
    '  disable_apparmor = true',
    '  enable_selinux = false',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `  Root = ${q(join(base, 'runc'))}`,
    `[${cri}.cni]`,
    `  bin_dir = ${q(cniBinDir)}`,
    `  conf_dir = ${q(confDir)}`,
    '  max_conf_num = 1',
    '',
  ].join('\n');
  const path = join(base, 'config.toml');
  mkdirSync(base, { recursive: true });
  writeFileSync(path, toml);
  return path;
}

/**
 * The pods' network: a bridge with the gateway on the host, no masquerade, and routes to the pod
 * subnet (on-link) and the Service range (via the gateway) only: no default route, so a pod has no
 * way off the machine.
 */
export function cniConfig(): object {
  return {
    cniVersion: '1.0.0',
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: NETWORK.bridge,
        isGateway: true,
        isDefaultGateway: false,
        ipMasq: false,
        // A pod reaching itself through its own Service leaves and re-enters the same bridge port.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: join(RUN_DIR, 'cni', 'ipam'),
          ranges: [[{ subnet: NETWORK.podCIDR, gateway: NETWORK.gateway }]],
          routes: [{ dst: NETWORK.serviceCIDR }],
        },
      },
    ],
  };
}

// --- node components ----------------------------------------------------------------------------------------

export function clusterRbac(): object {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'connectors-cluster:kube-apiserver-kubelet-client' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'system:kubelet-api-admin',
        },
        subjects: [
          { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'kube-apiserver-kubelet-client' },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'system:coredns' },
        rules: [
          {
            apiGroups: [''],
            resources: ['endpoints', 'services', 'pods', 'namespaces'],
            verbs: ['list', 'watch'],
          },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'system:coredns' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:coredns' }],
      },
    ],
  };
}

/** Cluster zones only, and no `forward`: a name outside them is refused, never asked upstream. */
export function corednsCorefile(kubeconfig: string): string {
  const d = NETWORK.clusterDomain;
  return [
    `${d}:53 in-addr.arpa:53 ip6.arpa:53 {`,
    `  bind ${NETWORK.dnsServer}`,
    '  errors',
    `  kubernetes ${d} in-addr.arpa ip6.arpa {`,
    `    kubeconfig ${kubeconfig}`,
    '    pods insecure',
    '    ttl 5',
    '  }',
    '}',
    '',
  ].join('\n');
}

export function kubeProxyConfig(kubeconfig: string, healthPort: number, metricsPort: number): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig },
    hostnameOverride: NODE_NAME,
    healthzBindAddress: `127.0.0.1:${healthPort}`,
    metricsBindAddress: `127.0.0.1:${metricsPort}`,
    clusterCIDR: NETWORK.podCIDR,
    detectLocalMode: 'ClusterCIDR',
    // NodePorts on the bridge address only: never on an interface that other machines reach.
    nodePortAddresses: [`${NETWORK.gateway}/32`],
    // localhostNodePorts would set net.ipv4.conf.all.route_localnet=1.
    iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: '30s', minSyncPeriod: '0s' },
    // Zeros leave the host's conntrack limits and timeouts as they are.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
      udpTimeout: '0s',
      udpStreamTimeout: '0s',
    },
  };
}

export function kubeletConfiguration(o: {
  port: number;
  healthPort: number;
  /** kubelet's serving certificate and key, and the CA of the client certificates it accepts. */
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  clientCAFile: string;
  containerdAddress: string;
  podLogsDir: string;
  volumePluginDir: string;
}): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port: o.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: o.healthPort,
    tlsCertFile: o.tlsCertFile,
    tlsPrivateKeyFile: o.tlsPrivateKeyFile,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: '10s' },
      x509: { clientCAFile: o.clientCAFile },
    },
    authorization: { mode: 'Webhook', webhook: { cacheAuthorizedTTL: '10s', cacheUnauthorizedTTL: '5s' } },
    containerRuntimeEndpoint: `unix://${o.containerdAddress}`,
    // containerd 1.6 does not answer kubelet's cgroup-driver query (real-cluster.md).
    cgroupDriver: 'cgroupfs',
    cgroupRoot: `/${CGROUP}`,
    failCgroupV1: false,
    failSwapOn: false,
    // Root here lacks CAP_SYS_RESOURCE; kubelet's default -999 would fail.
    oomScoreAdj: 0,
    // Otherwise kubelet adds KUBE-FIREWALL and other chains to the host's iptables.
    makeIPTablesUtilChains: false,
    clusterDNS: [NETWORK.dnsServer],
    clusterDomain: NETWORK.clusterDomain,
    // No host resolv.conf: pods get the cluster's search path and nameserver only.
    resolvConf: '',
    podLogsDir: o.podLogsDir,
    volumePluginDir: o.volumePluginDir,
    // Imported images cannot be pulled again: never garbage-collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    shutdownGracePeriod: '0s',
    rotateCertificates: false,
    serverTLSBootstrap: false,
    protectKernelDefaults: false,
  };
}
