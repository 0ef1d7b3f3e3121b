// Draining must never cut a response the server has already ended but the client has not read
// yet: with a fast tool and a slow client, that is every large download during a shutdown.

import { request, createServer, type IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { drain, listen } from '../../../../apiserver/machinery/lifecycle.js';
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
