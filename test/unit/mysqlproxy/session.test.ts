// The MySQL Connectors Proxy's login state machine, between a real mysql2 client (or a raw
// socket) and fakes of the gate and of the server login: TLS before anything, the switch to
// mysql_clear_password, the client's choice handed to the server login, the relay after the OK,
// and every refusal an ERR packet that ends the session with nothing left running.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { expect } from 'chai';
import { createConnection } from 'mysql2/promise';
import { createLogger } from '../../../machinery/log.js';
import { ProxyCertificateAuthority } from '../../../proxy/ca.js';
import { accessDenied } from '../../../mysqlproxy/errors.js';
import { packets } from '../../../mysqlproxy/mysql2.js';
import { ClientSession, type SessionDeps, type SessionEnd } from '../../../mysqlproxy/session.js';
import type { ClientChoice, ServerSession, ServerTarget } from '../../../mysqlproxy/upstream.js';

const target: ServerTarget = { host: 'db', port: 3306, tls: undefined, username: 'u', password: 'p' };

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A "server" already logged in: every command gets an OK. */
async function fakeServer(): Promise<{ port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', () => {
      const ok = packets.OK.toPacket({ serverStatus: 2 }, 'utf8');
      ok.writeHeader(1);
      socket.write(ok.buffer);
    });
  });
  const port = await listening(server);
  return {
    port,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * A client written out by hand: the SSLRequest, TLS, then a HandshakeResponse41 with the token
 * for mysql_clear_password; resolves with the TLS socket once that is sent.
 */
async function rawLogin(port: number, caPem: string, user: string, token: string): Promise<TLSSocket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('data', resolve)); // the greeting
  const flags = 0x0200 | 0x0800 | 0x8000 | 0x80000 | 0x200000; // 4.1, SSL, secure, plugins, lenenc
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE(flags, 0);
  fixed.writeUInt32LE(1 << 24, 4);
  fixed[8] = 45;
  const packet = (seq: number, payload: Buffer): Buffer => {
    const head = Buffer.alloc(4);
    head.writeUIntLE(payload.length, 0, 3);
    head[3] = seq;
    return Buffer.concat([head, payload]);
  };
  socket.write(packet(1, fixed));
  const tls = tlsConnect({ socket, ca: caPem, servername: 'localhost' });
  await new Promise((resolve) => tls.once('secureConnect', resolve));
  const secret = Buffer.from(`${token}\0`);
  tls.write(
    packet(
      2,
      Buffer.concat([
        fixed,
        Buffer.from(`${user}\0`),
        Buffer.from([secret.length]),
        secret,
        Buffer.from('mysql_clear_password\0'),
      ]),
    ),
  );
  return tls;
}

describe('mysqlproxy/session', function () {
  let ca: ProxyCertificateAuthority;
  let proxy: Server;
  let proxyPort: number;
  let deps: SessionDeps;
  let ends: Promise<SessionEnd>[];
  const seen: { admit: [string, string][]; choices: ClientChoice[]; signals: AbortSignal[] } = {
    admit: [],
    choices: [],
    signals: [],
  };

  before(async function () {
    ca = await ProxyCertificateAuthority.generate();
  });

  beforeEach(async function () {
    seen.admit = [];
    seen.choices = [];
    seen.signals = [];
    ends = [];
    deps = {
      tlsContext: (name) => ca.secureContextFor(name ?? 'localhost'),
      admit: (user, token) => {
        seen.admit.push([user, token]);
        if (token !== 'good') return Promise.reject(accessDenied('unauthenticated', 'not a valid token'));
        return Promise.resolve({ caller: 'system:serviceaccount:ns:app', target });
      },
      login: () => Promise.reject(new Error('no server in this test')),
      loginTimeoutMs: 2_000,
      log: createLogger({ write: () => undefined }),
    };
    proxy = createServer((socket) => {
      const session = new ClientSession(socket, deps);
      ends.push(session.ended);
      session.start();
    });
    proxyPort = await listening(proxy);
  });

  afterEach(async function () {
    await new Promise((resolve) => proxy.close(resolve));
  });

  const client = (opts: {
    ssl?: boolean;
    password?: string;
    database?: string;
    multipleStatements?: boolean;
  }) =>
    createConnection({
      host: 'localhost',
      port: proxyPort,
      user: 'ns/db',
      password: opts.password ?? 'good',
      ...(opts.database ? { database: opts.database } : {}),
      ...(opts.multipleStatements ? { multipleStatements: true } : {}),
      ...(opts.ssl === false
        ? {}
        : { ssl: { ca: ca.certPem, rejectUnauthorized: true, verifyIdentity: true } }),
      enableCleartextPlugin: true,
    });

  it('logs in over TLS with the cleartext token, hands the client’s choice to the server login and relays', async function () {
    const server = await fakeServer();
    try {
      deps.login = async (t, choice, signal) => {
        expect(t).to.equal(target);
        seen.choices.push(choice);
        seen.signals.push(signal);
        const socket = connect(server.port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        return { socket, serverStatus: 2 } satisfies ServerSession;
      };
      const conn = await client({ database: 'appdb', multipleStatements: true });
      await conn.query('DO 1');
      await conn.query('DO 2');
      await conn.end();
      expect(seen.admit).to.deep.equal([['ns/db', 'good']]);
      const [choice] = seen.choices;
      expect(choice?.database).to.equal('appdb');
      expect(choice?.charsetNumber).to.be.a('number');
      expect(choice?.attributes).to.have.property('_client_name');
      // mysql2 asked for multi-statements; the proxy passes it on, but never the connection phase's.
      expect((choice?.sessionFlags ?? 0) & 0x10000).to.not.equal(0);
      expect((choice?.sessionFlags ?? 0) & 0x0800).to.equal(0);
      expect(await ends[0]).to.deep.equal({ outcome: 'relayed' });
      // The client's close closed the server's side too.
      await new Promise((r) => setTimeout(r, 50));
      expect(server.sockets.size).to.equal(0);
    } finally {
      await server.close();
    }
  });

  it('refuses a login without TLS before reading any password', async function () {
    const err = await client({ ssl: false }).then(
      () => null,
      (e: unknown) => e as { errno?: number; message: string },
    );
    expect(err?.errno).to.equal(3159);
    expect(err?.message).to.match(/insecure transport.*connect with TLS/);
    expect(seen.admit).to.deep.equal([]);
    expect(await ends[0]).to.deep.equal({ outcome: 'insecure_transport' });
  });

  it('refuses a plain-text login from its first 8 bytes, without waiting for the rest', async function () {
    const socket = connect(proxyPort, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      received.push(d);
      if (received.length === 1) {
        // A HandshakeResponse announcing 1000 bytes without CLIENT_SSL; only its start is sent.
        const start = Buffer.alloc(8);
        start.writeUIntLE(1000, 0, 3);
        start[3] = 1;
        start.writeUInt32LE(0x0200 | 0x8000, 4);
        socket.write(start);
      }
    });
    await new Promise((resolve) => socket.once('close', resolve));
    const all = Buffer.concat(received);
    const err = 4 + all.readUIntLE(0, 3);
    expect(all[err + 3], 'sequence id').to.equal(2);
    expect(all.readUInt16LE(err + 5)).to.equal(3159);
    expect(await ends[0]).to.deep.equal({ outcome: 'insecure_transport' });
  });

  it('counts a client that does not trust the proxy’s certificate as a failed TLS handshake', async function () {
    const other = await ProxyCertificateAuthority.generate();
    const err = await createConnection({
      host: 'localhost',
      port: proxyPort,
      user: 'ns/db',
      password: 'good',
      ssl: { ca: other.certPem },
      enableCleartextPlugin: true,
    }).then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).to.equal('HANDSHAKE_SSL_ERROR');
    expect(await ends[0]).to.deep.equal({ outcome: 'tls_failed' });
    expect(seen.admit).to.deep.equal([]);
  });

  it('passes the gate’s refusal on as an ERR packet and never logs into the server', async function () {
    let logins = 0;
    deps.login = () => {
      logins++;
      return Promise.reject(new Error('unexpected'));
    };
    const err = await client({ password: 'bad' }).then(
      () => null,
      (e: unknown) => e as { errno?: number; sqlState?: string; message: string },
    );
    expect(err).to.include({ errno: 1045, sqlState: '28000', message: 'not a valid token' });
    expect(logins).to.equal(0);
    expect(await ends[0]).to.deep.equal({ outcome: 'unauthenticated' });
  });

  it('refuses a client that does not log in within the login timeout, and ends', async function () {
    deps.loginTimeoutMs = 200;
    const socket = connect(proxyPort, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    await new Promise((resolve) => socket.once('close', resolve));
    const all = Buffer.concat(received);
    // The greeting (protocol 10), then an ERR packet.
    expect(all[4]).to.equal(10);
    const err = 4 + all.readUIntLE(0, 3);
    expect(all[err + 4]).to.equal(0xff);
    expect(all.subarray(err + 7).toString('latin1')).to.equal('#08S01Bad handshake: the login took too long');
    expect(await ends[0]).to.deep.equal({ outcome: 'login_timeout' });
  });

  it('gives the server login up when the client goes away meanwhile', async function () {
    let aborted!: () => void;
    const gaveUp = new Promise<void>((resolve) => {
      aborted = resolve;
    });
    deps.login = (_t, _choice, signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted();
          reject(new Error('aborted'));
        });
      });
    const tls = await rawLogin(proxyPort, ca.certPem, 'ns/db', 'good');
    while (seen.admit.length === 0) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 20));
    tls.destroy();
    await gaveUp;
    expect(await ends[0]).to.have.property('outcome');
  });
});
