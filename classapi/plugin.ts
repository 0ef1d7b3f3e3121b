// The request headers of the published backend contract, decoded once per request:
//
//   X-Plugin-Meta    base64(JSON {"baseURL": "<Connector.spec.address>"})       required
//                    (the controller's API probes add "caCert": the Connector's CA bundle)
//   X-Plugin-Auth    base64(<Secret type>)                                      with a Secret
//   X-Plugin-Secret  base64(JSON of the Secret's data, values still base64)     optional
//
// Without X-Plugin-Secret the tool is called without a credential. The credential itself is built
// by the shared strategies (proxy/credentials), exactly as for /proxy. Injectors are kept for a
// few minutes under a hash of the two credential headers, so the token flow of a registry Secret
// reuses its tokens across requests. No message here ever repeats a header value: they carry the
// credential, and JSON.parse errors quote their input, so those are never passed on.

import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { badRequest } from '../machinery/status.js';
import { TtlCache } from '../machinery/ttlcache.js';
import { injectorFor, type CredentialInjector } from '../proxy/credentials/index.js';
import { ProxyError } from '../proxy/errors.js';
import { parseToolAddress, type ToolAddress } from '../proxy/target.js';

export interface PluginRequest {
  /** The Connector's address: origin and path prefix. */
  address: ToolAddress;
  /** The Secret type from X-Plugin-Auth, when a Secret was sent. */
  secretType: string | undefined;
  /** Null when no Secret was sent: the tool is called anonymously. */
  injector: CredentialInjector | null;
}

const base64Pattern = /^[A-Za-z0-9+/_-]*={0,2}$/;

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw badRequest(`the ${name} header must be sent once`);
  const trimmed = v.trim();
  return trimmed === '' ? undefined : trimmed;
}

function decodeBase64(value: string, what: string): Buffer {
  if (!base64Pattern.test(value)) throw badRequest(`${what} is not base64`);
  return Buffer.from(value, 'base64');
}

function decodeJsonObject(value: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeBase64(value, what).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw badRequest(`${what} is not base64-encoded JSON`);
    throw err;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest(`${what} must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * X-Plugin-Meta → the Connector's address as written (any scheme), and the PEM bundle of its
 * spec.caCertSecretRef when the sender adds it as "caCert" (the controller's API probes do).
 */
export function decodeConnectorMeta(headers: IncomingHttpHeaders): {
  baseURL: string;
  caCert: string | undefined;
} {
  const raw = single(headers, 'x-plugin-meta');
  if (raw === undefined) {
    throw badRequest(
      'the X-Plugin-Meta header is missing; the Connectors API server sends base64(JSON {"baseURL": <Connector address>})',
    );
  }
  const meta = decodeJsonObject(raw, 'the X-Plugin-Meta header');
  if (typeof meta.baseURL !== 'string' || meta.baseURL === '') {
    throw badRequest('the X-Plugin-Meta header has no "baseURL" string (the Connector address)');
  }
  if (meta.caCert !== undefined && typeof meta.caCert !== 'string') {
    throw badRequest('the "caCert" of the X-Plugin-Meta header must be a PEM string');
  }
  return { baseURL: meta.baseURL, caCert: meta.caCert || undefined };
}

/** X-Plugin-Meta → the Connector's address, an http(s) tool address. */
export function decodeMeta(headers: IncomingHttpHeaders): ToolAddress {
  const { baseURL } = decodeConnectorMeta(headers);
  try {
    return parseToolAddress(baseURL);
  } catch (err) {
    if (err instanceof ProxyError)
      throw badRequest(`the baseURL in X-Plugin-Meta is unusable: ${err.message}`);
    throw err;
  }
}

/** X-Plugin-Auth + X-Plugin-Secret → the Secret's type and data (decoded), or undefined. */
export function decodeSecret(
  headers: IncomingHttpHeaders,
): { type: string; data: Record<string, Buffer> } | undefined {
  const rawSecret = single(headers, 'x-plugin-secret');
  if (rawSecret === undefined) return undefined;
  const rawType = single(headers, 'x-plugin-auth');
  if (rawType === undefined) {
    throw badRequest('X-Plugin-Secret was sent without X-Plugin-Auth, so the Secret type is unknown');
  }
  const type = decodeBase64(rawType, 'the X-Plugin-Auth header').toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (type === '' || /[\u0000-\u001f\u007f]/.test(type)) {
    throw badRequest('the X-Plugin-Auth header does not hold a Secret type');
  }
  const fields = decodeJsonObject(rawSecret, 'the X-Plugin-Secret header');
  const data: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== 'string') {
      throw badRequest(`key "${key}" of the X-Plugin-Secret header is not a (base64) string`);
    }
    data[key] = decodeBase64(value, `key "${key}" of the X-Plugin-Secret header`);
  }
  return { type, data };
}

/** The shared strategies name a Secret as `namespace/name`; here there is only the header. */
const placeholderName = '(X-Plugin-Secret)';

function credentialError(err: ProxyError): ProxyError {
  const message = err.message.split(`Secret /${placeholderName}`).join('the Secret sent in X-Plugin-Secret');
  return new ProxyError(err.code, message);
}

export class PluginDecoder {
  private readonly injectors: TtlCache<CredentialInjector>;

  constructor(ttlMs = 5 * 60_000, maxEntries = 1_000) {
    this.injectors = new TtlCache(ttlMs, maxEntries);
  }

  async decode(headers: IncomingHttpHeaders): Promise<PluginRequest> {
    const address = decodeMeta(headers);
    const secret = decodeSecret(headers);
    if (!secret) return { address, secretType: undefined, injector: null };
    // The key is a digest of the credential headers, never the headers themselves.
    const key = createHash('sha256')
      .update(headers['x-plugin-auth'] as string)
      .update('\n')
      .update(headers['x-plugin-secret'] as string)
      .digest('base64');
    const injector = await this.injectors.getOrLoad(key, () => {
      try {
        return Promise.resolve(injectorFor({ namespace: '', name: placeholderName, ...secret }));
      } catch (err) {
        return Promise.reject(err instanceof ProxyError ? credentialError(err) : (err as Error));
      }
    });
    return { address, secretType: secret.type, injector };
  }
}
