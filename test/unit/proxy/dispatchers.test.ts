// The upstream pools survive a tool closing its connection (FIN) after a `Connection: close`
// response while the caller holds the body back. undici 7.30 asserted there, from a socket 'end'
// listener, which no caller can catch: the whole server went down (nodejs/undici#5360).

import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { DispatcherCache } from '../../../proxy/dispatchers.js';

const body = Buffer.alloc(64 * 1024, 'b');

/** Answers every request with `Connection: close`, `declared` as length, `body`, then FIN. */
async function closingTool(declared: number): Promise<{ origin: string; server: Server }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${declared}\r\nConnection: close\r\n\r\n`);
      socket.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('proxy/dispatchers: a tool closing while the body is held back', () => {
  let pools: DispatcherCache;
  let server: Server | undefined;
  let uncaught: unknown[];
  const record = (err: unknown): void => {
    uncaught.push(err);
  };
  // Mocha's own handler would report the assertion against whichever test runs then; this one
  // records it where the test can see it, and is the only one while a test runs.
  let mochaHandlers: NodeJS.UncaughtExceptionListener[];

  beforeEach(() => {
    pools = new DispatcherCache({ connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 });
    uncaught = [];
    mochaHandlers = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', record);
  });

  afterEach(async () => {
    process.off('uncaughtException', record);
    for (const h of mochaHandlers) process.on('uncaughtException', h);
    await pools.close();
    const s = server;
    server = undefined;
    if (s) await new Promise((resolve) => s.close(resolve));
  });

  async function fetchHeldBack(declared: number): Promise<{ bytes: number; error?: string }> {
    const tool = await closingTool(declared);
    server = tool.server;
    const res = await pools.get(tool.origin).request({ origin: tool.origin, path: '/', method: 'GET' });
    // Nothing is read until the FIN has long arrived, so the parser sits paused at the end.
    await new Promise((r) => setTimeout(r, 300));
    let bytes = 0;
    try {
      for await (const c of res.body) bytes += (c as Buffer).length;
      return { bytes };
    } catch (err) {
      return { bytes, error: (err as { code?: string }).code ?? String(err) };
    }
  }

  it('a complete body is delivered whole', async () => {
    const r = await fetchHeldBack(body.length);
    expect(uncaught).to.deep.equal([]);
    expect(r).to.deep.equal({ bytes: body.length });
  });

  it('a body cut short of its Content-Length ends in an error, not a crash', async () => {
    const r = await fetchHeldBack(2 * body.length);
    expect(uncaught).to.deep.equal([]);
    expect(r.error).to.equal('UND_ERR_SOCKET');
    expect(r.bytes).to.be.at.most(body.length);
  });
});
