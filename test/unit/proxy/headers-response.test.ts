// Tool content must not act as the user. Through kube-apiserver and `kubectl proxy` a tool's page
// is served on the Kubernetes API's origin, where its script could call the API with the browsing
// user's authority; every relayed response therefore carries a sandboxing CSP, nosniff and a frame
// refusal, which the tool can add to (browsers enforce every CSP sent) but never take away.
import { expect } from 'chai';
import { forwardResponseHeaders, relayedResponseHeaders } from '../../../proxy/headers.js';

const raw = (pairs: [string, string][]): Buffer[] =>
  pairs.flatMap(([n, v]) => [Buffer.from(n, 'latin1'), Buffer.from(v, 'latin1')]);

/** Every value of `name` in a flat [name, value, …] list. */
function values(list: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) if (list[i] === name) out.push(list[i + 1] ?? '');
  return out;
}

describe('proxy/headers: what a relayed tool response carries to a browser', () => {
  it('the protective headers are these, and nothing the tool can weaken', () => {
    expect(relayedResponseHeaders).to.deep.equal([
      'content-security-policy',
      "sandbox; frame-ancestors 'none'",
      'x-content-type-options',
      'nosniff',
      'x-frame-options',
      'DENY',
    ]);
  });

  it('an HTML page with a script gets CSP sandbox, nosniff and X-Frame-Options DENY', () => {
    const out = forwardResponseHeaders(raw([['Content-Type', 'text/html; charset=utf-8']]));
    expect(values(out, 'content-type')).to.deep.equal(['text/html; charset=utf-8']);
    expect(values(out, 'content-security-policy')).to.deep.equal(["sandbox; frame-ancestors 'none'"]);
    expect(values(out, 'x-content-type-options')).to.deep.equal(['nosniff']);
    expect(values(out, 'x-frame-options')).to.deep.equal(['DENY']);
  });

  it("keeps the tool's own CSP besides ours: browsers enforce both, so it can only add limits", () => {
    const out = forwardResponseHeaders(
      raw([
        ['Content-Security-Policy', "script-src 'unsafe-inline' *"],
        ['Content-Type', 'text/html'],
      ]),
    );
    expect(values(out, 'content-security-policy')).to.deep.equal([
      "script-src 'unsafe-inline' *",
      "sandbox; frame-ancestors 'none'",
    ]);
  });

  const replaced: [string, string][] = [
    ['X-Content-Type-Options', 'sniff-please'],
    ['X-Frame-Options', 'ALLOW-FROM https://evil.example.com'],
    ['x-frame-options', 'SAMEORIGIN'],
  ];
  for (const [name, value] of replaced) {
    it(`replaces the tool's ${name}: ${value} (two values would make browsers ignore both)`, () => {
      const out = forwardResponseHeaders(raw([[name, value]]));
      expect(values(out, name.toLowerCase())).to.deep.equal([
        name.toLowerCase() === 'x-frame-options' ? 'DENY' : 'nosniff',
      ]);
    });
  }

  it("drops the tool's Clear-Site-Data: it would wipe the browsing user's data on the API origin", () => {
    const out = forwardResponseHeaders(raw([['Clear-Site-Data', '"cookies", "storage"']]));
    expect(values(out, 'clear-site-data')).to.deep.equal([]);
  });

  it('adds them to a redirect relayed unfollowed and to a response without a body alike', () => {
    for (const pairs of [[['Location', '/elsewhere']], [['Content-Length', '0']]] as [string, string][][]) {
      const out = forwardResponseHeaders(raw(pairs));
      expect(out.slice(-relayedResponseHeaders.length)).to.deep.equal(relayedResponseHeaders);
    }
  });
});
