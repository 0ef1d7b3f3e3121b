// The ref advertisement parser against bytes captured from git-http-backend 2.39 (a repository
// with two branches, a lightweight and an annotated tag; and an empty repository), plus the
// variants other servers send, fed whole and in every possible split.
import { expect } from 'chai';
import {
  commitOf,
  GitProtocolError,
  parseRefAdvertisement,
  RefAdvertisementParser,
  type Ref,
} from '../../../classapi/git/refs.js';

// `git ls-remote` of the same repository:
//   affe77c0…  refs/heads/feature/x      2b2b667c…  refs/heads/main
//   33016281…  refs/tags/v1.0            48295475…  refs/tags/v2.0     2b2b667c…  refs/tags/v2.0^{}
const captured =
  '001e# service=git-upload-pack\n000000ffaffe77c0b3144d3e9b5eb4dcc37e86027fcc6145 refs/heads/feature/x\u0000multi_ack thin-pack side-band side-band-64k ofs-delta shallow deepen-since deepen-not deepen-relative no-progress include-tag multi_ack_detailed no-done object-format=sha1 agent=git/2.39.5\n003d2b2b667cd9aedf29ba5d8bc3b2745134baf1540b refs/heads/main\n003c3301628178d869a72046d57e70e4f2e19140f6ce refs/tags/v1.0\n003c48295475890abc58b233fa8e4aa263c33205d533 refs/tags/v2.0\n003f2b2b667cd9aedf29ba5d8bc3b2745134baf1540b refs/tags/v2.0^{}\n0000';
const capturedEmpty = '001e# service=git-upload-pack\n00000000';

const expected: Ref[] = [
  { name: 'refs/heads/feature/x', oid: 'affe77c0b3144d3e9b5eb4dcc37e86027fcc6145' },
  { name: 'refs/heads/main', oid: '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b' },
  { name: 'refs/tags/v1.0', oid: '3301628178d869a72046d57e70e4f2e19140f6ce' },
  {
    name: 'refs/tags/v2.0',
    oid: '48295475890abc58b233fa8e4aa263c33205d533',
    peeled: '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b',
  },
];

/** One pkt-line: 4 hex digits of total length, then the payload. */
function pkt(payload: string): string {
  return (Buffer.byteLength(payload) + 4).toString(16).padStart(4, '0') + payload;
}

const zero = '0'.repeat(40);
const caps = 'multi_ack side-band-64k ofs-delta agent=git/github-g1';

describe('classapi/git/refs parseRefAdvertisement', function () {
  it('reads branches, tags and the peeled commit of an annotated tag from real bytes', function () {
    const refs = parseRefAdvertisement(Buffer.from(captured, 'latin1'));
    expect(refs).to.deep.equal(expected);
    expect(refs.map(commitOf)).to.deep.equal([
      'affe77c0b3144d3e9b5eb4dcc37e86027fcc6145',
      '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b',
      '3301628178d869a72046d57e70e4f2e19140f6ce',
      '2b2b667cd9aedf29ba5d8bc3b2745134baf1540b', // v2.0: the commit, not the tag object
    ]);
  });

  it('keeps the capabilities of the first line out of the ref name', function () {
    const parser = new RefAdvertisementParser();
    parser.push(Buffer.from(captured, 'latin1'));
    expect(parser.end()[0]?.name).to.equal('refs/heads/feature/x');
    expect(parser.capabilities).to.include('object-format=sha1');
  });

  it('gives the same answer however the bytes are split into chunks', function () {
    const bytes = Buffer.from(captured, 'latin1');
    for (let cut = 1; cut < bytes.length; cut++) {
      const parser = new RefAdvertisementParser();
      parser.push(bytes.subarray(0, cut));
      parser.push(bytes.subarray(cut));
      expect(parser.end(), `split at ${cut}`).to.deep.equal(expected);
    }
    const oneByOne = new RefAdvertisementParser();
    for (const b of bytes) oneByOne.push(Buffer.from([b]));
    expect(oneByOne.end()).to.deep.equal(expected);
  });

  it('keeps only the refs asked for (a peeled line of a skipped tag is skipped too)', function () {
    const refs = parseRefAdvertisement(Buffer.from(captured, 'latin1'), (n) => n.startsWith('refs/heads/'));
    expect(refs.map((r) => r.name)).to.deep.equal(['refs/heads/feature/x', 'refs/heads/main']);
  });

  const empty: { title: string; body: string }[] = [
    { title: 'git-http-backend (flush only)', body: capturedEmpty },
    {
      title: 'a server that advertises capabilities^{}',
      body: pkt('# service=git-upload-pack\n') + '0000' + pkt(`${zero} capabilities^{}\0${caps}\n`) + '0000',
    },
    { title: 'no service line at all', body: '0000' },
  ];
  for (const c of empty) {
    it(`an empty repository has no refs: ${c.title}`, function () {
      expect(parseRefAdvertisement(Buffer.from(c.body, 'latin1'))).to.deep.equal([]);
    });
  }

  it('accepts an advertisement without the service line, and a "version 1" line', function () {
    const body =
      pkt('version 1\n') +
      pkt(`${'a'.repeat(40)} refs/heads/main\0${caps}\n`) +
      pkt(`${'b'.repeat(40)} refs/tags/v1\n`) +
      '0000';
    expect(parseRefAdvertisement(Buffer.from(body))).to.deep.equal([
      { name: 'refs/heads/main', oid: 'a'.repeat(40) },
      { name: 'refs/tags/v1', oid: 'b'.repeat(40) },
    ]);
  });

  it('accepts SHA-256 object ids and lines without a trailing LF', function () {
    const body =
      pkt('# service=git-upload-pack\n') +
      '0000' +
      pkt(`${'c'.repeat(64)} refs/heads/main\0${caps}`) +
      '0000';
    expect(parseRefAdvertisement(Buffer.from(body))).to.deep.equal([
      { name: 'refs/heads/main', oid: 'c'.repeat(64) },
    ]);
  });

  it('ignores whatever follows the final flush packet', function () {
    const refs = parseRefAdvertisement(Buffer.from(`${captured}garbage that is not a pkt-line`, 'latin1'));
    expect(refs).to.deep.equal(expected);
  });

  const broken: { title: string; body: string; message: RegExp; fromServer?: boolean }[] = [
    { title: 'an empty body', body: '', message: /empty/ },
    { title: 'a cut-off advertisement', body: captured.slice(0, 200), message: /ended before/ },
    { title: 'no final flush', body: captured.slice(0, -4), message: /ended before/ },
    {
      title: 'an HTML page (dumb server, login page)',
      body: '<html><body>Sign in</body></html>',
      message: /pkt-line/,
    },
    { title: 'a length below 4', body: '0003', message: /length 3/ },
    {
      title: 'an ERR packet from the server',
      body: pkt('ERR access denied or repository not exported: /x.git\n'),
      message: /access denied/,
      fromServer: true,
    },
    { title: 'protocol v2', body: pkt('version 2\n') + pkt('agent=git/2\n') + '0000', message: /version 2/ },
    { title: 'a malformed ref line', body: pkt('xyz refs/heads/main\n') + '0000', message: /malformed/ },
  ];
  for (const c of broken) {
    it(`refuses ${c.title}`, function () {
      let caught: unknown;
      try {
        parseRefAdvertisement(Buffer.from(c.body, 'latin1'));
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(GitProtocolError);
      expect((caught as GitProtocolError).message).to.match(c.message);
      expect((caught as GitProtocolError).fromServer).to.equal(c.fromServer ?? false);
    });
  }
});
