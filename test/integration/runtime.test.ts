// Node.js 24 runs everything, even on a machine whose own `node` is older: `npm test` (this run and
// every process it started) and `npm run dev` started with the machine's node first on PATH. Each
// process is identified by its executable in /proc, and that executable asked for its version.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../hack/binaries.js';
import { descendants, nodeMajor, nodeProcesses, requiredNodeMajor } from '../../hack/runtime.js';
import { docBlock, shellCommands } from '../helpers/docs.js';

const root = repoRoot();

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/** The first `node` on PATH outside any node_modules: the machine's own (v20 on our machines). */
function machineNode(): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && !dir.includes('node_modules'))
    .map((dir) => join(dir, 'node'))
    .find(isFile);
}

const expect24 = (p: { version: string; command: string; exe: string }): void => {
  expect(nodeMajor(p.version), `${p.command} (${p.exe})`).to.equal(requiredNodeMajor);
};

describe('the runtime: Node.js 24 in every process', function () {
  it('this test run and every Node process it started run Node 24', function () {
    expect(nodeMajor(process.version), process.execPath).to.equal(requiredNodeMajor);
    const started = nodeProcesses(descendants(process.pid));
    // The fixture's aggregated server and class API backend, at least, are running now.
    expect(started.length, 'Node processes started by this run').to.be.at.least(2);
    started.forEach(expect24);
  });

  it("`npm run dev` with the machine's own node first on PATH runs every process on Node 24", async function () {
    this.timeout(300_000);
    const own = machineNode();
    // The node that runs npm itself: `npm test` cannot start without one.
    if (own === undefined)
      throw new Error('no node on PATH outside node_modules to start `npm run dev` with');
    const machineVersion = execFileSync(own, ['--version'], { encoding: 'utf8' }).trim();
    // A PATH as a login shell has it: the machine's node first, none of ours.
    const bin = await mkdtemp(join(tmpdir(), 'machine-node-'));
    await symlink(own, join(bin, 'node'));
    const path = [
      bin,
      ...(process.env.PATH ?? '').split(delimiter).filter((d) => !d.includes('node_modules')),
    ];
    // The README's command, as it gives it (block try-it: `npm run dev`, then `npm test`).
    const [program = '', ...args] = (shellCommands(docBlock('try-it').text)[0] ?? '').split(' ');
    expect([program, ...args]).to.deep.equal(['npm', 'run', 'dev']);
    const dev = spawn(program, args, {
      cwd: root,
      env: { ...process.env, PATH: path.join(delimiter) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, stopped as a whole below
    });
    let out = '';
    dev.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    dev.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = once(dev, 'exit');
    try {
      for (let i = 0; i < 1200 && !out.includes('Connectors is running'); i++) {
        if (dev.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(out, 'npm run dev output').to.include('Connectors is running');
      const procs = nodeProcesses(descendants(dev.pid!));
      const commands = procs.map((p) => p.command).join('\n');
      for (const main of ['hack/dev.js', 'apiserver/main.js', 'controller/main.js']) {
        expect(commands, `${main} among the Node processes of npm run dev`).to.include(main);
      }
      procs.forEach(expect24);
      this.test!.title += ` (the machine's node: ${machineVersion})`;
    } finally {
      process.kill(-dev.pid!, 'SIGINT');
      await exited;
      await rm(bin, { recursive: true, force: true });
    }
  });
});
