// The control plane trusts these certificates, so a wrong extension shows up only as an opaque
// TLS failure in an integration test; checking them here with Node's own X.509 parser is cheaper.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { expect } from 'chai';
import { createCA, generateKeyPairPem, issueCert, type CertificateAuthority } from '../../../hack/pki.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('hack/pki', () => {
  let ca: CertificateAuthority;
  let otherCA: CertificateAuthority;

  before(async () => {
    ca = await createCA('test-ca');
    otherCA = await createCA('other-ca');
  });

  it('creates a self-signed CA certificate', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).to.be.true;
    expect(cert.subject).to.equal('CN=test-ca');
    expect(cert.checkIssued(cert)).to.be.true;
    expect(cert.verify(cert.publicKey)).to.be.true;
    expect(createPrivateKey(ca.keyPem).asymmetricKeyType).to.equal('ec');
  });

  it('issues a server certificate that verifies against its CA, with SANs and serverAuth', async () => {
    const leaf = await issueCert(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'connectors-apiserver.connectors-system.svc'],
      ipAddresses: ['127.0.0.1'],
      server: true,
    });
    const cert = new X509Certificate(leaf.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.ca).to.be.false;
    expect(cert.checkIssued(caCert)).to.be.true;
    expect(cert.verify(caCert.publicKey)).to.be.true;
    expect(cert.keyUsage).to.deep.equal([SERVER_AUTH]);
    expect(cert.subjectAltName).to.equal(
      'DNS:localhost, DNS:connectors-apiserver.connectors-system.svc, IP Address:127.0.0.1',
    );
    expect(cert.checkHost('localhost')).to.equal('localhost');
    expect(cert.checkIP('127.0.0.1')).to.equal('127.0.0.1');
    expect(cert.checkPrivateKey(createPrivateKey(leaf.keyPem))).to.be.true;
    expect(leaf.keyPem).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('issues a client certificate with CN, groups as O= and clientAuth only', async () => {
    const leaf = await issueCert(ca, {
      commonName: 'admin',
      organizations: ['system:masters', 'dev'],
      client: true,
    });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.subject.split('\n')).to.have.members(['O=system:masters', 'O=dev', 'CN=admin']);
    expect(cert.keyUsage).to.deep.equal([CLIENT_AUTH]);
    expect(cert.subjectAltName).to.be.undefined;
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).to.be.true;
  });

  it('can carry both usages, and none', async () => {
    const both = new X509Certificate(
      (await issueCert(ca, { commonName: 'x', client: true, server: true })).certPem,
    );
    expect(both.keyUsage).to.have.members([SERVER_AUTH, CLIENT_AUTH]);
    const none = new X509Certificate((await issueCert(ca, { commonName: 'y' })).certPem);
    // No EKU extension at all (what the "missing clientAuth" negative tests need).
    expect(none.keyUsage).to.be.undefined;
  });

  it('links the leaf to its CA by key identifiers', async () => {
    const caIds = await keyIds(ca.certPem);
    const leafIds = await keyIds((await issueCert(ca, { commonName: 'k', client: true })).certPem);
    expect(caIds.ski).to.match(/^[0-9a-f]{40}$/);
    expect(caIds.aki).to.equal(caIds.ski);
    expect(leafIds.aki).to.equal(caIds.ski);
    expect(leafIds.ski).to.match(/^[0-9a-f]{40}$/);
    expect(leafIds.ski).to.not.equal(caIds.ski);
  });

  it('does not verify against a different CA', async () => {
    const leaf = new X509Certificate(
      (await issueCert(otherCA, { commonName: 'mallory', client: true })).certPem,
    );
    const caCert = new X509Certificate(ca.certPem);
    expect(leaf.checkIssued(caCert)).to.be.false;
    expect(leaf.verify(caCert.publicKey)).to.be.false;
    expect(leaf.verify(new X509Certificate(otherCA.certPem).publicKey)).to.be.true;
  });

  it('honours notAfter', async () => {
    const notAfter = new Date(Date.now() + 2 * 60 * 60 * 1000);
    notAfter.setMilliseconds(0);
    const cert = new X509Certificate((await issueCert(ca, { commonName: 'short', notAfter })).certPem);
    expect(cert.validToDate.getTime()).to.equal(notAfter.getTime());
    expect(cert.validFromDate.getTime()).to.be.below(Date.now());
  });

  it('generates a PEM key pair usable for service-account tokens', async () => {
    const pair = await generateKeyPairPem();
    expect(pair.publicKeyPem).to.match(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(createPublicKey(pair.publicKeyPem).asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
    expect(createPrivateKey(pair.privateKeyPem).asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
  });
});

/**
 * Node does not expose key identifiers, so they are read with @peculiar/x509; imported here, after
 * hack/pki.js (a static import above) has installed the Reflect shim that library needs.
 */
async function keyIds(pem: string): Promise<{ ski: string | undefined; aki: string | undefined }> {
  const x509 = await import('@peculiar/x509');
  const cert = new x509.X509Certificate(pem);
  return {
    ski: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    aki: cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
  };
}
