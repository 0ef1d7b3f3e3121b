// What the single-node cluster (hack/cluster.ts) changes on the host, and how it is undone: the
// bridge, iptables chains, sysctls, cgroups, mounts and directories. Every change is recorded in a
// state file before it is made, so that teardown can undo exactly it, whether it runs from stop(),
// from the exit hook of a dying process (which allows synchronous code only, hence the *Sync
// calls throughout), or at the next start after a process that was killed outright.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * Sysctls that the cluster's components change on the host: kubelet (setupKernelTunables), the CNI
 * bridge plugin (forwarding), kube-proxy (route_localnet, conntrack limits and timeouts; our config
 * asks it to leave those, but a changed default must not go unnoticed) and this harness
 * (bridge-nf-call-*, ip_forward). Saved at start, restored at teardown.
 */
export const TOUCHED_SYSCTLS = [
  'net/ipv4/ip_forward',
  'net/ipv6/conf/all/forwarding',
  'net/ipv6/conf/default/forwarding',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/ipv4/conf/all/route_localnet',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/netfilter/nf_conntrack_max',
  'net/netfilter/nf_conntrack_tcp_timeout_established',
  'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
  'net/netfilter/nf_conntrack_udp_timeout',
  'net/netfilter/nf_conntrack_udp_timeout_stream',
  'net/netfilter/nf_conntrack_tcp_be_liberal',
];

/**
 * Host directories that components create when missing: libcni's cache (/var/lib/cni), kubelet's
 * container log symlinks (/var/log/containers, a fixed path), containerd's shim sockets
 * (/run/containerd/s, fixed in containerd 1.6). Removed at teardown if they did not exist before;
 * otherwise only our entries in them are.
 */
export const HOST_DIRS = ['/var/lib/cni', '/var/log/containers', '/run/containerd/s', '/run/containerd'];

/** Everything teardown needs to know; written to `<runDir>/state.json` before each change. */
export interface HostState {
  /** The owning process, and its start time (so that a reused pid is not mistaken for it). */
  pid: number;
  pidStart: string;
  runDir: string;
  kubeletRootDir: string;
  /** Original values, by /proc/sys path. */
  sysctls: Record<string, string>;
  /** Of HOST_DIRS, those that did not exist before. */
  createdHostDirs: string[];
  /** Set once created. */
  bridge?: string;
  /** iptables chain (in the mangle table) that confines forwarding; set once created. */
  forwardChain?: string;
  /** Its comment on the filter FORWARD rule that accepts bridge-to-bridge traffic. */
  filterComment?: string;
  /**
   * The iptables tables that existed before, per tool. With the nf_tables backend a table exists
   * once some rule was put in it, and stays (empty) after the rules are gone: teardown deletes the
   * tables that we (or kube-proxy) brought into being.
   */
  tablesBefore: Record<string, string[]>;
  /** The cgroup (same path in every hierarchy) that everything the cluster runs lives below. */
  cgroupName?: string;
  /** Its directories created so far, one per v1 hierarchy. */
  cgroups: string[];
  /** Set once kube-proxy may have run: its binary, for `kube-proxy --cleanup`. */
  kubeProxy?: string;
  /** containerd's socket, from which the names of its shims' sockets derive. */
  containerdAddress?: string;
  /** The CNI network name, whose entries in libcni's cache are ours. */
  cniNetwork?: string;
  /** kubelet's pod log directory, which the /var/log/containers symlinks point into. */
  podLogsDir?: string;
}

function stateFile(runDir: string): string {
  return join(runDir, 'state.json');
}

export function saveState(state: HostState): void {
  writeFileSync(stateFile(state.runDir), JSON.stringify(state, null, 2));
}

export function loadState(runDir: string): HostState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(runDir), 'utf8')) as HostState;
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function ownerAlive(state: HostState): boolean {
  return processStart(state.pid) === state.pidStart;
}

// --- commands --------------------------------------------------------------------------------------

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of a command, searching PATH and the sbin directories a non-login root shell may lack. */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SEARCH_PATH];
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // not in this one
    }
  }
  return undefined;
}

/** Runs a command, throwing with its stderr if it fails. */
export function sh(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

/** Runs a command; reports whether it succeeded and what it said. */
function trySh(command: string, args: string[], timeoutMs = 60_000): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// --- sysctls -------------------------------------------------------------------------------------------

export function readSysctls(keys: string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const key of keys) {
    try {
      values[key] = readFileSync(join('/proc/sys', key), 'utf8').trim();
    } catch {
      // Not on this kernel (e.g. nf_conntrack not loaded yet): nothing to restore either, unless
      // it appears later, which a module load at our request does not do for these.
    }
  }
  return values;
}

export function writeSysctl(key: string, value: string): void {
  writeFileSync(join('/proc/sys', key), value);
}

/** Writes back every saved value that differs now; returns what it changed ("key: now -> saved"). */
function restoreSysctls(saved: Record<string, string>): string[] {
  const restored: string[] = [];
  for (const [key, value] of Object.entries(saved)) {
    const now = readSysctls([key])[key];
    if (now === undefined || now === value) continue;
    writeSysctl(key, value);
    restored.push(`${key}: ${now} -> ${value}`);
  }
  return restored;
}

// --- cgroups (v1) ----------------------------------------------------------------------------------------

interface Mount {
  mountPoint: string;
  fsType: string;
  superOptions: string;
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> <source> <super options>"
      const [left = '', right = ''] = line.split(' - ');
      const fields = left.split(' ');
      const [fsType = '', , superOptions = ''] = right.split(' ');
      return { mountPoint: unescapeMount(fields[4] ?? ''), fsType, superOptions };
    });
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount points of all cgroup hierarchies (v1, and v2 in hybrid mode). */
function cgroupHierarchies(): { v1: string[]; v2: string[] } {
  const all = mounts();
  return {
    v1: all.filter((m) => m.fsType === 'cgroup').map((m) => m.mountPoint),
    v2: all.filter((m) => m.fsType === 'cgroup2').map((m) => m.mountPoint),
  };
}

/** The v1 hierarchy used to find (and freeze) every process of the cluster. */
export function trackingHierarchy(): string {
  const all = mounts().filter((m) => m.fsType === 'cgroup');
  const freezer = all.find((m) => m.superOptions.split(',').includes('freezer'));
  if (freezer) return freezer.mountPoint;
  throw new Error(
    'no cgroup v1 freezer hierarchy is mounted: this harness runs kubelet with the cgroupfs driver on cgroup v1 ' +
      '(see real-cluster.md)',
  );
}

/** Creates `<hierarchy>/<name>` in every v1 hierarchy; cpuset needs its cpus and mems filled in to be usable. */
export function createCgroups(name: string, record: (dir: string) => void): void {
  for (const hierarchy of cgroupHierarchies().v1) {
    const dir = join(hierarchy, name);
    record(dir);
    mkdirSync(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const parentFile = join(hierarchy, file);
      if (existsSync(parentFile) && readFileSync(join(dir, file), 'utf8').trim() === '') {
        writeFileSync(join(dir, file), readFileSync(parentFile, 'utf8').trim());
      }
    }
  }
}

/** Moves a process into `<tracking hierarchy>/<group>`; its later children stay there. */
export function adoptProcess(group: string, pid: number): void {
  const dir = join(trackingHierarchy(), group);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
}

function pidsUnder(dir: string): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return pids;
  }
  try {
    for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
      if (line !== '') pids.push(Number(line));
    }
  } catch {
    // removed meanwhile
  }
  for (const entry of entries) {
    const sub = join(dir, entry);
    try {
      if (statSync(sub).isDirectory()) pids.push(...pidsUnder(sub));
    } catch {
      // removed meanwhile
    }
  }
  return pids;
}

/**
 * SIGKILLs every process in the cgroup tree `dir` (a freezer hierarchy's) and waits until none is
 * left: containers, their shims, containerd, and the harness's own children. Frozen first, so that
 * nothing forks new processes while it is being emptied.
 */
function killCgroupTree(dir: string, timeoutMs = 15_000): number[] {
  if (!existsSync(dir)) return [];
  const freezerState = join(dir, 'freezer.state');
  const canFreeze = existsSync(freezerState);
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = pidsUnder(dir);
    if (pids.length === 0) break;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} in ${dir} survived SIGKILL`);
    if (canFreeze) writeFileSync(freezerState, 'FROZEN');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // gone already
      }
    }
    // A frozen task dies only once thawed.
    if (canFreeze) writeFileSync(freezerState, 'THAWED');
    sleepSync(50);
  }
  return [...killed];
}

/** Removes a cgroup directory and every one below it, deepest first (cgroup dirs are rmdir'ed, not rm'ed). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir)) {
    const sub = join(dir, entry);
    if (statSync(sub).isDirectory()) removeCgroupTree(sub);
  }
  // The kernel may still be releasing the last task of an emptied cgroup: EBUSY for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if (attempt >= 40) throw error;
      sleepSync(50);
    }
  }
}

// --- mounts ----------------------------------------------------------------------------------------------

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

function mountsUnder(dirs: string[]): string[] {
  return mounts()
    .map((m) => m.mountPoint)
    .filter((p) => dirs.some((d) => under(p, d)));
}

/**
 * Unmounts everything below `dirs`, deepest first (kubelet's volume mounts, containerd's rootfs and
 * shm mounts, network namespace bind mounts); a mount that is busy is detached (lazy unmount).
 * Throws if any remains, because removing a directory with a mount below it would delete the
 * mounted files.
 */
function unmountUnder(dirs: string[]): void {
  const umount = findCommand('umount') ?? 'umount';
  for (let pass = 0; pass < 5; pass++) {
    const points = mountsUnder(dirs).sort((a, b) => b.length - a.length);
    if (points.length === 0) return;
    for (const point of points) {
      if (!trySh(umount, [point]).ok) trySh(umount, ['--lazy', point]);
    }
  }
  const left = mountsUnder(dirs);
  if (left.length > 0) throw new Error(`could not unmount: ${left.join(', ')}`);
}

/** rm -rf, refusing when something is still mounted below. */
function removeTree(dir: string): void {
  const left = mountsUnder([dir]);
  if (left.length > 0) throw new Error(`not removing ${dir}: still mounted below it: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

// --- iptables ----------------------------------------------------------------------------------------------

const TABLES = ['filter', 'nat', 'mangle', 'raw'];

/** The tables `iptables-save` (or ip6tables-save) lists: with nf_tables, those that exist. */
export function existingTables(iptables: string): string[] {
  const save = trySh(`${iptables}-save`, []);
  return save.ok ? [...save.output.matchAll(/^\*(\S+)$/gm)].map((m) => m[1] ?? '') : [];
}

/**
 * Deletes the nf_tables tables of `iptables` that did not exist `before` and now hold nothing but
 * built-in chains with policy ACCEPT. A no-op with the legacy backend, where every table always
 * exists. Needs `nft` (Debian's nftables); without it, names what it had to leave.
 */
function removeNewEmptyTables(iptables: string, before: string[]): void {
  if (!trySh(iptables, ['--version']).output.includes('nf_tables')) return;
  const family = iptables.endsWith('ip6tables') ? 'ip6' : 'ip';
  const nft = findCommand('nft');
  const left: string[] = [];
  for (const table of existingTables(iptables)) {
    if (before.includes(table)) continue;
    const rules = trySh(iptables, ['-w', '-t', table, '-S']).output.split('\n');
    if (!rules.every((r) => /^-P \S+ ACCEPT$/.test(r))) continue; // someone else's rules: not ours to drop
    if (nft === undefined || !trySh(nft, ['delete', 'table', family, table]).ok)
      left.push(`${family} ${table}`);
  }
  if (left.length > 0) {
    throw new Error(
      `empty nf_tables tables left behind: ${left.join(', ')} (install nftables so that nft can delete them)`,
    );
  }
}

/** Chains in any table whose name starts with `prefix`, as "table/chain". */
export function chainsWithPrefix(iptables: string, prefix: string): string[] {
  const found: string[] = [];
  for (const table of TABLES) {
    const listing = trySh(iptables, ['-w', '-t', table, '-S']);
    if (!listing.ok) continue;
    for (const line of listing.output.split('\n')) {
      const match = /^-N (\S+)$/.exec(line);
      if (match?.[1]?.startsWith(prefix)) found.push(`${table}/${match[1]}`);
    }
  }
  return found;
}

/**
 * Deletes every chain whose name starts with `prefix` from every table, and every rule elsewhere
 * that jumps to one of them or carries `comment`.
 */
function removeChains(iptables: string, prefix: string, comment?: string): void {
  for (const table of TABLES) {
    const listing = trySh(iptables, ['-w', '-t', table, '-S']);
    if (!listing.ok) continue;
    const lines = listing.output.split('\n');
    const ours = lines.flatMap((line) => {
      const match = /^-N (\S+)$/.exec(line);
      return match?.[1]?.startsWith(prefix) ? [match[1]] : [];
    });
    for (const line of lines) {
      const [, chain, rule] = /^-A (\S+) (.*)$/.exec(line) ?? [];
      if (chain === undefined || rule === undefined || ours.includes(chain)) continue;
      const jumpsToOurs = ours.some((target) => new RegExp(`-[jg] ${target}( |$)`).test(rule));
      const commented = comment !== undefined && rule.includes(`--comment ${comment}`);
      if (jumpsToOurs || commented) trySh(iptables, ['-w', '-t', table, '-D', chain, ...splitRule(rule)]);
    }
    for (const chain of ours) trySh(iptables, ['-w', '-t', table, '-F', chain]);
    for (const chain of ours) trySh(iptables, ['-w', '-t', table, '-X', chain]);
  }
}

/** Splits an `iptables -S` rule into arguments; quoted comments keep their spaces. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

// --- containerd's shim sockets ---------------------------------------------------------------------------

/**
 * containerd 1.6 puts each shim's socket at /run/containerd/s/<sha256(address/namespace/id)>, a
 * fixed directory whatever its state dir. A shim that is SIGKILLed leaves its socket; this removes
 * those of the tasks under `stateDir`.
 */
function removeShimSockets(address: string, stateDir: string): void {
  const tasks = join(stateDir, 'io.containerd.runtime.v2.task');
  let namespaces: string[];
  try {
    namespaces = readdirSync(tasks);
  } catch {
    return;
  }
  for (const ns of namespaces) {
    for (const id of readdirSync(join(tasks, ns))) {
      const hash = createHash('sha256')
        .update(join(address, ns, id))
        .digest('hex');
      rmSync(join('/run/containerd/s', hash), { force: true });
    }
  }
}

// --- the whole teardown ----------------------------------------------------------------------------------

export interface TeardownReport {
  killed: number[];
  restoredSysctls: string[];
  errors: string[];
}

/**
 * Undoes everything `state` records, in an order that never removes what something still uses:
 * processes first, then mounts, files, network, sysctls, cgroups. Best effort: each step runs even
 * if an earlier one failed, and the failures are returned.
 */
export function teardownHost(
  state: HostState,
  iptables: string,
  ip6tables: string | undefined,
): TeardownReport {
  const report: TeardownReport = { killed: [], restoredSysctls: [], errors: [] };
  const step = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      report.errors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const tracking = state.cgroups.find((dir) => existsSync(join(dir, 'freezer.state')));
  step('kill processes', () => {
    if (tracking !== undefined) report.killed = killCgroupTree(tracking);
  });
  step('kube-proxy --cleanup', () => {
    if (state.kubeProxy !== undefined && existsSync(state.kubeProxy)) {
      const result = trySh(state.kubeProxy, ['--cleanup', '--v=0'], 30_000);
      if (!result.ok) throw new Error(result.output.split('\n').slice(-5).join('\n'));
    }
  });
  step('unmount', () => {
    unmountUnder([state.kubeletRootDir, state.runDir]);
  });
  step('containerd shim sockets', () => {
    if (state.containerdAddress !== undefined) {
      removeShimSockets(state.containerdAddress, join(state.runDir, 'containerd', 'state'));
    }
  });
  step(`remove ${state.kubeletRootDir}`, () => {
    removeTree(state.kubeletRootDir);
  });
  step('host directories', () => {
    for (const dir of HOST_DIRS) {
      if (state.createdHostDirs.includes(dir)) removeTree(dir);
    }
    removeOurEntries(state);
  });
  step('bridge', () => {
    if (state.bridge !== undefined && existsSync(`/sys/class/net/${state.bridge}`)) {
      sh(findCommand('ip') ?? 'ip', ['link', 'delete', state.bridge]);
    }
  });
  step('sysctls', () => {
    report.restoredSysctls = restoreSysctls(state.sysctls);
  });
  step('iptables', () => {
    // After the sysctls: forwarding is off again before the rules that confined it go.
    for (const tool of [iptables, ip6tables]) {
      if (tool === undefined) continue;
      removeChains(tool, 'KUBE-');
      if (state.forwardChain !== undefined) removeChains(tool, state.forwardChain, state.filterComment);
      const before = state.tablesBefore[tool];
      if (before !== undefined) removeNewEmptyTables(tool, before);
    }
  });
  step('cgroups', () => {
    for (const dir of state.cgroups) {
      killCgroupTree(dir);
      removeCgroupTree(dir);
    }
    // runc may create the same path in the hybrid mode's v2 hierarchy, which we did not.
    const name = state.cgroupName;
    if (name === undefined) return;
    for (const v2 of cgroupHierarchies().v2) {
      if (existsSync(join(v2, name))) removeCgroupTree(join(v2, name));
    }
  });
  step(`remove ${state.runDir}`, () => {
    removeTree(state.runDir);
  });
  return report;
}

/** Our entries in host directories that existed before: libcni's cache, kubelet's log symlinks. */
function removeOurEntries(state: HostState): void {
  if (state.cniNetwork !== undefined) {
    for (const sub of ['/var/lib/cni/results', '/var/lib/cni/cache/results']) {
      if (!existsSync(sub)) continue;
      for (const entry of readdirSync(sub)) {
        if (entry.startsWith(`${state.cniNetwork}-`)) rmSync(join(sub, entry), { force: true });
      }
    }
  }
  if (state.podLogsDir !== undefined && existsSync('/var/log/containers')) {
    for (const entry of readdirSync('/var/log/containers')) {
      const link = join('/var/log/containers', entry);
      try {
        if (under(readlinkSync(link), state.podLogsDir)) unlinkSync(link);
      } catch {
        // not a symlink: not ours
      }
    }
  }
}

// --- before/after comparison -------------------------------------------------------------------------------

export interface FootprintScope {
  /** Directories the cluster creates (and components would create by default). */
  paths: string[];
  /** Cgroup names (the same in every hierarchy). */
  cgroups: string[];
  /**
   * Which iptables rules, links, addresses and routes are the cluster's (its chains, bridge and
   * address ranges). Others come and go with whatever else runs on the machine (image builds,
   * other tests) and would make the comparison fail for nothing.
   */
  relevant: RegExp;
}

/**
 * What the cluster may change on the host, in comparable form: the tables iptables has and its
 * rules, links, addresses and routes that are `relevant`, network namespace mounts and mounts
 * below `paths`, the touched sysctls, whether `paths` exist, the `cgroups`. Taken before start and
 * after stop, two snapshots must be equal (the cycle check of `cluster-up --cycles` and the
 * cluster suite).
 */
export function hostSnapshot(scope: FootprintScope): Record<string, string> {
  const snapshot: Record<string, string> = {};
  const keep = (output: string): string =>
    output
      .split('\n')
      .filter((l) => /^\*/.test(l) || scope.relevant.test(l))
      .map((l) => l.replace(/^\d+: /, '').replace(/valid_lft.*$/, ''))
      .join('\n');
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    const path = findCommand(tool);
    if (path !== undefined) snapshot[tool] = keep(trySh(path, []).output);
  }
  const ip = findCommand('ip');
  if (ip !== undefined) {
    snapshot['links'] = keep(trySh(ip, ['-o', 'link', 'show']).output);
    snapshot['addresses'] = keep(trySh(ip, ['-o', 'addr', 'show']).output);
    snapshot['routes'] = keep(trySh(ip, ['route', 'show', 'table', 'all']).output);
  }
  snapshot['mounts'] = mounts()
    .filter((m) => m.fsType === 'nsfs' || [...scope.paths, ...HOST_DIRS].some((p) => under(m.mountPoint, p)))
    .map((m) => `${m.mountPoint} ${m.fsType}`)
    .join('\n');
  for (const [key, value] of Object.entries(readSysctls(TOUCHED_SYSCTLS))) snapshot[`sysctl ${key}`] = value;
  for (const path of [...scope.paths, ...HOST_DIRS]) snapshot[`exists ${path}`] = String(existsSync(path));
  const { v1, v2 } = cgroupHierarchies();
  for (const hierarchy of [...v1, ...v2]) {
    // Plus the names runtimes use by default, should a setting stop redirecting them.
    for (const name of [...scope.cgroups, 'kubepods', 'k8s.io']) {
      snapshot[`cgroup ${join(hierarchy, name)}`] = String(existsSync(join(hierarchy, name)));
    }
  }
  return snapshot;
}

/** The keys whose values differ, as readable lines. */
export function snapshotDiff(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys
    .filter((k) => before[k] !== after[k])
    .map((k) => {
      const old = (before[k] ?? '').split('\n');
      const now = (after[k] ?? '').split('\n');
      const gone = old.filter((l) => !now.includes(l)).map((l) => `\n  - ${l}`);
      const added = now.filter((l) => !old.includes(l)).map((l) => `\n  + ${l}`);
      return `${k}:${gone.join('')}${added.join('')}`;
    });
}
