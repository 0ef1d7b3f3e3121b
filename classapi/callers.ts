// Who may call the backend: the Connectors API server only. Every class API request carries a
// Connector's address and Secret in its headers and has the backend fetch from that address with
// that Secret, so any other caller on the network could have it fetch any URL with any credential.
// The API server proves itself with a client certificate: the TLS handshake verifies it against
// --client-ca-file, and its subject CN or a SAN must be one of --allowed-client-names.

import type { IncomingMessage } from 'node:http';
import { unlistedClient, verifiedClientNames } from '../machinery/certificates.js';
import { unauthorized, type StatusError } from '../machinery/status.js';

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
    return unlistedClient(
      names,
      allowed,
      'one the class API backend serves',
      'call class APIs through the API server',
    );
  };
}
