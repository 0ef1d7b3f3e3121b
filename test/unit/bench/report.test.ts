// The check lines are what a reader of `npm run bench` acts on: each must say the value, the target
// and the verdict so that they agree with each other when read.
import { expect } from 'chai';
import { checkLines, type Check } from '../../../bench/report.js';

const line = (c: Check): string => checkLines([c])[0] ?? '';

describe('bench/report checkLines', () => {
  it('prints a value that rounds onto its target with one more digit, so it reads as not met', () => {
    expect(line({ label: 'p50 ratio', value: 1.104, target: 1.1, unit: '×', atMost: true })).to.match(
      /1\.104× \(target ≤ 1\.10×\) — NOT met$/,
    );
    expect(line({ label: 'ratio', value: 0.8996, target: 0.9, unit: '×' })).to.match(
      /0\.900× \(target ≥ 0\.90×\) — NOT met$/,
    );
    expect(line({ label: 'rss', value: 150.4, target: 150, unit: 'MB', atMost: true })).to.match(
      /150\.4 MB \(target ≤ 150 MB\) — NOT met$/,
    );
  });

  it('keeps the usual digits otherwise', () => {
    expect(line({ label: 'ratio', value: 0.95, target: 0.9, unit: '×' })).to.match(
      / 0\.95× \(target ≥ 0\.90×\) — met$/,
    );
    expect(line({ label: 'ratio', value: 1.1, target: 1.1, unit: '×', atMost: true })).to.match(
      / 1\.10× \(target ≤ 1\.10×\) — met$/,
    );
  });

  it('counts failed requests against a check whatever its value', () => {
    expect(line({ label: 'ratio', value: 2, target: 0.5, unit: '×', failedRequests: 3 })).to.match(
      /2\.00× \(target ≥ 0\.50×; 3 failed requests\) — NOT met$/,
    );
  });
});
