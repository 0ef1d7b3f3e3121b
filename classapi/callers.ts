// Who may call the backend: the Connectors API server only. Every class API request carries a
// Connector's address and Secret in its headers and has the backend fetch from that address with
// that Secret, so any other caller on the network could have it fetch any URL with any credential.
// The API server proves itself with a client certificate: the TLS handshake verifies it against
// --client-ca-file, and its subject CN or a SAN must be one of --allowed-client-names.

import type { IncomingMessage } from 'node:http';
import { verifiedClientNames } from '../machinery/certificates.js';
import { StatusError, unauthorized } from '../machinery/status.js';

/** Answers why a request may not be served (401, 403), or null when its caller is allowed. */
export type CallerCheck = (req: IncomingMessage) => StatusError | null;

export function allowedCallers(allowedNames: readonly string[]): CallerCheck {
  const allowed = new Set(allowedNames);
  return (req) => {
    const names = verifiedClientNames(req);
    if (!names) {
      return unauthorized(
        'Unauthorized: the class API backend serves the Connectors API server only; ' +
          'call class APIs through the API server (connectors/<name>/<api>)',
      );
    }
    if (!names.some((n) => allowed.has(n))) {
      return new StatusError(
        403,
        'Forbidden',
        `the client certificate "${names[0] ?? ''}" is not one the class API backend serves ` +
          '(--allowed-client-names); call class APIs through the API server',
      );
    }
    return null;
  };
}
