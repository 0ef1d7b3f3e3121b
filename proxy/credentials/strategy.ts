// One strategy object per Secret type, behind one interface. A strategy turns Secret data into an
// injector once (per Secret version); the injector then adds the tool credential to each
// outbound request. Nothing else in the code base builds an Authorization header for a tool.

import { ProxyError } from '../errors.js';
import type { OutgoingHeaders } from '../headers.js';

export interface SecretMaterial {
  namespace: string;
  name: string;
  type: string;
  data: Readonly<Record<string, Buffer>>;
}

export interface OutboundRequest {
  method: string;
  origin: string;
  path: string;
}

export interface CredentialInjector {
  /** Sets the credential headers on `headers` for this request. */
  inject(headers: OutgoingHeaders, request: OutboundRequest): void | Promise<void>;
}

export interface CredentialStrategy {
  readonly secretType: string;
  /** Whether this strategy can use the Secret (e.g. Opaque only with a `token` key). */
  accepts(secret: SecretMaterial): boolean;
  create(secret: SecretMaterial): CredentialInjector;
}

/** Reads a key as a single-line string, with a message that names the Secret and key, never the value. */
export function requireKey(secret: SecretMaterial, key: string): string {
  const raw = secret.data[key];
  if (raw === undefined || raw.length === 0) {
    throw new ProxyError(
      'InvalidCredential',
      `Secret ${secret.namespace}/${secret.name} (type ${secret.type}) has no "${key}" key`,
    );
  }
  const value = raw.toString('utf8');
  if (/[\r\n\0]/.test(value)) {
    throw new ProxyError(
      'InvalidCredential',
      `key "${key}" of Secret ${secret.namespace}/${secret.name} contains a line break or NUL; remove it`,
    );
  }
  return value;
}

/** An injector that always sets the same header, computed once from the Secret. */
export function staticHeader(name: string, value: string): CredentialInjector {
  return {
    inject(headers) {
      headers[name] = value;
    },
  };
}
