// Why a session was refused: what the client reads in the ERR packet (a MySQL error number,
// SQLSTATE and message, never a credential), and the outcome counted in /metrics and logged.

import { StatusError } from '../machinery/status.js';

/** Bounded outcomes of a session (the `outcome` label of connectors_mysqlproxy_sessions_total). */
export const outcomes = [
  'relayed',
  /** The client closed the connection before its login was answered (a TCP probe, say). */
  'client_closed',
  'insecure_transport',
  /** The TLS handshake failed. */
  'tls_failed',
  'protocol_error',
  'login_timeout',
  'unauthenticated',
  'forbidden',
  'connector_refused',
  'server_refused',
  'server_unreachable',
  'unavailable',
  'shutting_down',
] as const;
export type Outcome = (typeof outcomes)[number];

export class Refusal extends Error {
  constructor(
    readonly outcome: Exclude<Outcome, 'relayed' | 'client_closed' | 'tls_failed'>,
    /** The MySQL error number the client shows. */
    readonly errno: number,
    readonly sqlState: string,
    message: string,
  ) {
    super(message);
    this.name = 'Refusal';
  }
}

/** ER_ACCESS_DENIED_ERROR: the login is refused. */
export const accessDenied = (outcome: Refusal['outcome'], message: string): Refusal =>
  new Refusal(outcome, 1045, '28000', message);

/** ER_SECURE_TRANSPORT_REQUIRED, MySQL's error for a login without TLS where TLS is required. */
export const insecureTransport = (): Refusal =>
  new Refusal(
    'insecure_transport',
    3159,
    'HY000',
    'Connections using insecure transport are prohibited: the MySQL Connectors Proxy accepts a login only ' +
      'over TLS (the token is the password); connect with TLS (mariadb/mysql: --ssl, ssl-verify-server-cert, ' +
      'ssl-ca=<the proxy CA>) and the mysql_clear_password plugin',
  );

/** ER_HANDSHAKE_ERROR: the client does not follow the protocol. */
export const protocolError = (message: string): Refusal =>
  new Refusal('protocol_error', 1043, '08S01', `Bad handshake: ${message}`);

/**
 * ER_CONNECT_TO_FOREIGN_DATA_SOURCE: the Connector's server could not be reached. (The client's own
 * CR_CONN_HOST_ERROR, 2003, is no server error: the mariadb client reads an ERR packet with it as
 * a malformed packet.)
 */
export const serverUnreachable = (message: string): Refusal =>
  new Refusal('server_unreachable', 1429, 'HY000', message);

/** ER_UNKNOWN_ERROR: a passing failure of ours (kube-apiserver unreachable); the client may retry. */
export const unavailable = (message: string): Refusal => new Refusal('unavailable', 1105, 'HY000', message);

/** A Status the registry or the caller checks threw, as the client reads it. */
export function refusalOf(err: StatusError): Refusal {
  if (err.code === 401) return accessDenied('unauthenticated', err.message);
  if (err.code === 403) return accessDenied('forbidden', err.message);
  if (err.code >= 500) return unavailable(err.message);
  return accessDenied('connector_refused', err.message);
}
