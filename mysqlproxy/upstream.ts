// The proxy's login to the Connector's server, by mysql2's client: it connects (TLS when the
// Connector asks for it), answers whatever authentication the server asks for (native password,
// caching_sha2, …) with the Connector's real credential, and once the server has said OK hands the
// socket over to the relay, with mysql2's listeners taken off it.
//
// The login asks for exactly the client's command-phase capabilities, character set and initial
// database (capabilities.ts), and passes the client's connection attributes on. One thing mysql2
// would do on its own is stopped: against a MariaDB server offering extended metadata it asks for
// it, which changes the result-set format the client reads, while the client was never offered it.
// Its login command reads the server's greeting into its `handshake` field and decides from that;
// the greeting's MariaDB capabilities are set to none as it is stored there.

import type { Duplex } from 'node:stream';
import { missingOnServer, serverLoginFlags } from './capabilities.js';
import { Refusal, accessDenied, protocolError, serverUnreachable } from './errors.js';
import { connectServer, type ServerConnection, type ServerError } from './mysql2.js';

export interface ServerTarget {
  host: string;
  port: number;
  /** TLS to the server: with the Connector's CA bundle, or the system's (undefined). */
  tls: { ca: string | undefined } | undefined;
  username: string;
  password: string;
}

export interface ClientChoice {
  /** The command-phase capabilities (sessionFlagsOf the client's). */
  sessionFlags: number;
  charsetNumber: number;
  database: string | undefined;
  attributes: Record<string, string>;
}

export interface ServerSession {
  socket: Duplex;
  /** The status flags of the server's OK, for the proxy's OK to the client. */
  serverStatus: number;
}

/** Keeps the login command from asking a MariaDB server for its extended capabilities. */
function withoutMariaDbExtensions(conn: ServerConnection): void {
  const login = conn._command;
  if (login === null) throw new Error('mysql2 started no login command');
  let greeting: { mariadbExtendedCapabilityFlags?: number } | undefined;
  Object.defineProperty(login, 'handshake', {
    configurable: true,
    get: () => greeting,
    set: (value: { mariadbExtendedCapabilityFlags?: number } | null) => {
      if (value) value.mariadbExtendedCapabilityFlags = 0;
      greeting = value ?? undefined;
    },
  });
}

/** What the client reads when the server refused the login or could not be reached. */
function refusalOf(err: ServerError, target: ServerTarget): Refusal {
  if (err.errno !== undefined && err.sqlState !== undefined) {
    // The server's own ERR packet: its message names the user, never the password.
    return new Refusal(
      'server_refused',
      err.errno,
      err.sqlState,
      `the Connector's MySQL server refused the login: ${err.message}`,
    );
  }
  const code = err.code ?? 'error';
  return serverUnreachable(
    `the Connector's MySQL server ${target.host}:${target.port} cannot be reached (${code}${
      code.startsWith('HANDSHAKE_') || code.startsWith('ERR_TLS') || code.includes('CERT')
        ? `: ${err.message}`
        : ''
    })`,
  );
}

/**
 * Logs into the server as `target` with the client's choice; resolves with the socket, ready to
 * relay, or rejects with a Refusal (`signal`: the client has gone, give up). Nothing is left open
 * on failure, nor any timer.
 */
export function loginToServer(
  target: ServerTarget,
  choice: ClientChoice,
  connectTimeoutMs: number,
  signal: AbortSignal,
): Promise<ServerSession> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(serverUnreachable('the client went away during the login'));
      return;
    }
    const conn = connectServer({
      host: target.host,
      port: target.port,
      user: target.username,
      password: target.password,
      ...(choice.database ? { database: choice.database } : {}),
      charsetNumber: choice.charsetNumber,
      flags: serverLoginFlags(choice.sessionFlags),
      connectAttributes: choice.attributes,
      connectTimeout: connectTimeoutMs,
      ...(target.tls
        ? {
            ssl: {
              ...(target.tls.ca ? { ca: target.tls.ca } : {}),
              rejectUnauthorized: true,
              verifyIdentity: true,
            },
          }
        : {}),
    });
    withoutMariaDbExtensions(conn);
    const fail = (refusal: Refusal): void => {
      signal.removeEventListener('abort', abort);
      conn.removeAllListeners();
      // Late errors of the dying connection land here, not on an EventEmitter without a listener.
      conn.on('error', () => undefined);
      conn.destroy(); // clears mysql2's connect timer
      conn.stream.destroy();
      reject(refusal);
    };
    const abort = (): void => {
      fail(serverUnreachable('the client went away during the login'));
    };
    signal.addEventListener('abort', abort, { once: true });
    conn.once('error', (err) => {
      fail(refusalOf(err, target));
    });
    conn.once('connect', () => {
      const missing = missingOnServer(choice.sessionFlags, conn.serverCapabilityFlags);
      if (missing.length > 0) {
        fail(
          accessDenied(
            'server_refused',
            `the Connector's MySQL server does not offer ${missing.join(', ')}, which the client chose; ` +
              'connect without them',
          ),
        );
        return;
      }
      if (conn.packetParser.hasPendingData()) {
        fail(protocolError('the server sent data after its OK, before any command'));
        return;
      }
      const socket = conn.stream;
      // From here on the socket is the relay's: mysql2 reads nothing more from it (its only 'data'
      // listener; under TLS, the TCP socket's went when TLS began). Its 'end', 'close' and
      // 'error' listeners stay, beside Node's own: with the connection marked closing, they report
      // nothing but an error, to the listener below, and close nothing the relay has not.
      socket.removeAllListeners('data');
      conn._closing = true;
      conn.removeAllListeners();
      conn.on('error', () => undefined);
      signal.removeEventListener('abort', abort);
      resolve({ socket, serverStatus: conn.serverStatus });
    });
  });
}
