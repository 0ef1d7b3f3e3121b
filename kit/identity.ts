// Who is calling a custom proxy. Two ways in, and only two:
//
//   the API server   a TLS client certificate that the handshake verified against --client-ca-file
//                    and whose CN or SAN is in --allowed-client-names: the user is the one its
//                    X-Remote-User/-Group/-Extra-* headers name (kube-apiserver's requestheader
//                    form), the RBAC subresource it checked is X-Connectors-Subresource (default
//                    proxy). A verified certificate of another name is refused (403).
//   anyone else      every X-Remote-* and X-Connectors-Subresource header is deleted unread, and the
//                    caller must present a ServiceAccount token (Bearer, the Basic password, or the
//                    header the class names), which TokenReview then checks.
//
// A forged identity header from a pod is therefore never believed, and never forwarded either.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { UserInfo } from '../kube/tokenreview.js';
import { unlistedClient, verifiedClientNames } from '../machinery/certificates.js';
import { badRequest } from '../machinery/status.js';
import { unauthenticated } from '../registry/proxyexchange.js';
import { callerToken } from '../registry/reverse.js';
import { subresourceHeader } from '../registry/classproxy.js';

export type CallerIdentity =
  /** Verified by mutual TLS: the API server vouches for the user and checked `subresource`. */
  | { via: 'apiserver'; user: UserInfo; subresource: string }
  /** A pod: its token (null when it sent none), to be reviewed. */
  | { via: 'token'; token: string | null };

const remotePrefix = 'x-remote-';
const extraPrefix = 'x-remote-extra-';
const subresourceName = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Whether a header name is one only the API server may send. */
function isIdentityHeader(name: string): boolean {
  return name.startsWith(remotePrefix) || name === subresourceHeader;
}

/** Deletes every identity header (forged by whoever sent it), so that nothing downstream reads one. */
export function dropIdentityHeaders(headers: IncomingHttpHeaders): void {
  for (const name of Object.keys(headers)) if (isIdentityHeader(name)) Reflect.deleteProperty(headers, name);
}

/** Every value of a header, one per line it came in (Node joins repeated lines in `headers`). */
function values(req: IncomingMessage, name: string): string[] {
  return req.headersDistinct[name] ?? [];
}

/** The user the API server names in its X-Remote-* headers; 401 without X-Remote-User. */
export function remoteUser(req: IncomingMessage): UserInfo {
  const [username, ...more] = values(req, 'x-remote-user');
  if (!username || more.length > 0) {
    throw unauthenticated('a request from the API server must name one user in X-Remote-User');
  }
  const extra: Record<string, string[]> = {};
  for (const name of Object.keys(req.headersDistinct)) {
    if (!name.startsWith(extraPrefix)) continue;
    let key: string;
    try {
      key = decodeURIComponent(name.slice(extraPrefix.length));
    } catch {
      throw badRequest(`the header ${name} has malformed percent-encoding`);
    }
    extra[key] = values(req, name);
  }
  return { username, groups: values(req, 'x-remote-group'), extra };
}

/**
 * The caller of `req`, by the rules above. `allowedNames`: --allowed-client-names; `tokenHeader`:
 * the header the Connector's class names for the token, if any.
 */
export function callerIdentity(
  req: IncomingMessage,
  allowedNames: ReadonlySet<string>,
  tokenHeader?: string,
): CallerIdentity {
  const names = verifiedClientNames(req);
  if (names) {
    const unlisted = unlistedClient(
      names,
      allowedNames,
      'one this proxy takes identities from',
      'pods call it without a client certificate, with a ServiceAccount token',
    );
    if (unlisted) throw unlisted;
    const [sub = 'proxy', ...more] = values(req, subresourceHeader);
    if (more.length > 0 || !subresourceName.test(sub)) {
      throw badRequest(`${subresourceHeader} must name one subresource`);
    }
    return { via: 'apiserver', user: remoteUser(req), subresource: sub };
  }
  dropIdentityHeaders(req.headers);
  return { via: 'token', token: callerToken(req.headers, tokenHeader) };
}
