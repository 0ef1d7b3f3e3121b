// Ready from its dependents, and the rule that decides whether a status write is needed: conditions
// compared without lastTransitionTime, which moves only when a condition's status changes.
import { expect } from 'chai';
import {
  condition,
  jsonEqual,
  nextStatus,
  readyCondition,
  withTransitionTimes,
  type Condition,
} from '../../../controller/conditions.js';

const t0 = '2024-01-01T00:00:00Z';
const t1 = '2024-01-02T00:00:00Z';

describe('controller/conditions readyCondition', () => {
  const cases: { name: string; deps: Condition[]; want: Condition }[] = [
    {
      name: 'all True → True without reason',
      deps: [condition('A', 'True'), condition('B', 'True', 'NonProxy')],
      want: { type: 'Ready', status: 'True' },
    },
    {
      name: 'any False → False with the first failing reason and message',
      deps: [
        condition('A', 'True'),
        condition('B', 'Unknown', 'Waiting'),
        condition('C', 'False', 'SecretNotFound', 'secrets "x" not found'),
        condition('D', 'False', 'ConnectionFailed', 'later'),
      ],
      want: { type: 'Ready', status: 'False', reason: 'SecretNotFound', message: 'secrets "x" not found' },
    },
    {
      name: 'else any Unknown → Unknown',
      deps: [condition('A', 'True'), condition('B', 'Unknown', 'Probing', 'checking')],
      want: { type: 'Ready', status: 'Unknown', reason: 'Probing', message: 'checking' },
    },
    {
      name: 'Info severity never affects Ready',
      deps: [
        condition('A', 'True'),
        { ...condition('CACertReady', 'False', 'InvalidPEM'), severity: 'Info' },
      ],
      want: { type: 'Ready', status: 'True' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(readyCondition(c.deps)).to.deep.equal(c.want);
    });
  }

  it('omits empty reason and message, as the published JSON does', () => {
    expect(condition('X', 'True')).to.deep.equal({ type: 'X', status: 'True' });
  });
});

describe('controller/conditions transitions and writes', () => {
  const before: Condition[] = [
    { type: 'LivenessReady', status: 'True', lastTransitionTime: t0 },
    { type: 'AuthReady', status: 'True', lastTransitionTime: t0 },
  ];

  it('keeps lastTransitionTime while the status is unchanged, even if the message changes', () => {
    const next = withTransitionTimes(
      before,
      [condition('LivenessReady', 'True'), condition('AuthReady', 'False', 'AuthenticationFailed')],
      t1,
    );
    expect(next[0]?.lastTransitionTime).to.equal(t0);
    expect(next[1]?.lastTransitionTime).to.equal(t1);
    const again = withTransitionTimes(
      next,
      [condition('LivenessReady', 'True'), condition('AuthReady', 'False', 'AuthenticationFailed', 'other')],
      '2025-01-01T00:00:00Z',
    );
    expect(again[1]?.lastTransitionTime).to.equal(t1);
  });

  it('returns null (no write) when nothing but the clock changed', () => {
    const observed = {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'True' as const, lastTransitionTime: t0 }],
      api: { path: '/p' },
    };
    const desired = {
      observedGeneration: 3,
      conditions: [condition('Ready', 'True')],
      api: { path: '/p' },
      proxy: undefined,
    };
    expect(nextStatus(observed, desired, t1)).to.equal(null);
  });

  it('writes when a reason, a message, observedGeneration or an address changes', () => {
    const observed = {
      observedGeneration: 3,
      conditions: [{ type: 'Ready', status: 'False' as const, reason: 'A', lastTransitionTime: t0 }],
    };
    expect(
      nextStatus(observed, { observedGeneration: 3, conditions: [condition('Ready', 'False', 'B')] }, t1),
    ).to.not.equal(null);
    expect(
      nextStatus(observed, { observedGeneration: 4, conditions: [condition('Ready', 'False', 'A')] }, t1),
    ).to.not.equal(null);
    const next = nextStatus(
      observed,
      { observedGeneration: 3, conditions: [condition('Ready', 'False', 'A')], api: { path: '/x' } },
      t1,
    );
    expect(next?.conditions[0]?.lastTransitionTime).to.equal(t0);
  });

  it('keeps fields it does not own and drops the ones it clears', () => {
    const observed = {
      annotations: { a: 'b' },
      proxy: { httpAddress: { url: 'http://old' } },
      conditions: [],
    };
    const next = nextStatus(observed, { conditions: [], proxy: undefined }, t1);
    expect(next).to.deep.equal({ annotations: { a: 'b' }, conditions: [] });
  });

  it('jsonEqual ignores key order and undefined members, not array order', () => {
    expect(jsonEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).to.equal(true);
    expect(jsonEqual({ a: 1, x: undefined }, { a: 1 })).to.equal(true);
    expect(jsonEqual([1, 2], [2, 1])).to.equal(false);
    expect(jsonEqual({ a: null }, { a: undefined })).to.equal(false);
  });
});
