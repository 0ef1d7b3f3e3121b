// Errors of the outbound side. They carry a stable code and a message that is safe to show a
// caller (it never holds a credential or a header value); the API layer turns them into Status.

import { maxHeaderSize } from 'node:http';
import { errors as undiciErrors } from 'undici';

export type ProxyErrorCode =
  | 'InvalidTarget' // the requested path or address could reach somewhere it must not
  | 'InvalidCredential' // the Secret cannot be turned into a credential (wrong type, missing key)
  | 'UpstreamUnreachable' // connect refused, DNS failure, TLS failure
  | 'UpstreamTimeout' // no response headers, or no body progress, within the configured time
  | 'UpstreamBroken' // the tool accepted the connection, then closed it or answered what HTTP forbids
  | 'UpstreamRedirect' // the tool redirected outside the Connector's address, which is never followed
  | 'UpstreamAuth'; // a token endpoint refused the Connector's credential

export class ProxyError extends Error {
  readonly code: ProxyErrorCode;

  constructor(code: ProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyError';
    this.code = code;
  }
}

/**
 * The failures of a tool that was reached but broke the exchange: it closed or reset the
 * connection before its response (also while the request body was still being sent), or sent
 * headers beyond the limit, or something that is not HTTP. A gateway's 502, not "cannot be
 * reached". `where` names the tool, e.g. "the tool at https://git.example.com".
 */
export function brokenExchange(err: unknown, where: string): ProxyError | undefined {
  if (err instanceof undiciErrors.HTTPParserError) {
    return new ProxyError('UpstreamBroken', `${where} answered with something that is not HTTP`, {
      cause: err,
    });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_HEADERS_OVERFLOW') {
    const kib = maxHeaderSize / 1024;
    return new ProxyError('UpstreamBroken', `${where} sent response headers larger than ${kib} KiB`, {
      cause: err,
    });
  }
  if (typeof code === 'string' && ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(code)) {
    return new ProxyError('UpstreamBroken', `${where} closed the connection before answering (${code})`, {
      cause: err,
    });
  }
  return undefined;
}
