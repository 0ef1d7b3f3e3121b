// Client deadlines (machinery/deadlines.ts) on real local servers, with deadlines of a fraction of
// a second: a slowly sent head is cut (also on a server that is handed its connections and never
// listens), an idle keep-alive connection is not; a request body that stops is abandoned with a
// 408 Status (or a cut once the response started) while one that keeps moving, or that we are the
// ones not reading, is left alone. Outcomes are asserted, never durations.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  connect,
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { expect } from 'chai';
import {
  enforceDeadlinesWithoutListening,
  headerDeadlineOptions,
  watchBodyIdle,
} from '../../../machinery/deadlines.js';
import { createLogger } from '../../../machinery/log.js';
import { createCA, issueCert, type CertKeyPem } from '../../../hack/pki.js';

const quiet = createLogger({ level: 'error', write: () => undefined });
const deadlineMs = 300;
/** Longer than any deadline here takes to act: the test's own horizon. */
const giveUpMs = 5_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once `check` holds, or after the test's horizon (the assertion that follows fails). */
async function until(check: () => boolean): Promise<void> {
  for (let waited = 0; !check() && waited < giveUpMs; waited += 20) await sleep(20);
}

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

interface Exchange {
  socket: Socket;
  /** Everything the server sent so far. */
  text(): string;
  /** Resolves true when the server closed the connection, false when the test gave up first. */
  closed: Promise<boolean>;
}

function open(port: number): Exchange {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<boolean>((resolve) => {
    const giveUp = setTimeout(() => {
      resolve(false);
    }, giveUpMs);
    socket.once('close', () => {
      clearTimeout(giveUp);
      resolve(true);
    });
  });
  return { socket, text: () => text, closed };
}

/** Sends a head one header line at a time, every deadline/4, until the connection closes. */
function dripHead(x: Exchange): void {
  x.socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => {
    if (x.socket.writable) x.socket.write('X-Slow: a\r\n');
  }, deadlineMs / 4);
  void x.closed.then(() => {
    clearInterval(drip);
  });
}

describe('machinery/deadlines request head', function () {
  let server: Server;
  let port: number;

  beforeEach(async function () {
    server = createServer(headerDeadlineOptions(deadlineMs), (_req, res) => res.end('ok'));
    server.requestTimeout = 0;
    server.keepAliveTimeout = 10_000;
    port = await listen(server);
  });

  afterEach(async function () {
    await close(server);
  });

  it('a head still arriving at the deadline is answered 408 and the connection closed', async function () {
    const x = open(port);
    dripHead(x);
    expect(await x.closed, 'closed by the server').to.equal(true);
    expect(x.text()).to.match(/^HTTP\/1\.1 408 /);
    x.socket.destroy();
  });

  it('a keep-alive connection idle for longer than the deadline still serves its next request', async function () {
    const x = open(port);
    x.socket.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(deadlineMs * 3);
    x.socket.write('GET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(deadlineMs / 2);
    expect(x.text().match(/HTTP\/1\.1 200 /g)).to.have.length(2);
    x.socket.destroy();
  });
});

describe('machinery/deadlines on a server handed its connections (the proxy’s intercepted TLS)', function () {
  let caPem: string;
  let tls: CertKeyPem;
  let inner: Server;
  let outer: NetServer;
  let port: number;
  /** How the outer server hands a connection to `inner`: as is, or wrapped in server-side TLS. */
  let wrap: 'plain' | 'tls';

  before(async function () {
    const ca = await createCA('deadlines-test-ca');
    caPem = ca.certPem;
    tls = await issueCert(ca, { commonName: 'tool.test', dnsNames: ['tool.test'], server: true });
  });

  beforeEach(async function () {
    inner = createServer(headerDeadlineOptions(deadlineMs), (_req, res) => res.end('ok'));
    inner.requestTimeout = 0;
    // As the Connectors Proxy answers a bad head inside a tunnel (connproxy/errors.ts): it waits
    // for the answer to be flushed, which a socket still in its TLS handshake never is.
    inner.on('clientError', (_err, socket) => {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n', () => socket.destroy());
    });
    enforceDeadlinesWithoutListening(inner, deadlineMs);
    outer = createNetServer((socket) => {
      inner.emit(
        'connection',
        wrap === 'tls'
          ? new TLSSocket(socket, { isServer: true, cert: tls.certPem, key: tls.keyPem })
          : socket,
      );
    });
    port = await listen(outer);
  });

  afterEach(function () {
    outer.close();
    inner.closeAllConnections();
  });

  it('a head sent slowly is cut, although the server never listens', async function () {
    wrap = 'plain';
    const x = open(port);
    dripHead(x);
    expect(await x.closed, 'closed by the server').to.equal(true);
    expect(x.text()).to.match(/^HTTP\/1\.1 [0-9]{3} /);
    x.socket.destroy();
  });

  it('a TLS handshake that never completes is cut', async function () {
    wrap = 'tls';
    const x = open(port);
    x.socket.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a ClientHello, then silence
    expect(await x.closed, 'closed by the server').to.equal(true);
  });

  it('a completed handshake is not cut by it: an idle TLS connection serves its next request', async function () {
    wrap = 'tls';
    const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'tool.test', ca: caPem });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    await new Promise<void>((resolve) =>
      socket.once('secureConnect', () => {
        resolve();
      }),
    );
    socket.write('GET /1 HTTP/1.1\r\nHost: tool.test\r\n\r\n');
    await sleep(deadlineMs * 3);
    socket.write('GET /2 HTTP/1.1\r\nHost: tool.test\r\n\r\n');
    await until(() => (text.match(/HTTP\/1\.1 200 /g) ?? []).length === 2);
    expect(text.match(/HTTP\/1\.1 200 /g)).to.have.length(2);
    socket.destroy();
  });
});

describe('machinery/deadlines request body', function () {
  let server: Server;
  let port: number;
  /** How each request's body ended, as the handler saw it. */
  let bodies: { bytes: number; complete: boolean; aborted: boolean }[];
  /** Per path: how the handler treats the request. */
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const body = { bytes: 0, complete: false, aborted: false };
    bodies.push(body);
    req.on('close', () => {
      if (!body.complete) body.aborted = true;
    });
    const consume = (): void => {
      req.on('data', (c: Buffer) => (body.bytes += c.length));
      req.on('end', () => {
        body.complete = true;
        if (!res.headersSent) res.end(`got ${body.bytes}`);
        else res.end();
      });
    };
    if (req.url === '/late-reader') {
      // We are the slow side: nothing is read for three deadlines.
      setTimeout(consume, deadlineMs * 3);
    } else if (req.url === '/early-answer') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('answer started');
      consume();
    } else consume();
  };

  beforeEach(async function () {
    bodies = [];
    server = createServer(watchBodyIdle(handle, deadlineMs, quiet));
    port = await listen(server);
  });

  afterEach(async function () {
    await close(server);
  });

  it('a body that stops is abandoned: 408 Status, connection closed, the handler sees it aborted', async function () {
    const x = open(port);
    x.socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
    x.socket.write(Buffer.alloc(1000, 'a'));
    expect(await x.closed, 'closed by the server').to.equal(true);
    expect(x.text()).to.match(/^HTTP\/1\.1 408 /);
    const body = x.text().slice(x.text().indexOf('\r\n\r\n') + 4);
    expect(JSON.parse(body)).to.include({ kind: 'Status', reason: 'Timeout', code: 408 });
    await until(() => bodies[0]?.aborted === true);
    expect(bodies[0]).to.deep.include({ complete: false, aborted: true });
  });

  it('once the response has started, a body that stops gets the connection cut', async function () {
    const x = open(port);
    x.socket.write('POST /early-answer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    x.socket.write('3e8\r\n' + 'a'.repeat(1000) + '\r\n');
    expect(await x.closed, 'closed by the server').to.equal(true);
    expect(x.text()).to.match(/^HTTP\/1\.1 200 /);
    await until(() => bodies[0]?.aborted === true);
    expect(bodies[0]).to.deep.include({ complete: false, aborted: true });
  });

  it('a slow body that keeps moving is read to its end, however long it takes in all', async function () {
    const x = open(port);
    const chunks = 12; // 12 × deadline/4: three deadlines in all
    x.socket.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${chunks * 10}\r\n\r\n`);
    for (let i = 0; i < chunks; i++) {
      await sleep(deadlineMs / 4);
      x.socket.write('b'.repeat(10));
    }
    await sleep(deadlineMs / 2);
    expect(x.text()).to.match(/^HTTP\/1\.1 200 [^]*got 120$/);
    expect(bodies[0]).to.deep.include({ complete: true, aborted: false });
    x.socket.destroy();
  });

  it('a body we are not reading yet is not the client’s pause', async function () {
    const x = open(port);
    const size = 4 * 1024 * 1024; // far more than the socket and the stream buffer hold
    x.socket.write(`POST /late-reader HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    x.socket.write(Buffer.alloc(size, 'c'));
    await until(() => x.text().includes(`got ${size}`) || bodies[0]?.aborted === true);
    expect(bodies[0]).to.deep.include({ complete: true, aborted: false });
    x.socket.destroy();
  });

  it('a request without a body is not watched', async function () {
    const x = open(port);
    x.socket.write('GET /plain HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(deadlineMs * 2);
    expect(x.text()).to.match(/^HTTP\/1\.1 200 /);
    x.socket.destroy();
  });
});
