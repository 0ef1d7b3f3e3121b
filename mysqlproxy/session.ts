// One client connection, from the proxy's greeting to the end of the relay: the login state
// machine of the client side.
//
//   greeting     the proxy's Handshake v10 (mysql2's Handshake packet): capabilities.ts's set,
//                CLIENT_SSL among them, a fresh scramble, mysql_native_password as the default
//                plugin (what mysql2's packet writes; any client answers it)
//   tls          the client's first packet must be an SSLRequest (CLIENT_SSL, 32 bytes); anything
//                else is a login in plain text, refused with ER_SECURE_TRANSPORT_REQUIRED before
//                the proxy reads a password. Then TLS as the server, the certificate for the name the
//                client asked for (SNI) from the proxy CA
//   response     HandshakeResponse41 (mysql2's HandshakeResponse.fromPacket): user, token,
//                capabilities, character set, database, attributes. A token sent with another
//                plugin than mysql_clear_password is not one: AuthSwitchRequest to it
//   switch       the AuthSwitchResponse: the token in clear (over TLS), NUL-terminated
//   admission    the gate (admission.ts: TokenReview, RBAC, the Connector) and the server login
//                (upstream.ts); the client is not read meanwhile
//   relay        the proxy's OK (mysql2's OK packet, with the server's status flags), then bytes
//                both ways until either side closes
//
// Every refusal is an ERR packet with the next sequence id, then the connection closes; a login
// not done within the login timeout is refused alike. What is written here rather than taken from
// mysql2: reading the first packet by its 4-byte header and capability flags, because the TLS
// ClientHello may follow the SSLRequest in the same segment and must reach the TLS layer untouched
// (mysql2's PacketParser would swallow it), and because a login in plain text is refused from its
// first 8 bytes, before its password hash is read; and the ERR packet, because mysql2's writes the placeholder SQLSTATE
// '_____', while clients show the SQLSTATE (28000 for an access denial).

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../machinery/log.js';
import { StatusError } from '../machinery/status.js';
import {
  advertisedCapabilities,
  CONNECT_WITH_DB,
  clientProblem,
  PLUGIN_AUTH,
  sessionFlagsOf,
  SSL,
} from './capabilities.js';
import { Refusal, insecureTransport, protocolError, refusalOf, type Outcome } from './errors.js';
import { packets, PacketParser, type HandshakeResponse, type Packet } from './mysql2.js';
import type { ClientChoice, ServerSession, ServerTarget } from './upstream.js';

const clearPasswordPlugin = 'mysql_clear_password';
/** The version in the greeting: the server behind is only known after the login. */
const greetingVersion = '8.0.0-connectors-mysql-proxy';
/** utf8mb4_general_ci, the greeting's character set; the client's own is what the server gets. */
const greetingCharset = 45;
/** SERVER_STATUS_AUTOCOMMIT. */
const autocommit = 0x0002;
/** An SSLRequest is a HandshakeResponse41 cut after its fixed part. */
const sslRequestLength = 32;

/** Who the client is and where its session goes, once the gate has let it through. */
export interface Admission {
  /** The caller's username (from TokenReview), for the log. */
  caller: string;
  target: ServerTarget;
}

export interface SessionDeps {
  /** The TLS context for the name the client asked for (SNI), or for the proxy's own name. */
  tlsContext(servername: string | undefined): Promise<SecureContext>;
  /** TokenReview, RBAC and the Connector for `user`; throws a Refusal or a StatusError. */
  admit(user: string, token: string): Promise<Admission>;
  /** The login to the server (upstream.ts loginToServer with the connect timeout). */
  login(target: ServerTarget, choice: ClientChoice, signal: AbortSignal): Promise<ServerSession>;
  loginTimeoutMs: number;
  log: Logger;
}

export interface SessionEnd {
  outcome: Outcome;
}

/** A scramble as servers make them: 20 printable bytes (some clients read it NUL-terminated). */
function scramble(): Buffer {
  return Buffer.from(randomBytes(20).map((b) => 33 + (b % 94)));
}

/** ERR_Packet: 0xff, the error number, '#' and the SQLSTATE, the message. */
export function errorPacket(sequenceId: number, refusal: Refusal): Buffer {
  const message = Buffer.from(refusal.message, 'utf8');
  const length = 4 + 1 + 2 + 6 + message.length;
  const packet = new packets.Packet(0, Buffer.alloc(length), 0, length);
  packet.offset = 4;
  packet.writeInt8(0xff);
  packet.writeInt16(refusal.errno);
  packet.writeString(`#${refusal.sqlState}`, 'ascii');
  message.copy(packet.buffer, packet.offset);
  packet.writeHeader(sequenceId);
  return packet.buffer;
}

/** The bytes of a packet mysql2 built, with its sequence id. */
function bytes(packet: Packet, sequenceId: number): Buffer {
  packet.writeHeader(sequenceId);
  return packet.buffer;
}

/** The token from a mysql_clear_password answer: the password and a NUL. */
function clearPassword(data: Buffer): string {
  const end = data.length > 0 && data[data.length - 1] === 0 ? data.length - 1 : data.length;
  return data.subarray(0, end).toString('utf8');
}

let lastConnectionId = 0;

export class ClientSession {
  private tls: TLSSocket | undefined;
  private server: Duplex | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly aborted = new AbortController();
  private done = false;
  private resolveEnd!: (end: SessionEnd) => void;
  /** Resolves once both sockets are closed, with how the session ended. */
  readonly ended: Promise<SessionEnd>;
  private outcome: Outcome | undefined;
  /** The greeting's scramble, sent again with the AuthSwitchRequest. */
  private salt: Buffer = Buffer.alloc(0);
  /** Whether the TLS handshake with the client has completed. */
  private secured = false;
  /** The sequence id of the proxy's next packet to the client. */
  private reply = 1;
  /** Stops reading the client until the relay; true when it had sent more than its login. */
  private stopReading: () => boolean = () => false;

  constructor(
    private readonly socket: Socket,
    private readonly deps: SessionDeps,
  ) {
    this.ended = new Promise((resolve) => {
      this.resolveEnd = resolve;
    });
  }

  start(): void {
    const { socket } = this;
    socket.setNoDelay(true);
    // 'close' follows every error.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.finish(this.closedBy());
    });
    this.timer = setTimeout(() => {
      this.refuse(
        new Refusal('login_timeout', 1043, '08S01', 'Bad handshake: the login took too long'),
        this.reply,
      );
    }, this.deps.loginTimeoutMs);
    const salt = scramble();
    const greeting = new packets.Handshake({
      protocolVersion: 10,
      serverVersion: greetingVersion,
      capabilityFlags: advertisedCapabilities,
      connectionId: (lastConnectionId = (lastConnectionId % 0x7fffffff) + 1),
      authPluginData1: salt.subarray(0, 8),
      authPluginData2: salt.subarray(8, 20),
      characterSet: greetingCharset,
      statusFlags: autocommit,
    });
    socket.write(bytes(greeting.toPacket(0), 0));
    this.salt = salt;
    // The first packet decides, once its header and capability flags are in: only a 32-byte
    // SSLRequest is read whole (so no more than 36 bytes are ever buffered in plain text).
    let buffered: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 8) return;
      const length = buffered.readUIntLE(0, 3);
      const reply = (buffered[3] ?? 0) + 1;
      const flags = buffered.readUInt32LE(4);
      const refusal = !(flags & SSL)
        ? insecureTransport()
        : length !== sslRequestLength
          ? protocolError('an SSLRequest is 32 bytes long')
          : undefined;
      if (refusal === undefined && buffered.length < 4 + length) return;
      socket.off('data', onData);
      this.reply = reply;
      if (refusal !== undefined) {
        this.refuse(refusal, reply);
        return;
      }
      socket.pause();
      const rest = buffered.subarray(4 + length);
      if (rest.length > 0) socket.unshift(rest);
      this.onSslRequest(flags);
    };
    socket.on('data', onData);
  }

  /** Why the client's connection closed before the login was answered. */
  private closedBy(): Outcome {
    return this.tls !== undefined && !this.secured ? 'tls_failed' : 'client_closed';
  }

  /** Ends the session now, whatever it is doing (the end of the drain's grace period). */
  cut(): void {
    this.socket.destroy();
    this.tls?.destroy();
    this.server?.destroy();
    this.finish(this.outcome ?? 'shutting_down');
  }

  private onSslRequest(flags: number): void {
    const problem = clientProblem(flags);
    if (problem !== undefined) {
      this.refuse(protocolError(problem), this.reply);
      return;
    }
    this.deps.tlsContext(undefined).then(
      (secureContext) => {
        this.startTls(secureContext);
      },
      (err: unknown) => {
        this.deps.log.error('no TLS certificate for the proxy', { error: err });
        this.finish('protocol_error');
      },
    );
  }

  private startTls(secureContext: SecureContext): void {
    if (this.done) return;
    const tls = new TLSSocket(this.socket, {
      isServer: true,
      secureContext,
      SNICallback: (servername, cb) => {
        this.deps.tlsContext(servername).then(
          (ctx) => {
            cb(null, ctx);
          },
          (err: unknown) => {
            cb(err as Error);
          },
        );
      },
    });
    this.tls = tls;
    // A handshake that fails (the client does not trust the proxy CA, say) ends the session.
    tls.once('secure', () => {
      this.secured = true;
    });
    tls.on('error', () => undefined);
    tls.on('close', () => {
      this.finish(this.closedBy());
    });
    let step: 'response' | 'switch' = 'response';
    let response: HandshakeResponse | undefined;
    const parser = new PacketParser((packet) => {
      if (this.done || this.outcome !== undefined) return;
      const reply = packet.sequenceId + 1;
      this.reply = reply;
      if (step === 'response') {
        try {
          response = packets.HandshakeResponse.fromPacket(packet, advertisedCapabilities);
        } catch {
          this.refuse(protocolError('the HandshakeResponse does not parse'), reply);
          return;
        }
        const token = response.authToken;
        if (response.authPluginName === clearPasswordPlugin && Buffer.isBuffer(token)) {
          this.admit(response, clearPassword(token), reply);
          return;
        }
        if (!(response.clientFlags & PLUGIN_AUTH)) {
          this.refuse(
            protocolError(`the client must support authentication plugins, for ${clearPasswordPlugin}`),
            reply,
          );
          return;
        }
        step = 'switch';
        const request = new packets.AuthSwitchRequest({
          pluginName: clearPasswordPlugin,
          pluginData: Buffer.concat([this.salt, Buffer.from([0])]),
        });
        tls.write(bytes(request.toPacket(), reply));
        this.reply = reply + 1;
        return;
      }
      if (response === undefined) return;
      this.admit(response, clearPassword(packet.buffer.subarray(packet.offset, packet.end)), reply);
    });
    const onData = (chunk: Buffer): void => {
      parser.execute(chunk);
    };
    tls.on('data', onData);
    this.stopReading = () => {
      tls.off('data', onData);
      tls.pause();
      return parser.hasPendingData();
    };
  }

  private admit(response: HandshakeResponse, token: string, reply: number): void {
    if (this.stopReading()) {
      this.refuse(protocolError('the client sent more before the login was answered'), reply);
      return;
    }
    const choice: ClientChoice = {
      sessionFlags: sessionFlagsOf(response.clientFlags),
      charsetNumber: response.charsetNumber,
      database: response.clientFlags & CONNECT_WITH_DB ? response.database || undefined : undefined,
      attributes: response.connectAttributes ?? {},
    };
    const log = this.deps.log.with({ user: response.user });
    this.deps
      .admit(response.user, token)
      .then(async (admission) => {
        const server = await this.deps.login(admission.target, choice, this.aborted.signal);
        return { admission, server };
      })
      .then(
        ({ admission, server }) => {
          this.relay(admission, server, reply, log);
        },
        (err: unknown) => {
          if (err instanceof Refusal) this.refuse(err, reply, log);
          else if (err instanceof StatusError) this.refuse(refusalOf(err), reply, log);
          else {
            log.error('login failed', { error: err });
            this.refuse(
              new Refusal('unavailable', 1105, 'HY000', 'internal error; see the proxy log'),
              reply,
            );
          }
        },
      );
  }

  private relay(admission: Admission, server: ServerSession, reply: number, log: Logger): void {
    const tls = this.tls;
    if (this.done || tls === undefined || this.outcome !== undefined) {
      server.socket.destroy();
      return;
    }
    this.clearTimer();
    this.outcome = 'relayed';
    this.server = server.socket;
    const started = performance.now();
    const ok = packets.OK.toPacket({ serverStatus: server.serverStatus }, 'utf8');
    tls.write(bytes(ok, reply));
    server.socket.on('error', () => undefined);
    server.socket.on('close', () => {
      tls.destroy();
    });
    tls.pipe(server.socket);
    server.socket.pipe(tls);
    tls.resume();
    log.info('session relayed', {
      caller: admission.caller,
      server: `${admission.target.host}:${admission.target.port}`,
    });
    void this.ended.then(() => {
      log.info('session ended', {
        caller: admission.caller,
        durationMs: Math.round(performance.now() - started),
        fromClient: tls.bytesRead,
        toClient: tls.bytesWritten,
      });
    });
  }

  /** Answers ERR and closes; the session ends once the socket is gone. */
  private refuse(refusal: Refusal, sequenceId: number, log: Logger = this.deps.log): void {
    if (this.done || this.outcome !== undefined) return;
    this.outcome = refusal.outcome;
    this.clearTimer();
    this.aborted.abort();
    log.info('login refused', { outcome: refusal.outcome, errno: refusal.errno, reason: refusal.message });
    const out = this.tls ?? this.socket;
    out.end(errorPacket(sequenceId, refusal));
    // A client that never reads its answer cannot keep the socket.
    out.once('finish', () => out.destroy());
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Once the client's socket is closed: closes the server's, and the session has ended. */
  private finish(fallback: Outcome): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    this.aborted.abort();
    this.socket.destroy();
    this.tls?.destroy();
    this.server?.destroy();
    this.resolveEnd({ outcome: this.outcome ?? fallback });
  }
}
