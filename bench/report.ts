// What `npm run bench` prints and writes: the tables of the rows (with the Node 20 baseline's
// columns beside ours where it ran), the checks against the performance targets, each line saying
// its target and whether it is met, and the SVG chart of them.

import type { LoadResult } from './wrk.js';

export interface Check {
  label: string;
  value: number;
  target: number;
  unit: '×' | 'ms' | 'MB' | 'errors';
  /** Met when value ≤ target (latency, memory, errors); otherwise when value ≥ target. */
  atMost?: boolean;
  /**
   * Failed requests (non-2xx, socket errors) in the wrk rows the value comes from. A quick error
   * is no measurement of the path, so any makes the check not met.
   */
  failedRequests?: number;
}

export const MB = 1_000_000;

export function met(c: Check): boolean {
  if (c.failedRequests) return false;
  return c.atMost ? c.value <= c.target : c.value >= c.target;
}

function format(value: number, unit: Check['unit'], extraDigits = 0): string {
  switch (unit) {
    case '×':
      return `${value.toFixed(2 + extraDigits)}×`;
    case 'ms':
      return `${value.toFixed(2 + extraDigits)} ms`;
    case 'MB':
      return `${value.toFixed(extraDigits)} MB`;
    case 'errors':
      return String(value);
  }
}

/** The value as printed, with one more digit where rounding would make it read as its target. */
function valueText(c: Check): string {
  const text = format(c.value, c.unit);
  return c.value !== c.target && text === format(c.target, c.unit) ? format(c.value, c.unit, 1) : text;
}

function targetText(c: Check): string {
  const failed = c.failedRequests ? `; ${c.failedRequests} failed requests` : '';
  if (c.unit === 'errors') return `target ${c.target}${failed}`;
  return `target ${c.atMost ? '≤' : '≥'} ${format(c.target, c.unit)}${failed}`;
}

export function checkLines(checks: Check[]): string[] {
  const width = Math.max(...checks.map((c) => c.label.length)) + 1;
  return checks.map(
    (c) =>
      `${`${c.label}:`.padEnd(width + 1)} ${valueText(c)} (${targetText(c)}) — ${met(c) ? 'met' : 'NOT met'}`,
  );
}

/** A Markdown table; numbers are right-aligned. */
export function table(head: string[], body: (string | number)[][]): string[] {
  const align = head.map((_, i) => (i === 0 ? '---' : '---:'));
  return [head, align, ...body].map((cells) => `| ${cells.join(' | ')} |`);
}

/** A wrk row; `baselineOf` names the row this one is the baseline build's run of. */
export interface MeasuredRow {
  name: string;
  result: LoadResult;
  baselineOf?: string;
}

/** A transfer row (MiB/s), and the same through the baseline build where it ran. */
export interface TransferRow {
  name: string;
  mibPerSec: number;
  /** The server's RSS before the first round and at its peak, for transfers through it. */
  rssMB?: { before: number; peak: number };
  baseline?: { mibPerSec: number; rssMB?: { before: number; peak: number } };
}

/** What the two columns are called, e.g. 'Node 24' and 'Node 20'. */
export interface Columns {
  current: string;
  baseline: string;
}

const dash = '–';
const ratioText = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : dash);

/**
 * The wrk rows as a table. A baseline row is not a line of its own: its numbers stand in columns
 * beside the row it is the baseline of, with the ratios current / baseline (req/s: above 1 is
 * faster now; p50: below 1 is quicker now). Without any baseline row the table has no such columns.
 */
export function rowTable(rows: MeasuredRow[], columns: Columns): string[] {
  const cells = (r: LoadResult): (string | number)[] => [
    r.requestsPerSec.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.errors,
  ];
  const main = rows.filter((r) => r.baselineOf === undefined);
  const baselineOf = new Map(rows.filter((r) => r.baselineOf !== undefined).map((r) => [r.baselineOf, r]));
  if (baselineOf.size === 0) {
    return table(
      ['what', 'req/s', 'p50 ms', 'p99 ms', 'errors'],
      main.map((r) => [r.name, ...cells(r.result)]),
    );
  }
  const { current: c, baseline: b } = columns;
  return table(
    [
      'what',
      `req/s ${c}`,
      `p50 ms ${c}`,
      `p99 ms ${c}`,
      `errors ${c}`,
      `req/s ${b}`,
      `p50 ms ${b}`,
      `p99 ms ${b}`,
      `errors ${b}`,
      `req/s ${c} / ${b}`,
      `p50 ${c} / ${b}`,
    ],
    main.map((r) => {
      const base = baselineOf.get(r.name)?.result;
      if (!base) return [r.name, ...cells(r.result), dash, dash, dash, dash, dash, dash];
      return [
        r.name,
        ...cells(r.result),
        ...cells(base),
        ratioText(r.result.requestsPerSec, base.requestsPerSec),
        ratioText(r.result.p50Ms, base.p50Ms),
      ];
    }),
  );
}

/** The transfers as a table, with the baseline's columns when any transfer has one. */
export function transferTable(transfers: TransferRow[], columns: Columns): string[] {
  const rss = (r?: { before: number; peak: number }): string =>
    r ? `${r.before.toFixed(0)} → ${r.peak.toFixed(0)}` : dash;
  if (!transfers.some((t) => t.baseline)) {
    return table(
      ['what', 'MiB/s', 'server RSS MB, before → peak'],
      transfers.map((t) => [t.name, t.mibPerSec.toFixed(0), rss(t.rssMB)]),
    );
  }
  const { current: c, baseline: b } = columns;
  return table(
    [
      'what',
      `MiB/s ${c}`,
      `server RSS MB ${c}, before → peak`,
      `MiB/s ${b}`,
      `server RSS MB ${b}, before → peak`,
      `MiB/s ${c} / ${b}`,
    ],
    transfers.map((t) => [
      t.name,
      t.mibPerSec.toFixed(0),
      rss(t.rssMB),
      t.baseline ? t.baseline.mibPerSec.toFixed(0) : dash,
      t.baseline ? rss(t.baseline.rssMB) : dash,
      t.baseline ? ratioText(t.mibPerSec, t.baseline.mibPerSec) : dash,
    ]),
  );
}

/** The machine as the report names it: the CPU model from /proc/cpuinfo and the cores. */
export function machineText(cpuinfo: string, cores: number): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU';
  return `${model}, ${cores} cores`;
}

const barWidth = 300;
const bar = 26;
const gap = 12;
const charWidth = 7.2; // of a 13 px sans-serif character, about

/**
 * One panel of bars from `x0`: `max` is the value drawn full width; the dashed line is the
 * target.
 */
function panel(
  title: string,
  checks: Check[],
  max: number,
  x0: number,
  top: number,
): { svg: string; height: number } {
  const rows = checks.map((c, i) => {
    const y = top + 30 + i * (bar + gap);
    const w = (Math.min(max, c.value) / max) * barWidth;
    const t = x0 + (Math.min(max, c.target) / max) * barWidth;
    return `<text x="10" y="${y + 18}" font-size="13">${c.label}</text>
<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${met(c) ? '#2e7d32' : '#c62828'}"/>
<line x1="${t.toFixed(1)}" x2="${t.toFixed(1)}" y1="${y - 4}" y2="${y + bar + 4}" stroke="#000" stroke-dasharray="3,2"/>
<text x="${(x0 + 5 + w).toFixed(1)}" y="${y + 18}" font-size="13">${valueText(c)} (${targetText(c)})</text>`;
  });
  const svg = `<text x="10" y="${top + 18}" font-size="14" font-weight="bold">${title}</text>\n${rows.join('\n')}`;
  return { svg, height: 40 + checks.length * (bar + gap) };
}

/** Ratios (full width 2×) and memory (full width 300 MB) against their targets. */
export function svg(checks: Check[]): string {
  const panels = [
    { title: 'Ratios (green: target met; dashed line: target)', unit: '×', max: 2 },
    { title: 'Server peak RSS, MB (green: target met; dashed line: target)', unit: 'MB', max: 300 },
  ];
  const drawn = checks.filter((c) => panels.some((p) => p.unit === c.unit));
  const x0 = Math.round(20 + Math.max(0, ...drawn.map((c) => c.label.length)) * charWidth);
  let height = 36;
  const parts: string[] = [];
  for (const p of panels) {
    const these = checks.filter((c) => c.unit === p.unit);
    if (these.length === 0) continue;
    const one = panel(p.title, these, p.max, x0, height);
    parts.push(one.svg);
    height += one.height;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${x0 + barWidth + 200}" height="${height}" font-family="sans-serif">
<text x="10" y="22" font-size="15" font-weight="bold">Connectors benchmarks (npm run bench)</text>
${parts.join('\n')}
</svg>
`;
}
