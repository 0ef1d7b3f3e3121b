// Entry point of the MySQL Connectors Proxy:
//   node dist/mysqlproxy/main.js --proxy-ca-cert-file=… --proxy-ca-key-file=… [--mysql-port=3306] …
//
// A MySQL or MariaDB client logs in with the user <namespace>/<connector> and its ServiceAccount
// token as the password, by mysql_clear_password over TLS only (session.ts); the proxy reviews the
// token, checks RBAC and reads the Connector (admission.ts), logs into the Connector's server with
// its real credential (upstream.ts) and relays the session byte for byte, with the command-phase
// capabilities both sides agreed (capabilities.ts). Wiring, metrics and drain: server.ts.
//
// The MySQL protocol is mysql2's: its packet framing (PacketParser), packet codec (Packet), the
// connection-phase packets (Handshake, HandshakeResponse, AuthSwitchRequest, OK) and its whole
// client for the server login (TLS, every authentication plugin the server may ask for). Written
// here, and why:
//   - mysql2.ts: types for those internals, loaded by file path, since mysql2's package entry
//     exports only its client and its server-side handshake knows no TLS;
//   - the order of the client-side login (session.ts): greeting, SSLRequest, TLS, response, switch
//     to mysql_clear_password, OK or ERR; mysql2 has no server-side login over TLS;
//   - reading the first packet by its 4-byte header and capability flags (session.ts): the TLS
//     ClientHello may follow the SSLRequest in the same read and must reach the TLS layer
//     untouched, and a login in plain text is refused from its first 8 bytes;
//   - the ERR packet (session.ts): mysql2's writes the SQLSTATE placeholder '_____';
//   - keeping mysql2's login from asking a MariaDB server for extended metadata (upstream.ts),
//     which would change the result-set format under a client that never asked for it; and
//     taking the socket over from mysql2 after the server's OK (upstream.ts).

import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { parseConfig } from './options.js';
import { startMysqlProxy } from './server.js';

runKubeEntryPoint('connectors-mysql-proxy', parseConfig, startMysqlProxy);
