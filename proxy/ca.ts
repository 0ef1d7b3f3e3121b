// The proxy CA (--proxy-ca-cert-file/--proxy-ca-key-file), whose leaves the Connectors Proxies
// serve TLS with: the Connectors Proxy intercepting HTTPS to a Connector's address in forward mode
// (the client trusts this CA, the proxy answers its CONNECT with a TLS server of its own whose
// certificate for the requested host is minted here), and the MySQL Connectors Proxy's logins.
// A leaf is minted on first use and kept until shortly before it expires.
//
// Every leaf shares one key pair generated at startup (one signature per new host, no key
// generation on the request path). The CA key may be EC (P-256/384/521) or RSA, in any PEM form
// Node reads (PKCS#8, SEC1, PKCS#1), so cert-manager's default RSA CA works as is.

import { createPrivateKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type * as X509 from '@peculiar/x509';
import { x509 } from './x509.js';

const subtle = webcrypto.subtle;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Leaf lifetime; a leaf is re-minted once less than a quarter of it is left. */
const LEAF_LIFETIME_MS = 7 * DAY_MS;
const LEAF_RENEW_MS = LEAF_LIFETIME_MS / 4;
const MAX_CACHED_LEAVES = 10_000;

const leafKeyAlgorithm: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

interface SigningKey {
  key: webcrypto.CryptoKey;
  algorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
}

const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** Imports a CA key for signing; the error names what is wrong, never the key. */
async function importSigningKey(key: KeyObject): Promise<SigningKey> {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'ec') {
    const namedCurve = curves[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!namedCurve) throw new Error('the CA key is an EC key on a curve other than P-256, P-384 or P-521');
    const hash = namedCurve === 'P-256' ? 'SHA-256' : namedCurve === 'P-384' ? 'SHA-384' : 'SHA-512';
    return {
      key: await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']),
      algorithm: { name: 'ECDSA', hash },
    };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await subtle.importKey('pkcs8', der, algorithm, false, ['sign']), algorithm };
  }
  throw new Error(`the CA key is of type ${key.asymmetricKeyType ?? 'unknown'}; use an EC or RSA key`);
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // RFC 5280: positive
  return bytes.toString('hex');
}

interface CachedLeaf {
  notAfter: number;
  context: Promise<SecureContext>;
}

export class ProxyCertificateAuthority {
  private readonly leaves = new Map<string, CachedLeaf>();
  private readonly caKeyId: string | undefined;

  private constructor(
    /** The CA certificate (PEM) clients must trust. */
    readonly certPem: string,
    private readonly caCert: X509.X509Certificate,
    private readonly signer: SigningKey,
    private readonly leafKeys: webcrypto.CryptoKeyPair,
    private readonly leafKeyPem: string,
    private readonly now: () => number,
  ) {
    this.caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  }

  /** Loads a CA from PEM; throws an Error saying what is wrong with it (never the key itself). */
  static async load(
    certPem: string,
    keyPem: string,
    now: () => number = Date.now,
  ): Promise<ProxyCertificateAuthority> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
    } catch {
      throw new Error('the CA certificate is not a PEM X.509 certificate');
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw new Error('the CA key is not a PEM private key (PKCS#8, SEC1 or PKCS#1, unencrypted)');
    }
    if (!cert.ca) throw new Error('the CA certificate is not a CA (basicConstraints CA:TRUE is missing)');
    if (!cert.checkPrivateKey(key)) throw new Error('the CA key does not belong to the CA certificate');
    const [from, to] = [cert.validFromDate, cert.validToDate];
    if (to.getTime() <= now() || from.getTime() > now()) {
      throw new Error(
        `the CA certificate is not valid now (valid ${from.toISOString()} to ${to.toISOString()})`,
      );
    }
    return ProxyCertificateAuthority.create(cert.toString(), await importSigningKey(key), now);
  }

  /** Generates a fresh CA (ECDSA P-256, valid one year) for this process alone. */
  static async generate(now: () => number = Date.now): Promise<ProxyCertificateAuthority> {
    const keys = await subtle.generateKey(leafKeyAlgorithm, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: [{ CN: ['connectors-proxy CA'] }, { O: ['Connectors'] }],
      notBefore: new Date(now() - HOUR_MS),
      notAfter: new Date(now() + 365 * DAY_MS),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return ProxyCertificateAuthority.create(
      cert.toString('pem'),
      { key: keys.privateKey, algorithm: { name: 'ECDSA', hash: 'SHA-256' } },
      now,
    );
  }

  private static async create(
    certPem: string,
    signer: SigningKey,
    now: () => number,
  ): Promise<ProxyCertificateAuthority> {
    const leafKeys = await subtle.generateKey(leafKeyAlgorithm, true, ['sign', 'verify']);
    const leafKeyPem = `${x509.PemConverter.encode(await subtle.exportKey('pkcs8', leafKeys.privateKey), 'PRIVATE KEY')}\n`;
    const pem = certPem.endsWith('\n') ? certPem : `${certPem}\n`;
    return new ProxyCertificateAuthority(
      pem,
      new x509.X509Certificate(pem),
      signer,
      leafKeys,
      leafKeyPem,
      now,
    );
  }

  /**
   * A TLS server context for `hosts` (DNS names or IP addresses; the first is the subject's CN),
   * minted on first use and cached by the whole list.
   */
  secureContextFor(hosts: string | readonly string[]): Promise<SecureContext> {
    const names = (typeof hosts === 'string' ? [hosts] : hosts).map((h) => h.toLowerCase());
    const key = names.join(',');
    const hit = this.leaves.get(key);
    if (hit && hit.notAfter - this.now() > LEAF_RENEW_MS) return hit.context;
    const notAfter = Math.min(this.now() + LEAF_LIFETIME_MS, this.caCert.notAfter.getTime());
    const context = this.issueLeaf(names, notAfter).then((certPem) =>
      createSecureContext({ key: this.leafKeyPem, cert: certPem }),
    );
    this.leaves.delete(key);
    if (this.leaves.size >= MAX_CACHED_LEAVES) {
      const oldest = this.leaves.keys().next().value;
      if (oldest !== undefined) this.leaves.delete(oldest);
    }
    this.leaves.set(key, { notAfter, context });
    context.catch(() => {
      if (this.leaves.get(key)?.context === context) this.leaves.delete(key);
    });
    return context;
  }

  /** The leaf certificate (PEM) for `hosts`, signed by this CA. Exposed for tests. */
  async issueLeaf(hosts: string | readonly string[], notAfter: number): Promise<string> {
    const names = typeof hosts === 'string' ? [hosts] : hosts;
    const host = names[0] ?? '';
    const sans = names.map((h): X509.JsonGeneralName =>
      isIP(h) ? { type: 'ip', value: h } : { type: 'dns', value: h },
    );
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      // CN is at most 64 characters (RFC 5280 ub-common-name); clients match on the SAN anyway.
      subject: [{ CN: [host.length <= 64 ? host : 'connectors-proxy'] }],
      issuer: this.caCert.subjectName,
      notBefore: new Date(this.now() - HOUR_MS),
      notAfter: new Date(notAfter),
      signingAlgorithm: this.signer.algorithm,
      publicKey: this.leafKeys.publicKey,
      signingKey: this.signer.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(sans, false),
        await x509.SubjectKeyIdentifierExtension.create(this.leafKeys.publicKey),
        // OpenSSL finds the issuer by this identifier, so it must be the CA's own SKI, not one
        // recomputed here (CAs compute it in different ways); without one, it is left out.
        ...(this.caKeyId ? [new x509.AuthorityKeyIdentifierExtension(this.caKeyId)] : []),
      ],
    });
    return cert.toString('pem');
  }
}
