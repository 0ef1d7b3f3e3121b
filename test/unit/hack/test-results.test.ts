// hack/test-results.ts: `npm test` counts from the reporter's result file, whatever mocha printed; a
// skip without a reason, a stray `.only` and a run that dies all count as failures.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readResults, runMocha, totalLine, type ResultLine } from '../../../hack/test-results.js';

const here = dirname(fileURLToPath(import.meta.url));
const skipHelper = pathToFileURL(join(here, '..', '..', 'helpers', 'skip.js')).href;
const repoRoot = join(here, '..', '..', '..', '..');

const lines = (...events: ResultLine[]): string => events.map((e) => `${JSON.stringify(e)}\n`).join('');

describe('hack/test-results', function () {
  describe('readResults', function () {
    it('counts passes and failures, and names each failure', function () {
      const r = readResults(
        'unit',
        lines(
          { event: 'pass', title: 'a' },
          { event: 'fail', title: 'b' },
          { event: 'pass', title: 'c' },
          { event: 'fail', title: '"before all" hook for "d"' },
          { event: 'end' },
        ),
        2,
      );
      expect(r).to.deep.equal({
        passed: 2,
        failed: 2,
        notes: ['failed: b', 'failed: "before all" hook for "d"'],
      });
    });

    it('a skip is a failure unless the test said why', function () {
      const r = readResults(
        'unit',
        lines(
          { event: 'pending', title: 'silent' },
          { event: 'pending', title: 'root only', allowed: 'needs root' },
          { event: 'end' },
        ),
        0,
      );
      expect(r.passed).to.equal(0);
      expect(r.failed).to.equal(1);
      expect(r.notes).to.have.length(2);
      expect(r.notes[0]).to.match(/^skipped, counted as failed: silent/);
      expect(r.notes[1]).to.equal('skipped (allowed: needs root): root only');
    });

    it('a run without its end line counts one failure, also with no line at all', function () {
      const partial = readResults('integration', lines({ event: 'pass', title: 'a' }), null);
      expect(partial.passed).to.equal(1);
      expect(partial.failed).to.equal(1);
      expect(partial.notes[0]).to.match(/^integration: mocha stopped before the end/);
      expect(readResults('unit', '', 1)).to.include({ passed: 0, failed: 1 });
    });

    it('a non-zero exit without a failed test counts one failure; with one, no more', function () {
      expect(readResults('unit', lines({ event: 'pass', title: 'a' }, { event: 'end' }), 1)).to.include({
        passed: 1,
        failed: 1,
      });
      expect(readResults('unit', lines({ event: 'fail', title: 'a' }, { event: 'end' }), 1)).to.include({
        failed: 1,
      });
      expect(readResults('unit', lines({ event: 'pass', title: 'a' }, { event: 'end' }), 0)).to.include({
        failed: 0,
      });
    });

    it('an unreadable line counts as a failure', function () {
      const r = readResults('unit', `{"event":"pa\n${lines({ event: 'end' })}`, 0);
      expect(r.failed).to.equal(1);
    });

    it('the total line is exactly `N passed, N failed`, summed over the suites', function () {
      expect(
        totalLine([
          { passed: 3, failed: 0, notes: [] },
          { passed: 4, failed: 2, notes: ['failed: x'] },
        ]),
      ).to.equal('7 passed, 2 failed');
    });
  });

  describe('runMocha, with the reporter, on real mocha runs', function () {
    this.timeout(30_000);
    let dir: string;
    beforeEach(function () {
      dir = mkdtempSync(join(tmpdir(), 'test-results-'));
    });
    afterEach(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    const run = async (name: string, source: string, args: string[] = []) => {
      const file = join(dir, name);
      writeFileSync(file, source);
      const chunks: Buffer[] = [];
      const result = await runMocha('fixture', ['--no-config', '--no-package', ...args, file], (c) => {
        chunks.push(c);
      });
      return { result, stdout: Buffer.concat(chunks).toString('utf8') };
    };

    it('counts right when the failure output is far longer than 4 KiB, and still prints the spec output', async function () {
      const { result, stdout } = await run(
        'long.test.mjs',
        `import { skipBecause } from '${skipHelper}';
        describe('fixture', function () {
          it('passes one', function () {});
          it('fails with a long message', function () {
            throw new Error('${'x'.repeat(200)}\\n'.repeat(60));
          });
          it('passes two', function () {});
          it('skips silently', function () { this.skip(); });
          it('skips for a reason', function () { skipBecause(this, 'a fixture reason'); });
          it('passes three', function () { console.log('${'y'.repeat(100)}\\n'.repeat(30)); });
          it.skip('is marked skip', function () {});
        });`,
      );
      expect(stdout.length, 'the spec output').to.be.greaterThan(12 * 1024);
      expect(stdout).to.include('passes one').and.include('fails with a long message');
      // The old runner's 4 KiB tail of that output no longer says how many passed.
      expect(stdout.slice(-4096)).not.to.match(/\d+ passing/);
      expect(result.passed).to.equal(3);
      expect(result.failed).to.equal(3); // the failure and the two skips without a reason
      expect(result.notes).to.deep.equal([
        'failed: fixture fails with a long message',
        'skipped, counted as failed: fixture skips silently (a test that may skip says why with test/helpers/skip.ts)',
        'skipped (allowed: a fixture reason): fixture skips for a reason',
        'skipped, counted as failed: fixture is marked skip (a test that may skip says why with test/helpers/skip.ts)',
      ]);
    });

    it('a stray .only fails the run under --forbid-only', async function () {
      const { result, stdout } = await run(
        'only.test.mjs',
        `it('one', function () {}); it.only('two', function () {});`,
        ['--forbid-only'],
      );
      expect(stdout).to.include('`.only` forbidden by --forbid-only');
      expect(result.passed).to.equal(0);
      expect(result.failed).to.equal(1);
    });

    it('every suite of `npm test` forbids .only in its mocha configuration too', function () {
      for (const config of ['.mocharc.unit.json', '.mocharc.integration.json', '.mocharc.cluster.json']) {
        const parsed = JSON.parse(readFileSync(join(repoRoot, config), 'utf8')) as { forbidOnly?: unknown };
        expect(parsed.forbidOnly, config).to.equal(true);
      }
    });
  });
});
