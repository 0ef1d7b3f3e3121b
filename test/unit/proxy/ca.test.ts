// Intercepted HTTPS works only if real TLS clients accept the minted leaf: right SAN (DNS or IP),
// serverAuth, chained to the proxy CA by OpenSSL's rules. Checked with Node's own X.509 parser and
// a real TLS handshake, for a generated CA and for loaded EC and RSA (PKCS#1) CAs.
import { generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect, TLSSocket } from 'node:tls';
import { expect } from 'chai';
import { ProxyCertificateAuthority } from '../../../proxy/ca.js';
import { createCA, issueCert } from '../../../hack/pki.js';
import { x509 } from '../../../proxy/x509.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

async function handshake(ca: ProxyCertificateAuthority, host: string): Promise<boolean> {
  // As the proxy does it: a TLSSocket in server mode over an accepted plain socket.
  const secureContext = await ca.secureContextFor(host);
  const server = createNetServer((raw) => {
    const s = new TLSSocket(raw, { isServer: true, secureContext });
    s.on('error', () => undefined);
    s.end('hi');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<boolean>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: ca.certPem,
        ...(host === '127.0.0.1' ? {} : { servername: host }),
        checkServerIdentity: (_name, cert) =>
          // Node checks against `host` (the IP we dial); check the name we asked for instead.
          host === '127.0.0.1'
            ? undefined
            : (cert.subjectaltname ?? '').split(', ').includes(`DNS:${host}`)
              ? undefined
              : new Error(`no SAN for ${host}`),
      });
      socket.once('secureConnect', () => {
        resolve(socket.authorized);
        socket.destroy();
      });
      socket.once('error', reject);
    });
  } finally {
    server.close();
  }
}

async function rsaCa(): Promise<{ certPem: string; keyPem: string }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const priv = await webcrypto.subtle.importKey(
    'pkcs8',
    privateKey.export({ type: 'pkcs8', format: 'der' }),
    alg,
    true,
    ['sign'],
  );
  const jwk = await webcrypto.subtle.exportKey('jwk', priv);
  const pub = await webcrypto.subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e }, alg, true, [
    'verify',
  ]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=rsa-proxy-ca',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: alg,
    keys: { privateKey: priv, publicKey: pub },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(pub),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}

describe('proxy/ca', function () {
  this.timeout(20_000);
  let generated: ProxyCertificateAuthority;

  before(async () => {
    generated = await ProxyCertificateAuthority.generate();
  });

  it('generates a CA certificate', () => {
    const cert = new X509Certificate(generated.certPem);
    expect(cert.ca).to.equal(true);
    expect(cert.checkIssued(cert)).to.equal(true);
  });

  for (const host of ['git.example.com', '127.0.0.1', '::1']) {
    it(`mints a serverAuth leaf for ${host} with the right SAN, signed by the CA`, async () => {
      const leaf = new X509Certificate(await generated.issueLeaf(host, Date.now() + 86_400_000));
      const ca = new X509Certificate(generated.certPem);
      expect(leaf.ca).to.equal(false);
      expect(leaf.checkIssued(ca)).to.equal(true);
      expect(leaf.verify(ca.publicKey)).to.equal(true);
      expect(leaf.keyUsage).to.include(SERVER_AUTH);
      const want = host.includes(':')
        ? 'IP Address:0:0:0:0:0:0:0:1'
        : host === '127.0.0.1'
          ? 'IP Address:127.0.0.1'
          : `DNS:${host}`;
      expect(leaf.subjectAltName).to.equal(want);
    });
  }

  it('a TLS client that trusts the CA accepts the leaf, for a name and an IP', async () => {
    expect(await handshake(generated, 'git.example.com')).to.equal(true);
    expect(await handshake(generated, '127.0.0.1')).to.equal(true);
  });

  it('keeps one leaf per host until it nears expiry', async () => {
    let now = Date.now();
    const ca = await ProxyCertificateAuthority.generate(() => now);
    const first = ca.secureContextFor('a.example.com');
    expect(ca.secureContextFor('A.example.com')).to.equal(first);
    expect(ca.secureContextFor('b.example.com')).not.to.equal(first);
    now += 6 * 86_400_000; // within the last quarter of the 7-day leaf
    expect(ca.secureContextFor('a.example.com')).not.to.equal(first);
    await first;
  });

  it('mints one leaf for several names: a client verifying any of them accepts it, and no other', async () => {
    const ca = await ProxyCertificateAuthority.generate();
    const names = ['mysql.connectors-system.svc', 'c-db.team.svc', 'c-db.team.svc.cluster.local'];
    const leaf = new X509Certificate(await ca.issueLeaf(names, Date.now() + 86_400_000));
    for (const name of names) expect(leaf.checkHost(name), name).to.equal(name);
    expect(leaf.checkHost('c-other.team.svc.cluster.local')).to.equal(undefined);
    expect(leaf.checkIssued(new X509Certificate(ca.certPem))).to.equal(true);
    expect(ca.secureContextFor(names)).to.equal(ca.secureContextFor(names.map((n) => n.toUpperCase())));
  });

  it('loads an EC CA (hack/pki) and chains leaves to it by its key identifier', async () => {
    const pem = await createCA('loaded-ec-ca');
    const ca = await ProxyCertificateAuthority.load(pem.certPem, pem.keyPem);
    expect(await handshake(ca, 'registry.example.com')).to.equal(true);
  });

  it('refuses a CA outside its validity period, saying when it is valid', async () => {
    const notAfter = new Date(Date.now() + 86_400_000);
    notAfter.setMilliseconds(0);
    const pem = await createCA('dated-ca', { notAfter });
    const from = new X509Certificate(pem.certPem).validFromDate;
    const window = `valid ${from.toISOString()} to ${notAfter.toISOString()}`;
    for (const at of [from.getTime() - 1_000, notAfter.getTime(), notAfter.getTime() + 1_000]) {
      const err = await ProxyCertificateAuthority.load(pem.certPem, pem.keyPem, () => at).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).to.equal(`the CA certificate is not valid now (${window})`);
    }
    await ProxyCertificateAuthority.load(pem.certPem, pem.keyPem, () => from.getTime());
  });

  it('loads an RSA CA with a PKCS#1 key', async () => {
    const pem = await rsaCa();
    const ca = await ProxyCertificateAuthority.load(pem.certPem, pem.keyPem);
    expect(await handshake(ca, 'registry.example.com')).to.equal(true);
  });

  it('refuses a key of another CA, a certificate that is no CA, and garbage, without echoing the key', async () => {
    const a = await createCA('a');
    const b = await createCA('b');
    const leaf = await issueCert(a, { commonName: 'leaf', server: true });
    const cases: { cert: string; key: string; error: RegExp }[] = [
      { cert: a.certPem, key: b.keyPem, error: /does not belong to the CA certificate/ },
      { cert: leaf.certPem, key: leaf.keyPem, error: /not a CA/ },
      { cert: 'nope', key: a.keyPem, error: /not a PEM X.509 certificate/ },
      { cert: a.certPem, key: 'nope', error: /not a PEM private key/ },
    ];
    for (const c of cases) {
      try {
        await ProxyCertificateAuthority.load(c.cert, c.key);
        expect.fail('expected a refusal');
      } catch (err) {
        expect((err as Error).message).to.match(c.error);
        expect((err as Error).message).not.to.contain('PRIVATE KEY');
      }
    }
  });
});
