// The parts of mysql2 the MySQL Connectors Proxy uses, typed. Its packet framing (PacketParser),
// packet codec (Packet) and connection-phase packets (Handshake, HandshakeResponse,
// AuthSwitchRequest, OK) are not in the package's public entry point ("exports" names index.js
// only), so they are loaded by file from the installed package, the same files its client runs;
// the client itself (createConnection) comes from the public entry point.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createConnection, type ConnectionOptions } from 'mysql2';

const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('mysql2')), 'lib');
const load = (path: string): unknown => require(join(lib, path));

/** A MySQL packet: 4 header bytes (length, sequence id) and its payload, with a read/write offset. */
export interface Packet {
  sequenceId: number;
  buffer: Buffer;
  start: number;
  end: number;
  offset: number;
  writeInt8(n: number): void;
  writeInt16(n: number): void;
  writeString(s: string, encoding: string): void;
  writeHeader(sequenceId: number): void;
}

interface PacketConstructor {
  new (id: number, buffer: Buffer, start: number, end: number): Packet;
}

export interface PacketParser {
  execute(data: Buffer): void;
  hasPendingData(): boolean;
}

interface PacketParserConstructor {
  new (onPacket: (packet: Packet) => void): PacketParser;
}

/** What a client's HandshakeResponse41 says (mysql2's HandshakeResponse.fromPacket). */
export interface HandshakeResponse {
  clientFlags: number;
  charsetNumber: number;
  user: string;
  authToken: Buffer | string;
  database?: string;
  authPluginName?: string;
  connectAttributes?: Record<string, string>;
}

export interface Packets {
  Packet: PacketConstructor;
  Handshake: new (args: {
    protocolVersion: number;
    serverVersion: string;
    capabilityFlags: number;
    connectionId: number;
    authPluginData1: Buffer;
    authPluginData2: Buffer;
    characterSet: number;
    statusFlags: number;
  }) => { toPacket(sequenceId: number): Packet };
  HandshakeResponse: { fromPacket(packet: Packet, serverFlags: number): HandshakeResponse };
  AuthSwitchRequest: new (opts: { pluginName: string; pluginData: Buffer }) => { toPacket(): Packet };
  OK: { toPacket(args: { serverStatus: number }, encoding: string): Packet };
}

export const packets = load('packets/index.js') as Packets;
export const PacketParser = load('packet_parser.js') as PacketParserConstructor;
/** CLIENT_* capability flags by name (mysql2's constants/client.js). */
export const clientFlags = load('constants/client.js') as Record<string, number>;

/** A mysql2 client connection, with the internals the proxy takes over after the login. */
export interface ServerConnection {
  /** The socket to the server (a TLSSocket once TLS is up). */
  stream: Duplex;
  /** The server's capability flags, from its greeting. */
  serverCapabilityFlags: number;
  /** The server status flags of its last OK (the login's). */
  serverStatus: number;
  packetParser: PacketParser;
  /** Set when the connection is being closed: its socket handlers then report nothing. */
  _closing: boolean;
  /** The command being run: right after createConnection, the login (ClientHandshake). */
  _command: object | null;
  once(event: 'connect', fn: () => void): void;
  once(event: 'error', fn: (err: ServerError) => void): void;
  on(event: 'error', fn: (err: ServerError) => void): void;
  removeAllListeners(): void;
  destroy(): void;
}

/** An error of mysql2's client: a server's ERR packet (errno, sqlState) or a network error (code). */
export interface ServerError extends Error {
  code?: string;
  errno?: number;
  sqlState?: string;
}

/** mysql2's createConnection, typed with the internals above. */
export function connectServer(options: ConnectionOptions): ServerConnection {
  return createConnection(options) as unknown as ServerConnection;
}
