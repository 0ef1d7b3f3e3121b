// A corpus of hostile requests, written as raw bytes (no client library to normalise a path,
// merge headers or repair framing), against every surface that forwards to a tool: our /proxy
// (directly, as the front proxy and with a token, and through kube-apiserver), a class API
// (a proxy operation and a class API backend operation), and the Connectors Proxy (reverse mode by
// path and by Host, forward mode, and inside an intercepted CONNECT).
//
// Every request is refused with a 4xx, or, where refusing is not the right answer, the safe
// outcome is asserted exactly and explained. And after each one: the sentinels (servers where
// the tricks try to go) saw nothing, the recorder behind the surface saw exactly the requests the
// outcome allows (so a smuggled second request would show), and over the whole run the tools never
// saw a path outside the Connector's address prefix `/base`.

import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { expect } from 'chai';
import type { RecordedRequest } from '../../../hack/tools/echo-tool.js';
import {
  startHostileSystem,
  surfaceNames,
  type HostileSystem,
  type Surface,
  type SurfaceName,
} from './surfaces.js';
import { gvPath } from '../../helpers/env.js';
import { servedMethods, unservedMethods } from '../../helpers/methods.js';
import { exchange, type WireAnswer } from './wire.js';

/** What a hostile request must come to. */
interface Outcome {
  /** The status of every response read from the connection, in order ([] = closed unanswered). */
  statuses: number[];
  /** When our code answers: the first response is a metav1.Status whose message matches. */
  message?: RegExp;
  /** When kube-apiserver answers for itself: its plain-text body matches. */
  body?: RegExp;
  /** The paths the surface's recorder received. */
  seen: string[];
  /** Further checks of what the recorder received. */
  check?: (requests: RecordedRequest[]) => void;
}

/** Refused by an HTTP parser (Node's or Go's) before any code of ours ran. */
const byParser = (code: number): Outcome => ({ statuses: [code], seen: [] });
/** Refused by our code with a Status. */
const byUs = (code: number, message: RegExp): Outcome => ({ statuses: [code], message, seen: [] });

interface Request {
  method?: string;
  target: string;
  host?: string;
  auth?: string;
  /** Further header lines, each ending in CRLF. */
  lines?: string;
  body?: string;
  /** Ask the server to close after answering (default). */
  close?: boolean;
}

/** One request as raw text (latin1: every char is one byte). */
function raw(s: Surface, r: Request): string {
  return (
    `${r.method ?? 'GET'} ${r.target} HTTP/1.1\r\nHost: ${r.host ?? s.host}\r\n${r.auth ?? s.auth}` +
    `${r.lines ?? ''}${(r.close ?? true) ? 'Connection: close\r\n' : ''}\r\n${r.body ?? ''}`
  );
}

interface Case {
  name: string;
  /** The surfaces it is sent to (default: all but the class API backend one). */
  on?: (name: SurfaceName) => boolean;
  bytes: (s: Surface, sys: HostileSystem) => string;
  /** The outcome, or the outcomes one of which must hold (where timing decides between them). */
  outcome: (s: Surface, sys: HostileSystem) => Outcome | Outcome[];
}

function parseStatus(body: string): { kind: string; code: number; message: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`expected a metav1.Status, got: ${body.slice(0, 300)}`);
  }
  return parsed as { kind: string; code: number; message: string };
}

function expectOutcome(answer: WireAnswer, outcome: Outcome, seen: RecordedRequest[]): void {
  const what = `answer: ${answer.text.slice(0, 600)}`;
  expect(
    answer.responses.map((r) => r.status),
    what,
  ).to.deep.equal(outcome.statuses);
  if (outcome.message) {
    const status = parseStatus(answer.responses[0]?.body ?? '');
    expect(status.kind, what).to.equal('Status');
    expect(status.code, what).to.equal(outcome.statuses[0]);
    expect(status.message, what).to.match(outcome.message);
  }
  if (outcome.body) expect(answer.responses[0]?.body, what).to.match(outcome.body);
  // In any order: a server may forward pipelined requests concurrently.
  expect(seen.map((q) => q.url).sort(), 'what the recorder received').to.deep.equal([...outcome.seen].sort());
  outcome.check?.(seen);
}

/** Passes when one of `outcomes` holds; otherwise fails with what the first one expected. */
function expectOneOf(answer: WireAnswer, outcomes: Outcome | Outcome[], seen: RecordedRequest[]): void {
  const [first, ...others] = Array.isArray(outcomes) ? outcomes : [outcomes];
  if (!first) throw new Error('a case must expect at least one outcome');
  for (const o of others) {
    try {
      expectOutcome(answer, o, seen);
      return;
    } catch {
      // try the next one; the first one's failure is the one reported
    }
  }
  expectOutcome(answer, first, seen);
}

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('hostile requests: raw bytes against every surface that reaches a tool', function () {
  this.timeout(120_000);
  let sys: HostileSystem;

  before(async function () {
    this.timeout(180_000);
    sys = await startHostileSystem();
  });

  after(async function () {
    await sys.stop();
  });

  /** Sends `c` on surface `name` and checks its outcome and that nothing went anywhere else. */
  function run(name: SurfaceName, c: Case): void {
    it(`${c.name} — ${name}`, async function () {
      const s = sys.surfaces[name];
      const before = sys.recorders.map((r) => r.requests.length);
      const answer = await exchange(s.endpoint, c.bytes(s, sys));
      sys.recorders.forEach((r, i) => {
        const received = r.requests.slice(before[i]);
        if (r === s.recorder) expectOneOf(answer, c.outcome(s, sys), received);
        else expect(received, 'a server behind another surface was reached').to.deep.equal([]);
      });
      for (const sentinel of sys.sentinels)
        expect(sentinel.requests, 'a sentinel was reached').to.deep.equal([]);
    });
  }

  function corpus(title: string, cases: Case[]): void {
    describe(title, function () {
      for (const c of cases) {
        for (const name of surfaceNames) {
          if (c.on ? c.on(name) : name !== 'class API backend operation as the front proxy') run(name, c);
        }
      }
    });
  }

  // --- the request target's path ---------------------------------------------------------------

  /** `SENTINEL` stands for the 127.0.0.2 sentinel's host:port. */
  const pathTricks: { name: string; rest: string }[] = [
    { name: '../', rest: '../x' },
    { name: '.. deeper than the prefix', rest: 'a/../../../x' },
    { name: '%2e%2e/', rest: '%2e%2e/x' },
    { name: '%2E%2E%2F (upper case, the slash encoded too)', rest: '%2E%2E%2Fx' },
    { name: '..%2f', rest: '..%2fx' },
    { name: '%252e%252e (double encoding)', rest: '%252e%252e/x' },
    { name: '%25252e%25252e (triple encoding)', rest: '%25252e%25252e/x' },
    { name: '..\\ (raw backslash)', rest: '..\\x' },
    { name: '..%5c', rest: '..%5cx' },
    { name: 'overlong UTF-8 %c0%ae%c0%ae', rest: '%c0%ae%c0%ae/x' },
    { name: 'overlong UTF-8 as raw bytes', rest: '\xc0\xae\xc0\xae/x' },
    { name: '.%00.', rest: '.%00./x' },
    { name: 'mixed %2e. and .%2E', rest: '%2e./.%2E/x' },
    { name: 'mixed encodings ending in an encoded slash', rest: '%2e%2E%252e/..%2F' },
    { name: '..; (a servlet path parameter)', rest: '..;/x' },
    { name: '@host', rest: '@SENTINEL/' },
    { name: '//host:port', rest: '/SENTINEL/' },
    { name: '\\\\host (raw backslashes)', rest: '\\\\SENTINEL/' },
    { name: '%5c%5chost', rest: '%5c%5cSENTINEL/' },
    { name: '%0d%0a (CRLF) and a header', rest: 'a%0d%0aX-Injected:%20yes' },
    { name: 'invalid UTF-8 %ff', rest: 'a%ff' },
    { name: 'invalid UTF-8 as a raw byte', rest: 'a\xff' },
    { name: 'a raw NUL byte', rest: 'a\x00b' },
  ];

  /**
   * How many segments our server sees in `rest`: kube-apiserver decodes the path and escapes it
   * again, so an encoded slash becomes a separator on its way to us (raw bytes get escaped).
   */
  const segmentsSeen = (s: Surface, rest: string): number =>
    (s.group === 'kube' ? rest.replace(/%2f/gi, '/') : rest).split('/').length;

  function pathOutcome(s: Surface, rest: string): Outcome {
    // Node's parser refuses raw bytes outside ASCII and NUL in a request target; Go's refuses NUL
    // but escapes the rest and forwards it, so we see (and refuse) those through kube-apiserver.
    if (rest.includes('\x00')) return byParser(400);
    if (/[\x80-\xff]/.test(rest) && s.group !== 'kube') return byParser(400);
    // A class API matches the path against the operations its class declares: a trick spanning
    // more than one segment is simply a path no operation has.
    if (s.declared && segmentsSeen(s, rest) !== 1) return byUs(404, /declares no API at /);
    return byUs(400, /path segment|empty path segments/);
  }

  corpus('path traversal, host tricks and control characters in the path', [
    {
      name: 'control: an honest sub-path reaches the Connector, with its credential',
      on: () => true,
      bytes: (s) => raw(s, { target: s.target('ok') }),
      outcome: (s, sys) => ({
        statuses: [200],
        seen: [s.seen('ok')],
        check: ([q]) => {
          // The class API backend injects the credential itself; it gets the Secret instead.
          if (s.recorder === sys.backend) expect(q?.headers['x-plugin-secret']).to.be.a('string');
          else expect(q?.headers.authorization).to.equal(basic(sys.toolUser, sys.toolPassword));
        },
      }),
    },
    ...pathTricks.map((t): Case => ({
      name: `path: ${t.name}`,
      on: () => true,
      bytes: (s, sys) => raw(s, { target: s.target(t.rest.replace('SENTINEL', sys.sentinel)) }),
      outcome: (s) => pathOutcome(s, t.rest),
    })),
  ]);

  // --- header size and count ------------------------------------------------------------------

  /**
   * Past the 16 KiB head limit Node answers 431 and closes at once, with the rest of the head
   * unread (so the close is a reset) and a canned 431 whose end is the close. kube-apiserver (1 MiB
   * limit) passes the head on to us, and timing decides what it makes of that: it relays the 431;
   * or it was still writing the head (a 503); or it was reading the 431 up to the close and got
   * the reset (it drops the caller's connection unanswered). Nothing is sent on in any case.
   */
  const headTooLarge = (s: Surface): Outcome | Outcome[] =>
    s.group === 'kube'
      ? [
          byParser(431),
          {
            statuses: [503],
            body: /^error trying to reach service: .*(broken pipe|connection reset)/,
            seen: [],
          },
          { statuses: [], seen: [] },
        ]
      : byParser(431);

  corpus('oversized and numerous headers', [
    {
      name: 'a 100 KiB header',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: `X-Big: ${'a'.repeat(100 * 1024)}\r\n` }),
      outcome: headTooLarge,
    },
    {
      name: 'too many headers: 3,000 lines, past the head size limit',
      bytes: (s) =>
        raw(s, {
          target: s.target('ok'),
          lines: Array.from({ length: 3000 }, (_, i) => `X-N-${i}: 1\r\n`).join(''),
        }),
      outcome: headTooLarge,
    },
    {
      // Not refused: a long head within the size limit is a valid request. What matters is that
      // no line is dropped: Node keeps only 2,000 by default, and the credential comes last here.
      name: '2,500 short header lines within the size limit, the credential last, are all kept',
      bytes: (s) => raw(s, { target: s.target('ok'), auth: `${'A: 1\r\n'.repeat(2500)}${s.auth}` }),
      outcome: (s, sys) => ({
        statuses: [200],
        seen: [s.seen('ok')],
        check: ([q]) => {
          expect(q?.headers.authorization).to.equal(basic(sys.toolUser, sys.toolPassword));
        },
      }),
    },
  ]);

  // --- Host -----------------------------------------------------------------------------------

  /** Where Host is not read: the tool gets the Host undici sets for the tool's origin. */
  const hostIgnored = (s: Surface, sys: HostileSystem): Outcome => ({
    statuses: [200],
    seen: [s.seen('ok')],
    check: ([q]) => {
      expect(q?.headers.host).to.equal(`127.0.0.1:${sys.tool.port}`);
    },
  });

  corpus('duplicated and malformed Host', [
    ...[true, false].map((sentinelFirst): Case => ({
      name: `two Host headers, ${sentinelFirst ? 'the sentinel' : 'the expected one'} first`,
      bytes: (s, sys) => {
        const hosts = sentinelFirst ? [sys.sentinel, s.host] : [s.host, sys.sentinel];
        return raw(s, { target: s.target('ok'), host: hosts.join('\r\nHost: ') });
      },
      outcome: (s, sys) => {
        // kube-apiserver (Go) refuses a second Host as RFC 9112 requires; so does the Connectors
        // Proxy, which routes by Host. The aggregated server does not read Host at all.
        if (s.group === 'kube') return byParser(400);
        if (s.group === 'proxy') return byUs(400, /one Host header, not several/);
        return hostIgnored(s, sys);
      },
    })),
    {
      name: 'invalid UTF-8 in Host',
      bytes: (s) => raw(s, { target: s.target('ok'), host: `${s.host}\xff` }),
      outcome: (s, sys) => {
        if (s.group === 'kube') return byParser(400);
        // Only reverse mode by Host reads it: it names no Connector then.
        if (s.name === 'Connectors Proxy reverse mode by Host') return byUs(404, /names no Connector/);
        if (s.group === 'aggregated') return hostIgnored(s, sys);
        // Path, absolute-form target or tunnel decide where the other proxy modes go.
        return { statuses: [200], seen: [s.seen('ok')] };
      },
    },
  ]);

  // --- request smuggling ------------------------------------------------------------------------

  /**
   * The request hidden in a body. Through kube-apiserver it targets the hop to us: it claims an
   * identity in X-Remote-* (honoured only on kube-apiserver's own connection to us) and carries no
   * token, so it can only reach the tool if kube-apiserver and we split the stream differently.
   * Elsewhere it carries the caller's credential, so it would reach the tool if split off at all.
   */
  const smuggled = (s: Surface): string =>
    raw(s, {
      target: s.target('smuggled'),
      auth: s.group === 'kube' ? 'X-Remote-User: alice\r\nX-Remote-Group: system:masters\r\n' : s.auth,
    });

  /** kube-apiserver re-frames: it takes Transfer-Encoding over Content-Length (RFC 9112 §6.3). */
  const reframedByKube = (s: Surface, bodyBytes: number, moreStatuses: number[] = []): Outcome => ({
    statuses: [200, ...moreStatuses],
    seen: [s.seen('ok')],
    check: ([q]) => {
      expect(q?.bodyBytes).to.equal(bodyBytes);
    },
  });
  /** What kube-apiserver answers to the hidden request when it reads it as its own next request. */
  const anonymousRefused = 403;

  corpus('Content-Length and Transfer-Encoding: smuggling shapes', [
    {
      name: 'control: an honest chunked body, then a second request on the connection, is answered twice',
      bytes: (s) =>
        raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: 'Transfer-Encoding: chunked\r\n',
          body: `0\r\n\r\n${raw(s, { target: s.target('second') })}`,
          close: false,
        }),
      outcome: (s) => ({ statuses: [200, 200], seen: [s.seen('ok'), s.seen('second')] }),
    },
    {
      name: 'Content-Length twice, same value',
      bytes: (s) =>
        raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: 'Content-Length: 5\r\nContent-Length: 5\r\n',
          body: 'hello',
        }),
      // Go accepts identical repeats (RFC 9110 §8.6 allows it) and sends one Content-Length on.
      outcome: (s) => (s.group === 'kube' ? reframedByKube(s, 5) : byParser(400)),
    },
    {
      name: 'Content-Length twice, conflicting',
      bytes: (s) =>
        raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: 'Content-Length: 5\r\nContent-Length: 6\r\n',
          body: 'hello!',
        }),
      outcome: () => byParser(400),
    },
    {
      name: 'Content-Length as a list',
      bytes: (s) =>
        raw(s, { method: 'POST', target: s.target('ok'), lines: 'Content-Length: 5, 5\r\n', body: 'hello' }),
      outcome: () => byParser(400),
    },
    {
      name: 'CL.TE: Content-Length covers the hidden request, chunked ends before it',
      bytes: (s) => {
        const body = `0\r\n\r\n${smuggled(s)}`;
        return raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`,
          body,
          close: false,
        });
      },
      // kube-apiserver ends the body at the last chunk and reads the hidden request as its own
      // next one, without a token: refused there, never forwarded.
      outcome: (s) => (s.group === 'kube' ? reframedByKube(s, 0, [anonymousRefused]) : byParser(400)),
    },
    {
      name: 'TE.CL: chunked carries the hidden request, Content-Length ends before it',
      bytes: (s) => {
        const hidden = smuggled(s);
        return raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n',
          body: `${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`,
        });
      },
      // The hidden request reaches the tool as body bytes of the one request, never as a request.
      outcome: (s) => (s.group === 'kube' ? reframedByKube(s, smuggled(s).length) : byParser(400)),
    },
    ...[
      { name: 'Transfer-Encoding: chunked, identity', lines: 'Transfer-Encoding: chunked, identity\r\n' },
      {
        name: 'two Transfer-Encoding headers, chunked then identity',
        lines: 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n',
      },
      {
        name: 'obfuscated Transfer-Encoding: xchunked, with Content-Length',
        lines: 'Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n',
      },
    ].map((te): Case => ({
      name: te.name,
      bytes: (s) =>
        raw(s, { method: 'POST', target: s.target('ok'), lines: te.lines, body: `0\r\n\r\n${smuggled(s)}` }),
      // Go answers 501 for a coding it does not implement; the request never reaches us.
      outcome: (s) => byParser(s.group === 'kube' ? 501 : 400),
    })),
    ...[
      {
        name: 'obfuscated Transfer-Encoding: a space before the colon',
        lines: 'Transfer-Encoding : chunked\r\n',
      },
      {
        name: 'obfuscated Transfer-Encoding: a vertical tab before chunked',
        lines: 'Transfer-Encoding:\x0bchunked\r\n',
      },
    ].map((te): Case => ({
      name: te.name,
      bytes: (s) =>
        raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: `${te.lines}Content-Length: 5\r\n`,
          body: `0\r\n\r\n${smuggled(s)}`,
        }),
      outcome: () => byParser(400),
    })),
    {
      name: 'obfuscated Transfer-Encoding: hidden in an obs-fold continuation line',
      bytes: (s) =>
        raw(s, {
          method: 'POST',
          target: s.target('ok'),
          lines: 'X-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n',
          body: `0\r\n\r\n${smuggled(s)}`,
          close: false,
        }),
      // Go unfolds the line into X-A's value, so Content-Length frames the body; the hidden
      // request is then kube-apiserver's own next request, without a token.
      outcome: (s) =>
        s.group === 'kube'
          ? {
              ...reframedByKube(s, 5, [anonymousRefused]),
              check: ([q]) => {
                expect(q?.headers['x-a']).to.equal('1 Transfer-Encoding: chunked');
                expect(q?.bodyBytes).to.equal(5);
              },
            }
          : byParser(400),
    },
  ]);

  // --- header injection, invalid UTF-8 and NUL in headers --------------------------------------------

  const oneHeader =
    (value: string) =>
    (s: Surface): Outcome => ({
      statuses: [200],
      seen: [s.seen('ok')],
      check: ([q]) => {
        expect(q?.headers['x-a']).to.equal(value);
        expect(q?.headers['x-injected']).to.equal(undefined);
      },
    });

  corpus('CRLF injection, invalid UTF-8 and NUL in headers', [
    {
      name: 'a bare LF in a header value, injecting an identity',
      bytes: (s) =>
        raw(s, {
          target: s.target('ok'),
          auth: s.nobodyAuth,
          lines: 'X-A: a\nX-Remote-User: alice\nX-Remote-Group: system:masters\r\n',
        }),
      // Go takes a bare LF as a line end (RFC 9112 §2.2 allows it), making the injected lines
      // the caller's own X-Remote-* headers, which kube-apiserver replaces with the authenticated
      // user: we see the caller without RBAC, not alice.
      outcome: (s) =>
        s.group === 'kube' ? byUs(403, /"system:serviceaccount:hostile-[a-z0-9]+:nobody"/) : byParser(400),
    },
    {
      name: 'a bare CR in a header value',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-A: a\rX-Injected: yes\r\n' }),
      outcome: () => byParser(400),
    },
    {
      name: 'an obs-fold continuation line',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-A: a\r\n X-Injected: yes\r\n' }),
      // Go unfolds it into one value (RFC 9112 §5.2 allows that instead of a 400).
      outcome: (s) => (s.group === 'kube' ? oneHeader('a X-Injected: yes')(s) : byParser(400)),
    },
    {
      // Not refused: %0d%0a in a header value is text, not a line break, and travels as such.
      name: '%0d%0a in a header value stays text in one header',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-A: a%0d%0aX-Injected: yes\r\n' }),
      outcome: (s) => oneHeader('a%0d%0aX-Injected: yes')(s),
    },
    {
      // Not refused: bytes above 0x7f are obs-text, allowed in a field value (RFC 9110 §5.5);
      // they reach the tool unchanged, in the one header.
      name: 'invalid UTF-8 in a header value is passed on unchanged',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-A: \xff\xfe\xc0\xae\r\n' }),
      outcome: (s) => oneHeader('\xff\xfe\xc0\xae')(s),
    },
    {
      name: 'invalid UTF-8 in a header name',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-\xff: 1\r\n' }),
      outcome: () => byParser(400),
    },
    {
      name: 'a NUL byte in a header value',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-A: a\x00b\r\n' }),
      outcome: () => byParser(400),
    },
    {
      name: 'a NUL byte in a header name',
      bytes: (s) => raw(s, { target: s.target('ok'), lines: 'X-\x00A: 1\r\n' }),
      outcome: () => byParser(400),
    },
    {
      name: 'invalid UTF-8 in the credential',
      // In a tunnel the credential was on the CONNECT: see the intercepted-CONNECT cases for that one.
      on: (name) =>
        name !== 'Connectors Proxy intercepted CONNECT' &&
        name !== 'class API backend operation as the front proxy',
      bytes: (s, sys) => {
        const auth: Record<Surface['group'], string> = {
          aggregated: s.auth.startsWith('X-Remote-User')
            ? 'X-Remote-User: al\xffice\r\n'
            : 'Authorization: Bearer \xff\xfe-not-a-token\r\n',
          kube: 'Authorization: Bearer \xff\xfe-not-a-token\r\n',
          proxy:
            s.name === 'Connectors Proxy forward mode'
              ? `Proxy-Authorization: Basic ${Buffer.from(`${sys.ns}/to\xffol:${sys.callerToken}`, 'latin1').toString('base64')}\r\n`
              : 'Authorization: Bearer \xff\xfe-not-a-token\r\n',
        };
        return raw(s, { target: s.target('ok'), auth: auth[s.group] });
      },
      outcome: (s) => {
        if (s.group === 'kube') return { statuses: [401], message: /Unauthorized/, seen: [] };
        if (s.name === 'Connectors Proxy forward mode')
          return byUs(407, /proxy username must name a Connector/);
        if (s.group === 'proxy') return byUs(401, /present a ServiceAccount token/);
        // As the front proxy the name is taken as asserted: a user nobody granted anything.
        if (s.auth.startsWith('X-Remote-User')) return byUs(403, /forbidden/);
        return byUs(401, /Unauthorized/);
      },
    },
  ]);

  // --- request-target forms and Upgrade ----------------------------------------------------------

  const tunnelOnly = /requests in this tunnel go to https:\/\/127\.0\.0\.1:\d+ only/;

  corpus('absolute-form, asterisk-form and authority-form targets, and Upgrade', [
    {
      name: 'an absolute-form target naming the sentinel',
      bytes: (s, sys) => {
        const path = s.group === 'proxy' ? '/base/ok' : s.target('ok');
        return raw(s, { target: `http://${sys.sentinel}${path}` });
      },
      outcome: (s) => {
        // Go serves an absolute-form target by its path and ignores its authority, so the request
        // is the caller's honest one: it reaches the Connector, never the host it names.
        if (s.group === 'kube') return { statuses: [200], seen: [s.seen('ok')] };
        if (s.group === 'aggregated') return byUs(400, /must be a path \(origin-form\)/);
        if (s.name === 'Connectors Proxy forward mode') return byUs(403, /refuses other hosts/);
        if (s.name === 'Connectors Proxy intercepted CONNECT') return byUs(400, tunnelOnly);
        // An absolute-form target makes it a forward-mode request, which needs Proxy-Authorization.
        return byUs(407, /Proxy authentication required/);
      },
    },
    {
      name: 'an asterisk-form target (OPTIONS *)',
      bytes: (s) => raw(s, { method: 'OPTIONS', target: '*' }),
      outcome: (s) => {
        // Go answers OPTIONS * itself (an empty 200) and sends nothing on.
        if (s.group === 'kube') return { statuses: [200], seen: [] };
        if (s.group === 'aggregated') return byUs(400, /must be a path \(origin-form\)/);
        // In the tunnel the method is looked at first, and OPTIONS has no verb.
        if (s.name === 'Connectors Proxy intercepted CONNECT') return byUs(405, /OPTIONS is not served/);
        return byUs(400, /not an absolute http\(s\) URL/);
      },
    },
    {
      name: 'CONNECT to the sentinel (authority-form)',
      bytes: (s, sys) =>
        raw(s, { method: 'CONNECT', target: sys.sentinel, host: sys.sentinel, close: false }),
      outcome: (s) => {
        if (s.group === 'kube') return { statuses: [403], message: /cannot connect path/, seen: [] };
        if (s.group === 'aggregated') return byUs(405, /CONNECT is not served here/);
        if (s.name === 'Connectors Proxy forward mode') return byUs(403, /refuses other hosts/);
        // Inside an intercepted tunnel nothing handles CONNECT: Node closes the connection unanswered.
        if (s.name === 'Connectors Proxy intercepted CONNECT') return { statuses: [], seen: [] };
        return byUs(407, /Proxy authentication required/);
      },
    },
    {
      name: 'an Upgrade request',
      bytes: (s) =>
        raw(s, {
          target: s.target('ok'),
          lines: 'Connection: Upgrade, close\r\nUpgrade: websocket\r\n',
          close: false,
        }),
      outcome: (s) => {
        // Nothing upgrades, and kube-apiserver would turn an ordinary answer into a 503 after the
        // tool acted: the aggregated server refuses, and kube-apiserver passes the Status on.
        if (s.group !== 'proxy') return byUs(400, /upgrading the connection is not supported/);
        // Not refused by the Connectors Proxy: Upgrade is an ordinary request there (RFC 9110
        // §7.8 lets a server ignore it; curl's h2c upgrade relies on that), and the hop-by-hop
        // Upgrade header stops at the proxy.
        return {
          statuses: [200],
          seen: [s.seen('ok')],
          check: ([q]) => {
            expect(q?.headers.upgrade).to.equal(undefined);
          },
        };
      },
    },
  ]);

  // --- methods, verb-prefixed paths and override headers ---------------------------------------

  // unservedMethods (test/helpers/methods.ts): every method Node's parser knows that has no RBAC
  // verb. Sent by a caller RBAC allows every verb, so that kube-apiserver (which authorizes them as
  // the verb "") lets them through to us.
  /** Method tokens Node's parser refuses itself: unknown to it, or not upper case. */
  const unknownMethods = ['TRACK', 'DEBUG', 'FOO', 'get', 'Delete'];
  const notServed = /is not served: only GET, HEAD, POST, PUT, PATCH, DELETE reach a tool/;
  const toConnectorsProxy = (name: SurfaceName): boolean => name.startsWith('Connectors Proxy');

  corpus('every method: only the six with a verb reach a tool', [
    ...unservedMethods.map((method): Case => ({
      name: `${method}, by a caller RBAC allows every verb`,
      on: () => true,
      bytes: (s) => raw(s, { method, target: s.target('ok'), auth: s.rootAuth }),
      outcome: () => byUs(405, notServed),
    })),
    ...unknownMethods.map((method): Case => ({
      name: `${method} (a method token Node's parser does not accept)`,
      on: () => true,
      bytes: (s) => raw(s, { method, target: s.target('ok'), auth: s.rootAuth }),
      outcome: () => byParser(400),
    })),
    ...['PUT', 'PATCH', 'DELETE'].map((method): Case => ({
      // The caller holds get and create: a write it was not granted is refused on every surface,
      // the Connectors Proxy included (which used to ask only get).
      name: `${method} by a caller granted get and create only`,
      on: () => true,
      bytes: (s) => raw(s, { method, target: s.target('ok') }),
      outcome: () => byUs(403, /forbidden/),
    })),
    ...['?watch=true', '?watch=1'].map((query): Case => ({
      name: `DELETE with ${query}, by a caller granted get and create only`,
      on: () => true,
      bytes: (s) => raw(s, { method: 'DELETE', target: `${s.target('ok')}${query}` }),
      outcome: () => byUs(403, /forbidden/),
    })),
  ]);

  /** `s`'s target with `form` (e.g. `watch`) between the group version and the rest. */
  const prefixed = (s: Surface, form: string): string =>
    s.target('ok').replace(`${gvPath}/`, `${gvPath}/${form}/`);

  corpus('verb-prefixed path forms: refused whatever kube-apiserver authorized', [
    ...['watch', 'proxy'].flatMap((form) =>
      servedMethods.map((method): Case => ({
        name: `${method} through the /${form}/ form, by a caller RBAC allows every verb`,
        on: (name) => !toConnectorsProxy(name),
        bytes: (s) => raw(s, { method, target: prefixed(s, form), auth: s.rootAuth }),
        // HEAD has no body to carry the Status.
        outcome: () =>
          method === 'HEAD'
            ? { statuses: [404], seen: [] }
            : byUs(404, /form of a path is not served; use the plain path/),
      })),
    ),
    ...['POST', 'DELETE'].map((method): Case => ({
      // kube-apiserver decodes the path before it parses it: %77atch is watch to it, and it sends
      // us the path escaped again, where it is the /watch/ form. Sent to us directly it is no path
      // of ours at all.
      name: `${method} through a percent-encoded /%77atch/ form`,
      on: (name) => !toConnectorsProxy(name),
      bytes: (s) => raw(s, { method, target: prefixed(s, '%77atch'), auth: s.rootAuth }),
      outcome: (s) =>
        s.group === 'kube'
          ? byUs(404, /form of a path is not served; use the plain path/)
          : byUs(404, /could not find the requested resource/),
    })),
  ]);

  const overrideHeaders = [
    'X-HTTP-Method-Override: DELETE',
    'X-HTTP-Method: DELETE',
    'X-Method-Override: DELETE',
    'X-Original-Method: DELETE',
    'X-Original-URL: /base/admin',
    'X-Original-URI: /base/admin',
    'X-Rewrite-URL: /base/admin',
    'X-Envoy-Original-Path: /base/admin',
    'X-Forwarded-Method: DELETE',
    'X-Forwarded-Uri: /base/admin',
  ];

  corpus('method and route override headers never reach a tool', [
    ...overrideHeaders.map((line): Case => ({
      name: line,
      on: () => true,
      bytes: (s) => raw(s, { method: 'POST', target: s.target('ok'), lines: `${line}\r\n` }),
      outcome: (s) =>
        // The class API backend operation declares GET only: the POST is refused before it.
        s.name === 'class API backend operation as the front proxy'
          ? byUs(405, /declares only GET/)
          : {
              statuses: [200],
              seen: [s.seen('ok')],
              check: ([q]) => {
                expect(q?.method).to.equal('POST');
                const name = line.slice(0, line.indexOf(':')).toLowerCase();
                expect(q?.headers[name], `${name} reached the tool`).to.equal(undefined);
              },
            },
    })),
  ]);

  // --- forward mode and intercepted CONNECT ----------------------------------------------------

  const forwardMode = (name: SurfaceName): boolean => name === 'Connectors Proxy forward mode';
  const intercepted = (name: SurfaceName): boolean => name === 'Connectors Proxy intercepted CONNECT';
  const absolute = (
    name: string,
    target: (sys: HostileSystem) => string,
    outcome: Case['outcome'],
  ): Case => ({
    name,
    on: forwardMode,
    bytes: (s, sys) => raw(s, { target: target(sys) }),
    outcome,
  });
  const tool = (sys: HostileSystem): string => `127.0.0.1:${sys.tool.port}`;
  const refusedOther = (origin: (sys: HostileSystem) => string) => (_s: Surface, sys: HostileSystem) =>
    byUs(
      403,
      new RegExp(`^${origin(sys).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not the address of a Connector`),
    );
  const connect = (
    name: string,
    authority: (sys: HostileSystem) => string,
    outcome: Case['outcome'],
  ): Case => ({
    name,
    on: forwardMode,
    bytes: (s, sys) =>
      raw(s, { method: 'CONNECT', target: authority(sys), host: authority(sys), close: false }),
    outcome,
  });

  corpus('forward mode: authority tricks in the target URL and CONNECT', [
    absolute(
      'userinfo naming the Connector in front of the sentinel',
      (sys) => `http://${tool(sys)}@${sys.sentinel}/base/ok`,
      () => byUs(400, /must not carry user information/),
    ),
    absolute(
      'an encoded slash before @',
      (sys) => `http://${tool(sys)}%2f@${sys.sentinel}/base/ok`,
      () => byUs(400, /must not carry user information/),
    ),
    absolute(
      'a backslash before @',
      (sys) => `http://${sys.sentinel}\\@${tool(sys)}/base/ok`,
      () => byParser(400),
    ),
    absolute(
      'a backslash in the authority',
      (sys) => `http://${tool(sys)}\\.${sys.sentinel}/base/ok`,
      () => byParser(400),
    ),
    absolute(
      'an encoded tab in the host',
      (sys) => `http://127.0.0.1%09:${sys.tool.port}/base/ok`,
      () => byUs(400, /target host is not valid/),
    ),
    absolute(
      'a semicolon in the authority',
      (sys) => `http://${tool(sys)};.${sys.sentinel}/base/ok`,
      () => byUs(400, /target host is not valid/),
    ),
    absolute(
      'the sentinel as one decimal number (2130706434 = 127.0.0.2)',
      (sys) => `http://2130706434:${sys.sentinel.split(':')[1] ?? ''}/x`,
      refusedOther((sys) => `http://${sys.sentinel}`),
    ),
    absolute(
      'another port of 127.0.0.1 in hex',
      (sys) => `http://0x7f.0.0.1:${sys.otherPort}/x`,
      refusedOther((sys) => `http://127.0.0.1:${sys.otherPort}`),
    ),
    // The prefix is compared raw: /%62ase is not /base, so this is some other place on the
    // tool's origin, which gets no credential (and, with --other-hosts=refuse, no request).
    absolute(
      'the address prefix percent-encoded',
      (sys) => `http://${tool(sys)}/%62ase/ok`,
      refusedOther((sys) => `http://${tool(sys)}`),
    ),
    absolute(
      'an encoded slash and .. glued to the prefix',
      (sys) => `http://${tool(sys)}/base%2f..%2fx`,
      refusedOther((sys) => `http://${tool(sys)}`),
    ),
    absolute(
      'the origin without the prefix',
      (sys) => `http://${tool(sys)}`,
      refusedOther((sys) => `http://${tool(sys)}`),
    ),
    {
      // Not refused: in absolute form the target decides (RFC 9112 §3.2.2); Host is not used.
      name: 'a Host header naming the sentinel next to the Connector’s target',
      on: forwardMode,
      bytes: (s, sys) => raw(s, { target: s.target('ok'), host: sys.sentinel }),
      outcome: (s, sys) => hostIgnored(s, sys),
    },
    connect(
      'CONNECT with userinfo naming the Connector in front of the sentinel',
      (sys) => `${tool(sys)}@${sys.sentinel}`,
      () => byUs(400, /CONNECT needs a host:port target/),
    ),
    connect(
      'CONNECT with a path',
      (sys) => `${sys.sentinel}/x`,
      () => byUs(400, /CONNECT needs a host:port target/),
    ),
    connect(
      'CONNECT with a URL',
      (sys) => `http://${sys.sentinel}/`,
      () => byUs(400, /CONNECT needs a host:port target/),
    ),
    connect(
      'CONNECT with a backslash before @',
      (sys) => `${sys.sentinel}\\@${tool(sys)}`,
      () => byParser(400),
    ),
    connect(
      'CONNECT to another port of 127.0.0.1',
      (sys) => `127.0.0.1:${sys.otherPort}`,
      refusedOther((sys) => `https://127.0.0.1:${sys.otherPort}`),
    ),
    connect(
      'CONNECT to the sentinel as an IPv4-mapped IPv6 address',
      (sys) => `[::ffff:${sys.sentinel.replace(':', ']:')}`,
      refusedOther((sys) => `https://[::ffff:7f00:2]:${sys.sentinel.split(':')[1] ?? ''}`),
    ),
  ]);

  corpus('intercepted CONNECT: the tunnel and targets inside it', [
    {
      name: 'CONNECT to the Connector with invalid UTF-8 in the proxy username',
      on: forwardMode,
      bytes: (s, sys) => {
        const authority = `127.0.0.1:${sys.tlsTool.port}`;
        const user = Buffer.from(`${sys.ns}/tls-to\xffol:${sys.callerToken}`, 'latin1').toString('base64');
        return raw(s, {
          method: 'CONNECT',
          target: authority,
          host: authority,
          auth: `Proxy-Authorization: Basic ${user}\r\n`,
          close: false,
        });
      },
      outcome: () => byUs(407, /proxy username must name a Connector/),
    },
    {
      name: 'an absolute-form target with userinfo naming the tunnel’s origin in front of the sentinel',
      on: intercepted,
      bytes: (s, sys) => raw(s, { target: `https://${s.host}@${sys.sentinel}/base/ok` }),
      outcome: () => byUs(400, tunnelOnly),
    },
    {
      // Not refused: an absolute-form target naming the tunnel's own origin is the same request.
      name: 'an absolute-form target naming the tunnel’s own origin',
      on: intercepted,
      bytes: (s) => raw(s, { target: `https://${s.host}/base/ok` }),
      outcome: (s) => ({ statuses: [200], seen: [s.seen('ok')] }),
    },
    {
      // Not refused: the tunnel decides where requests go; Host is not used.
      name: 'a Host header naming the sentinel',
      on: intercepted,
      bytes: (s, sys) => raw(s, { target: s.target('ok'), host: sys.sentinel }),
      outcome: (s, sys) => ({
        statuses: [200],
        seen: [s.seen('ok')],
        check: ([q]) => {
          expect(q?.headers.host).to.equal(`127.0.0.1:${sys.tlsTool.port}`);
        },
      }),
    },
  ]);

  describe('over the whole corpus', function () {
    it('control: the sentinels listen where the tricks point', async function () {
      // A bare TCP connection, no request: a sentinel that is not there would make every
      // "nothing reached it" above vacuous.
      for (const authority of [sys.sentinel, `127.0.0.1:${sys.otherPort}`]) {
        const [host = '', port = ''] = authority.split(':');
        await new Promise<void>((resolve, reject) => {
          const socket = netConnect({ host, port: Number(port) }, () => {
            socket.destroy();
            resolve();
          });
          socket.once('error', reject);
        });
      }
    });

    it('the tools never received a path outside the Connector’s address prefix', function () {
      for (const t of [sys.tool, sys.tlsTool]) {
        expect(t.requests.length).to.be.greaterThan(0);
        for (const q of t.requests) expect(q.url).to.match(/^\/base\/[^/]/);
      }
      expect(sys.backend.requests.length).to.be.greaterThan(0);
      for (const q of sys.backend.requests) expect(q.url).to.match(/^\/backend\/repos\/[^/]+\/branches$/);
    });

    it('the sentinels never received anything', function () {
      for (const sentinel of sys.sentinels) expect(sentinel.requests).to.deep.equal([]);
    });

    it('no token or password appears in the Connectors Proxy log', function () {
      const log = readFileSync(sys.proxyLog, 'utf8');
      expect(log).to.contain('"mode":"forward"');
      for (const secret of [...sys.tokens, sys.toolPassword]) {
        expect(log.includes(secret), 'a secret leaked into the proxy log').to.equal(false);
        expect(log.includes(Buffer.from(secret).toString('base64'))).to.equal(false);
      }
    });
  });
});
