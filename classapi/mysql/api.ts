// The MySQL family, for MySQL and MariaDB servers, behind the probes of the `mysql` class (it
// declares no user-facing operation):
//
//   GET /mysql/handshake   200 when the server at the address speaks the MySQL protocol: it greets,
//                          and answers a login (accepted or refused: both are the server's answer)
//   GET /mysql/login       200 when the Connector's credential (kubernetes.io/basic-auth) logs in,
//                          401 with the server's refusal otherwise
//
// The address is `mysql://host[:port]` (port 3306 by default); `?tls=true`, or a CA bundle sent by the
// controller (the Connector's spec.caCertSecretRef), makes the connection TLS, with the server's
// certificate verified against that CA or the system roots. Both routes log in (with the Connector's
// credential when sent, else as a user that does not exist) instead of hanging up after the greeting:
// a server counts connections dropped during the handshake against max_connect_errors and blocks
// the probing host after that many, where refused logins are not counted.
//
// The protocol is mysql2's client. Nothing here repeats the password: mysql2's messages are the
// server's (which name the user, never the password), and every value of the Secret is scrubbed from
// them as a second line of defence.

import { createConnection, type Connection, type ConnectionOptions } from 'mysql2';
import {
  badGateway,
  badRequest,
  gatewayTimeout,
  serviceUnavailable,
  StatusError,
} from '../../machinery/status.js';
import type { ClassApi, ConnectionApiRequest } from '../api.js';

const basicAuth = 'kubernetes.io/basic-auth';

/** Where the server is, and whether the connection is TLS. */
export interface MysqlAddress {
  host: string;
  port: number;
  tls: boolean;
}

/** `mysql://host[:port][/][?tls=true|false]` → host, port, tls. Messages never repeat the address. */
export function parseMysqlAddress(address: string): MysqlAddress {
  let url: URL;
  try {
    // Without "//" (host:port, user:password@host) the scheme would be a piece of the address.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) throw new TypeError('no scheme');
    url = new URL(address);
  } catch {
    throw badRequest('the Connector address is not a URL; write mysql://host:port');
  }
  if (url.protocol !== 'mysql:') {
    throw badRequest(`the Connector address must be a mysql:// URL, not ${url.protocol.slice(0, -1)}`);
  }
  if (url.username || url.password) {
    throw badRequest('the Connector address must not contain user information; use the Secret');
  }
  if (!url.hostname) throw badRequest('the Connector address names no host; write mysql://host:port');
  if (url.pathname !== '' && url.pathname !== '/') {
    throw badRequest('the Connector address must not have a path; write mysql://host:port');
  }
  const tls = url.searchParams.get('tls');
  if (tls !== null && tls !== 'true' && tls !== 'false') {
    throw badRequest('the tls parameter of the Connector address must be true or false');
  }
  // WHATWG URL keeps an IPv6 literal in brackets; the socket wants it bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : 3306, tls: tls === 'true' };
}

/** The Secret's username and password; the Secret must be of type kubernetes.io/basic-auth. */
function credential(request: ConnectionApiRequest): { user: string; password: string } | undefined {
  const secret = request.secret;
  if (!secret) return undefined;
  if (secret.type !== basicAuth) {
    throw badRequest(`the mysql class takes a ${basicAuth} Secret, not one of type ${secret.type}`);
  }
  const user = secret.data.username?.toString('utf8') ?? '';
  if (user === '') throw badRequest(`the ${basicAuth} Secret has no username`);
  return { user, password: secret.data.password?.toString('utf8') ?? '' };
}

/** A MySQL error the server sent (it has an errno), as opposed to a network or TLS failure. */
interface MysqlError extends Error {
  code?: string;
  errno?: number;
  sqlMessage?: string;
  fatal?: boolean;
}

type LoginResult =
  { ok: true } | { ok: false; serverError: boolean; message: string; code: string; errno: number };

/**
 * Server errors that refuse the credential (the others, such as too many connections, are the
 * server's trouble): access denied (1044, 1045, 1698), an expired password (1862), an auth method the
 * client lacks (1251), a locked account (MySQL 3118, MariaDB 4151).
 */
const refusals = new Set([1044, 1045, 1251, 1698, 1862, 3118, 4151]);

/** One login; resolves when the server accepted or refused it, or the connection failed. */
function login(
  address: MysqlAddress,
  who: { user: string; password: string },
  request: ConnectionApiRequest,
): Promise<LoginResult> {
  const options: ConnectionOptions = {
    host: address.host,
    port: address.port,
    user: who.user,
    password: who.password,
    connectTimeout: request.connectTimeoutMs,
    ...(address.tls || request.caCert
      ? { ssl: { rejectUnauthorized: true, ...(request.caCert ? { ca: request.caCert } : {}) } }
      : {}),
  };
  return new Promise<LoginResult>((resolve) => {
    const connection: Connection = createConnection(options);
    const onAbort = (): void => {
      connection.destroy();
      resolve({ ok: false, serverError: false, message: 'the caller went away', code: 'ABORTED', errno: 0 });
    };
    request.signal.addEventListener('abort', onAbort, { once: true });
    const done = (result: LoginResult): void => {
      request.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    // Errors after the login (none are expected: the connection is closed at once) are not ours.
    connection.on('error', () => undefined);
    connection.connect((err: MysqlError | null) => {
      if (!err) {
        connection.end(() => undefined);
        done({ ok: true });
        return;
      }
      connection.destroy();
      const serverError = typeof err.errno === 'number' && err.sqlMessage !== undefined;
      done({
        ok: false,
        serverError,
        message: serverError ? (err.sqlMessage ?? '') : err.message,
        code: err.code ?? '',
        errno: err.errno ?? 0,
      });
    });
  });
}

function scrubbed(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** The Status for a connection that never reached the server's answer. */
function unreachable(where: string, result: { code: string; message: string }): StatusError {
  if (result.code === 'ETIMEDOUT')
    return gatewayTimeout(`the MySQL server at ${where} did not answer in time`);
  if (result.code === 'HANDSHAKE_NO_SSL_SUPPORT') {
    return badGateway(`the MySQL server at ${where} does not offer TLS, which the Connector asks for`);
  }
  return serviceUnavailable(`the MySQL server at ${where} cannot be reached: ${result.message}`);
}

/** The name of a user no server has, for a handshake without the Connector's credential. */
const nobody = { user: 'connectors-liveness-probe', password: '' };

export const mysqlApi: ClassApi = {
  prefix: '/mysql',
  protocol: 'connection',
  routes: [
    {
      path: '/handshake',
      async get(request) {
        const address = parseMysqlAddress(request.address);
        const who = credential(request) ?? nobody;
        const where = `${address.host}:${address.port}`;
        const result = await login(address, who, request);
        if (!result.ok && !result.serverError) {
          throw unreachable(where, { ...result, message: scrubbed(result.message, [who.password]) });
        }
        return { server: where, tls: address.tls || request.caCert !== undefined };
      },
    },
    {
      path: '/login',
      async get(request) {
        const address = parseMysqlAddress(request.address);
        const who = credential(request);
        if (!who) throw badRequest('no Secret was sent (X-Plugin-Secret): there is nothing to log in with');
        const where = `${address.host}:${address.port}`;
        const result = await login(address, who, request);
        if (result.ok) return { server: where, user: who.user };
        const message = scrubbed(result.message, [who.password]);
        if (!result.serverError) throw unreachable(where, { ...result, message });
        if (!refusals.has(result.errno)) {
          throw badGateway(`the MySQL server at ${where} did not let the Connector log in: ${message}`);
        }
        throw new StatusError(
          401,
          'Unauthorized',
          `the MySQL server at ${where} refused the Connector's credential: ${message}`,
        );
      },
    },
  ],
};
