// Who a request is decides everything after it. Whether a certificate chain is valid is the TLS
// handshake's verdict (the server requests a certificate against the client and front-proxy CAs);
// the authenticator only tells which CA issued an accepted chain. So the chain cases run through a
// real handshake: a certificate that does not chain to the right CA, carries the wrong usage, is
// out of date or hangs below a CA that may not issue CAs must not authenticate. X-Remote-* headers
// count only on a connection proven to come from kube-apiserver's front proxy; a bad token is a 401.
import { webcrypto, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import {
  Authenticator,
  clientCaBundle,
  InvalidCredentialError,
  type AuthnResult,
} from '../../../apiserver/authn.js';
import type { TokenReviewer, UserInfo } from '../../../kube/tokenreview.js';
import type { AuthenticationConfig } from '../../../apiserver/authconfig.js';
import { createLogger, type Logger } from '../../../machinery/log.js';
import { createCA, issueCert, type CertificateAuthority, type IssueOptions } from '../../../hack/pki.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

interface IntermediateOptions {
  notAfter?: Date;
  /** BasicConstraints pathLenConstraint. */
  pathLength?: number;
  /** Leave keyCertSign out of KeyUsage: a CA certificate that may not sign certificates. */
  noCertSign?: boolean;
  /** Forge: the subject and key identifier of another CA, signed by a key of our own. */
  impersonate?: { subject: string; keyIdOf: CertificateAuthority; issuer: CertificateAuthority };
}

/**
 * hack/pki.ts issues leaves only, so intermediate CAs are made here with @peculiar/x509 (imported
 * after hack/pki.js, which installs the Reflect shim that library needs and sets its crypto).
 */
async function createIntermediate(
  parent: CertificateAuthority,
  commonName: string,
  opts: IntermediateOptions = {},
): Promise<CertificateAuthority> {
  const x509 = await import('@peculiar/x509');
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const importKey = (pem: string) =>
    webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), alg, true, ['sign']);
  const parentCert = new x509.X509Certificate(parent.certPem);
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const forged = opts.impersonate;
  const issuerCert = forged ? new x509.X509Certificate(forged.issuer.certPem) : parentCert;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a1b2c3d',
    subject: forged ? forged.subject : [{ CN: [commonName] }],
    issuer: issuerCert.subjectName,
    notBefore: new Date(Date.now() - 2 * HOUR),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: keys.publicKey,
    // A forgery is signed by its own key: whoever forges holds no CA's key.
    signingKey: forged ? keys.privateKey : await importKey(parent.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(true, opts.pathLength, true),
      opts.noCertSign
        ? new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)
        : new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
            true,
          ),
      forged
        ? await x509.SubjectKeyIdentifierExtension.create(
            await new x509.X509Certificate(forged.keyIdOf.certPem).publicKey.export(),
          )
        : await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await issuerCert.publicKey.export()),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

const x = (pem: string): X509Certificate => new X509Certificate(pem);
const quiet = (): Logger => createLogger({ level: 'error', write: () => undefined });

function trust(clientCA: CertificateAuthority, frontProxyCA: CertificateAuthority): AuthenticationConfig {
  return {
    clientCAs: [x(clientCA.certPem)],
    clientCaPem: clientCA.certPem,
    requestHeader: {
      cas: [x(frontProxyCA.certPem)],
      caPem: frontProxyCA.certPem,
      allowedNames: ['front-proxy-client'],
      usernameHeaders: ['x-remote-user'],
      groupHeaders: ['x-remote-group'],
      extraPrefixes: ['x-remote-extra-'],
      uidHeaders: ['x-remote-uid'],
    },
    generation: 1,
  };
}

describe('apiserver/authn clientCaBundle', () => {
  it('is the front-proxy and client CAs, and an explicit empty list without configuration', async () => {
    const [client, front] = await Promise.all([createCA('client-ca'), createCA('front-proxy-ca')]);
    expect(clientCaBundle(trust(client, front))).to.deep.equal([front.certPem, client.certPem]);
    // Empty, not absent: absent, Node would verify client certificates against its public roots.
    expect(clientCaBundle(null)).to.deep.equal([]);
  });
});

describe('apiserver/authn client certificates through a real TLS handshake', () => {
  let clientCA: CertificateAuthority;
  let frontProxyCA: CertificateAuthority;
  let otherCA: CertificateAuthority;
  let expiredCA: CertificateAuthority;
  let intermediate: CertificateAuthority;
  let expiredIntermediate: CertificateAuthority;
  let server: Server;
  let origin: string;
  let config: AuthenticationConfig;
  const agents: Agent[] = [];

  before(async () => {
    [clientCA, frontProxyCA, otherCA, expiredCA] = await Promise.all([
      createCA('client-ca'),
      createCA('front-proxy-ca'),
      createCA('other-ca'),
      createCA('expired-ca', { notAfter: new Date(Date.now() - 60_000) }),
    ]);
    intermediate = await createIntermediate(clientCA, 'client-intermediate');
    expiredIntermediate = await createIntermediate(clientCA, 'old-intermediate', {
      notAfter: new Date(Date.now() - 60_000),
    });
    config = trust(clientCA, frontProxyCA);
    // The expired CA is trusted too, so that only its expiry can refuse what it issued.
    config.clientCaPem += `\n${expiredCA.certPem}`;
    const serving = await issueCert(clientCA, {
      commonName: 'localhost',
      ipAddresses: ['127.0.0.1'],
      server: true,
    });
    const authenticator = new Authenticator(() => config, new FakeTokenReviewer(() => null), quiet());
    // The server's own options (apiserver/server.ts): request, never require, against our CAs.
    server = createServer(
      {
        cert: serving.certPem,
        key: serving.keyPem,
        ca: clientCaBundle(config),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        authenticator.authenticate(req).then(
          (result: AuthnResult) => {
            res.end(JSON.stringify(result ? { via: result.via, username: result.user.username } : null));
          },
          (err: unknown) => {
            res.end(JSON.stringify({ error: String(err) }));
          },
        );
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await new Promise((resolve) => server.close(resolve));
  });

  /** Who the server says the caller is, presenting `chain` (leaf first) with the leaf's key. */
  async function whoami(
    chain: { certPem: string; keyPem: string } | null,
    extra: string[] = [],
    headers: Record<string, string | string[]> = {},
  ): Promise<{ via: string; username: string } | null> {
    const agent = new Agent({
      connect: {
        ca: clientCA.certPem,
        ...(chain ? { cert: [chain.certPem, ...extra].join('\n'), key: chain.keyPem } : {}),
      },
    });
    agents.push(agent);
    const res = await request(`${origin}/`, { dispatcher: agent, headers });
    return (await res.body.json()) as { via: string; username: string } | null;
  }

  const leaf = (ca: CertificateAuthority, opts: Partial<IssueOptions> = {}) =>
    issueCert(ca, { commonName: 'alice', client: true, ...opts });
  const alice = { via: 'client-cert', username: 'alice' };

  const cases: {
    title: string;
    chain: () => Promise<{ certPem: string; keyPem: string; extra?: string[] }>;
    want: { via: string; username: string } | null;
  }[] = [
    {
      title: 'a clientAuth certificate from the client CA authenticates',
      chain: () => leaf(clientCA),
      want: alice,
    },
    {
      title: 'one with clientAuth and serverAuth does',
      chain: () => leaf(clientCA, { server: true }),
      want: alice,
    },
    {
      title: 'one without any EKU extension does (no restriction, as in Go)',
      chain: () => leaf(clientCA, { client: false }),
      want: alice,
    },
    { title: 'one from another CA does not', chain: () => leaf(otherCA), want: null },
    {
      title: 'a serverAuth-only certificate does not',
      chain: () => leaf(clientCA, { client: false, server: true }),
      want: null,
    },
    {
      title: 'an expired certificate does not',
      chain: () =>
        leaf(clientCA, { notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }),
      want: null,
    },
    {
      title: 'a certificate not yet valid does not',
      chain: () =>
        leaf(clientCA, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) }),
      want: null,
    },
    { title: 'one from an expired CA does not', chain: () => leaf(expiredCA), want: null },
    {
      title: 'one from an intermediate authenticates when the intermediate is sent',
      chain: async () => ({ ...(await leaf(intermediate)), extra: [intermediate.certPem] }),
      want: alice,
    },
    {
      title: 'one from an intermediate does not without it',
      chain: () => leaf(intermediate),
      want: null,
    },
    {
      title: 'an expired intermediate breaks the chain',
      chain: async () => ({ ...(await leaf(expiredIntermediate)), extra: [expiredIntermediate.certPem] }),
      want: null,
    },
    {
      title: 'a leaf cannot act as an intermediate',
      chain: async () => {
        const fake = await issueCert(clientCA, { commonName: 'not-a-ca', client: true });
        return { ...(await leaf(fake)), extra: [fake.certPem] };
      },
      want: null,
    },
    {
      title: 'a CA below an intermediate with path length 0 cannot issue',
      chain: async () => {
        const limited = await createIntermediate(clientCA, 'limited', { pathLength: 0 });
        const below = await createIntermediate(limited, 'below-limited');
        return { ...(await leaf(below)), extra: [below.certPem, limited.certPem] };
      },
      want: null,
    },
    {
      title: 'an intermediate whose key usage lacks keyCertSign cannot issue',
      chain: async () => {
        const signless = await createIntermediate(clientCA, 'signless', { noCertSign: true });
        return { ...(await leaf(signless)), extra: [signless.certPem] };
      },
      want: null,
    },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      const { extra, ...pair } = await c.chain();
      expect(await whoami(pair, extra)).to.deep.equal(c.want);
    });
  }

  const asserted = { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' };

  it('trusts X-Remote-* from the front proxy (front-proxy CA, allowed CN)', async () => {
    const cert = await leaf(frontProxyCA, { commonName: 'front-proxy-client' });
    expect(await whoami(cert, [], asserted)).to.deep.equal({ via: 'front-proxy', username: 'admin' });
  });

  it('ignores X-Remote-* from a front-proxy-CA certificate whose CN is not allowed', async () => {
    const cert = await leaf(frontProxyCA, { commonName: 'mallory' });
    expect(await whoami(cert, [], asserted)).to.equal(null);
  });

  it('ignores X-Remote-* from a front-proxy-CA certificate the handshake refuses (expired)', async () => {
    const cert = await leaf(frontProxyCA, {
      commonName: 'front-proxy-client',
      notBefore: new Date(Date.now() - 2 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    expect(await whoami(cert, [], asserted)).to.equal(null);
  });

  it('a forged certificate named like the front-proxy CA does not make a client-CA certificate the front proxy', async () => {
    // Node links the chain a client sends by names and key identifiers: with this forgery the linked
    // chain runs leaf → forgery → front-proxy CA, while the handshake verified leaf → client CA.
    const forged = await createIntermediate(clientCA, 'forged', {
      impersonate: {
        subject: 'CN=client-ca',
        keyIdOf: clientCA,
        issuer: frontProxyCA,
      },
    });
    const cert = await leaf(clientCA, { commonName: 'front-proxy-client' });
    expect(await whoami(cert, [forged.certPem], asserted)).to.deep.equal({
      via: 'client-cert',
      username: 'front-proxy-client',
    });
  });
});

class FakeTokenReviewer implements TokenReviewer {
  readonly seen: string[] = [];
  constructor(private readonly answer: (token: string) => UserInfo | null) {}
  review(token: string): Promise<UserInfo | null> {
    this.seen.push(token);
    return new Promise((resolve) => {
      resolve(this.answer(token)); // a throwing answer rejects, as a failed TokenReview call would
    });
  }
}

interface PeerCert {
  raw?: Buffer;
  fingerprint256?: string;
  issuerCertificate?: PeerCert;
}

const leafCert = async (
  ca: CertificateAuthority,
  opts: Partial<IssueOptions> = {},
): Promise<X509Certificate> =>
  x((await issueCert(ca, { commonName: 'alice', client: true, ...opts })).certPem);

/**
 * An IncomingMessage as far as the authenticator reads it, on a TLS socket with these peer
 * certificates, which the handshake accepted unless `authorized` says otherwise.
 */
function fakeRequest(
  headers: Record<string, string | string[]>,
  peer: X509Certificate[] = [],
  authorized = peer.length > 0,
): IncomingMessage {
  let chain: PeerCert = {};
  for (const cert of [...peer].reverse()) {
    chain = { raw: cert.raw, fingerprint256: cert.fingerprint256, issuerCertificate: chain };
  }
  const headersDistinct: Record<string, string[]> = {};
  const joined: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const values = Array.isArray(value) ? value : [value];
    headersDistinct[name.toLowerCase()] = values;
    joined[name.toLowerCase()] = values.join(', ');
  }
  const socket = {
    getPeerCertificate: () => chain,
    authorized,
    authorizationError: authorized ? null : new Error('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
  };
  return { headers: joined, headersDistinct, socket } as unknown as IncomingMessage;
}

describe('apiserver/authn Authenticator', () => {
  let clientCA: CertificateAuthority;
  let frontProxyCA: CertificateAuthority;
  let config: AuthenticationConfig;
  const reviewer = new FakeTokenReviewer((token) => {
    if (token === 'good-token') return { username: 'bob', uid: 'u-1', groups: ['dev'], extra: {} };
    if (token === 'sa-token')
      return { username: 'system:serviceaccount:a:b', groups: ['system:authenticated'], extra: {} };
    if (token === 'explode') throw new Error('connection refused');
    return null;
  });

  before(async () => {
    clientCA = await createCA('client-ca');
    frontProxyCA = await createCA('front-proxy-ca');
    config = {
      clientCAs: [x(clientCA.certPem)],
      clientCaPem: clientCA.certPem,
      requestHeader: {
        cas: [x(frontProxyCA.certPem)],
        caPem: frontProxyCA.certPem,
        allowedNames: ['front-proxy-client'],
        usernameHeaders: ['x-remote-user'],
        groupHeaders: ['x-remote-group'],
        extraPrefixes: ['x-remote-extra-'],
        uidHeaders: ['x-remote-uid'],
      },
      generation: 1,
    };
  });

  const authn = (): Authenticator => new Authenticator(() => config, reviewer, quiet());

  it('reviews a token once per connection per second; another token on it is reviewed afresh', async () => {
    const a = authn();
    const req = fakeRequest({ authorization: 'Bearer good-token' });
    const before = reviewer.seen.length;
    const first = await a.authenticate(req);
    const again = await a.authenticate(req);
    expect(reviewer.seen.length - before).to.equal(1);
    expect(again?.user).to.equal(first?.user);
    const other = fakeRequest({ authorization: 'Bearer bad-token' });
    (other as { socket: unknown }).socket = req.socket;
    let refused: unknown;
    try {
      await a.authenticate(other);
    } catch (err) {
      refused = err;
    }
    expect(refused).to.be.instanceOf(InvalidCredentialError);
    expect(reviewer.seen.slice(before)).to.deep.equal(['good-token', 'bad-token']);
  });
  const asserted = {
    'x-remote-user': 'alice',
    'x-remote-group': ['dev', 'ops'],
    'x-remote-uid': 'uid-alice',
    'x-remote-extra-scopes': ['read', 'write'],
    'x-remote-extra-acme.com%2fteam': 'blue',
  };

  it('returns null for a request with no credential', async () => {
    expect(await authn().authenticate(fakeRequest({}))).to.equal(null);
  });

  it('returns null with no authentication configuration and no credential', async () => {
    const a = new Authenticator(() => null, reviewer, quiet());
    expect(await a.authenticate(fakeRequest({ 'x-remote-user': 'alice' }))).to.equal(null);
  });

  it('authenticates a valid bearer token and adds system:authenticated', async () => {
    const result = await authn().authenticate(fakeRequest({ authorization: 'Bearer good-token' }));
    expect(result).to.deep.equal({
      user: { username: 'bob', uid: 'u-1', groups: ['dev', 'system:authenticated'], extra: {} },
      via: 'token',
    });
    expect(reviewer.seen.at(-1)).to.equal('good-token');
  });

  it('accepts the scheme in any case and does not add system:authenticated twice', async () => {
    const result = await authn().authenticate(fakeRequest({ authorization: 'bearer sa-token' }));
    expect(result?.user.groups).to.deep.equal(['system:authenticated']);
  });

  const refused: { title: string; authorization: string; reviewed: boolean }[] = [
    { title: 'an invalid token', authorization: 'Bearer bad-token', reviewed: true },
    { title: 'a token the review fails for', authorization: 'Bearer explode', reviewed: true },
    { title: 'Basic credentials', authorization: 'Basic YWxpY2U6cHc=', reviewed: false },
    { title: 'a Bearer scheme without a token', authorization: 'Bearer', reviewed: false },
    { title: 'a Bearer scheme with two tokens', authorization: 'Bearer a b', reviewed: false },
  ];
  for (const c of refused) {
    it(`throws InvalidCredentialError for ${c.title}`, async () => {
      const before = reviewer.seen.length;
      let caught: unknown;
      try {
        await authn().authenticate(fakeRequest({ authorization: c.authorization }));
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(InvalidCredentialError);
      expect(reviewer.seen.length - before).to.equal(c.reviewed ? 1 : 0);
    });
  }

  it('a token the review fails for is a 401 without the failure’s text, which goes to the log', async () => {
    const lines: string[] = [];
    const a = new Authenticator(
      () => config,
      reviewer,
      createLogger({ level: 'error', write: (l) => lines.push(l) }),
    );
    let caught: unknown;
    try {
      await a.authenticate(fakeRequest({ authorization: 'Bearer explode' }));
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(InvalidCredentialError);
    expect((caught as Error).message).to.equal('the token could not be reviewed; try again later');
    expect(lines.join('')).to.contain('connection refused');
  });

  it('a client-CA certificate the handshake refused is no credential', async () => {
    const cert = await leafCert(clientCA, { commonName: 'carol' });
    expect(await authn().authenticate(fakeRequest({}, [cert], false))).to.equal(null);
  });

  it('ignores X-Remote-* on a connection without a client certificate', async () => {
    expect(await authn().authenticate(fakeRequest(asserted))).to.equal(null);
  });

  it('ignores X-Remote-* without a certificate and uses the bearer token instead', async () => {
    const result = await authn().authenticate(
      fakeRequest({ ...asserted, authorization: 'Bearer good-token' }),
    );
    expect(result?.via).to.equal('token');
    expect(result?.user.username).to.equal('bob');
  });

  it('trusts X-Remote-* from the front proxy (front-proxy CA, allowed CN)', async () => {
    const cert = await leafCert(frontProxyCA, { commonName: 'front-proxy-client' });
    const result = await authn().authenticate(fakeRequest(asserted, [cert]));
    expect(result).to.deep.equal({
      user: {
        username: 'alice',
        uid: 'uid-alice',
        groups: ['dev', 'ops', 'system:authenticated'],
        extra: { scopes: ['read', 'write'], 'acme.com/team': ['blue'] },
      },
      via: 'front-proxy',
    });
  });

  it('ignores X-Remote-* from a front-proxy-CA certificate whose CN is not allowed', async () => {
    const cert = await leafCert(frontProxyCA, { commonName: 'mallory' });
    expect(await authn().authenticate(fakeRequest(asserted, [cert]))).to.equal(null);
  });

  it('ignores X-Remote-* from a client-CA certificate and authenticates its own subject', async () => {
    const cert = await leafCert(clientCA, { commonName: 'front-proxy-client', organizations: ['team-x'] });
    const result = await authn().authenticate(fakeRequest(asserted, [cert]));
    expect(result).to.deep.equal({
      user: { username: 'front-proxy-client', groups: ['team-x', 'system:authenticated'], extra: {} },
      via: 'client-cert',
    });
  });

  it('ignores X-Remote-* from a certificate of an unknown CA', async () => {
    const stranger = await createCA('stranger');
    const cert = await leafCert(stranger, { commonName: 'front-proxy-client' });
    expect(await authn().authenticate(fakeRequest(asserted, [cert]))).to.equal(null);
  });

  it('re-checks a connection’s certificate when the trusted CAs change', async () => {
    const cert = await leafCert(clientCA, { commonName: 'carol' });
    const req = fakeRequest({}, [cert]);
    let current = config;
    const a = new Authenticator(() => current, reviewer, quiet());
    expect((await a.authenticate(req))?.user.username).to.equal('carol');
    const rotated = await createCA('rotated-client-ca');
    current = { ...config, clientCAs: [x(rotated.certPem)], generation: config.generation + 1 };
    expect(await a.authenticate(req)).to.equal(null);
  });
});
