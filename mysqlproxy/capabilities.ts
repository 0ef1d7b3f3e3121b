// Capability negotiation for a byte relay. After the login, the proxy copies bytes between the
// client and the server without reading them, so both must speak the same dialect: every
// capability that shapes the packets of the command phase (the result-set format, OK packets,
// multi-statements, LOCAL INFILE…) is the one the client chose, and the proxy logs into the server
// with exactly those. The capabilities of the connection phase (TLS, the authentication plugin,
// connection attributes, the initial database) are the proxy's business on each side, since it
// runs both logins itself.
//
// Offered to the client, so never relayed: compression (the proxy would have to decompress to
// read the login), CLIENT_DEPRECATE_EOF and query attributes (mysql2's client cannot ask a server
// for them), MariaDB's extended capabilities (the greeting sets CLIENT_MYSQL, so a MariaDB client
// sends none), multi-factor authentication.

import { clientFlags } from './mysql2.js';

const flag = (name: string): number => {
  const bit = clientFlags[name];
  if (bit === undefined) throw new Error(`mysql2 knows no capability ${name}`);
  return bit;
};

/** Capabilities of the command phase: the client's choice, asked of the server as it is. */
export const sessionCapabilities = [
  'FOUND_ROWS',
  'LONG_FLAG',
  'NO_SCHEMA',
  'ODBC',
  'LOCAL_FILES',
  'IGNORE_SPACE',
  'PROTOCOL_41',
  'INTERACTIVE',
  'TRANSACTIONS',
  'MULTI_STATEMENTS',
  'MULTI_RESULTS',
  'PS_MULTI_RESULTS',
  'SESSION_TRACK',
] as const;

/**
 * Capabilities of the connection phase offered to the client, where the proxy authenticates it:
 * CLIENT_MYSQL (LONG_PASSWORD: no MariaDB extended capabilities), the database at connect, TLS,
 * 4.1 authentication with plugins and length-encoded data, connection attributes.
 */
const loginCapabilities = [
  'LONG_PASSWORD',
  'CONNECT_WITH_DB',
  'SSL',
  'SECURE_CONNECTION',
  'PLUGIN_AUTH',
  'PLUGIN_AUTH_LENENC_CLIENT_DATA',
  'CONNECT_ATTRS',
] as const;

const mask = (names: readonly string[]): number => names.reduce((m, n) => (m | flag(n)) >>> 0, 0);

const sessionMask = mask(sessionCapabilities);

/** The capability flags of the proxy's greeting. */
export const advertisedCapabilities = (sessionMask | mask(loginCapabilities)) >>> 0;

export const SSL = flag('SSL');
const PROTOCOL_41 = flag('PROTOCOL_41');
export const CONNECT_WITH_DB = flag('CONNECT_WITH_DB');
export const PLUGIN_AUTH = flag('PLUGIN_AUTH');

/**
 * mysql2 sends these whatever the server offers (its ClientHandshake's ALWAYS_SENT_FLAGS): requests
 * a server that lacks them ignores, which change no packet format.
 */
const alwaysSent = mask([
  'PROTOCOL_41',
  'FOUND_ROWS',
  'IGNORE_SPACE',
  'INTERACTIVE',
  'LOCAL_FILES',
  'MULTI_STATEMENTS',
  'MULTI_RESULTS',
  'PS_MULTI_RESULTS',
]);

/** The command-phase capabilities the client and the proxy agreed on. */
export function sessionFlagsOf(clientFlags: number): number {
  return (clientFlags & sessionMask) >>> 0;
}

/** Why the client cannot be served, or undefined: the 4.1 protocol with TLS is the least. */
export function clientProblem(clientFlags: number): string | undefined {
  if (!(clientFlags & PROTOCOL_41)) return 'the client does not speak the MySQL 4.1 protocol';
  return undefined;
}

/**
 * mysql2's `flags` option for a login to the server with `session` (sessionFlagsOf) as the
 * command-phase capabilities and mysql2's own for the connection phase: every session capability
 * named, with a '-' when the client did not choose it (mysql2 would otherwise add its defaults).
 */
export function serverLoginFlags(session: number): string[] {
  return sessionCapabilities
    .map((name) => (session & flag(name) ? name : `-${name}`))
    .concat(
      // mysql2 would ask for query attributes by default, which the client was never offered.
      '-CLIENT_QUERY_ATTRIBUTES',
    );
}

/**
 * The session capabilities the client chose that the server did not offer (by name): mysql2 drops
 * them from its login, and the two sides would then read each other's packets differently.
 */
export function missingOnServer(session: number, serverFlags: number): string[] {
  const missing = session & ~serverFlags & ~alwaysSent;
  return sessionCapabilities.filter((name) => missing & flag(name));
}
