// What `npm test` counts, read from the file hack/test-reporter.ts writes (one JSON line per test, as
// the run goes), never from what mocha printed: a long failure, a test's own output or colours cannot
// change the count. A skip counts as a failure unless the test said why it may skip
// (test/helpers/skip.ts); a run that stops before its end counts as one failure, never as zero tests.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const mocha = join(root, 'node_modules', 'mocha', 'bin', 'mocha.js');
const reporter = join(here, 'test-reporter.js');

/** One line of the result file. */
export type ResultLine =
  | { event: 'pass' | 'fail'; title: string }
  | { event: 'pending'; title: string; allowed?: string }
  | { event: 'end' };

export interface SuiteResult {
  passed: number;
  failed: number;
  /** What the counts alone do not say: each failure, each skip, a run that stopped early. */
  notes: string[];
}

/** Where a test that may skip keeps its reason, on mocha's test object (read by the reporter). */
const allowedSkipKey = Symbol.for('connectors.test.allowedSkip');

export function markAllowedSkip(test: object, reason: string): void {
  Object.defineProperty(test, allowedSkipKey, { value: reason });
}

export function allowedSkipOf(test: object): string | undefined {
  const reason: unknown = (test as Record<symbol, unknown>)[allowedSkipKey];
  return typeof reason === 'string' ? reason : undefined;
}

/** The counts of one mocha run of `suite`, from its result file and its exit code. */
export function readResults(suite: string, text: string, exitCode: number | null): SuiteResult {
  const result: SuiteResult = { passed: 0, failed: 0, notes: [] };
  let ended = false;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let line: ResultLine;
    try {
      line = JSON.parse(raw) as ResultLine;
    } catch {
      result.failed++;
      result.notes.push(`${suite}: an unreadable result line, counted as failed: ${raw.slice(0, 200)}`);
      continue;
    }
    if (line.event === 'pass') result.passed++;
    else if (line.event === 'fail') {
      result.failed++;
      result.notes.push(`failed: ${line.title}`);
    } else if (line.event === 'pending') {
      if (line.allowed !== undefined) result.notes.push(`skipped (allowed: ${line.allowed}): ${line.title}`);
      else {
        result.failed++;
        result.notes.push(
          `skipped, counted as failed: ${line.title} (a test that may skip says why with test/helpers/skip.ts)`,
        );
      }
    } else ended = true;
  }
  if (!ended) {
    result.failed++;
    result.notes.push(
      `${suite}: mocha stopped before the end of its run (exit code ${String(exitCode)}), counted as one failure`,
    );
  } else if (exitCode !== 0 && result.failed === 0) {
    result.failed++;
    result.notes.push(
      `${suite}: mocha exited with code ${String(exitCode)} and no failed test, counted as one failure`,
    );
  }
  return result;
}

/** The last line of `npm test`, which CI reads. */
export function totalLine(results: SuiteResult[]): string {
  const sum = (key: 'passed' | 'failed'): number => results.reduce((n, r) => n + r[key], 0);
  return `${sum('passed')} passed, ${sum('failed')} failed`;
}

/**
 * Runs mocha with `args` (and hack/test-reporter.ts: spec output, plus the result file), its output
 * going to ours as it comes, or all of it to `capture`; counts the run from the result file.
 */
export function runMocha(
  suite: string,
  args: string[],
  capture?: (chunk: Buffer) => void,
): Promise<SuiteResult> {
  const dir = mkdtempSync(join(tmpdir(), 'connectors-test-results-'));
  const output = join(dir, 'results.jsonl');
  const child = spawn(
    process.execPath,
    [mocha, ...args, '--reporter', reporter, '--reporter-option', `output=${output}`],
    { cwd: root, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] },
  );
  if (capture) {
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
  }
  return new Promise((resolve) => {
    child.on('close', (code) => {
      let text = '';
      try {
        text = readFileSync(output, 'utf8');
      } catch {
        // no file: mocha stopped before its reporter started, which readResults counts
      }
      rmSync(dir, { recursive: true, force: true });
      resolve(readResults(suite, text, code));
    });
  });
}
