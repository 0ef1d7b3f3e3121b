// `npm test`: every suite (unit, then integration against the real control plane and tools, then
// cluster, in a real single-node Kubernetes), with mocha's own output shown as it runs, ending in the single line CI reads: `N passed, N failed`.
// A suite that dies before mocha can summarise counts as one failure, never as zero tests.

import './require-node.js'; // first: stops an older Node before anything loads
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');

interface Counts {
  passed: number;
  failed: number;
  pending: number;
}

function runSuite(config: string): Promise<Counts> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mocha, '--config', config, '--color'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let tail = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-4096);
    });
    child.on('close', (code) => {
      // eslint-disable-next-line no-control-regex
      const plain = tail.replace(/\u001b\[[0-9;]*m/g, '');
      const num = (re: RegExp): number => Number(re.exec(plain)?.[1] ?? 0);
      const counts = {
        passed: num(/(\d+) passing/),
        failed: num(/(\d+) failing/),
        pending: num(/(\d+) pending/),
      };
      if (code !== 0 && counts.failed === 0) counts.failed = 1; // died without a summary
      resolve(counts);
    });
  });
}

const suites = ['.mocharc.unit.json', '.mocharc.integration.json', '.mocharc.cluster.json'].filter((s) =>
  existsSync(join(root, s)),
);
const only = process.env.CONNECTORS_TEST_SUITES?.split(',');
const total: Counts = { passed: 0, failed: 0, pending: 0 };
for (const suite of suites) {
  if (only && !only.some((o) => suite.includes(o))) continue;
  const c = await runSuite(suite);
  total.passed += c.passed;
  total.failed += c.failed;
  total.pending += c.pending;
}
process.stdout.write(
  `\n${total.passed} passed, ${total.failed} failed${total.pending ? `, ${total.pending} skipped` : ''}\n`,
);
process.exitCode = total.failed > 0 ? 1 : 0;
