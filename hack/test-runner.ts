// `npm test`: every suite (unit, then integration against the real control plane and tools, then
// cluster, in a real single-node Kubernetes), with mocha's own output shown as it runs, ending in the
// single line CI reads: `N passed, N failed`. The counts come from each run's result file
// (hack/test-results.ts), not from mocha's output; a stray `.only` fails the run (--forbid-only), a
// skip without a stated reason counts as failed, and a suite that dies before its end counts as one
// failure, never as zero tests. Above the last line: each failure and skip, by name.

import './require-node.js'; // first: stops an older Node before anything loads
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMocha, totalLine, type SuiteResult } from './test-results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const suites = ['.mocharc.unit.json', '.mocharc.integration.json', '.mocharc.cluster.json'].filter((s) =>
  existsSync(join(root, s)),
);
const only = process.env.CONNECTORS_TEST_SUITES?.split(',');
const results: SuiteResult[] = [];
for (const suite of suites) {
  if (only && !only.some((o) => suite.includes(o))) continue;
  results.push(await runMocha(suite, ['--config', suite, '--color', '--forbid-only']));
}
const notes = results.flatMap((r) => r.notes);
process.stdout.write(`\n${notes.map((n) => `${n}\n`).join('')}${totalLine(results)}\n`);
process.exitCode = results.some((r) => r.failed > 0) ? 1 : 0;
