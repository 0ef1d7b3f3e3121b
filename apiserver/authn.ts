// Who is calling. In the order k8s.io/apiserver uses: the front proxy (kube-apiserver, proven by a
// client certificate from the requestheader CA with an allowed CN, which alone makes X-Remote-*
// trustworthy), a client certificate from the cluster's client CA, a bearer token checked with
// TokenReview. A presented but invalid credential is a 401, never a fall-through to anonymous.
// Certificate chains are verified by the TLS handshake alone (against clientCaBundle); here we
// only tell which of our CAs issued a chain the handshake accepted.

import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { TokenReviewer, UserInfo } from '../kube/tokenreview.js';
import { noHeaderFilter, type HeaderFilter } from '../proxy/headers.js';
import type { AuthenticationConfig } from './authconfig.js';
import type { Logger } from '../machinery/log.js';

/** The peer's leaf and the certificates Node linked above it, leaf first (Node's objects, not yet parsed). */
function peerCertificates(socket: TLSSocket): DetailedPeerCertificate[] {
  const chain: DetailedPeerCertificate[] = [];
  const seen = new Set<string>();
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Node's types promise an issuerCertificate, but it is undefined when the issuer is unknown
  while (cert?.raw && !seen.has(cert.fingerprint256) && chain.length < 6) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * The CAs the TLS handshake verifies client certificates against: the cluster's client CA and the
 * front-proxy CA. The server requests a certificate without requiring one (token users and kubelet
 * probes must still connect), and the handshake's verdict (socket.authorized) is the only chain
 * verification: OpenSSL checks validity, path length, name constraints, key usages and the
 * clientAuth purpose. Always an explicit list, empty included: without one Node would verify client
 * certificates against its public root store.
 */
export function clientCaBundle(cfg: AuthenticationConfig | null): string[] {
  return [cfg?.requestHeader?.caPem ?? '', cfg?.clientCaPem ?? ''].filter((pem) => pem !== '');
}

/**
 * Whether one of `cas` issued `chain`, the chain of a connection that the TLS layer verified
 * against all our CAs together: this only tells which CA that was. Every link is checked by its
 * signature, not by names alone: Node links the certificates a client sent by issuer name, so a
 * client holding a client-CA certificate could add a forged certificate named like the front-proxy
 * CA and make the linked chain end there.
 */
export function issuedBy(chain: readonly X509Certificate[], cas: readonly X509Certificate[]): boolean {
  let current = chain[0];
  for (let i = 1; current && i <= chain.length; i++) {
    const cert: X509Certificate = current;
    if (cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return true;
    const next = chain[i];
    current = next && cert.checkIssued(next) && cert.verify(next.publicKey) ? next : undefined;
  }
  return false;
}

function subjectFields(cert: X509Certificate): { cn: string; orgs: string[] } {
  let cn = '';
  const orgs: string[] = [];
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=')) cn = line.slice(3);
    else if (line.startsWith('O=')) orgs.push(line.slice(2));
  }
  return { cn, orgs };
}

type CertVerdict = { kind: 'front-proxy' } | { kind: 'client'; user: UserInfo } | { kind: 'none' };

/**
 * Who the chain of a connection that the TLS layer verified makes the caller: the front proxy, a
 * client-CA user, or nobody (its CA is no longer trusted, or the front proxy's name is not allowed).
 */
function chainVerdict(chain: X509Certificate[], cfg: AuthenticationConfig): CertVerdict {
  const rh = cfg.requestHeader;
  const { cn, orgs } = subjectFields(chain[0] as X509Certificate);
  if (rh && issuedBy(chain, rh.cas) && (rh.allowedNames.length === 0 || rh.allowedNames.includes(cn))) {
    return { kind: 'front-proxy' };
  }
  if (issuedBy(chain, cfg.clientCAs) && cn !== '') {
    return { kind: 'client', user: { username: cn, groups: orgs, extra: {} } };
  }
  return { kind: 'none' };
}

function firstNonEmpty(req: IncomingMessage, names: string[]): string {
  for (const name of names) {
    for (const v of req.headersDistinct[name] ?? []) if (v !== '') return v;
  }
  return '';
}

/** Reads the identity kube-apiserver asserted in the requestheaders. */
function requestHeaderUser(req: IncomingMessage, cfg: AuthenticationConfig): UserInfo | null {
  const rh = cfg.requestHeader;
  if (!rh) return null;
  const username = firstNonEmpty(req, rh.usernameHeaders);
  if (!username) return null;
  const groups: string[] = [];
  for (const h of rh.groupHeaders) groups.push(...(req.headersDistinct[h] ?? []));
  const extra: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    const prefix = rh.extraPrefixes.find((p) => name.startsWith(p));
    if (!prefix || !values) continue;
    let key = name.slice(prefix.length);
    try {
      key = decodeURIComponent(key);
    } catch {
      continue; // not a key kube-apiserver could have written
    }
    (extra[key] ??= []).push(...values);
  }
  const uid = firstNonEmpty(req, rh.uidHeaders);
  return { username, groups, extra, ...(uid ? { uid } : {}) };
}

/** Every header that carries asserted identity: never read from untrusted callers, never forwarded. */
export function identityHeaders(cfg: AuthenticationConfig | null): HeaderFilter {
  const rh = cfg?.requestHeader;
  if (!rh) return noHeaderFilter;
  return {
    names: new Set([...rh.usernameHeaders, ...rh.groupHeaders, ...rh.uidHeaders]),
    prefixes: rh.extraPrefixes,
  };
}

export type AuthnResult = { user: UserInfo; via: 'front-proxy' | 'client-cert' | 'token' } | null;

export class Authenticator {
  private readonly verdicts = new WeakMap<TLSSocket, { generation: number; verdict: CertVerdict }>();
  private readonly chains = new Map<string, { generation: number; verdict: CertVerdict; notAfter: number }>();
  /**
   * The last bearer token each connection presented and who it was, for a second: a keep-alive
   * connection sends the same header on every request, and hashing it for the TokenReview cache
   * was the largest part of authentication under load. Bounded staleness: the cache's TTL + 1 s.
   */
  private readonly lastToken = new WeakMap<object, { header: string; user: UserInfo; until: number }>();

  constructor(
    private readonly config: () => AuthenticationConfig | null,
    private readonly tokens: TokenReviewer,
    private readonly log: Logger,
  ) {}

  private certVerdict(socket: TLSSocket, cfg: AuthenticationConfig): CertVerdict {
    const cached = this.verdicts.get(socket);
    if (cached?.generation === cfg.generation) return cached.verdict;
    // Only a chain the handshake verified counts; one it refused (another CA, expired, a CA
    // beyond its path length, …) is no credential, and the caller may still present a token.
    const peer =
      socket.authorized && typeof socket.getPeerCertificate === 'function' ? peerCertificates(socket) : [];
    if (!socket.authorized) {
      this.log.debug('no client certificate that the TLS handshake accepted', {
        error: socket.authorizationError,
      });
    }
    let verdict: CertVerdict = { kind: 'none' };
    if (peer.length > 0) {
      // kube-apiserver opens new connections all the time under load (it keeps 25 idle ones), each
      // presenting the same certificate: parse a chain and find its CA once per trust generation.
      const key = peer.map((c) => c.fingerprint256).join('/');
      const known = this.chains.get(key);
      if (known?.generation === cfg.generation && Date.now() <= known.notAfter) {
        verdict = known.verdict;
      } else {
        const chain = peer.map((c) => new X509Certificate(c.raw));
        verdict = chainVerdict(chain, cfg);
        if (this.chains.size >= 1000) this.chains.clear();
        this.chains.set(key, {
          generation: cfg.generation,
          verdict,
          notAfter: chain[0]?.validToDate.getTime() ?? 0,
        });
      }
    }
    this.verdicts.set(socket, { generation: cfg.generation, verdict });
    return verdict;
  }

  /** Null when the request carries no credential at all; throws when a credential is invalid. */
  async authenticate(req: IncomingMessage): Promise<AuthnResult> {
    const cfg = this.config();
    if (cfg) {
      const verdict = this.certVerdict(req.socket as TLSSocket, cfg);
      if (verdict.kind === 'front-proxy') {
        const user = requestHeaderUser(req, cfg);
        if (user) return { user: withAuthenticatedGroup(user), via: 'front-proxy' };
      } else if (verdict.kind === 'client') {
        return { user: withAuthenticatedGroup(verdict.user), via: 'client-cert' };
      }
    }
    const authz = req.headers.authorization;
    if (authz !== undefined) {
      const now = Date.now();
      const last = this.lastToken.get(req.socket);
      if (last?.header === authz && now < last.until) return { user: last.user, via: 'token' };
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
      if (!m?.[1]) throw new InvalidCredentialError('only bearer tokens are accepted');
      let user: UserInfo | null;
      try {
        user = await this.tokens.review(m[1]);
      } catch (err) {
        // Why the TokenReview failed is ours to fix, not the caller's to read.
        this.log.error('TokenReview failed', { error: err });
        throw new InvalidCredentialError('the token could not be reviewed; try again later');
      }
      if (!user) throw new InvalidCredentialError('the token is invalid or expired');
      const authenticated = withAuthenticatedGroup(user);
      this.lastToken.set(req.socket, { header: authz, user: authenticated, until: now + 1000 });
      return { user: authenticated, via: 'token' };
    }
    return null;
  }
}

export class InvalidCredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCredentialError';
  }
}

// The same reviewed user (a cached TokenReview answer, a verified certificate) maps to the same
// object every time, so that what is derived from it (the authorization cache key) can be cached
// by object too.
const authenticatedUsers = new WeakMap<UserInfo, UserInfo>();

function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.username === 'system:anonymous' || user.groups.includes('system:authenticated')) return user;
  let authenticated = authenticatedUsers.get(user);
  if (!authenticated) {
    authenticated = { ...user, groups: [...user.groups, 'system:authenticated'] };
    authenticatedUsers.set(user, authenticated);
  }
  return authenticated;
}
