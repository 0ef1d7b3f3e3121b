// What the plugin prints, as kubectl prints it: tables aligned as kubectl's tabwriter aligns them
// (columns three spaces apart, at least six wide, the last one unpadded), ages as kubectl words
// them (`45s`, `3m12s`, `5h`, `12d`), JSON indented by four spaces and YAML with lists flush under
// their key.

import { dump } from 'js-yaml';

/** kubectl's printers.GetNewTabWriter: minimum cell width 6, padding 3. */
const minWidth = 6;
const padding = 3;

/** Characters as Go's tabwriter counts them: code points. */
const width = (s: string): number => Array.from(s).length;

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, col) =>
    Math.max(minWidth, ...all.map((row) => width(row[col] ?? '') + padding)),
  );
  return all
    .map((row) =>
      row
        .map((cell, col) =>
          col === row.length - 1 ? cell : cell + ' '.repeat((widths[col] ?? 0) - width(cell)),
        )
        .join(''),
    )
    .map((line) => `${line}\n`)
    .join('');
}

/** k8s.io/apimachinery's duration.HumanDuration, as kubectl's AGE column shows it. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    const years = Math.floor(hours / 24 / 365);
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** The AGE of an object created at `timestamp` (RFC 3339), `<unknown>` without one. */
export function age(timestamp: string | undefined, now: number): string {
  const at = timestamp ? Date.parse(timestamp) : Number.NaN;
  return Number.isNaN(at) ? '<unknown>' : humanDuration(now - at);
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}

export function toYaml(value: unknown): string {
  return dump(value, { noRefs: true, noArrayIndent: true, lineWidth: -1 });
}

const isScalar = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * A table of a class API's answer: `items` (or the answer itself when it is an array), one column
 * per scalar field the items have (in the order they first appear, named in capitals), lists of
 * scalars joined by commas. Null when the answer holds no list.
 */
export function itemsTable(answer: unknown): { headers: string[]; rows: string[][] } | null {
  const items: readonly unknown[] | null = Array.isArray(answer)
    ? answer
    : answer !== null && typeof answer === 'object' && Array.isArray((answer as { items?: unknown }).items)
      ? (answer as { items: unknown[] }).items
      : null;
  if (!items) return null;
  if (items.every(isScalar)) return { headers: ['VALUE'], rows: items.map((i) => [String(i)]) };
  const keys: string[] = [];
  const cell = (v: unknown): string | undefined => {
    if (isScalar(v)) return String(v);
    if (Array.isArray(v) && v.every(isScalar)) return v.join(',');
    return undefined;
  };
  for (const item of items) {
    if (item === null || typeof item !== 'object') continue;
    for (const [k, v] of Object.entries(item)) if (cell(v) !== undefined && !keys.includes(k)) keys.push(k);
  }
  return {
    headers: keys.map((k) => k.toUpperCase()),
    rows: items.map((item) =>
      keys.map((k) =>
        item !== null && typeof item === 'object' ? (cell((item as Record<string, unknown>)[k]) ?? '') : '',
      ),
    ),
  };
}
