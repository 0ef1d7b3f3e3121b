// cpaas.io/distribution-registry-token (`username`, `password`) → the OCI Distribution token flow.
//
// The registry says how it wants to be spoken to in the WWW-Authenticate header of an anonymous
// `GET /v2/`; that challenge is asked once per registry and kept for a few minutes. A `Basic`
// challenge gets Basic. A `Bearer realm=…,service=…` challenge sends the Connector's username and
// password (Basic) to the token service at `realm`, for the scope the request needs, and the
// registry then gets `Authorization: Bearer <token>`. Tokens are kept per (registry, scope) until
// shortly before they expire, per Secret (each injector has its own), and concurrent requests for
// the same token share one token request. Messages name the registry and the status, never the
// credential or the token.

import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { ProxyError } from '../errors.js';
import type { OutgoingHeaders } from '../headers.js';
import {
  isHeaderValue,
  requireKey,
  type CredentialInjector,
  type CredentialStrategy,
  type OutboundRequest,
  type SecretMaterial,
} from './strategy.js';

export const registryTokenSecretType = 'cpaas.io/distribution-registry-token';

export interface RegistryTokenOptions {
  /** Used for the challenge probe and the token service; default: an Agent with the timeouts below. */
  dispatcher?: Dispatcher;
  connectTimeoutMs?: number;
  /** For the response headers and between body chunks of the probe and the token request. */
  responseTimeoutMs?: number;
  /** How long a registry's challenge is trusted before it is asked again. */
  challengeTtlMs?: number;
  /** The clock, for tests. */
  now?: () => number;
}

export type Challenge =
  { scheme: 'none' } | { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service: string | undefined };

interface RawChallenge {
  scheme: string;
  params: Record<string, string>;
}

const tokenChar = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses a WWW-Authenticate value (RFC 9110 §11.6.1): one or more challenges, each a scheme and
 * comma-separated `name=value` parameters whose values may be quoted strings.
 */
export function parseWwwAuthenticate(header: string): RawChallenge[] {
  const out: RawChallenge[] = [];
  let i = 0;
  const skip = (chars: string): void => {
    while (i < header.length && chars.includes(header.charAt(i))) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < header.length && tokenChar.test(header.charAt(i))) i++;
    return header.slice(start, i);
  };
  const quoted = (): string => {
    let value = '';
    i++; // opening quote
    while (i < header.length && header.charAt(i) !== '"') {
      if (header.charAt(i) === '\\' && i + 1 < header.length) i++;
      value += header.charAt(i);
      i++;
    }
    i++; // closing quote
    return value;
  };
  while (i < header.length) {
    skip(' \t,');
    const scheme = token();
    if (!scheme) break;
    const challenge: RawChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skip(' \t');
      const mark = i;
      const name = token();
      skip(' \t');
      if (!name || header.charAt(i) !== '=') {
        // Not a parameter: the next challenge starts here (or a token68, which no scheme we use has).
        i = mark;
        break;
      }
      i++; // '='
      skip(' \t');
      challenge.params[name.toLowerCase()] = header.charAt(i) === '"' ? quoted() : token();
      skip(' \t');
      if (header.charAt(i) !== ',') break;
      i++;
    }
  }
  return out;
}

/** Where the Distribution API of a request lives, and what scope the request needs. */
export function registryScope(method: string, path: string): { apiRoot: string; scope: string | undefined } {
  const pathname = path.split('?')[0] ?? '';
  const at = pathname.indexOf('/v2/');
  if (at < 0) return { apiRoot: '/v2/', scope: undefined };
  const apiRoot = pathname.slice(0, at + 4);
  const rest = pathname.slice(at + 4);
  if (rest === '_catalog') return { apiRoot, scope: 'registry:catalog:*' };
  const m =
    /^(.+)\/(?:tags\/list|manifests\/[^/]+|blobs\/uploads\/[^/]*|blobs\/[^/]+|referrers\/[^/]+)$/.exec(rest);
  const name = m?.[1];
  if (name === undefined) return { apiRoot, scope: undefined };
  const writes = method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
  return { apiRoot, scope: `repository:${name}:${writes ? 'pull,push' : 'pull'}` };
}

async function readCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      body.destroy();
      throw new Error(`more than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function headerValue(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}

function failure(err: unknown, what: string): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new ProxyError('UpstreamTimeout', `${what} did not answer in time`, { cause: err });
  }
  const e = err as { code?: string };
  const detail = e.code ?? (err instanceof Error ? err.name : 'error');
  return new ProxyError('UpstreamUnreachable', `${what} cannot be reached (${detail})`, { cause: err });
}

const maxTokensPerSecret = 1_000;

interface CachedToken {
  value: string;
  expires: number;
}

export class RegistryTokenStrategy implements CredentialStrategy {
  readonly secretType = registryTokenSecretType;
  private readonly challenges = new Map<string, { expires: number; challenge: Promise<Challenge> }>();
  private ownDispatcher: Dispatcher | undefined;
  private readonly now: () => number;

  constructor(private readonly options: RegistryTokenOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  accepts(): boolean {
    return true;
  }

  create(secret: SecretMaterial): CredentialInjector {
    const username = requireKey(secret, 'username');
    const password = requireKey(secret, 'password');
    if (username.includes(':')) {
      throw new ProxyError(
        'InvalidCredential',
        `username of Secret ${secret.namespace}/${secret.name} contains ':', which Basic auth cannot carry`,
      );
    }
    const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    const tokens = new Map<string, CachedToken>();
    const pending = new Map<string, Promise<CachedToken>>();

    const token = async (
      origin: string,
      apiRoot: string,
      challenge: Challenge & { scheme: 'bearer' },
      scope: string | undefined,
    ): Promise<string> => {
      const key = `${origin}${apiRoot}\n${scope ?? ''}`;
      const hit = tokens.get(key);
      if (hit && hit.expires > this.now()) return hit.value;
      let inflight = pending.get(key);
      if (!inflight) {
        inflight = this.fetchToken(origin, challenge, scope, basic).finally(() => pending.delete(key));
        pending.set(key, inflight);
      }
      const fresh = await inflight;
      tokens.delete(key);
      // One token per repository scope: bounded, the oldest first out (a Map keeps insertion order).
      if (tokens.size >= maxTokensPerSecret) {
        const oldest = tokens.keys().next().value;
        if (oldest !== undefined) tokens.delete(oldest);
      }
      tokens.set(key, fresh);
      return fresh.value;
    };

    return {
      inject: async (headers: OutgoingHeaders, request: OutboundRequest): Promise<void> => {
        const { apiRoot, scope } = registryScope(request.method.toUpperCase(), request.path);
        const challenge = await this.challenge(request.origin, apiRoot);
        if (challenge.scheme === 'basic') headers.authorization = basic;
        else if (challenge.scheme === 'bearer') {
          headers.authorization = `Bearer ${await token(request.origin, apiRoot, challenge, scope)}`;
        }
        // 'none': the registry asked for nothing, so nothing is sent.
      },
    };
  }

  /** Drops the shared connections of the default dispatcher (for tests and shutdown). */
  async close(): Promise<void> {
    const d = this.ownDispatcher;
    this.ownDispatcher = undefined;
    this.challenges.clear();
    if (d) await d.close();
  }

  private get dispatcher(): Dispatcher {
    if (this.options.dispatcher) return this.options.dispatcher;
    this.ownDispatcher ??= new Agent({
      connect: { timeout: this.options.connectTimeoutMs ?? 5_000 },
      headersTimeout: this.options.responseTimeoutMs ?? 15_000,
      bodyTimeout: this.options.responseTimeoutMs ?? 15_000,
      keepAliveTimeout: 30_000,
      allowH2: false, // HTTP/1.1, as every connection our processes open to a tool
    });
    return this.ownDispatcher;
  }

  private challenge(origin: string, apiRoot: string): Promise<Challenge> {
    const key = origin + apiRoot;
    const now = this.now();
    const hit = this.challenges.get(key);
    if (hit && hit.expires > now) return hit.challenge;
    const challenge = this.probe(origin, apiRoot);
    this.challenges.set(key, { expires: now + (this.options.challengeTtlMs ?? 5 * 60_000), challenge });
    challenge.catch(() => {
      if (this.challenges.get(key)?.challenge === challenge) this.challenges.delete(key);
    });
    return challenge;
  }

  private async probe(origin: string, apiRoot: string): Promise<Challenge> {
    const what = `the registry at ${origin}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({ origin, path: apiRoot, method: 'GET' });
      res.body.resume();
    } catch (err) {
      throw failure(err, what);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return { scheme: 'none' };
    if (res.statusCode !== 401) {
      throw new ProxyError(
        'UpstreamUnreachable',
        `${what} answered ${res.statusCode} to GET ${apiRoot}; expected 200 or 401 from a Distribution API`,
      );
    }
    const challenges = parseWwwAuthenticate(headerValue(res.headers['www-authenticate']));
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const realm = bearer.params.realm ?? '';
      let url: URL;
      try {
        url = new URL(realm);
      } catch {
        throw new ProxyError('UpstreamAuth', `${what} names a token service that is not a URL`);
      }
      // A registry served over https must not send the password to a plain-http token service.
      const allowed = origin.startsWith('http:') ? ['http:', 'https:'] : ['https:'];
      if (!allowed.includes(url.protocol) || url.username || url.password) {
        throw new ProxyError(
          'UpstreamAuth',
          `${what} names a token service at ${url.protocol}//${url.host}, which is not a safe place for the password`,
        );
      }
      return { scheme: 'bearer', realm: url.href, service: bearer.params.service };
    }
    if (challenges.length === 0 || challenges.some((c) => c.scheme === 'basic')) return { scheme: 'basic' };
    throw new ProxyError(
      'UpstreamAuth',
      `${what} asks for ${challenges.map((c) => c.scheme).join(', ')} authentication; only Basic and Bearer (token) are supported`,
    );
  }

  private async fetchToken(
    origin: string,
    challenge: { realm: string; service: string | undefined },
    scope: string | undefined,
    basic: string,
  ): Promise<CachedToken> {
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    if (scope !== undefined) url.searchParams.set('scope', scope);
    const what = `the token service of the registry at ${origin} (${url.origin})`;
    let res: Dispatcher.ResponseData;
    let body: Buffer;
    try {
      res = await this.dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'GET',
        headers: { authorization: basic, accept: 'application/json' },
      });
      body = await readCapped(res.body, 1024 * 1024);
    } catch (err) {
      throw failure(err, what);
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new ProxyError('UpstreamAuth', `${what} refused the Connector's credential (${res.statusCode})`);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new ProxyError('UpstreamUnreachable', `${what} answered ${res.statusCode}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ProxyError('UpstreamUnreachable', `${what} answered with something other than JSON`);
    }
    const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const value = [fields.token, fields.access_token].find(
      (t): t is string => typeof t === 'string' && t !== '',
    );
    if (value === undefined || !isHeaderValue(value)) {
      throw new ProxyError('UpstreamUnreachable', `${what} answered without a usable token`);
    }
    const seconds = typeof fields.expires_in === 'number' && fields.expires_in > 0 ? fields.expires_in : 60;
    const lifetimeMs = seconds * 1000;
    // Renewed a little before it runs out, so that a token never expires on its way to the registry.
    const margin = Math.min(10_000, lifetimeMs / 5);
    return { value, expires: this.now() + lifetimeMs - margin };
  }
}

export const registryTokenStrategy = new RegistryTokenStrategy();
