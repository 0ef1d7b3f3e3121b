// A custom proxy believes an identity header only from the API server, proven by a client
// certificate the handshake verified and whose name is allowed; from anyone else the headers are
// deleted unread and the caller's own token decides. Each rule, and each near miss of it.
import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { createCA, issueCert } from '../../../hack/pki.js';
import { callerIdentity, type CallerIdentity } from '../../../kit/identity.js';
import { StatusError } from '../../../machinery/status.js';

const allowedName = 'system:serviceaccount:connectors-system:connectors-apiserver';
const allowed = new Set([allowedName]);

/** A request as Node hands it over: raw lines, joined `headers` and per-line `headersDistinct`. */
function request(lines: [string, string][], socket: object = {}): IncomingMessage {
  const headers: IncomingHttpHeaders = {};
  const distinct: Record<string, string[]> = {};
  for (const [name, value] of lines) {
    const n = name.toLowerCase();
    (distinct[n] ??= []).push(value);
    headers[n] = distinct[n].join(', ');
  }
  return { socket, headers, headersDistinct: distinct } as unknown as IncomingMessage;
}

function refusal(f: () => unknown): StatusError {
  try {
    f();
  } catch (err) {
    expect(err).to.be.instanceOf(StatusError);
    return err as StatusError;
  }
  return expect.fail('expected a StatusError');
}

describe('kit/identity callerIdentity', () => {
  let apiServer: object;
  let intruder: object;
  const forged: [string, string][] = [
    ['X-Remote-User', 'system:admin'],
    ['X-Remote-Group', 'system:masters'],
    ['X-Remote-Extra-Scopes', 'all'],
    ['X-Connectors-Subresource', 'items'],
  ];

  before(async () => {
    const ca = await createCA('ca');
    const cert = async (cn: string): Promise<X509Certificate> =>
      new X509Certificate((await issueCert(ca, { commonName: cn, client: true })).certPem);
    const [a, b] = await Promise.all([cert(allowedName), cert('intruder')]);
    apiServer = { authorized: true, getPeerX509Certificate: () => a };
    intruder = { authorized: true, getPeerX509Certificate: () => b };
  });

  it('the allowed certificate: the user, each group and extra line, and the subresource it names', () => {
    const req = request(
      [
        ['X-Remote-User', 'alice'],
        ['X-Remote-Group', 'dev'],
        ['X-Remote-Group', 'system:authenticated'],
        ['X-Remote-Extra-Scopes%2Fa', 'x'],
        ['X-Remote-Extra-Scopes%2Fa', 'y'],
        ['X-Connectors-Subresource', 'branches'],
        ['Authorization', 'Bearer ignored'],
      ],
      apiServer,
    );
    expect(callerIdentity(req, allowed)).to.deep.equal({
      via: 'apiserver',
      user: { username: 'alice', groups: ['dev', 'system:authenticated'], extra: { 'scopes/a': ['x', 'y'] } },
      subresource: 'branches',
    } satisfies CallerIdentity);
  });

  it('the allowed certificate without X-Connectors-Subresource: the API server checked connectors/proxy', () => {
    const id = callerIdentity(request([['X-Remote-User', 'alice']], apiServer), allowed);
    expect(id).to.deep.include({ via: 'apiserver', subresource: 'proxy' });
  });

  it('the allowed certificate without one X-Remote-User: 401', () => {
    expect(refusal(() => callerIdentity(request([], apiServer), allowed)).code).to.equal(401);
    const two = request(
      [
        ['X-Remote-User', 'a'],
        ['X-Remote-User', 'b'],
      ],
      apiServer,
    );
    expect(refusal(() => callerIdentity(two, allowed)).code).to.equal(401);
  });

  it('the allowed certificate naming a subresource that is no name, or two: 400', () => {
    for (const subs of [['../proxy'], ['proxy', 'items'], ['']]) {
      const req = request(
        [['X-Remote-User', 'a'], ...subs.map((s): [string, string] => ['X-Connectors-Subresource', s])],
        apiServer,
      );
      expect(refusal(() => callerIdentity(req, allowed)).code, subs.join()).to.equal(400);
    }
  });

  it('a verified certificate of another name: 403, whatever it claims', () => {
    const err = refusal(() => callerIdentity(request(forged, intruder), allowed));
    expect(err.code).to.equal(403);
    expect(err.message).to.contain('"intruder"');
  });

  for (const [what, socket] of [
    ['a plain connection', {}],
    ['a certificate the handshake did not verify', { authorized: false, getPeerX509Certificate: () => ({}) }],
  ] as const) {
    it(`${what}: every identity header is deleted and only the token counts`, () => {
      const req = request(
        [...forged, ['Authorization', 'Bearer the-token'], ['Accept', 'application/json']],
        socket,
      );
      expect(callerIdentity(req, allowed)).to.deep.equal({ via: 'token', token: 'the-token' });
      expect(Object.keys(req.headers)).to.deep.equal(['authorization', 'accept']);
    });

    it(`${what} without a token: no token, so a 401 follows`, () => {
      expect(callerIdentity(request(forged, socket), allowed)).to.deep.equal({ via: 'token', token: null });
    });
  }

  it("a pod's token in the header its class names", () => {
    const req = request([['Private-Token', 'the-token']]);
    expect(callerIdentity(req, allowed, 'Private-Token')).to.deep.equal({ via: 'token', token: 'the-token' });
  });
});
