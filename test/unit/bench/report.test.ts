// The check lines are what a reader of `npm run bench` acts on: each must say the value, the target
// and the verdict so that they agree with each other when read.
import { expect } from 'chai';
import {
  checkLines,
  machineText,
  rowTable,
  transferTable,
  type Check,
  type MeasuredRow,
} from '../../../bench/report.js';

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

const columns = { current: 'Node 24', baseline: 'Node 20' };
const result = (requestsPerSec: number, p50Ms: number, errors = 0) => ({
  requestsPerSec,
  p50Ms,
  p99Ms: p50Ms * 3,
  errors,
});
const cellsOf = (line: string | undefined): string[] =>
  (line ?? '')
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());

// The Node 20 column is the upgrade's measured effect: a baseline number in the wrong row, or a ratio
// turned upside down, would say the opposite of what was measured.
describe('bench/report rowTable', () => {
  it('puts each baseline row beside the row it is the baseline of, with the ratios current / baseline', () => {
    const rows: MeasuredRow[] = [
      { name: 'tool directly', result: result(10000, 1) },
      { name: 'ours', result: result(3000, 4) },
      { name: 'bare', result: result(6000, 2) },
      { name: 'bare [Node 20]', result: result(5000, 2.5, 7), baselineOf: 'bare' },
      { name: 'ours [Node 20]', result: result(2000, 5), baselineOf: 'ours' },
    ];
    const lines = rowTable(rows, columns);
    expect(cellsOf(lines[0])).to.deep.equal([
      'what',
      'req/s Node 24',
      'p50 ms Node 24',
      'p99 ms Node 24',
      'errors Node 24',
      'req/s Node 20',
      'p50 ms Node 20',
      'p99 ms Node 20',
      'errors Node 20',
      'req/s Node 24 / Node 20',
      'p50 Node 24 / Node 20',
    ]);
    expect(lines).to.have.length(2 + 3); // head, alignment, and one line per row that is not a baseline
    expect(cellsOf(lines[2])).to.deep.equal([
      'tool directly',
      '10000',
      '1.00',
      '3.00',
      '0',
      '–',
      '–',
      '–',
      '–',
      '–',
      '–',
    ]);
    expect(cellsOf(lines[3])).to.deep.equal([
      'ours',
      '3000',
      '4.00',
      '12.00',
      '0',
      '2000',
      '5.00',
      '15.00',
      '0',
      '1.50×',
      '0.80×',
    ]);
    expect(cellsOf(lines[4])).to.deep.equal([
      'bare',
      '6000',
      '2.00',
      '6.00',
      '0',
      '5000',
      '2.50',
      '7.50',
      '7',
      '1.20×',
      '0.80×',
    ]);
  });

  it('has no baseline columns when nothing ran on the baseline', () => {
    const lines = rowTable([{ name: 'ours', result: result(3000, 4) }], columns);
    expect(cellsOf(lines[0])).to.deep.equal(['what', 'req/s', 'p50 ms', 'p99 ms', 'errors']);
    expect(cellsOf(lines[2])).to.deep.equal(['ours', '3000', '4.00', '12.00', '0']);
  });
});

describe('bench/report transferTable', () => {
  it('adds the baseline transfer and its server RSS beside ours', () => {
    const lines = transferTable(
      [
        { name: 'directly', mibPerSec: 900 },
        {
          name: 'through /proxy',
          mibPerSec: 600,
          rssMB: { before: 60, peak: 110 },
          baseline: { mibPerSec: 400, rssMB: { before: 55, peak: 130 } },
        },
      ],
      columns,
    );
    expect(cellsOf(lines[0])).to.deep.equal([
      'what',
      'MiB/s Node 24',
      'server RSS MB Node 24, before → peak',
      'MiB/s Node 20',
      'server RSS MB Node 20, before → peak',
      'MiB/s Node 24 / Node 20',
    ]);
    expect(cellsOf(lines[2])).to.deep.equal(['directly', '900', '–', '–', '–', '–']);
    expect(cellsOf(lines[3])).to.deep.equal([
      'through /proxy',
      '600',
      '60 → 110',
      '400',
      '55 → 130',
      '1.50×',
    ]);
  });

  it('keeps the single column without any baseline transfer', () => {
    const lines = transferTable([{ name: 'directly', mibPerSec: 900 }], columns);
    expect(cellsOf(lines[0])).to.deep.equal(['what', 'MiB/s', 'server RSS MB, before → peak']);
  });
});

describe('bench/report machineText', () => {
  it('names the CPU model from /proc/cpuinfo and the cores', () => {
    const cpuinfo =
      'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n';
    expect(machineText(cpuinfo, 2)).to.equal('AMD EPYC 7B13, 2 cores');
    expect(machineText('processor\t: 0\n', 4)).to.equal('unknown CPU, 4 cores');
  });
});
