// The report of one run: the text printed (rows, transfers, facts, the processes measured, the
// checks against their targets) and the files written beside it (bench/results/latest.json, .md,
// .svg). The tables themselves are bench/report.ts.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baselineCommit } from './baseline.js';
import { connections, rounds, seconds, type Bench, type Section } from './harness.js';
import {
  checkLines,
  met,
  rowTable,
  svg,
  table,
  transferTable,
  type Columns,
  type MeasuredRow,
} from './report.js';

/** What the errors of a wrk row were: non-2xx answers by status where counted, else socket errors. */
function failureLine(r: MeasuredRow): string {
  const { errors, failures, firstFailure } = r.result;
  const byStatus = Object.entries(failures ?? {})
    .map(([status, n]) => `${n} × ${status}`)
    .join(', ');
  const counted = Object.values(failures ?? {}).reduce((a, n) => a + n, 0);
  const parts = [byStatus, counted < errors ? `${errors - counted} socket errors or uncounted` : '']
    .filter(Boolean)
    .join(', ');
  return `Errors in "${r.name}": ${parts}${firstFailure ? `; the first: ${firstFailure}` : ''}`;
}

const columnsOf = (b: Bench): Columns => ({
  current: b.current.label,
  baseline: b.baseline?.label ?? '',
});

export function report(b: Bench, sections: Section[], machine: string): string[] {
  const rows = [...b.rows.values()];
  const columns = b.baseline
    ? `${b.current.label} = ${b.current.version}, this tree; ${b.baseline.label} = ${b.baseline.version}, ` +
      `commit ${baselineCommit} (before the upgrade), same flags, certificates and tool`
    : `Node ${b.current.version}`;
  const out = [
    `Connectors benchmarks — ${machine}; ${columns}; ${rounds} rounds × ${seconds} s, ` +
      `${connections} connections unless named, medians; sections: ${sections.join(', ')}`,
    '',
    ...b.notes.flatMap((n) => [`Note: ${n}`, '']),
  ];
  if (rows.length > 0) {
    out.push(...rowTable(rows, columnsOf(b)), '');
    for (const r of rows.filter((row) => row.result.errors > 0)) out.push(failureLine(r), '');
  }
  if (b.transfers.length > 0) out.push(...transferTable(b.transfers, columnsOf(b)), '');
  if (b.facts.length > 0) out.push(...table(['what', 'result'], b.facts), '');
  if (b.processes.length > 0) out.push(...table(['process', 'pid', 'runs on'], b.processes), '');
  out.push(...checkLines(b.checks));
  return out;
}

/** Writes latest.json (everything measured), latest.md (the report) and latest.svg (the checks) to `dir`. */
export async function writeResults(
  dir: string,
  b: Bench,
  run: { sections: Section[]; machine: string; lines: string[]; preparationSeconds: Record<string, number> },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const results = {
    date: new Date().toISOString(),
    machine: run.machine,
    node: {
      [b.current.label]: b.current.version,
      ...(b.baseline ? { [b.baseline.label]: `${b.baseline.version}, ${baselineCommit}` } : {}),
    },
    rounds,
    seconds,
    connections,
    sections: run.sections,
    preparationSeconds: run.preparationSeconds,
    notes: b.notes,
    processes: b.processes,
    rows: [...b.rows.values()],
    transfers: b.transfers,
    facts: b.facts,
    checks: b.checks.map((c) => ({ ...c, met: met(c) })),
  };
  await writeFile(join(dir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  await writeFile(join(dir, 'latest.svg'), svg(b.checks));
  await writeFile(join(dir, 'latest.md'), `${run.lines.join('\n')}\n`);
}
