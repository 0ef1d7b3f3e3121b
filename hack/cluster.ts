// A real single-node Kubernetes cluster on this machine, for the cluster tests and `npm run
// cluster`: etcd and kube-apiserver (hack/controlplane.ts), kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy and CoreDNS as host processes, containerd + runc + a CNI
// bridge from Debian, and the locally built pause image. The components' settings are in
// hack/clusterconfig.ts, the host changes and their undoing in hack/clusterhost.ts. No packet
// leaves the machine: pods get routes to the pod subnet and the Service range only, forwarding is
// confined to the bridge, CoreDNS forwards nothing, NodePorts listen on the bridge address only.
//
// One cluster per machine: kubelet's root dir is /var/lib/kubelet (where the shipped CSI
// DaemonSet's hostPaths point), and the bridge, the cgroup and the run dir have fixed names.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { join, resolve } from 'node:path';
import { resolveBinaries, resolveClusterBinaries, type ClusterBinaries } from './binaries.js';
import {
  startControlPlane,
  type ControlPlane,
  type KubectlOptions,
  type KubectlResult,
} from './controlplane.js';
import {
  adoptProcess,
  chainsWithPrefix,
  createCgroups,
  existingTables,
  findCommand,
  HOST_DIRS,
  hostSnapshot,
  loadState,
  ownerAlive,
  processStart,
  readSysctls,
  saveState,
  sh,
  teardownHost,
  TOUCHED_SYSCTLS,
  trackingHierarchy,
  writeSysctl,
  type HostState,
} from './clusterhost.js';
import {
  CGROUP,
  clusterRbac,
  CNI_NETWORK,
  corednsCorefile,
  KUBELET_ROOT_DIR,
  kubeletConfiguration,
  kubeProxyConfig,
  NETWORK,
  NODE_NAME,
  RUN_DIR,
  writeContainerdConfig,
  type ClusterNetwork,
} from './clusterconfig.js';
import { buildPauseImage } from './images.js';
import { CONTAINERD_NAME_ANNOTATION, OCI_REF_NAME_ANNOTATION, readOciIndex } from './oci.js';
import { createCA, issueCert, type CertificateAuthority, type CertKeyPem } from './pki.js';
import { freeLowPort, ManagedProcess, registerExitCleanup } from './process.js';

/** Where the harness's own processes (and containerd's shims) go, below CGROUP in the freezer hierarchy. */
const HOST_PROCESSES_CGROUP = `${CGROUP}/host`;
const KUBELET_MARKER = '.connectors-cluster';
const FORWARD_CHAIN = 'CONNECTORS-CLUSTER-FWD';
const FILTER_COMMENT = 'connectors-cluster';
const CONTAINERD_NAMESPACE = 'k8s.io';
const READY_TIMEOUT_MS = 120_000;
const POD_DRAIN_TIMEOUT_S = 20;

export interface ClusterOptions {
  /**
   * Where every component's log goes (kubelet.log, containerd.log, ...). Given: kept after stop()
   * (CI artifacts). Default: inside the run dir, removed with it.
   */
  logDir?: string;
  /** Progress lines ("containerd ready", ...); default: none. */
  log?: (line: string) => void;
}

export interface ClusterTimings {
  /** Resolving (or building) the binaries and the pause image. */
  binariesMs: number;
  /** Bridge, iptables, sysctls, cgroups, PKI. */
  hostMs: number;
  /** containerd and etcd + kube-apiserver (in parallel), pause image imported. */
  runtimeAndControlPlaneMs: number;
  /** From starting the node components to node Ready, DNS answering, Services routed. */
  nodeMs: number;
  totalMs: number;
}

export interface Cluster {
  /** Admin kubeconfig (system:masters), usable by kubectl on this machine: /var/lib/connectors-cluster/admin.kubeconfig. */
  readonly kubeconfig: string;
  /** kube-apiserver's URL, on the bridge address. */
  readonly server: string;
  readonly nodeName: string;
  readonly kubeletRootDir: string;
  readonly network: ClusterNetwork;
  /** containerd's socket (unix path), e.g. for `ctr --address`. */
  readonly containerdAddress: string;
  /** etcd + kube-apiserver, with their PKI helpers (issueClientCert, writeKubeconfig, createToken, ...). */
  readonly controlPlane: ControlPlane;
  readonly logDir: string;
  readonly timings: ClusterTimings;
  /** kubectl with the admin kubeconfig. Never throws for a non-zero exit; check `code`. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Imports an OCI image archive into the node's containerd; returns the image names it holds. */
  importImage(archive: string): Promise<string[]>;
  /** Stops everything and undoes every change to the host. Idempotent. */
  stop(): Promise<void>;
}

interface Tools {
  iptables: string;
  ip6tables: string | undefined;
  ip: string;
  ctr: string;
  containerd: string;
  cniBinDir: string;
}

/** Starts the cluster and waits until the node is Ready, DNS answers and Services are routed. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? ((): void => undefined);
  const t0 = performance.now();
  if (process.getuid?.() !== 0)
    throw new Error('the cluster needs root (kubelet, containerd, iptables, cgroups)');
  const tools = requireTools();
  const [binaries, clusterBinaries, pause] = await Promise.all([
    resolveBinaries(),
    resolveClusterBinaries(),
    buildPauseImage(),
  ]);
  const tBinaries = performance.now();

  reclaimLeftovers(tools, log);
  refuseConflicts(tools);
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
  const state: HostState = {
    pid: process.pid,
    pidStart: processStart(process.pid) ?? '',
    runDir: RUN_DIR,
    kubeletRootDir: KUBELET_ROOT_DIR,
    sysctls: readSysctls(TOUCHED_SYSCTLS),
    createdHostDirs: HOST_DIRS.filter((d) => !existsSync(d)),
    cgroups: [],
    tablesBefore: Object.fromEntries(
      [tools.iptables, tools.ip6tables].flatMap((t) => (t === undefined ? [] : [[t, existingTables(t)]])),
    ),
  };
  saveState(state);
  const unregisterCleanup = registerExitCleanup(() => {
    teardownHost(state, tools.iptables, tools.ip6tables);
  });
  const logDir = resolve(opts.logDir ?? join(RUN_DIR, 'logs'));
  mkdirSync(logDir, { recursive: true });
  const processes: ManagedProcess[] = [];
  let controlPlane: ControlPlane | undefined;
  try {
    setUpHost(state, tools);
    const pki = await createNodePki(join(RUN_DIR, 'pki'));
    const tHost = performance.now();
    log('host ready (bridge, iptables, sysctls, cgroups)');

    const containerdAddress = join(RUN_DIR, 'containerd', 'containerd.sock');
    state.containerdAddress = containerdAddress;
    saveState(state);
    const containerdConfig = writeContainerdConfig(containerdAddress, tools.cniBinDir);
    const containerd = startHostProcess(processes, {
      name: 'containerd',
      binary: tools.containerd,
      args: ['--config', containerdConfig],
      logFile: join(logDir, 'containerd.log'),
    });
    // Both at once; waited for together so that a failure of one still hands the other to the
    // cleanup below.
    const [cpResult, runtimeResult] = await Promise.allSettled([
      startControlPlane({
        dir: RUN_DIR,
        logDir,
        binaries,
        bindAddress: NETWORK.gateway,
        serviceCIDR: NETWORK.serviceCIDR,
        clientCA: pki.clientCA,
        lowPorts: true,
        apiServerFlags: {
          'authorization-mode': 'Node,RBAC',
          'enable-admission-plugins': 'NodeRestriction',
          // The aggregator dials an APIService's endpoints itself, so aggregation does not wait
          // for kube-proxy (real-cluster.md).
          'enable-aggregator-routing': 'true',
          'kubelet-preferred-address-types': 'Hostname',
          'kubelet-client-certificate': pki.files.kubeletClientCert,
          'kubelet-client-key': pki.files.kubeletClientKey,
          'kubelet-certificate-authority': pki.files.kubeletCA,
        },
      }),
      (async () => {
        await containerd.waitUntil(
          async () => (await ctr(tools, containerdAddress, ['version'])).code === 0,
          {
            timeoutMs: 30_000,
            what: `containerd on ${containerdAddress}`,
            intervalMs: 100,
          },
        );
        await importOciArchive(tools.ctr, containerdAddress, pause.archive);
        log('containerd ready, pause image imported');
      })(),
    ]);
    if (cpResult.status === 'fulfilled') controlPlane = cpResult.value;
    if (cpResult.status === 'rejected') throw cpResult.reason;
    if (runtimeResult.status === 'rejected') throw runtimeResult.reason;
    const cp = cpResult.value;
    // At a fixed path, for the KUBECONFIG line a user copies.
    const kubeconfig = join(RUN_DIR, 'admin.kubeconfig');
    copyFileSync(cp.kubeconfigPath, kubeconfig);
    for (const p of [cp.etcd, cp.kubeApiserver])
      if (p.pid !== undefined) adoptProcess(HOST_PROCESSES_CGROUP, p.pid);
    const tControlPlane = performance.now();
    log(`kube-apiserver ready at ${cp.server}`);

    const node = await startNodeComponents({
      cp,
      pki,
      clusterBinaries,
      containerdAddress,
      logDir,
      processes,
      state,
    });
    await waitForNode(cp, node, log);
    const tNode = performance.now();

    const timings: ClusterTimings = {
      binariesMs: tBinaries - t0,
      hostMs: tHost - tBinaries,
      runtimeAndControlPlaneMs: tControlPlane - tHost,
      nodeMs: tNode - tControlPlane,
      totalMs: tNode - t0,
    };
    return new LocalCluster({
      cp,
      kubeconfig,
      tools,
      state,
      containerdAddress,
      logDir,
      timings,
      processes,
      node,
      unregisterCleanup,
    });
  } catch (error) {
    for (const p of processes.reverse()) await p.stop(3_000);
    await controlPlane?.stop();
    const report = teardownHost(state, tools.iptables, tools.ip6tables);
    unregisterCleanup();
    if (error instanceof Error) {
      if (report.errors.length > 0)
        error.message += `\nTeardown after the failure: ${report.errors.join('; ')}`;
      if (opts.logDir === undefined)
        error.message += '\n(The logs were removed with the run dir; pass logDir to keep them.)';
    }
    throw error;
  }
}

/**
 * What a cluster may change on this machine (iptables, links, routes, mounts, sysctls, its
 * directories and cgroups), comparable with `snapshotDiff`: taken before start and after stop, the
 * two must be equal.
 */
export function hostFootprint(): Record<string, string> {
  // The address ranges are /24s: their first three octets name every address in them.
  const within = (cidr: string): string => `${cidr.split('.').slice(0, 3).join('.')}.`;
  const words = [
    'KUBE-',
    FORWARD_CHAIN,
    FILTER_COMMENT,
    NETWORK.bridge,
    within(NETWORK.podCIDR),
    within(NETWORK.serviceCIDR),
  ];
  return hostSnapshot({
    paths: [KUBELET_ROOT_DIR, RUN_DIR, ...COMPONENT_DEFAULT_DIRS],
    cgroups: [CGROUP],
    relevant: new RegExp(words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')),
  });
}

/**
 * Where the components write by default, which our flags and configs redirect into RUN_DIR: in
 * the footprint, so that a setting that stops doing so shows up.
 */
const COMPONENT_DEFAULT_DIRS = [
  '/usr/libexec/kubernetes', // kubelet's and kube-controller-manager's flex volume plugin dir
  '/var/run/kubernetes', // kube-controller-manager's and kube-scheduler's --cert-dir
  '/var/log/pods', // kubelet's podLogsDir
  '/var/lib/containerd', // containerd's root
  '/opt/containerd', // containerd's opt plugin
  '/run/netns', // containerd's network namespaces without netns_mounts_under_state_dir
];

export { snapshotDiff } from './clusterhost.js';
export { KUBELET_ROOT_DIR, NETWORK, NODE_NAME, RUN_DIR, type ClusterNetwork } from './clusterconfig.js';

// --- preflight -----------------------------------------------------------------------------------

function requireTools(): Tools {
  const need = (name: string, pkg: string): string => {
    const path = findCommand(name);
    if (path === undefined)
      throw new Error(`${name} not found: install Debian's ${pkg} (hack/test-tools.sh does)`);
    return path;
  };
  const cniBinDir = ['/usr/lib/cni', '/opt/cni/bin'].find((d) => existsSync(join(d, 'bridge')));
  if (cniBinDir === undefined) {
    throw new Error(
      'the CNI bridge plugin is in neither /usr/lib/cni nor /opt/cni/bin: install containernetworking-plugins',
    );
  }
  need('runc', 'runc');
  need('conntrack', 'conntrack'); // kube-proxy clears stale UDP entries with it
  need('umount', 'mount');
  return {
    iptables: need('iptables', 'iptables'),
    ip6tables: findCommand('ip6tables'),
    ip: need('ip', 'iproute2'),
    ctr: need('ctr', 'containerd'),
    containerd: need('containerd', 'containerd'),
    cniBinDir,
  };
}

/** A previous run whose process died without tearing down (SIGKILL, power loss) left its state file. */
function reclaimLeftovers(tools: Tools, log: (line: string) => void): void {
  const old = loadState(RUN_DIR);
  if (old === undefined) return;
  if (ownerAlive(old)) {
    throw new Error(
      `a cluster of this harness is already running on this machine (pid ${old.pid}); stop it first ` +
        `(Ctrl-C or kill ${old.pid})`,
    );
  }
  log(`cleaning up after an earlier run (pid ${old.pid}) that did not stop its cluster`);
  const report = teardownHost(old, tools.iptables, tools.ip6tables);
  if (report.errors.length > 0) {
    throw new Error(`could not clean up after the earlier run: ${report.errors.join('; ')}`);
  }
}

function refuseConflicts(tools: Tools): void {
  if (existsSync(RUN_DIR)) {
    throw new Error(`${RUN_DIR} exists without a state file of this harness; remove it if nothing uses it`);
  }
  if (existsSync(KUBELET_ROOT_DIR)) {
    const ours = existsSync(join(KUBELET_ROOT_DIR, KUBELET_MARKER));
    throw new Error(
      ours
        ? `${KUBELET_ROOT_DIR} was left by an earlier run of this harness but its state is gone: unmount ` +
            `anything below it (findmnt -R ${KUBELET_ROOT_DIR}) and remove it`
        : `${KUBELET_ROOT_DIR} exists and was not made by this harness: another kubelet may use this machine. ` +
            'Refusing to start a second one.',
    );
  }
  if (existsSync(`/sys/class/net/${NETWORK.bridge}`)) {
    throw new Error(
      `network interface ${NETWORK.bridge} exists already; remove it (ip link delete ${NETWORK.bridge})`,
    );
  }
  for (const tool of [tools.iptables, tools.ip6tables]) {
    if (tool === undefined) continue;
    const kube = chainsWithPrefix(tool, 'KUBE-');
    if (kube.length > 0) {
      throw new Error(
        `${tool} has KUBE-* chains (${kube.slice(0, 3).join(', ')}...): another kube-proxy or kubelet runs ` +
          'on this machine, or one left its rules. Refusing to mix ours with them.',
      );
    }
  }
  for (const cidr of [NETWORK.podCIDR, NETWORK.serviceCIDR]) {
    const clash = routesOverlapping(tools.ip, cidr);
    if (clash.length > 0) {
      throw new Error(
        `${cidr} overlaps this machine's networks (${clash.join('; ')}); the cluster cannot use it`,
      );
    }
  }
}

function routesOverlapping(ip: string, cidr: string): string[] {
  const [base, len] = parseCidr(cidr);
  const listed = [
    ...sh(ip, ['-4', '-o', 'route', 'show', 'table', 'all']).split('\n'),
    ...sh(ip, ['-4', '-o', 'addr', 'show']).split('\n'),
  ];
  return listed.filter((line) => {
    const target = /(?:^|\s)(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)(?:\s|$)/.exec(
      line.replace(/^\d+:\s+\S+\s+inet\s/, ' '),
    )?.[1];
    if (target === undefined || line.startsWith('default')) return false;
    const [otherBase, otherLen] = parseCidr(target.includes('/') ? target : `${target}/32`);
    const common = Math.min(len, otherLen);
    return common === 0 ? false : prefix(base, common) === prefix(otherBase, common);
  });
}

function parseCidr(cidr: string): [number, number] {
  const [address = '', length = '32'] = cidr.split('/');
  const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  return [value, Number(length)];
}

function prefix(value: number, length: number): number {
  return Math.floor(value / 2 ** (32 - length));
}

// --- host setup ------------------------------------------------------------------------------------------

function setUpHost(state: HostState, tools: Tools): void {
  // kubelet's root, marked as ours first: a later start must be able to tell it from a real kubelet's.
  mkdirSync(KUBELET_ROOT_DIR, { mode: 0o700 });
  writeFileSync(join(KUBELET_ROOT_DIR, KUBELET_MARKER), `made by hack/cluster.ts for ${RUN_DIR}\n`);

  trackingHierarchy(); // fails early with the reason on a machine without cgroup v1
  state.cgroupName = CGROUP;
  createCgroups(CGROUP, (dir) => {
    state.cgroups.push(dir);
    saveState(state);
  });

  state.bridge = NETWORK.bridge;
  saveState(state);
  const prefixLength = NETWORK.podCIDR.split('/')[1] ?? '24';
  sh(tools.ip, ['link', 'add', NETWORK.bridge, 'type', 'bridge']);
  sh(tools.ip, ['addr', 'add', `${NETWORK.gateway}/${prefixLength}`, 'dev', NETWORK.bridge]);
  sh(tools.ip, ['link', 'set', NETWORK.bridge, 'up']);

  // Forwarding is confined before it is switched on: only bridge-to-bridge traffic (pod to pod,
  // pod to a Service's pod) is forwarded. The chain sits in mangle/FORWARD, which runs before
  // filter/FORWARD, where kube-proxy prepends its own ACCEPT rules.
  const forwardingWasOn = state.sysctls['net/ipv4/ip_forward'] === '1';
  state.forwardChain = FORWARD_CHAIN;
  state.filterComment = FILTER_COMMENT;
  saveState(state);
  const ipt = (...args: string[]): void => {
    sh(tools.iptables, ['-w', ...args]);
  };
  const br = NETWORK.bridge;
  ipt('-t', 'mangle', '-N', FORWARD_CHAIN);
  ipt('-t', 'mangle', '-A', FORWARD_CHAIN, '-i', br, '-o', br, '-j', 'RETURN');
  if (forwardingWasOn) {
    // The host forwards for others already: leave that alone, confine only what touches the bridge.
    ipt('-t', 'mangle', '-A', FORWARD_CHAIN, '-i', br, '-j', 'DROP');
    ipt('-t', 'mangle', '-A', FORWARD_CHAIN, '-o', br, '-j', 'DROP');
  } else {
    ipt('-t', 'mangle', '-A', FORWARD_CHAIN, '-j', 'DROP');
  }
  ipt('-t', 'mangle', '-I', 'FORWARD', '1', '-j', FORWARD_CHAIN);
  // Appended, so that kube-proxy's REJECTs for Services without endpoints come first; needed only
  // where filter/FORWARD's policy is DROP.
  ipt(
    '-t',
    'filter',
    '-A',
    'FORWARD',
    '-i',
    br,
    '-o',
    br,
    '-m',
    'comment',
    '--comment',
    FILTER_COMMENT,
    '-j',
    'ACCEPT',
  );

  // Replies between pods on one bridge are bridged, not routed; kube-proxy's DNAT is undone for
  // them only if bridged IPv4 traffic passes iptables.
  writeSysctl('net/bridge/bridge-nf-call-iptables', '1');
  writeSysctl('net/ipv4/ip_forward', '1');
}

/** A long-running host process of the cluster, placed in its cgroup so that teardown finds it and its children. */
function startHostProcess(
  processes: ManagedProcess[],
  opts: { name: string; binary: string; args: string[]; logFile: string },
): ManagedProcess {
  const p = ManagedProcess.start(opts);
  processes.push(p);
  if (p.pid !== undefined) adoptProcess(HOST_PROCESSES_CGROUP, p.pid);
  return p;
}

// --- PKI of the node -------------------------------------------------------------------------------------

interface NodePki {
  /** kube-apiserver's --client-ca-file: every component's client certificate comes from it. */
  clientCA: CertificateAuthority;
  kubeletServing: CertKeyPem;
  files: {
    kubeletClientCert: string;
    kubeletClientKey: string;
    kubeletCA: string;
    kubeletServingCert: string;
    kubeletServingKey: string;
    clientCA: string;
  };
}

async function createNodePki(dir: string): Promise<NodePki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [clientCA, kubeletCA] = await Promise.all([createCA('client-ca'), createCA('kubelet-serving-ca')]);
  const [kubeletClient, kubeletServing] = await Promise.all([
    // How kube-apiserver authenticates to kubelet (logs, exec); authorised by a binding to
    // system:kubelet-api-admin, as kubeadm does.
    issueCert(clientCA, { commonName: 'kube-apiserver-kubelet-client', client: true }),
    issueCert(kubeletCA, {
      commonName: NODE_NAME,
      dnsNames: [NODE_NAME],
      ipAddresses: ['127.0.0.1'],
      server: true,
    }),
  ]);
  const files: NodePki['files'] = {
    kubeletClientCert: join(dir, 'apiserver-kubelet-client.crt'),
    kubeletClientKey: join(dir, 'apiserver-kubelet-client.key'),
    kubeletCA: join(dir, 'kubelet-ca.crt'),
    kubeletServingCert: join(dir, 'kubelet.crt'),
    kubeletServingKey: join(dir, 'kubelet.key'),
    clientCA: join(dir, 'client-ca.crt'),
  };
  writeFileSync(files.kubeletClientCert, kubeletClient.certPem);
  writeFileSync(files.kubeletClientKey, kubeletClient.keyPem, { mode: 0o600 });
  writeFileSync(files.kubeletCA, kubeletCA.certPem);
  writeFileSync(files.kubeletServingCert, kubeletServing.certPem);
  writeFileSync(files.kubeletServingKey, kubeletServing.keyPem, { mode: 0o600 });
  writeFileSync(files.clientCA, clientCA.certPem);
  return { clientCA, kubeletServing, files };
}

// --- containerd --------------------------------------------------------------------------------------------

function ctr(
  tools: Tools,
  address: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ManagedProcess.run(tools.ctr, ['--address', address, '--namespace', CONTAINERD_NAMESPACE, ...args], {
    timeoutMs: 300_000,
    name: 'ctr',
  });
}

/**
 * Imports an OCI image archive into containerd's k8s.io namespace (the one kubelet's CRI reads),
 * unpacked for the overlayfs snapshotter, and returns the names it now holds. An archive written by
 * hack/oci.ts names its image in `io.containerd.image.name`; one written by `buildah push <img>
 * oci-archive:<path>:<name>` (or skopeo) only in `org.opencontainers.image.ref.name`, which
 * `ctr images import` keeps only when told the repository (--base-name): without it, the image
 * would be imported unnamed.
 */
export async function importOciArchive(
  ctrBinary: string,
  address: string,
  archive: string,
): Promise<string[]> {
  const manifests = await readOciIndex(archive);
  const names = manifests.map(
    (m) => m.annotations[CONTAINERD_NAME_ANNOTATION] ?? m.annotations[OCI_REF_NAME_ANNOTATION],
  );
  const refOnly = manifests
    .filter((m) => m.annotations[CONTAINERD_NAME_ANNOTATION] === undefined)
    .map((m) => m.annotations[OCI_REF_NAME_ANNOTATION]);
  for (const name of names) {
    if (name === undefined || !hasRegistryHost(name)) {
      throw new Error(
        `${archive}: image ${name === undefined ? '(unnamed)' : `'${name}'`} needs a full name with a registry host, ` +
          `e.g. localhost/<repo>:<tag> (buildah push <img> oci-archive:${archive}:localhost/<repo>:<tag>): kubelet's ` +
          'CRI would otherwise look for it under docker.io',
      );
    }
  }
  const repositories = [...new Set(refOnly.map((n) => repositoryOf(n ?? '')))];
  if (repositories.length > 1) {
    throw new Error(
      `${archive} names images of several repositories (${repositories.join(', ')}); import them one by one`,
    );
  }
  const baseName = repositories[0] === undefined ? [] : ['--base-name', repositories[0]];
  const result = await ManagedProcess.run(
    ctrBinary,
    ['--address', address, '--namespace', CONTAINERD_NAMESPACE, 'images', 'import', ...baseName, archive],
    { timeoutMs: 600_000, name: 'ctr images import' },
  );
  if (result.code !== 0)
    throw new Error(`ctr images import ${archive} failed: ${result.stderr || result.stdout}`);
  const listed = await ManagedProcess.run(
    ctrBinary,
    ['--address', address, '--namespace', CONTAINERD_NAMESPACE, 'images', 'list', '--quiet'],
    { name: 'ctr images list' },
  );
  const present = new Set(listed.stdout.split('\n'));
  const imported = names.filter((n): n is string => n !== undefined);
  const missing = imported.filter((n) => !present.has(n));
  if (missing.length > 0)
    throw new Error(`after importing ${archive}, containerd lacks ${missing.join(', ')}: ${result.stdout}`);
  return imported;
}

/** Whether the first component of a reference is a registry host (has '.' or ':' or is localhost), as Docker's normalisation decides. */
function hasRegistryHost(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash === -1) return false;
  const first = name.slice(0, slash);
  return first === 'localhost' || first.includes('.') || first.includes(':');
}

/** `localhost/connectors:dev` -> `localhost/connectors` (a ':' before the last '/' is a port). */
function repositoryOf(name: string): string {
  const at = name.indexOf('@');
  const withoutDigest = at === -1 ? name : name.slice(0, at);
  const colon = withoutDigest.lastIndexOf(':');
  return colon > withoutDigest.lastIndexOf('/') ? withoutDigest.slice(0, colon) : withoutDigest;
}

// --- node components ---------------------------------------------------------------------------------------

interface NodeProcesses {
  kubelet: ManagedProcess;
  controllerManager: ManagedProcess;
  scheduler: ManagedProcess;
  kubeProxy: ManagedProcess;
  coredns: ManagedProcess;
  kubeProxyHealthPort: number;
}

interface NodeStart {
  cp: ControlPlane;
  pki: NodePki;
  clusterBinaries: ClusterBinaries;
  containerdAddress: string;
  logDir: string;
  processes: ManagedProcess[];
  state: HostState;
}

async function startNodeComponents(ctx: NodeStart): Promise<NodeProcesses> {
  const { cp, pki, clusterBinaries: bin, logDir, processes, state } = ctx;
  const dir = join(RUN_DIR, 'node');
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, 'ca.crt');
  const volumePluginDir = join(RUN_DIR, 'volume-plugins');
  writeFileSync(caFile, cp.caCertPem);

  const kubeconfigFor = async (file: string, user: string, groups: string[] = []): Promise<string> =>
    cp.writeKubeconfig(join(dir, file), await cp.issueClientCert(user, groups));
  const [kcmConfig, schedulerConfig, kubeletConfig, proxyConfig, corednsConfig] = await Promise.all([
    kubeconfigFor('controller-manager.kubeconfig', 'system:kube-controller-manager'),
    kubeconfigFor('scheduler.kubeconfig', 'system:kube-scheduler'),
    kubeconfigFor('kubelet.kubeconfig', `system:node:${NODE_NAME}`, ['system:nodes']),
    kubeconfigFor('kube-proxy.kubeconfig', 'system:kube-proxy'),
    kubeconfigFor('coredns.kubeconfig', 'system:coredns'),
  ]);
  const rbac = await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(clusterRbac()) });
  if (rbac.code !== 0) throw new Error(`applying the cluster's RBAC failed: ${rbac.stderr}`);

  const kcmPort = await freeLowPort();
  const schedulerPort = await freeLowPort();
  const kubeletPort = await freeLowPort();
  const kubeletHealthPort = await freeLowPort();
  const proxyHealthPort = await freeLowPort();
  const proxyMetricsPort = await freeLowPort();
  const common = (kubeconfig: string, port: number, certDir: string): string[] => [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    // Without it both would write a self-signed serving certificate to /var/run/kubernetes.
    `--cert-dir=${join(dir, certDir)}`,
    // One instance each: leader election would only delay the start by a lease period.
    '--leader-elect=false',
  ];
  const controllerManager = startHostProcess(processes, {
    name: 'kube-controller-manager',
    binary: bin.kubeControllerManager,
    args: [
      ...common(kcmConfig, kcmPort, 'kcm-certs'),
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${cp.serviceAccountKeyFile}`,
      `--root-ca-file=${caFile}`,
      '--allocate-node-cidrs=false',
      // Its default, /usr/libexec/kubernetes/..., would be created on the host.
      `--flex-volume-plugin-dir=${volumePluginDir}`,
      `--service-cluster-ip-range=${NETWORK.serviceCIDR}`,
      '--cluster-name=connectors',
    ],
    logFile: join(logDir, 'kube-controller-manager.log'),
  });
  const scheduler = startHostProcess(processes, {
    name: 'kube-scheduler',
    binary: bin.kubeScheduler,
    args: common(schedulerConfig, schedulerPort, 'scheduler-certs'),
    logFile: join(logDir, 'kube-scheduler.log'),
  });

  const corefile = join(dir, 'Corefile');
  writeFileSync(corefile, corednsCorefile(corednsConfig));
  const coredns = startHostProcess(processes, {
    name: 'coredns',
    binary: bin.coredns,
    args: ['-conf', corefile],
    logFile: join(logDir, 'coredns.log'),
  });

  state.kubeProxy = bin.kubeProxy;
  state.cniNetwork = CNI_NETWORK;
  saveState(state);
  const proxyConfigFile = join(dir, 'kube-proxy.json');
  writeFileSync(
    proxyConfigFile,
    JSON.stringify(kubeProxyConfig(proxyConfig, proxyHealthPort, proxyMetricsPort), null, 2),
  );
  const kubeProxy = startHostProcess(processes, {
    name: 'kube-proxy',
    binary: bin.kubeProxy,
    args: [`--config=${proxyConfigFile}`],
    logFile: join(logDir, 'kube-proxy.log'),
  });

  const podLogsDir = join(RUN_DIR, 'pod-logs');
  state.podLogsDir = podLogsDir;
  saveState(state);
  const kubeletConfigFile = join(dir, 'kubelet.json');
  writeFileSync(
    kubeletConfigFile,
    JSON.stringify(
      kubeletConfiguration({
        port: kubeletPort,
        healthPort: kubeletHealthPort,
        tlsCertFile: pki.files.kubeletServingCert,
        tlsPrivateKeyFile: pki.files.kubeletServingKey,
        clientCAFile: pki.files.clientCA,
        containerdAddress: ctx.containerdAddress,
        podLogsDir,
        volumePluginDir,
      }),
      null,
      2,
    ),
  );
  const kubelet = startHostProcess(processes, {
    name: 'kubelet',
    binary: bin.kubelet,
    args: [
      `--config=${kubeletConfigFile}`,
      `--kubeconfig=${kubeletConfig}`,
      `--hostname-override=${NODE_NAME}`,
      // The bridge address: a node IP every pod can reach, independent of this machine's interfaces.
      `--node-ip=${NETWORK.gateway}`,
      `--root-dir=${KUBELET_ROOT_DIR}`,
    ],
    logFile: join(logDir, 'kubelet.log'),
  });
  return { kubelet, controllerManager, scheduler, kubeProxy, coredns, kubeProxyHealthPort: proxyHealthPort };
}

// --- readiness ------------------------------------------------------------------------------------------------

async function waitForNode(
  cp: ControlPlane,
  node: NodeProcesses,
  log: (line: string) => void,
): Promise<void> {
  const opts = (what: string): { timeoutMs: number; what: string; intervalMs: number } => ({
    timeoutMs: READY_TIMEOUT_MS,
    what,
    intervalMs: 250,
  });
  await Promise.all([
    node.kubelet
      .waitUntil(async () => nodeReady(cp), opts(`node ${NODE_NAME} Ready`))
      .then(() => {
        log(`node ${NODE_NAME} Ready`);
      }),
    node.controllerManager
      .waitUntil(
        async () =>
          (await cp.kubectl(['get', 'serviceaccount', 'default', '--namespace=default'])).code === 0,
        opts('ServiceAccount default/default (kube-controller-manager)'),
      )
      .then(() => {
        log('kube-controller-manager ready');
      }),
    node.scheduler.waitUntil(
      async () => (await cp.kubectl(['get', '--raw', '/api/v1/namespaces/kube-system/pods'])).code === 0,
      opts('kube-scheduler'),
    ),
    node.kubeProxy
      .waitUntil(
        async () => (await httpStatus(`http://127.0.0.1:${node.kubeProxyHealthPort}/healthz`)) === 200,
        opts('kube-proxy /healthz'),
      )
      .then(() => {
        log('kube-proxy synced');
      }),
    node.coredns
      .waitUntil(
        async () => {
          const resolver = new Resolver({ timeout: 1_000, tries: 1 });
          resolver.setServers([NETWORK.dnsServer]);
          const answer = await resolver.resolve4(`kubernetes.default.svc.${NETWORK.clusterDomain}`);
          return answer.includes(NETWORK.kubernetesServiceIP);
        },
        opts(`CoreDNS on ${NETWORK.dnsServer}:53`),
      )
      .then(() => {
        log('CoreDNS answers');
      }),
  ]);
}

async function nodeReady(cp: ControlPlane): Promise<boolean> {
  const res = await cp.kubectl([
    'get',
    'node',
    NODE_NAME,
    '--output=jsonpath={.status.conditions[?(@.type=="Ready")].status}',
  ]);
  return res.code === 0 && res.stdout.trim() === 'True';
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest(url, { timeout: 2_000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.once('error', reject);
    req.end();
  });
}

// --- the cluster object -------------------------------------------------------------------------------------------

interface ClusterState {
  cp: ControlPlane;
  kubeconfig: string;
  tools: Tools;
  state: HostState;
  containerdAddress: string;
  logDir: string;
  timings: ClusterTimings;
  processes: ManagedProcess[];
  node: NodeProcesses;
  unregisterCleanup: () => void;
}

class LocalCluster implements Cluster {
  readonly kubeconfig: string;
  readonly server: string;
  readonly nodeName = NODE_NAME;
  readonly kubeletRootDir = KUBELET_ROOT_DIR;
  readonly network = NETWORK;
  readonly containerdAddress: string;
  readonly controlPlane: ControlPlane;
  readonly logDir: string;
  readonly timings: ClusterTimings;
  private stopping: Promise<void> | undefined;

  constructor(private readonly s: ClusterState) {
    this.controlPlane = s.cp;
    this.kubeconfig = s.kubeconfig;
    this.server = s.cp.server;
    this.containerdAddress = s.containerdAddress;
    this.logDir = s.logDir;
    this.timings = s.timings;
  }

  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult> {
    return this.s.cp.kubectl(args, opts);
  }

  importImage(archive: string): Promise<string[]> {
    return importOciArchive(this.s.tools.ctr, this.containerdAddress, archive);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const { node, cp } = this.s;
      // Controllers first, so that nothing recreates the pods deleted next.
      await Promise.all([node.controllerManager.stop(), node.scheduler.stop()]);
      // Deleted through kubelet, so that each pod's volumes are unmounted and its network torn
      // down by their owners (CSI drivers, CNI); whatever is left after the timeout is killed below.
      await this.kubectl(
        [
          'delete',
          'pods',
          '--all',
          '--all-namespaces',
          '--grace-period=1',
          '--wait=true',
          `--timeout=${POD_DRAIN_TIMEOUT_S}s`,
        ],
        { timeoutMs: (POD_DRAIN_TIMEOUT_S + 10) * 1_000 },
      );
      await Promise.all([node.kubelet.stop(), node.kubeProxy.stop(), node.coredns.stop()]);
      for (const p of this.s.processes) await p.stop(5_000); // containerd, and anything not yet stopped
      await cp.stop();
      const report = teardownHost(this.s.state, this.s.tools.iptables, this.s.tools.ip6tables);
      this.s.unregisterCleanup();
      if (report.errors.length > 0)
        throw new Error(`cluster teardown incomplete: ${report.errors.join('; ')}`);
    })();
    return this.stopping;
  }
}
