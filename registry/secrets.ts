// Secrets are read one by one, only when a Connector references them, and kept for a short TTL:
// the server needs `get` on Secrets but never a list or watch over every Secret of the cluster.
// The cached entry is the ready-made credential injector, so the hot path does no decoding.
// Concurrent misses for the same Secret share one request; a failed read is not cached.

import { X509Certificate } from 'node:crypto';
import { serviceUnavailable } from '../machinery/status.js';
import { TtlCache } from '../machinery/ttlcache.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { injectorFor, type CredentialInjector } from '../proxy/credentials/index.js';
import { ProxyError } from '../proxy/errors.js';

export type SecretLookup =
  | {
      found: true;
      type: string;
      injector: CredentialInjector;
      /** The Secret's data as the API returns it (base64 values), for the class API backend contract. */
      data: Readonly<Record<string, string>>;
    }
  | { found: false; reason: 'NotFound' | 'Forbidden' | 'Invalid'; message: string };

/** A Secret as it is, for a custom proxy's own authentication: its type and decoded data. */
export interface SecretMaterial {
  found: true;
  type: string;
  data: Readonly<Record<string, Buffer>>;
}

export type CaLookup = { found: true; pem: string } | { found: false; message: string };

export interface SecretSource {
  /** The Secret's credential, sent the way `scheme` says (proxy/credentials; '' for its type's way). */
  credential(namespace: string, name: string, scheme?: string): Promise<SecretLookup>;
  /** The CA bundle a Connector's caCertSecretRef names: PEM certificates from its keys. */
  caBundle(namespace: string, name: string): Promise<CaLookup>;
}

type Missing = Extract<SecretLookup, { found: false }>;
type RawSecret = { found: true; type: string; data: Record<string, string> } | Missing;

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export class SecretCache implements SecretSource {
  private readonly credentials: TtlCache<SecretLookup>;
  private readonly cas: TtlCache<CaLookup>;
  private readonly materials: TtlCache<SecretMaterial | Missing>;
  constructor(
    private readonly kube: KubeClient,
    ttlMs: number,
    maxEntries = 50_000,
  ) {
    this.credentials = new TtlCache(ttlMs, maxEntries);
    this.cas = new TtlCache(ttlMs, maxEntries);
    this.materials = new TtlCache(ttlMs, maxEntries);
  }

  /** The Secret as it is (any type), read by name like the others. */
  material(namespace: string, name: string): Promise<SecretMaterial | Missing> {
    return this.materials.getOrLoad(`${namespace}/${name}`, async () => {
      const secret = await this.read(namespace, name);
      if (!secret.found) return secret;
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(secret.data)) data[k] = Buffer.from(v, 'base64');
      return { found: true, type: secret.type, data };
    });
  }

  credential(namespace: string, name: string, scheme = ''): Promise<SecretLookup> {
    return this.credentials.getOrLoad(`${namespace}/${name}\n${scheme}`, async () => {
      const secret = await this.read(namespace, name);
      if (!secret.found) return secret;
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(secret.data)) data[k] = Buffer.from(v, 'base64');
      try {
        const injector = injectorFor({ namespace, name, type: secret.type, data }, scheme);
        return { found: true, type: secret.type, injector, data: secret.data };
      } catch (err) {
        // A definite answer, cached like the others: the message names the Secret, never a value.
        if (err instanceof ProxyError) return { found: false, reason: 'Invalid', message: err.message };
        throw err;
      }
    });
  }

  caBundle(namespace: string, name: string): Promise<CaLookup> {
    return this.cas.getOrLoad(`${namespace}/${name}`, async () => {
      const secret = await this.read(namespace, name);
      if (!secret.found) return { found: false, message: secret.message };
      // As upstream: keys ending in .crt or .pem, or any value holding a PEM certificate.
      const blocks: string[] = [];
      for (const [key, value] of Object.entries(secret.data)) {
        const text = Buffer.from(value, 'base64').toString('utf8');
        const found = text.match(pemBlock) ?? [];
        if (found.length > 0 || /\.(crt|pem)$/.test(key)) blocks.push(...found);
      }
      const valid = blocks.filter((b) => {
        try {
          new X509Certificate(b);
          return true;
        } catch {
          return false;
        }
      });
      if (valid.length === 0) {
        return {
          found: false,
          message: `Secret ${namespace}/${name} holds no PEM certificate (keys *.crt or *.pem)`,
        };
      }
      return { found: true, pem: valid.join('\n') };
    });
  }

  private async read(namespace: string, name: string): Promise<RawSecret> {
    try {
      const secret = await this.kube.get<{ type?: string; data?: Record<string, string> }>(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`,
      );
      return { found: true, type: secret.type ?? 'Opaque', data: secret.data ?? {} };
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 404 || err.status === 403)) {
        return {
          found: false,
          reason: err.status === 404 ? 'NotFound' : 'Forbidden',
          message:
            err.status === 404
              ? `Secret ${namespace}/${name} does not exist`
              : `the server may not read Secret ${namespace}/${name}; grant it "get" on that Secret`,
        };
      }
      // kube-apiserver down or failing: a passing state, said as one (not cached, see TtlCache).
      const code = (err as { code?: unknown }).code;
      const detail =
        err instanceof KubeApiError ? `HTTP ${err.status}` : typeof code === 'string' ? code : 'error';
      throw serviceUnavailable(
        `Secret ${namespace}/${name} cannot be read from kube-apiserver right now (${detail}); try again`,
      );
    }
  }
}
