// The plugin reads command lines as kubectl (pflag) does: flags anywhere, every spelling of a
// value, grouped boolean shorthands, repeatable flags in order, `--` ending the flags, and
// pflag's own words for an unknown flag or a missing value.

import { expect } from 'chai';
import { keyValues, parseArgs, UsageError, type FlagDef } from '../../../cli/args.js';

const defs: FlagDef[] = [
  { name: 'namespace', short: 'n', kind: 'string', help: '' },
  { name: 'all-namespaces', short: 'A', kind: 'bool', help: '' },
  { name: 'include', short: 'i', kind: 'bool', help: '' },
  { name: 'output', short: 'o', kind: 'string', help: '' },
  { name: 'param', kind: 'list', help: '' },
  { name: 'header', short: 'H', kind: 'list', help: '' },
];

const parse = (...argv: string[]): Record<string, unknown> => {
  const { positionals, values } = parseArgs(argv, defs);
  return { positionals, ...Object.fromEntries(values) };
};

describe('cli/args: command lines as kubectl reads them', () => {
  const cases: [string, string[], Record<string, unknown>][] = [
    [
      '--name=value and --name value',
      ['get', '--namespace=a', 'x', '--output', 'yaml'],
      { positionals: ['get', 'x'], namespace: 'a', output: 'yaml' },
    ],
    [
      '-n value, -nvalue, -n=value (the last one wins)',
      ['-n', 'a', '-nb', '-n=c'],
      { positionals: [], namespace: 'c' },
    ],
    ['-ojson', ['-ojson'], { positionals: [], output: 'json' }],
    [
      'grouped booleans, and a value after them',
      ['-Ai', '-Aiojson'],
      { positionals: [], 'all-namespaces': true, include: true, output: 'json' },
    ],
    ['--bool=false', ['--all-namespaces=false'], { positionals: [], 'all-namespaces': false }],
    [
      'repeatable flags keep their order',
      ['--param', 'a=1', '-H', 'X: 1', '--param=a=2', '-HY: 2'],
      { positionals: [], param: ['a=1', 'a=2'], header: ['X: 1', 'Y: 2'] },
    ],
    [
      'a value that looks like a flag is a value',
      ['-n', '--all-namespaces'],
      { positionals: [], namespace: '--all-namespaces' },
    ],
    ['- alone is an argument', ['-', 'x'], { positionals: ['-', 'x'] }],
    ['-- ends the flags', ['a', '--', '-n', '--x'], { positionals: ['a', '-n', '--x'] }],
  ];
  for (const [what, argv, want] of cases) {
    it(what, () => {
      expect(parse(...argv)).to.deep.equal(want);
    });
  }

  const errors: [string[], string][] = [
    [['--nope'], 'unknown flag: --nope'],
    [['-x'], "unknown shorthand flag: 'x' in -x"],
    [['-Ax'], "unknown shorthand flag: 'x' in -Ax"],
    [['--namespace'], 'flag needs an argument: --namespace'],
    [['-n'], "flag needs an argument: 'n' in -n"],
    [['--include=maybe'], 'invalid argument "maybe" for "--include" flag'],
  ];
  for (const [argv, message] of errors) {
    it(`${argv.join(' ')}: ${message}`, () => {
      expect(() => parseArgs(argv, defs)).to.throw(UsageError, message);
    });
  }

  it('NAME=VALUE pairs split at the first =', () => {
    expect(keyValues(['a=b=c', 'tags='], '--param')).to.deep.equal([
      ['a', 'b=c'],
      ['tags', ''],
    ]);
    expect(() => keyValues(['novalue'], '--param')).to.throw(UsageError, '--param novalue: write NAME=VALUE');
    expect(() => keyValues(['=x'], '--param')).to.throw(UsageError);
  });
});
