// Output as kubectl prints it: tabwriter columns, AGE words, and a class API's items as a table.

import { expect } from 'chai';
import { humanDuration, itemsTable, table, toJson, toYaml } from '../../../cli/print.js';

describe('cli/print', () => {
  it('tables: columns three spaces apart and at least six wide, the last one unpadded', () => {
    expect(
      table(
        ['NAME', 'READY', 'AGE'],
        [
          ['a', 'True', '5s'],
          ['longer-name', '', '12d'],
        ],
      ),
    ).to.equal(
      ['NAME          READY   AGE', 'a             True    5s', 'longer-name           12d', ''].join('\n'),
    );
  });

  it('ages as kubectl words them', () => {
    const s = 1000;
    const cases: [number, string][] = [
      [-5 * s, '<invalid>'],
      [-0.5 * s, '0s'],
      [119 * s, '119s'],
      [120 * s, '2m'],
      [192 * s, '3m12s'],
      [45 * 60 * s, '45m'],
      [3 * 3600 * s, '3h'],
      [(3 * 3600 + 60 * 7) * s, '3h7m'],
      [30 * 3600 * s, '30h'],
      [(3 * 24 + 5) * 3600 * s, '3d5h'],
      [40 * 24 * 3600 * s, '40d'],
      [(3 * 365 + 10) * 24 * 3600 * s, '3y10d'],
      [9 * 365 * 24 * 3600 * s, '9y'],
    ];
    expect(cases.map(([ms]) => humanDuration(ms))).to.deep.equal(cases.map(([, want]) => want));
  });

  it('items: a column per scalar field, in the order they first appear; lists of scalars joined', () => {
    expect(
      itemsTable({
        listMeta: { totalItems: 2 },
        items: [
          { name: 'main', commitID: 'abc', nested: { x: 1 } },
          { name: 'dev', protected: true, labels: ['a', 'b'] },
        ],
      }),
    ).to.deep.equal({
      headers: ['NAME', 'COMMITID', 'PROTECTED', 'LABELS'],
      rows: [
        ['main', 'abc', '', ''],
        ['dev', '', 'true', 'a,b'],
      ],
    });
    expect(itemsTable(['1.0', '1.1'])).to.deep.equal({ headers: ['VALUE'], rows: [['1.0'], ['1.1']] });
    expect(itemsTable({ name: 'not a list' })).to.equal(null);
  });

  it('JSON by four spaces, YAML with lists flush under their key', () => {
    expect(toJson({ a: [1] })).to.equal('{\n    "a": [\n        1\n    ]\n}\n');
    expect(toYaml({ params: [{ name: 'x', value: 'main' }] })).to.equal(
      'params:\n- name: x\n  value: main\n',
    );
  });
});
