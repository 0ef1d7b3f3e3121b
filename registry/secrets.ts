// Secrets are read one by one, only when a Connector references them, and kept for a short TTL:
// the server needs `get` on Secrets but never a list or watch over every Secret of the cluster.
// The cached entry is the ready-made credential injector, so the hot path does no decoding.
// Concurrent misses for the same Secret share one request; a failed read is not cached.

import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { TtlCache } from '../apiserver/machinery/ttlcache.js';
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

export interface SecretSource {
  credential(namespace: string, name: string): Promise<SecretLookup>;
}

export class SecretCache implements SecretSource {
  private readonly cache: TtlCache<SecretLookup>;
  private readonly api: CoreV1Api;

  constructor(kc: KubeConfig, ttlMs: number, maxEntries = 50_000) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.cache = new TtlCache(ttlMs, maxEntries);
  }

  credential(namespace: string, name: string): Promise<SecretLookup> {
    return this.cache.getOrLoad(`${namespace}/${name}`, () => this.fetch(namespace, name));
  }

  private async fetch(namespace: string, name: string): Promise<SecretLookup> {
    try {
      const secret = await this.api.readNamespacedSecret({ namespace, name });
      const data: Record<string, Buffer> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64');
      const type = secret.type ?? 'Opaque';
      try {
        return {
          found: true,
          type,
          injector: injectorFor({ namespace, name, type, data }),
          data: secret.data ?? {},
        };
      } catch (err) {
        // A definite answer, cached like the others: the message names the Secret, never a value.
        if (err instanceof ProxyError) return { found: false, reason: 'Invalid', message: err.message };
        throw err;
      }
    } catch (err) {
      if (err instanceof ApiException && (err.code === 404 || err.code === 403)) {
        return {
          found: false,
          reason: err.code === 404 ? 'NotFound' : 'Forbidden',
          message:
            err.code === 404
              ? `Secret ${namespace}/${name} does not exist`
              : `the server may not read Secret ${namespace}/${name}; grant it "get" on that Secret`,
        };
      }
      throw err;
    }
  }
}
