// The one translation of outbound failures (ProxyError, from proxy/) and of anything unexpected
// into a metav1.Status, shared by every process that talks to tools.

import type { Logger } from '../machinery/log.js';
import {
  badGateway,
  badRequest,
  gatewayTimeout,
  internalError,
  serviceUnavailable,
  StatusError,
} from '../machinery/status.js';
import { ProxyError } from '../proxy/errors.js';

const proxyErrorStatus: Record<ProxyError['code'], (m: string) => StatusError> = {
  InvalidTarget: badRequest,
  InvalidCredential: badRequest,
  UpstreamUnreachable: serviceUnavailable,
  UpstreamTimeout: gatewayTimeout,
  UpstreamBroken: badGateway,
  UpstreamRedirect: badGateway,
  // A token service refusing the Connector's credential is the Connector's problem, never a 401
  // (kubectl would tell the caller to log in).
  UpstreamAuth: (m) => new StatusError(403, 'Forbidden', m),
};

/** Any failure as a Status; `who` (e.g. "Connector ns/name: ") prefixes tool-side problems. */
export function toStatus(err: unknown, who: string, log: Logger): StatusError {
  if (err instanceof StatusError) return err;
  if (err instanceof ProxyError) return proxyErrorStatus[err.code](who + err.message);
  log.error('unhandled error', { error: err });
  return internalError();
}
