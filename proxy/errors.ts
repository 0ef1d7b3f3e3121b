// Errors of the outbound side. They carry a stable code and a message that is safe to show a
// caller (it never holds a credential or a header value); the API layer turns them into Status.

export type ProxyErrorCode =
  | 'InvalidTarget' // the requested path or address could reach somewhere it must not
  | 'InvalidCredential' // the Secret cannot be turned into a credential (wrong type, missing key)
  | 'UpstreamUnreachable' // connect refused, DNS failure, TLS failure, reset before a response
  | 'UpstreamTimeout' // no response headers, or no body progress, within the configured time
  | 'UpstreamRedirect' // the tool redirected to another origin, which is never followed
  | 'UpstreamAuth'; // a token endpoint refused the Connector's credential

export class ProxyError extends Error {
  readonly code: ProxyErrorCode;

  constructor(code: ProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyError';
    this.code = code;
  }
}
