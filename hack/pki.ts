// Throwaway PKI for the local control plane and tests. Node can verify certificates but not issue
// them, so issuing goes through @peculiar/x509 on top of Node's WebCrypto. Keys are ECDSA P-256:
// generating one takes well under a millisecond, where RSA-2048 takes tens, and Go's crypto/tls,
// etcd and kube-apiserver accept P-256 everywhere we need a key (TLS, client certs, SA tokens).
import { randomBytes, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { x509 } from '../proxy/x509.js';

const subtle = webcrypto.subtle;
const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
// Backdating notBefore tolerates small clock differences between this process and the binaries
// that check the certificate (they all run on this host, but VMs and containers drift).
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate and its private key, both PEM (the key is PKCS#8, "BEGIN PRIVATE KEY"). */
export interface CertKeyPem {
  certPem: string;
  keyPem: string;
}

/** A CA is just its certificate and key: anything holding the PEMs can issue from it. */
export type CertificateAuthority = CertKeyPem;

export interface IssueOptions {
  commonName: string;
  /** Subject O= values; Kubernetes reads them as the user's groups. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Adds ExtendedKeyUsage clientAuth. */
  client?: boolean;
  /** Adds ExtendedKeyUsage serverAuth. */
  server?: boolean;
  /** Default: one year from now. */
  notAfter?: Date;
  /** Default: one hour ago. */
  notBefore?: Date;
}

export interface KeyPairPem {
  publicKeyPem: string;
  privateKeyPem: string;
}

/** Generates an ECDSA P-256 key pair as PEM (SPKI public key, PKCS#8 private key). */
export async function generateKeyPairPem(): Promise<KeyPairPem> {
  const keys = await generateKeys();
  return {
    publicKeyPem: toPem(await subtle.exportKey('spki', keys.publicKey), 'PUBLIC KEY'),
    privateKeyPem: await privateKeyPem(keys.privateKey),
  };
}

/** Creates a self-signed CA certificate valid for ten years. */
export async function createCA(
  commonName: string,
  opts: { notAfter?: Date } = {},
): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(Date.now() - BACKDATE_MS),
    notAfter: opts.notAfter ?? new Date(Date.now() + 3650 * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      // Self-signed, so the authority key is the subject key; Go's verifier does not need it but
      // some tools (openssl verify -x509_strict) do.
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCert(ca: CertificateAuthority, opts: IssueOptions): Promise<CertKeyPem> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importPrivateKey(ca.keyPem);
  const keys = await generateKeys();

  const usages: string[] = [];
  if (opts.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (opts.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const sans: X509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value): X509.JsonGeneralName => ({ type: 'dns', value })),
    ...(opts.ipAddresses ?? []).map((value): X509.JsonGeneralName => ({ type: 'ip', value })),
  ];

  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // ECDSA keys sign; keyEncipherment is an RSA key-transport usage and would be wrong here.
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export()),
  ];
  // An empty EKU extension would mean "no usage at all", so it is left out when none is requested.
  if (usages.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(usages, false));
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [...(opts.organizations ?? []).map((o) => ({ O: [o] })), { CN: [opts.commonName] }],
    issuer: caCert.subjectName,
    notBefore: opts.notBefore ?? new Date(Date.now() - BACKDATE_MS),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return toPem(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importPrivateKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

function toPem(der: ArrayBuffer, label: string): string {
  return x509.PemConverter.encode(der, label) + '\n';
}

/** 16 random bytes with the top bit cleared: RFC 5280 serials are positive and at most 20 bytes. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}
