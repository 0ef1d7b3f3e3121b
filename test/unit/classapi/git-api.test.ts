// Which repository a Git request reads: `repository` is relative to the Connector address (its
// path prefix kept); `repositoryUrl` must be on the Connector's own origin and under its path
// prefix, because the Connector's credential goes with the request. Tricks that could leave the
// prefix or the origin are 400s.
import { expect } from 'chai';
import { StatusError } from '../../../machinery/status.js';
import { repositoryTarget } from '../../../classapi/git/api.js';

const address = { origin: 'https://git.example.com', prefix: '/gitlab' };
const target = (query: Record<string, string>): string =>
  repositoryTarget(address, new URLSearchParams(query)).path;

function refusal(query: Record<string, string>): StatusError {
  try {
    repositoryTarget(address, new URLSearchParams(query));
  } catch (err) {
    if (err instanceof StatusError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(query)} to be refused`);
}

describe('classapi/git repositoryTarget', function () {
  const allowed: [Record<string, string>, string][] = [
    [{ repository: 'org/app.git' }, '/gitlab/org/app.git'],
    [{ repository: '/org/app.git/' }, '/gitlab/org/app.git'],
    [{ repository: 'org/sub group/app' }, '/gitlab/org/sub%20group/app'],
    [{ repositoryUrl: 'https://git.example.com/gitlab/org/app.git' }, '/gitlab/org/app.git'],
    [{ repositoryUrl: 'https://GIT.example.com:443/gitlab/org/app.git/' }, '/gitlab/org/app.git'],
    // WHATWG URL resolves %2e%2e like '..'; what is left is still under the address path.
    [{ repositoryUrl: 'https://git.example.com/gitlab/org/%2e%2e/x.git' }, '/gitlab/x.git'],
    // repositoryUrl wins when both are sent: it is the more precise of the two
    [
      { repository: 'other.git', repositoryUrl: 'https://git.example.com/gitlab/org/app.git' },
      '/gitlab/org/app.git',
    ],
  ];
  for (const [query, path] of allowed) {
    it(`${JSON.stringify(query)} → ${path}`, function () {
      expect(target(query)).to.equal(path);
    });
  }

  const refused: [string, Record<string, string>, RegExp][] = [
    ['no repository at all', {}, /repository is required/],
    ['an empty repository', { repository: '/' }, /repository is required/],
    ['a dot-segment', { repository: 'org/../../admin' }, /repository.*dot-segment/],
    ['an encoded dot-segment', { repository: 'org/%2e%2e/admin' }, /dot-segment/],
    ['a double-encoded dot-segment', { repository: 'org/%252e%252e/admin' }, /dot-segment/],
    ['an @', { repository: 'org/x@evil.com' }, /'@'/],
    ['a backslash', { repository: 'org\\..\\x' }, /backslash/],
    ['an empty segment', { repository: 'org//app' }, /empty path segments/],
    [
      'another host',
      { repositoryUrl: 'https://evil.example.com/org/app.git' },
      /Connector's origin https:\/\/git\.example\.com, not https:\/\/evil\.example\.com/,
    ],
    [
      'a look-alike host',
      { repositoryUrl: 'https://git.example.com.evil.com/org/app.git' },
      /not https:\/\/git\.example\.com\.evil\.com/,
    ],
    [
      'another scheme',
      { repositoryUrl: 'http://git.example.com/org/app.git' },
      /not http:\/\/git\.example\.com/,
    ],
    [
      'another port',
      { repositoryUrl: 'https://git.example.com:8443/org/app.git' },
      /not https:\/\/git\.example\.com:8443/,
    ],
    ['user information', { repositoryUrl: 'https://bot:pw@git.example.com/org/app.git' }, /user information/],
    ['no path', { repositoryUrl: 'https://git.example.com/gitlab/' }, /no repository path/],
    [
      'a path outside the address path (/gitlab)',
      { repositoryUrl: 'https://git.example.com/team-b/secret.git' },
      /not under the Connector's address path \/gitlab/,
    ],
    [
      'the origin root',
      { repositoryUrl: 'https://git.example.com/' },
      /not under the Connector's address path \/gitlab/,
    ],
    [
      'a path whose first segment only starts with the address path',
      { repositoryUrl: 'https://git.example.com/gitlab-b/secret.git' },
      /not under the Connector's address path/,
    ],
    [
      'a dot-segment climbing out of the address path',
      { repositoryUrl: 'https://git.example.com/gitlab/../team-b/secret.git' },
      /not under the Connector's address path/,
    ],
    [
      'an encoded dot-segment climbing out of the address path',
      { repositoryUrl: 'https://git.example.com/gitlab/%2e%2e/team-b/secret.git' },
      /not under the Connector's address path/,
    ],
    ['a relative URL', { repositoryUrl: 'org/app.git' }, /absolute clone URL/],
    [
      'a double-encoded dot-segment in the URL',
      { repositoryUrl: 'https://git.example.com/gitlab/org/%252e%252e/x' },
      /dot-segment/,
    ],
  ];
  for (const [title, query, message] of refused) {
    it(`refuses ${title} (400)`, function () {
      const err = refusal(query);
      expect(err.status).to.include({ code: 400, reason: 'BadRequest' });
      expect(err.message).to.match(message);
      expect(err.message).to.not.include(':pw@');
    });
  }
});
