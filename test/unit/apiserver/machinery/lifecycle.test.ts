// Draining must never cut a response the server has already ended but the client has not read
// yet: with a fast tool and a slow client, that is every large download during a shutdown. And
// tracking connections must not change how a server answers Upgrade and CONNECT requests.

import { request, createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
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
