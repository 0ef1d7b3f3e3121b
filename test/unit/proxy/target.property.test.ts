// Property-based tests of target safety: for any address (origin and path prefix, prefixes that are
// prefixes of each other included), any caller sub-path built from tricky pieces (dot-segments in
// every encoding, encoded slashes, backslashes, '@', control characters, Unicode, empty segments),
// any query and any redirect Location (relative, absolute, protocol-relative, other ports and
// schemes, other prefixes, encoded tricks), what is sent stays inside the Connector's origin and
// path prefix — also as a tool that decodes any number of times, treats '\' as '/' and drops
// `;params` would read it — or nothing is sent at all. The verbs of methods are the "verbs"
// property tests' business (test/unit/apiserver), not repeated here.

import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { expect } from 'chai';
import fc from 'fast-check';
import { DispatcherCache } from '../../../proxy/dispatchers.js';
import { ProxyError } from '../../../proxy/errors.js';
import { forward } from '../../../proxy/forward.js';
import {
  checkQuery,
  isUnderPrefix,
  parseToolAddress,
  redirectTarget,
  targetWithin,
  toolPath,
  type ToolAddress,
} from '../../../proxy/target.js';

// --- a tool's most credulous reading of a path -------------------------------------------------

/** Percent-escapes decoded byte by byte, as often as any remain (servers rarely check UTF-8). */
function decodedFully(path: string): string {
  let current = path;
  for (let round = 0; round < 64; round++) {
    const next = current.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
    if (next === current) break;
    current = next;
  }
  return current;
}

/**
 * The segments a lenient tool ends up at: fully decoded, '\' as '/', `;params` dropped, empty and
 * '.' segments skipped, '..' climbing. Null when '..' would climb above the root.
 */
function toolSegments(pathname: string): string[] | null {
  const out: string[] = [];
  for (const piece of decodedFully(pathname).replace(/\\/g, '/').split('/')) {
    const segment = piece.replace(/;.*$/, '');
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return out;
}

/** The path part (before '?' or '#') of a path-and-query we would send. */
const pathOf = (pathAndQuery: string): string => pathAndQuery.split(/[?#]/, 1)[0] ?? '';

/** Everything the address admits, checked three ways; fails the property with a reason otherwise. */
function expectInside(address: ToolAddress, sent: string): void {
  // eslint-disable-next-line no-control-regex
  expect(sent, 'raw control characters or spaces are never sent').not.to.match(/[\u0000-\u0020\u007f]/);
  expect(sent.startsWith('/'), 'an origin-form target').to.equal(true);
  const url = new URL(sent, address.origin);
  expect(url.origin, 'the origin never changes').to.equal(address.origin);
  expect(isUnderPrefix(address.prefix, url.pathname), `WHATWG reads ${url.pathname}`).to.equal(true);
  const prefix = toolSegments(address.prefix) ?? [];
  const seen = toolSegments(pathOf(sent));
  expect(seen, `a lenient tool climbs above the root in ${sent}`).not.to.equal(null);
  expect(seen?.slice(0, prefix.length), `a lenient tool reads ${sent} outside the prefix`).to.deep.equal(
    prefix,
  );
}

/** Refused the way target.ts refuses: InvalidTarget, before anything is sent. */
function refusedAsInvalidTarget(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    expect(err).to.be.instanceOf(ProxyError);
    expect((err as ProxyError).code).to.equal('InvalidTarget');
    return true;
  }
}

// --- generators ----------------------------------------------------------------------------------

const schemes = ['http', 'https'] as const;
const hosts = ['tool', 'git.example.com', '127.0.0.1', '[::1]'];
const ports = ['', ':80', ':443', ':8080', ':5000'];
// Prefix segments that are prefixes of each other, and encoded ones.
const prefixSegments = ['team-a', 'team-ab', 'team', 'a', 'v2', 'x%20y', 'team-a.git', 'T'];

const addressString = fc
  .record({
    scheme: fc.constantFrom(...schemes),
    host: fc.constantFrom(...hosts),
    port: fc.constantFrom(...ports),
    prefix: fc.array(fc.constantFrom(...prefixSegments), { maxLength: 3 }),
    slash: fc.boolean(),
  })
  .map(({ scheme, host, port, prefix, slash }) => {
    const path = prefix.length === 0 ? '' : `/${prefix.join('/')}`;
    return `${scheme}://${host}${port}${path}${slash ? '/' : ''}`;
  });

const address = addressString.map((a) => parseToolAddress(a));

/** Pieces a path can be made of: the tricks, and ordinary text. */
const trick = fc.constantFrom(
  '.',
  '..',
  '%2e',
  '%2E',
  '.%2e',
  '%2e.',
  '%2e%2e',
  '%252e%252e',
  '%25252e%25252e',
  '..;x',
  '%2e%2e;jsessionid=1',
  '/',
  '//',
  '%2f',
  '%2F',
  '%252f',
  '\\',
  '%5c',
  '%255c',
  '@',
  '%40',
  '%00',
  '%0d%0a',
  '\r\n',
  '\t',
  '\u0000',
  '\u007f',
  '%7f',
  'ü',
  '%C3%BC',
  '%E9',
  '%25E9',
  '%',
  '%zz',
  '%25',
  ';',
  '?',
  '#',
  ' ',
  '~',
  ':',
  'http:',
  'evil.example.com',
  'team-a',
  'team-b',
  'team-ab',
  '\u2024',
);
const text = fc.string({ unit: 'binary', maxLength: 4 });
const piece = fc.oneof({ weight: 4, arbitrary: trick }, { weight: 1, arbitrary: text });

/** A caller's sub-path, raw as it arrives, split into segments as every caller of toolPath does. */
const subPath = fc
  .array(piece, { minLength: 0, maxLength: 6 })
  .map((pieces) => pieces.join(''))
  .map((raw) => raw.split('/'));

const query = fc.oneof(
  fc.constant(''),
  fc.string({ maxLength: 8 }),
  fc
    .array(fc.constantFrom('a=1', 'b=%2e%2e', 'c=/../x', 'd=%0d%0a', 'e=\r\n', 'f= ', 'g=#', 'h=?'), {
      maxLength: 3,
    })
    .map((qs) => qs.join('&')),
);

/** Where a tool may point a redirect, relative to the Connector's address. */
function location(a: ToolAddress): fc.Arbitrary<string> {
  const sameOrigin = new URL(a.origin);
  const otherOrigin = fc
    .record({
      scheme: fc.constantFrom(...schemes, 'ftp', 'javascript', 'file'),
      host: fc.constantFrom(...hosts, sameOrigin.hostname, 'evil.example.com'),
      port: fc.constantFrom(...ports, `:${Number(sameOrigin.port || 80) + 1}`),
      user: fc.constantFrom('', 'user:pw@', 'user@'),
    })
    .map(({ scheme, host, port, user }) => `${scheme}://${user}${host}${port}`);
  const path = fc.array(piece, { maxLength: 5 }).map((p) => p.join(''));
  const prefixOrOther = fc.constantFrom(a.prefix, '/team-a', '/team-ab', '/team-b', '', `${a.prefix}b`);
  return fc.oneof(
    path, // relative to the path that answered
    fc.tuple(prefixOrOther, path).map(([p, rest]) => `${p}/${rest}`), // absolute path
    fc.tuple(otherOrigin, prefixOrOther, path).map(([o, p, rest]) => `${o}${p}/${rest}`),
    fc.tuple(fc.constantFrom(a.origin), prefixOrOther, path).map(([o, p, rest]) => `${o}${p}/${rest}`),
    fc
      .tuple(
        fc.constantFrom('//', '/\\', '\\\\', '\\/', '///', ' //', '\t//'),
        fc.constantFrom(...hosts),
        path,
      )
      .map(([lead, h, rest]) => `${lead}${h}/${rest}`), // protocol-relative and its look-alikes
    fc.tuple(path, query).map(([p, q]) => `${a.prefix}/${p}?${q}`),
    fc.constantFrom('javascript:alert(1)', 'data:text/html,x', 'mailto:a@b', 'http://[::1', ''),
  );
}

const runs = { numRuns: 2_000 };

// --- properties ----------------------------------------------------------------------------------

describe('proxy/target properties: whatever is sent stays inside the Connector address', function () {
  this.timeout(60_000);

  it('toolPath: any sub-path is refused, or lands under the prefix on the same origin', function () {
    fc.assert(
      fc.property(address, subPath, (a, segments) => {
        let path = '';
        if (refusedAsInvalidTarget(() => (path = toolPath(a, segments)))) return;
        expectInside(a, path);
      }),
      runs,
    );
  });

  it('toolPath + checkQuery: an accepted query never changes the path or the origin', function () {
    fc.assert(
      fc.property(address, subPath, query, (a, segments, q) => {
        let path = '';
        if (refusedAsInvalidTarget(() => (path = toolPath(a, segments)))) return;
        if (
          refusedAsInvalidTarget(() => {
            checkQuery(q);
          })
        )
          return;
        const sent = q === '' ? path : `${path}?${q}`;
        expectInside(a, sent);
        expect(new URL(sent, a.origin).pathname).to.equal(new URL(path, a.origin).pathname);
      }),
      runs,
    );
  });

  it('toolPath accepts every plain sub-path, unchanged (the checks refuse only tricks)', function () {
    const plain = fc.array(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._~-]{0,8}$/), { maxLength: 5 });
    fc.assert(
      fc.property(address, plain, (a, segments) => {
        fc.pre(segments.every((s) => s !== '.' && s !== '..'));
        expect(toolPath(a, segments)).to.equal(`${a.prefix}/${segments.join('/')}`);
      }),
      runs,
    );
  });

  it('redirectTarget: a followed redirect lands inside the address; any other is not followed', function () {
    const from = fc.tuple(
      address,
      fc.array(fc.constantFrom('x', 'repo.git', 'info', 'v2'), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(
        from.chain(([a, segments]) => fc.tuple(fc.constant(a), fc.constant(segments), location(a))),
        ([a, segments, loc]) => {
          const answered = toolPath(a, segments);
          const decision = redirectTarget(a, answered, loc);
          let resolved: URL | undefined;
          try {
            resolved = new URL(loc, a.origin + answered);
          } catch {
            resolved = undefined;
          }
          if (!decision.inside) {
            // Says why in one of a few ways, and never repeats the Location (it may hold a token).
            if (resolved !== undefined && resolved.origin !== a.origin) {
              expect(decision.why).to.equal(`to another origin (${resolved.origin})`);
            } else {
              expect(decision.why).to.be.oneOf([
                'to a location that is not a URL',
                'to a URL with user information',
                'to a path that is not forwarded (dot-segments, empty segments or characters that are refused)',
                `outside the Connector's address path ${a.prefix}`,
              ]);
            }
            return;
          }
          expect(resolved?.origin).to.equal(a.origin);
          expectInside(a, decision.path);
          // A fixed point: what is followed is itself a target that would be followed as is.
          expect(redirectTarget(a, decision.path, decision.path)).to.deep.equal(decision);
        },
      ),
      runs,
    );
  });

  it('redirectTarget follows every plain redirect inside the address, to exactly that path', function () {
    const plain = fc.array(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._~-]{0,8}$/), { maxLength: 4 });
    fc.assert(
      fc.property(address, plain, plain, fc.boolean(), (a, fromSegments, toSegments, absolute) => {
        fc.pre([...fromSegments, ...toSegments].every((s) => s !== '.' && s !== '..'));
        const to = `${a.prefix}/${toSegments.join('/')}`;
        const decision = redirectTarget(a, toolPath(a, fromSegments), absolute ? a.origin + to : to);
        expect(decision).to.deep.equal({ inside: true, path: to });
      }),
      runs,
    );
  });

  it('a prefix never admits a sibling it is a string prefix of (/team-a vs /team-ab)', function () {
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixSegments),
        fc.constantFrom('b', '-b', '.git', 'x', '%2e'),
        fc.array(fc.constantFrom('x', 'y'), { maxLength: 2 }),
        (prefix, suffix, rest) => {
          const a: ToolAddress = { origin: 'http://tool', prefix: `/${prefix}` };
          const sibling = `/${prefix}${suffix}${rest.map((r) => `/${r}`).join('')}`;
          expect(redirectTarget(a, `/${prefix}/x`, sibling).inside).to.equal(false);
          expect(refusedAsInvalidTarget(() => targetWithin(a, new URL(sibling, a.origin)))).to.equal(true);
        },
      ),
      runs,
    );
  });

  it('targetWithin (repositoryUrl): any absolute URL is refused, or is inside the address', function () {
    fc.assert(
      fc.property(
        address.chain((a) => fc.tuple(fc.constant(a), location(a))),
        ([a, loc]) => {
          let url: URL;
          try {
            url = new URL(loc, `${a.origin}${a.prefix}/`);
          } catch {
            return;
          }
          let sent = '';
          if (refusedAsInvalidTarget(() => (sent = targetWithin(a, url)))) return;
          expectInside(a, sent);
        },
      ),
      runs,
    );
  });
});

// --- the same, end to end through forward() --------------------------------------------------------

/** A caller's response that only needs to be written and closed. */
function sink(): ServerResponse {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  res.write = (() => true) as ServerResponse['write'];
  res.end = (() => {
    res.emit('close');
    return res;
  }) as ServerResponse['end'];
  return res;
}

describe('proxy/forward property: a redirect chain never takes the credential out of the address', function () {
  this.timeout(120_000);
  let tool: Server;
  let elsewhere: Server;
  let toolOrigin: string;
  let elsewhereConnections = 0;
  /** Per request path on the tool: the Location it answers with. */
  let redirects = new Map<string, string>();
  const seen: { path: string; credential: boolean }[] = [];
  let pools: DispatcherCache;

  before(async function () {
    tool = createServer((req, res) => {
      seen.push({ path: req.url ?? '', credential: req.headers.authorization === 'Bearer c' });
      req.resume();
      const to = redirects.get(req.url ?? '');
      if (to === undefined) {
        res.writeHead(200).end('ok');
        return;
      }
      // Written raw: node:http would refuse some Locations a tool can send.
      res.socket?.end(
        `HTTP/1.1 302 Found\r\nLocation: ${to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    });
    elsewhere = createServer((req, res) => {
      elsewhereConnections++;
      res.writeHead(200).end();
    });
    await Promise.all([
      new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve)),
      new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve)),
    ]);
    toolOrigin = `http://127.0.0.1:${(tool.address() as AddressInfo).port}`;
    pools = new DispatcherCache({ connectMs: 2_000, headersMs: 2_000, bodyMs: 2_000 });
  });

  after(async function () {
    await pools.close();
    tool.closeAllConnections();
    elsewhere.closeAllConnections();
    await Promise.all([
      new Promise((resolve) => tool.close(resolve)),
      new Promise((resolve) => elsewhere.close(resolve)),
    ]);
  });

  it('every request the tool receives with the credential is inside the address', async function () {
    const elsewhereOrigin = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    const hop = fc.oneof(
      fc.array(piece, { maxLength: 4 }).map((p) => p.join('')),
      fc
        .tuple(
          fc.constantFrom('/team-a', '/team-ab', '/team-b', '', '//127.0.0.1', elsewhereOrigin),
          fc.array(piece, { maxLength: 3 }),
        )
        .map(([p, rest]) => `${p}/${rest.join('')}`),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/team-a', '/team-a/sub', ''),
        fc.array(hop, { minLength: 1, maxLength: 4 }),
        async (prefix, hops) => {
          // Each hop's Location, with CR/LF taken out: they would end the header line.
          const locations = hops.map((h) => h.replace(/[\r\n]/g, ''));
          redirects = new Map();
          const start = `${prefix}/start-${Math.random().toString(36).slice(2)}`;
          // The chain: start → hop 1 → …; a later hop is answered wherever the earlier one led.
          const a: ToolAddress = { origin: toolOrigin, prefix };
          let from = start;
          for (const loc of locations) {
            const next = redirectTarget(a, from, loc);
            redirects.set(from, loc);
            if (!next.inside) break;
            from = next.path;
          }
          const before = seen.length;
          const connectionsBefore = elsewhereConnections;
          const request = {
            method: 'GET',
            origin: toolOrigin,
            prefix,
            path: start,
            headers: {},
            body: null,
            injector: {
              inject: (h: Record<string, string | string[]>) => void (h.authorization = 'Bearer c'),
            },
          };
          try {
            await forward(pools, request, sink());
          } catch (err) {
            expect(err).to.be.instanceOf(ProxyError);
            expect((err as ProxyError).code).to.be.oneOf([
              'UpstreamRedirect',
              'UpstreamUnreachable',
              'UpstreamBroken',
            ]);
          }
          for (const s of seen.slice(before)) {
            expect(s.credential).to.equal(true);
            expectInside(a, s.path);
          }
          expect(elsewhereConnections).to.equal(connectionsBefore);
        },
      ),
      { numRuns: 150 },
    );
  });
});
