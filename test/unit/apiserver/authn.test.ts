// Who a request is decides everything after it. A certificate that does not chain to the right CA,
// carries the wrong usage or is out of date must not authenticate; X-Remote-* headers count only
// on a connection proven to come from kube-apiserver's front proxy; a bad token is a 401.
import { webcrypto, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import {
  Authenticator,
  InvalidCredentialError,
  verifyClientChain,
  type TokenReviewer,
  type UserInfo,
} from '../../../apiserver/authn.js';
import type { AuthenticationConfig } from '../../../apiserver/authconfig.js';
import { createCA, issueCert, type CertificateAuthority, type IssueOptions } from '../../../hack/pki.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/**
 * hack/pki.ts issues leaves only, so the intermediate CA is made here with @peculiar/x509 (imported
 * after hack/pki.js, which installs the Reflect shim that library needs and sets its crypto).
 */
async function createIntermediate(
  root: CertificateAuthority,
  commonName: string,
  notAfter = new Date(Date.now() + 365 * DAY),
): Promise<CertificateAuthority> {
  const x509 = await import('@peculiar/x509');
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const rootCert = new x509.X509Certificate(root.certPem);
  const rootKey = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(root.keyPem),
    alg,
    false,
    ['sign'],
  );
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a1b2c3d',
    subject: [{ CN: [commonName] }],
    issuer: rootCert.subjectName,
    notBefore: new Date(Date.now() - 2 * HOUR),
    notAfter,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: keys.publicKey,
    signingKey: rootKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await rootCert.publicKey.export()),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
}

const x = (pem: string): X509Certificate => new X509Certificate(pem);
const leaf = async (ca: CertificateAuthority, opts: Partial<IssueOptions> = {}): Promise<X509Certificate> =>
  x((await issueCert(ca, { commonName: 'alice', client: true, ...opts })).certPem);

describe('apiserver/authn verifyClientChain', () => {
  let ca: CertificateAuthority;
  let otherCA: CertificateAuthority;
  let expiredCA: CertificateAuthority;
  let intermediate: CertificateAuthority;
  let expiredIntermediate: CertificateAuthority;

  before(async () => {
    ca = await createCA('client-ca');
    otherCA = await createCA('other-ca');
    expiredCA = await createCA('expired-ca', { notAfter: new Date(Date.now() - 60_000) });
    intermediate = await createIntermediate(ca, 'client-intermediate');
    expiredIntermediate = await createIntermediate(ca, 'old-intermediate', new Date(Date.now() - 60_000));
  });

  const cases: {
    title: string;
    chain: () => Promise<X509Certificate[]>;
    roots: () => X509Certificate[];
    now?: number;
    want: boolean;
  }[] = [
    {
      title: 'a clientAuth certificate from the CA verifies',
      chain: async () => [await leaf(ca)],
      roots: () => [x(ca.certPem)],
      want: true,
    },
    {
      title: 'it verifies when the right CA is one of several roots',
      chain: async () => [await leaf(ca)],
      roots: () => [x(otherCA.certPem), x(ca.certPem)],
      want: true,
    },
    {
      title: 'a certificate with clientAuth and serverAuth verifies',
      chain: async () => [await leaf(ca, { server: true })],
      roots: () => [x(ca.certPem)],
      want: true,
    },
    {
      title: 'a certificate without any EKU extension verifies (no restriction, as in Go)',
      chain: async () => [await leaf(ca, { client: false })],
      roots: () => [x(ca.certPem)],
      want: true,
    },
    {
      title: 'a certificate from another CA does not',
      chain: async () => [await leaf(otherCA)],
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'a serverAuth-only certificate does not',
      chain: async () => [await leaf(ca, { client: false, server: true })],
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'an expired certificate does not',
      chain: async () => [
        await leaf(ca, { notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }),
      ],
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'a certificate not yet valid does not',
      chain: async () => [
        await leaf(ca, { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) }),
      ],
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'a valid certificate checked at a time after it expires does not',
      chain: async () => [await leaf(ca, { notAfter: new Date(Date.now() + DAY) })],
      roots: () => [x(ca.certPem)],
      now: Date.now() + 2 * DAY,
      want: false,
    },
    {
      title: 'a certificate from an expired CA does not',
      chain: async () => [await leaf(expiredCA)],
      roots: () => [x(expiredCA.certPem)],
      want: false,
    },
    {
      title: 'a leaf signed by an intermediate verifies when the intermediate is in the chain',
      chain: async () => [await leaf(intermediate), x(intermediate.certPem)],
      roots: () => [x(ca.certPem)],
      want: true,
    },
    {
      title: 'the intermediate may come after unrelated certificates',
      chain: async () => [await leaf(intermediate), x(otherCA.certPem), x(intermediate.certPem)],
      roots: () => [x(ca.certPem)],
      want: true,
    },
    {
      title: 'a leaf signed by an intermediate does not verify without it',
      chain: async () => [await leaf(intermediate)],
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'an expired intermediate breaks the chain',
      chain: async () => [await leaf(expiredIntermediate), x(expiredIntermediate.certPem)],
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'a leaf cannot act as an intermediate',
      chain: async () => {
        const fake = await issueCert(ca, { commonName: 'not-a-ca', client: true });
        return [await leaf(fake), x(fake.certPem)];
      },
      roots: () => [x(ca.certPem)],
      want: false,
    },
    {
      title: 'no roots means nothing verifies',
      chain: async () => [await leaf(ca)],
      roots: () => [],
      want: false,
    },
    {
      title: 'an empty chain does not verify',
      chain: () => Promise.resolve([]),
      roots: () => [x(ca.certPem)],
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      expect(verifyClientChain(await c.chain(), c.roots(), c.now)).to.equal(c.want);
    });
  }
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

/** An IncomingMessage as far as the authenticator reads it, on a TLS socket with these peer certificates. */
function fakeRequest(
  headers: Record<string, string | string[]>,
  peer: X509Certificate[] = [],
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
  const socket = { getPeerCertificate: () => chain };
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

  const authn = (): Authenticator => new Authenticator(() => config, reviewer);

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
    const a = new Authenticator(() => null, reviewer);
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
    const cert = await leaf(frontProxyCA, { commonName: 'front-proxy-client' });
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
    const cert = await leaf(frontProxyCA, { commonName: 'mallory' });
    expect(await authn().authenticate(fakeRequest(asserted, [cert]))).to.equal(null);
  });

  it('ignores X-Remote-* from a client-CA certificate and authenticates its own subject', async () => {
    const cert = await leaf(clientCA, { commonName: 'front-proxy-client', organizations: ['team-x'] });
    const result = await authn().authenticate(fakeRequest(asserted, [cert]));
    expect(result).to.deep.equal({
      user: { username: 'front-proxy-client', groups: ['team-x', 'system:authenticated'], extra: {} },
      via: 'client-cert',
    });
  });

  it('ignores X-Remote-* from a certificate of an unknown CA', async () => {
    const stranger = await createCA('stranger');
    const cert = await leaf(stranger, { commonName: 'front-proxy-client' });
    expect(await authn().authenticate(fakeRequest(asserted, [cert]))).to.equal(null);
  });

  it('re-checks a connection’s certificate when the trusted CAs change', async () => {
    const cert = await leaf(clientCA, { commonName: 'carol' });
    const req = fakeRequest({}, [cert]);
    let current = config;
    const a = new Authenticator(() => current, reviewer);
    expect((await a.authenticate(req))?.user.username).to.equal('carol');
    const rotated = await createCA('rotated-client-ca');
    current = { ...config, clientCAs: [x(rotated.certPem)], generation: config.generation + 1 };
    expect(await a.authenticate(req)).to.equal(null);
  });
});
