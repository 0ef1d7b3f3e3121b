// The target is the only thing between a caller's path and the tool's origin: every encoding of a
// dot-segment, a backslash, userinfo or a control character must be refused, and everything else
// must reach the tool exactly as the caller wrote it.
import { expect } from 'chai';
import { ProxyError } from '../../../proxy/errors.js';
import { checkQuery, parseToolAddress, toolPath, type ToolAddress } from '../../../proxy/target.js';

function invalidTarget(fn: () => unknown): ProxyError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ProxyError);
    expect((err as ProxyError).code).to.equal('InvalidTarget');
    return err as ProxyError;
  }
  expect.fail('expected an InvalidTarget ProxyError');
}

describe('proxy/target parseToolAddress', () => {
  const accepted: { address: string; origin: string; prefix: string }[] = [
    { address: 'https://gitlab.example.com', origin: 'https://gitlab.example.com', prefix: '' },
    { address: 'https://gitlab.example.com/', origin: 'https://gitlab.example.com', prefix: '' },
    { address: 'https://example.com/gitlab', origin: 'https://example.com', prefix: '/gitlab' },
    { address: 'https://example.com/gitlab/', origin: 'https://example.com', prefix: '/gitlab' },
    { address: 'https://example.com/a/b//', origin: 'https://example.com', prefix: '/a/b' },
    { address: 'http://10.0.0.1:8080/api', origin: 'http://10.0.0.1:8080', prefix: '/api' },
    { address: 'HTTPS://Example.COM:443/x', origin: 'https://example.com', prefix: '/x' },
    { address: 'http://[::1]:5000/', origin: 'http://[::1]:5000', prefix: '' },
  ];
  for (const c of accepted) {
    it(`parses ${c.address}`, () => {
      expect(parseToolAddress(c.address)).to.deep.equal({ origin: c.origin, prefix: c.prefix });
    });
  }

  const refused = [
    'gitlab.example.com',
    '/relative/path',
    '',
    'ftp://files.example.com/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'ws://example.com/',
  ];
  for (const address of refused) {
    it(`refuses ${JSON.stringify(address)}`, () => {
      invalidTarget(() => parseToolAddress(address));
    });
  }

  for (const address of [
    'https://root:s3cr3t-pw@gitlab.example.com/',
    'https://:s3cr3t-pw@gitlab.example.com/',
    'http://s3cr3t-pw@gitlab.example.com/api',
  ]) {
    it(`refuses userinfo in ${address} without echoing it`, () => {
      const err = invalidTarget(() => parseToolAddress(address));
      expect(err.message).to.not.include('s3cr3t-pw');
      expect(err.message).to.match(/user information/);
    });
  }
});

describe('proxy/target toolPath', () => {
  const root: ToolAddress = { origin: 'https://gitlab.example.com', prefix: '' };
  const prefixed: ToolAddress = { origin: 'https://example.com', prefix: '/gitlab' };

  const allowed: { segments: string[]; root: string; prefixed: string }[] = [
    { segments: ['a'], root: '/a', prefixed: '/gitlab/a' },
    { segments: ['api', 'v4', 'projects'], root: '/api/v4/projects', prefixed: '/gitlab/api/v4/projects' },
    {
      segments: ['projects', 'group%2Fproject'],
      root: '/projects/group%2Fproject',
      prefixed: '/gitlab/projects/group%2Fproject',
    },
    { segments: ['b%2Fc'], root: '/b%2Fc', prefixed: '/gitlab/b%2Fc' },
    { segments: ['v1.2'], root: '/v1.2', prefixed: '/gitlab/v1.2' },
    { segments: ['x..y'], root: '/x..y', prefixed: '/gitlab/x..y' },
    { segments: ['...'], root: '/...', prefixed: '/gitlab/...' },
    { segments: ['.well-known'], root: '/.well-known', prefixed: '/gitlab/.well-known' },
    { segments: ['a', ''], root: '/a/', prefixed: '/gitlab/a/' },
    { segments: ['a%20b'], root: '/a%20b', prefixed: '/gitlab/a%20b' },
    { segments: ['100%25'], root: '/100%25', prefixed: '/gitlab/100%25' },
    { segments: ['~user', 'repo;v=1'], root: '/~user/repo;v=1', prefixed: '/gitlab/~user/repo;v=1' },
    { segments: [], root: '/', prefixed: '/gitlab/' },
    // Raw UTF-8 as Node hands it over (latin1); undici sends the same bytes back out.
    { segments: ['caf\u00c3\u00a9'], root: '/caf\u00c3\u00a9', prefixed: '/gitlab/caf\u00c3\u00a9' },
  ];
  for (const c of allowed) {
    it(`forwards ${JSON.stringify(c.segments)} verbatim after the prefix`, () => {
      expect(toolPath(root, c.segments)).to.equal(c.root);
      expect(toolPath(prefixed, c.segments)).to.equal(c.prefixed);
    });
  }

  const refused: { title: string; segments: string[] }[] = [
    { title: "'..'", segments: ['..', 'admin'] },
    { title: "'..' after a valid segment", segments: ['api', '..', '..', 'admin'] },
    { title: "'.'", segments: ['.'] },
    { title: "'%2e%2e'", segments: ['%2e%2e', 'admin'] },
    { title: "'%2E%2e'", segments: ['%2E%2e', 'admin'] },
    { title: "'.%2e'", segments: ['.%2e'] },
    { title: "'%2e'", segments: ['%2e'] },
    { title: "double-encoded '%252e%252e'", segments: ['%252e%252e', 'admin'] },
    { title: "double-encoded '%252E%252E'", segments: ['%252E%252E'] },
    { title: "'..%2f..' (an encoded slash hiding dot-segments)", segments: ['..%2f..', 'admin'] },
    { title: "'a%2f..' (a dot-segment after an encoded slash)", segments: ['a%2f..'] },
    { title: "'..;' (servlet path parameter)", segments: ['..;', 'admin'] },
    { title: "'..;jsessionid=x'", segments: ['..;jsessionid=x'] },
    { title: "'%2e%2e%5c' (dots and an encoded backslash)", segments: ['%2e%2e%5c', 'admin'] },
    { title: 'a raw backslash', segments: ['..\\admin'] },
    { title: "'%5c'", segments: ['a%5cb'] },
    { title: "'%255c' (double-encoded backslash)", segments: ['a%255cb'] },
    { title: "'@'", segments: ['@evil.example.com'] },
    { title: "'%40'", segments: ['%40evil.example.com'] },
    { title: "CR/LF '%0d%0a'", segments: ['x%0d%0aHost:%20evil'] },
    { title: 'a raw LF', segments: ['x\ny'] },
    { title: "NUL '%00'", segments: ['a%00b'] },
    { title: "DEL '%7f'", segments: ['a%7fb'] },
    { title: "a tab '%09'", segments: ['a%09b'] },
    { title: "empty middle segments ('//')", segments: ['a', '', 'b'] },
    { title: 'a leading empty segment', segments: ['', 'evil.example.com'] },
    { title: 'malformed percent-encoding', segments: ['%zz'] },
    { title: 'a lone percent sign', segments: ['%'] },
    // Found by target.property.test.ts: a later decoding round that met bytes decodeURIComponent
    // refuses (an invalid UTF-8 escape, a lone '%') stopped checking, yet a tool decoding again
    // byte by byte reads a dot-segment.
    { title: "'%255c..;x%25E9' (backslash, dots, a stray byte)", segments: ['%255c..;x%25E9'] },
    { title: "'%25252e%25252e;%25' (triple-encoded dots, a lone '%')", segments: ['%25252e%25252e;%25'] },
    { title: "'%252e%252e%252f%25E9'", segments: ['a', '%252e%252e%252f%25E9'] },
    { title: 'percent-encoding nested nine times over', segments: [`%25${'25'.repeat(8)}2e`] },
    // A raw '?' or '#' ends the path at the tool, hiding the rest of the segment from the checks.
    { title: "a raw '?' after double-encoded dots", segments: ['%252e%252e?'] },
    { title: "a raw '#'", segments: ['a#b'] },
    // Not percent-encoded: undici would refuse to send it (a 503 "cannot be reached").
    { title: 'a raw space', segments: ['a b'] },
    { title: 'a raw character beyond U+00FF', segments: ['a…'] },
  ];
  for (const c of refused) {
    it(`refuses ${c.title}`, () => {
      invalidTarget(() => toolPath(prefixed, c.segments));
    });
  }
});

describe('proxy/target checkQuery', () => {
  for (const query of ['', 'a=1&b=2', 'search=a%20b', 'x=%0d%0a', 'q=caf%C3%A9', 'per_page=100&page=2']) {
    it(`accepts ${JSON.stringify(query)}`, () => {
      expect(() => {
        checkQuery(query);
      }).to.not.throw();
    });
  }
  for (const query of ['a=b c', 'a=1\r\nHost: evil', 'a=\n', 'a=\u0000', 'a=\t', 'a=\u007f']) {
    it(`refuses ${JSON.stringify(query)}`, () => {
      invalidTarget(() => {
        checkQuery(query);
      });
    });
  }
});

// Pending until target.ts stops echoing the address in its other two errors (reported as a bug).
describe('proxy/target parseToolAddress: known leaks', () => {
  for (const address of ['ftp://root:s3cr3t-pw@files.example.com/', 'https://root:s3cr3t-pw@bad host/']) {
    it(`does not echo the password of ${address}`, () => {
      const err = invalidTarget(() => parseToolAddress(address));
      expect(err.message).to.not.include('s3cr3t-pw');
    });
  }
});
