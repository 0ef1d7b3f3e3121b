// Draining must never cut a response the server has already ended but the client has not read
// yet: with a fast tool and a slow client, that is every large download during a shutdown. And
// tracking connections must not change how a server answers Upgrade and CONNECT requests.

import { request, createServer, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { connect, Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { drain, listen } from '../../../../apiserver/machinery/lifecycle.js';
import { rawRequest } from '../../helpers/raw.js';
import { createLogger } from '../../../../apiserver/machinery/log.js';

const quiet = createLogger({ level: 'error', write: () => undefined });

describe('apiserver/machinery/lifecycle drain', () => {
  it('lets an ended but unread response reach a slow client in full', async () => {
    const size = 32 * 1024 * 1024;
    const server = createServer((_req, res) => {
      res.end(Buffer.alloc(size, 'x')); // `finished` at once; the bytes are still buffered here
    });
    const port = await listen(server, 0, '127.0.0.1');
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: '/' }, resolve).on('error', reject).end();
    });
    res.pause();
    const drained = drain(server, 10_000, quiet);
    await new Promise((r) => setTimeout(r, 600)); // a few sweeps happen while the client is slow
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      res.on('data', (c: Buffer) => (received += c.length));
      res.once('end', resolve);
      res.once('error', reject);
      res.once('aborted', () => {
        reject(new Error(`cut after ${received} bytes`));
      });
      res.resume();
    });
    await drained;
    expect(received).to.equal(size);
  });

  it('closes idle keep-alive connections at once and finishes', async () => {
    const server = createServer((_req, res) => {
      res.end('ok');
    });
    const port = await listen(server, 0, '127.0.0.1');
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: '/', agent }, (r) => {
        r.resume();
        r.once('end', resolve);
      })
        .on('error', reject)
        .end();
    });
    const started = Date.now();
    await drain(server, 10_000, quiet);
    expect(Date.now() - started).to.be.below(5_000); // not the grace period
    agent.destroy();
  });
});

describe('apiserver/machinery/lifecycle listen', () => {
  // Tracking used to listen for 'upgrade' and 'connect' on every server. A listener is what makes
  // Node hand such a socket over instead of serving an ordinary request (Upgrade) or closing it
  // (CONNECT), so every Upgrade or CONNECT request hung without an answer, held a socket, and kept
  // drain() waiting for the whole grace period.
  it('serves a request with an Upgrade header as an ordinary request on a server that upgrades nothing', async () => {
    const server = createServer((_req, res) => {
      res.end('plain');
    });
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const text = await rawRequest(
        port,
        'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n',
      );
      expect(text).to.match(/^HTTP\/1\.1 200 OK/);
      expect(text).to.match(/\r\n\r\nplain$/);
    } finally {
      await drain(server, 1_000, quiet);
    }
  });

  // Node keeps the first 2000 header lines and drops the rest without a word: an identity or
  // credential header late in a long head vanished here while kube-apiserver, which has no such
  // count, had seen and forwarded it (a 401 that should have been a 200).
  it('keeps every header line of a head within the size limit', async () => {
    const server = createServer((req, res) => {
      res.end(`x-last=${String(req.headers['x-last'])}`);
    });
    const port = await listen(server, 0, '127.0.0.1');
    try {
      const filler = 'a: 1\r\n'.repeat(2_100); // 12.6 KB, below the 16 KiB head limit
      const text = await rawRequest(
        port,
        `GET / HTTP/1.1\r\nHost: x\r\n${filler}X-Last: yes\r\nConnection: close\r\n\r\n`,
      );
      expect(text).to.match(/\r\n\r\nx-last=yes$/);
    } finally {
      await drain(server, 1_000, quiet);
    }
  });

  it('closes a CONNECT on a server that does not handle CONNECT', async () => {
    const server = createServer((_req, res) => {
      res.end('plain');
    });
    const port = await listen(server, 0, '127.0.0.1');
    try {
      expect(await rawRequest(port, 'CONNECT other:443 HTTP/1.1\r\nHost: other:443\r\n\r\n')).to.equal('');
    } finally {
      await drain(server, 1_000, quiet);
    }
  });

  it('leaves CONNECT sockets to a server that handles CONNECT, also while draining', async () => {
    const server = createServer();
    const tunnels: Duplex[] = [];
    server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      tunnels.push(socket);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    });
    const port = await listen(server, 0, '127.0.0.1');
    const socket = connect({ port, host: '127.0.0.1' });
    socket.write('CONNECT other:443 HTTP/1.1\r\nHost: other:443\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const drained = drain(server, 60_000, quiet);
    await new Promise((r) => setTimeout(r, 600)); // sweeps run; the tunnel is not theirs to close
    expect(socket.destroyed).to.equal(false);
    for (const t of tunnels) t.destroy();
    await drained;
    socket.destroy();
  });
});

/** How many sockets listen on 127.0.0.1:port, from the kernel's own table (/proc/net/tcp). */
function listeningSockets(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .filter((line) => {
      const [, address, , state] = line.trim().split(/\s+/);
      return address === local && state === '0A'; // TCP_LISTEN
    }).length;
}

/** A GET on a connection of its own, read to the end; resolves with the status and body. */
function getOnNewConnection(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => {
        resolve(`${String(res.statusCode)} ${body}`);
      });
      res.once('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

// Several sockets share the port (SO_REUSEPORT) so that a burst of new connections is accepted
// several at a time per event-loop turn; the kernel spreads connections over them by address and
// port, so 64 connections from as many client ports reach every one of 4 sockets (the chance that
// one gets none is below 1 in 10^7). A socket that did not hand its connections to the server would
// leave a quarter of them unanswered.
describe('apiserver/machinery/lifecycle listen on several sockets', () => {
  it('serves the connections of every socket as its own, with its socket options', async () => {
    const halfOpen: boolean[] = [];
    const server = createServer((_req, res) => {
      res.end('ok');
    });
    server.on('connection', (socket: Socket) => halfOpen.push(socket.allowHalfOpen));
    const port = await listen(server, 0, '127.0.0.1', 4);
    try {
      expect(listeningSockets(port)).to.equal(4);
      const answers = await Promise.all(Array.from({ length: 64 }, () => getOnNewConnection(port)));
      expect(answers).to.deep.equal(Array.from({ length: 64 }, () => '200 ok'));
      expect(halfOpen).to.have.length(64);
      // As the server's own: an http.Server takes half-open sockets (it ends its side itself).
      expect(halfOpen.every((h) => h)).to.equal(true);
    } finally {
      await drain(server, 1_000, quiet);
    }
  });

  it('listens on one socket, without SO_REUSEPORT, when asked for one', async () => {
    const server = createServer((_req, res) => {
      res.end('ok');
    });
    const port = await listen(server, 0, '127.0.0.1', 1);
    // Another socket asking to share the port is refused: nothing else can take its connections.
    const intruder = new NetServer();
    try {
      const refused = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
        intruder.once('error', resolve);
        intruder.listen({ port, host: '127.0.0.1', reusePort: true }, () => {
          reject(new Error('a second socket was bound to the port'));
        });
      });
      expect(refused.code).to.equal('EADDRINUSE');
      expect(listeningSockets(port)).to.equal(1);
    } finally {
      intruder.close();
      await drain(server, 1_000, quiet);
    }
  });

  it('drains in-flight responses on every socket, then closes them all', async () => {
    const size = 4 * 1024 * 1024;
    const server = createServer((_req, res) => {
      res.end(Buffer.alloc(size, 'x')); // still buffered here while the clients are slow
    });
    const port = await listen(server, 0, '127.0.0.1', 4);
    const responses = await Promise.all(
      Array.from(
        { length: 16 },
        () =>
          new Promise<IncomingMessage>((resolve, reject) => {
            request({ port, host: '127.0.0.1', path: '/', agent: false }, resolve).on('error', reject).end();
          }),
      ),
    );
    for (const res of responses) res.pause();
    const drained = drain(server, 10_000, quiet);
    await new Promise((r) => setTimeout(r, 600)); // a few sweeps happen while the clients are slow
    expect(listeningSockets(port)).to.equal(0);
    const received = await Promise.all(
      responses.map(
        (res) =>
          new Promise<number>((resolve, reject) => {
            let n = 0;
            res.on('data', (c: Buffer) => (n += c.length));
            res.once('end', () => {
              resolve(n);
            });
            res.once('aborted', () => {
              reject(new Error(`cut after ${n} bytes`));
            });
            res.resume();
          }),
      ),
    );
    await drained;
    expect(received).to.deep.equal(Array.from({ length: 16 }, () => size));
    const refused = await getOnNewConnection(port).then(
      () => '',
      (err: unknown) => (err as NodeJS.ErrnoException).code,
    );
    expect(refused).to.equal('ECONNREFUSED');
  });
});
