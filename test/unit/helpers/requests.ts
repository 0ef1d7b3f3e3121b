// Generators of hostile request lines for the property tests of request parsing: methods (the
// served ones, others Node's parser knows, odd tokens, lower case, prototype names) and the pieces
// of paths (verb-prefixed forms, encodings, dot segments, trailing slashes, `watch=` queries).
import fc from 'fast-check';
import { resourceVerbs } from '../../../machinery/verbs.js';
import { servedMethods, unservedMethods } from '../../helpers/methods.js';

export { servedMethods } from '../../helpers/methods.js';

/** Every RBAC verb a grant can hold, including those no method maps to. */
export const allVerbs = [...resourceVerbs, ''] as const;

export const methodArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...servedMethods) },
  { weight: 2, arbitrary: fc.constantFrom(...unservedMethods, 'CONNECT', 'TRACK') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'get',
      'post',
      'Delete',
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z][A-Z-]{0,9}$/) },
);

/** One path segment below a subresource, raw: plain, encoded, dot segments, empty. */
export const restSegmentArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'items',
    '42',
    'a.b',
    '',
    '.',
    '..',
    '%2e%2e',
    '%2F',
    'a%2Fb',
    '%252e',
    'watch',
    'proxy',
    '~x',
  ),
  fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/),
);

export const queryArb: fc.Arbitrary<string> = fc.constantFrom(
  '',
  '?watch=true',
  '?watch=1',
  '?watch=false',
  '?watch=TRUE',
  '?x=1&watch=true',
  '?_method=DELETE',
  '?',
);

export const grantArb: fc.Arbitrary<string[]> = fc.subarray([...allVerbs]);
