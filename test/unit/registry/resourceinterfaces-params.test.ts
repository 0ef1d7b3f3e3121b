// The caller's params of a ResourceInterface resolution: every declared param gets a value (given,
// or its default), and every problem is one cause naming the param, all reported at once.

import { expect } from 'chai';
import { readParams } from '../../../registry/resourceinterfaces.js';
import type { ParamSpec } from '../../../registry/resourceinterface.js';

const declared: ParamSpec[] = [
  { name: 'repository', type: 'string', description: 'Repository name' },
  { name: 'revision', default: 'refs/heads/main' },
  { name: 'tags', type: 'array', default: [] },
  { name: 'settings', type: 'object', default: {} },
  { name: 'mode', enum: ['pull', 'push'], default: 'pull' },
];

describe('ResourceInterface params from the query', function () {
  it('applies defaults and keeps given values with their types', function () {
    expect(readParams(declared, 'repository=org%2Fapp.git')).to.deep.equal({
      values: {
        repository: 'org/app.git',
        revision: 'refs/heads/main',
        tags: [],
        settings: {},
        mode: 'pull',
      },
      causes: [],
    });
    const r = readParams(declared, 'repository=a&tags=v1&tags=v2&settings=%7B%22k%22%3A%22v%22%7D&mode=push');
    expect(r.causes).to.deep.equal([]);
    expect(r.values).to.deep.include({ tags: ['v1', 'v2'], settings: { k: 'v' }, mode: 'push' });
  });

  it('keeps an empty string as given (it is a value, not a missing param)', function () {
    expect(readParams(declared, 'repository=&revision=').values).to.deep.include({
      repository: '',
      revision: '',
    });
  });

  it('reports every problem at once, each naming its param', function () {
    const r = readParams(declared, 'revision=a&revision=b&tags=x&settings=%5B1%5D&mode=drop&extra=1');
    expect(r.causes.map((c) => [c.reason, c.field])).to.deep.equal([
      ['FieldValueNotSupported', 'extra'],
      ['FieldValueRequired', 'repository'],
      ['FieldValueInvalid', 'revision'],
      ['FieldValueInvalid', 'settings'],
      ['FieldValueNotSupported', 'mode'],
    ]);
    expect(r.causes[0]?.message).to.equal(
      'unknown param "extra"; this ResourceInterface takes: repository, revision, tags, settings, mode',
    );
    expect(r.causes[1]?.message).to.equal('param "repository" is required (string: Repository name)');
  });

  it('names the params a ResourceInterface without params takes: none', function () {
    expect(readParams([], 'x=1').causes[0]?.message).to.equal(
      'unknown param "x"; this ResourceInterface takes: none',
    );
  });
});
