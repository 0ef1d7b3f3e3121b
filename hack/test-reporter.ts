// The mocha reporter of `npm test`: mocha's own `spec` output for people, and for hack/test-runner.ts
// one JSON line per test in the file named by `--reporter-option output=<file>` (read by
// hack/test-results.ts). Lines are written as the run goes, and an `end` line says it finished.

import { appendFileSync, writeFileSync } from 'node:fs';
import Mocha from 'mocha';
import { allowedSkipOf, type ResultLine } from './test-results.js';

const { EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END } = Mocha.Runner.constants;

class ResultReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options: Mocha.MochaOptions) {
    super(runner, options);
    const output = (options.reporterOptions as { output?: unknown } | undefined)?.output;
    if (typeof output !== 'string' || output === '')
      throw new Error('hack/test-reporter: name the result file with --reporter-option output=<file>');
    writeFileSync(output, '');
    const write = (line: ResultLine): void => {
      appendFileSync(output, `${JSON.stringify(line)}\n`);
    };
    runner.on(EVENT_TEST_PASS, (test) => {
      write({ event: 'pass', title: test.fullTitle() });
    });
    // A failing hook comes here too, as a "before all" hook, say: it counts as a failure.
    runner.on(EVENT_TEST_FAIL, (test) => {
      write({ event: 'fail', title: test.fullTitle() });
    });
    runner.on(EVENT_TEST_PENDING, (test) => {
      const allowed = allowedSkipOf(test);
      write({ event: 'pending', title: test.fullTitle(), ...(allowed === undefined ? {} : { allowed }) });
    });
    runner.once(EVENT_RUN_END, () => {
      write({ event: 'end' });
    });
  }
}

// mocha loads a reporter with require(), which returns this export of an ES module.
export { ResultReporter as 'module.exports' };
