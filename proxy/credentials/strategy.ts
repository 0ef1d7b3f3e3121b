// One strategy object per Secret type (and credential scheme), behind one interface. A strategy
// turns Secret data into an injector once (per Secret version); the injector then adds the tool
// credential to each outbound request. Nothing else in the code base builds an Authorization
// header for a tool.

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
  /**
   * The credential scheme a ConnectorClass chose for the auth type (its annotation
   * connectors.alauda.io/credential-scheme), or absent for the Secret type's own way.
   */
  readonly scheme?: string;
  /** Whether this strategy can use the Secret (e.g. Opaque only with a `token` key). */
  accepts(secret: SecretMaterial): boolean;
  create(secret: SecretMaterial): CredentialInjector;
}

/**
 * Reads a key as a single-line string, with a message that names the Secret and key, never the
 * value. Enough for values that are encoded before they travel (Basic); see requireToken.
 */
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

// RFC 9110 field-content restricted to ASCII: visible characters, with spaces and tabs only
// inside. obs-text (0x80-0xFF) is left out on purpose: undici sends a string's characters as
// single bytes, so a UTF-8 Secret value would reach the tool as other bytes than it holds, and
// anything above U+00FF is refused by undici outright (UND_ERR_INVALID_ARG, which looked like an
// unreachable tool). Leading or trailing whitespace would be trimmed by the receiving parser.
const fieldValue = /^[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?$/;

/** Whether `value` can be sent as an HTTP header value exactly as it is. */
export function isHeaderValue(value: string): boolean {
  return fieldValue.test(value);
}

/**
 * Reads a key whose value travels as a header value as is (a bearer token, a PAT): requireKey,
 * then a valid header value; the message names the Secret and key, never the value.
 */
export function requireToken(secret: SecretMaterial, key: string): string {
  const value = requireKey(secret, key);
  if (!isHeaderValue(value)) {
    throw new ProxyError(
      'InvalidCredential',
      `key "${key}" of Secret ${secret.namespace}/${secret.name} cannot be sent as an HTTP header value: ` +
        'it must be visible ASCII characters (spaces only inside), and it holds another character, such as ' +
        'a non-ASCII one ("…" left from an example), a control character, or whitespace at either end',
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
