// The upstream pools survive a tool closing its connection (FIN) after a `Connection: close`
// response while the caller holds the body back. undici 7.30 asserted there, from a socket 'end'
// listener, which no caller can catch: the whole server went down (nodejs/undici#5360). We patched
// the socket until undici 8 carried the fix; these tests keep the upgrade honest.

import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Pool } from 'undici';
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
    // undici names the short body for what it is (7.30 with our patch said 'other side closed').
    expect(r.error).to.equal('UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
    expect(r.bytes).to.be.at.most(body.length);
  });
});

// Callers that pick origins (the Connectors Proxy's forward mode) must not be able to grow the
// pools without bound: idle pools are closed, past the maximum the least recently used one is, and
// a closed pool still finishes what it was doing.
describe('proxy/dispatchers: idle and surplus pools are closed', () => {
  const timeouts = { connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 };
  let pools: DispatcherCache;
  let tool: HttpServer;
  let origin: string;
  /** Connections the tool has open now: each kept pool holds its keep-alive connection. */
  let open: Set<Socket>;
  let hosts: (string | undefined)[];
  /** Responses held back by the test: /slow waits for release(). */
  let held: ServerResponse[];
  let clock: number;

  beforeEach(async () => {
    open = new Set();
    hosts = [];
    held = [];
    clock = 0;
    tool = createHttpServer((req, res) => {
      hosts.push(req.headers.host);
      if (req.url === '/slow') {
        res.writeHead(200, { 'content-length': '5' });
        res.write('hel');
        held.push(res);
        return;
      }
      res.end('ok');
    });
    tool.keepAliveTimeout = 60_000;
    tool.on('connection', (s: Socket) => {
      open.add(s);
      s.once('close', () => open.delete(s));
    });
    await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(tool.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await pools.close();
    tool.closeAllConnections();
    await new Promise((resolve) => tool.close(resolve));
  });

  /** Distinct origins that all reach the tool: localhost names it too, at another origin. */
  const distinct = (n: number): string[] =>
    Array.from({ length: n }, (_, i) => `http://tool-${i}.example:${new URL(origin).port}`);

  async function get(o: string, path = '/'): Promise<string> {
    const res = await pools.get(o, undefined, '127.0.0.1').request({ origin: o, path, method: 'GET' });
    return res.body.text();
  }

  async function settled(): Promise<void> {
    // A closed pool ends its sockets asynchronously; the tool sees the FIN a moment later.
    for (let i = 0; i < 100 && open.size > pools.size; i++) await new Promise((r) => setTimeout(r, 20));
  }

  it('connectTo: the connection goes to the given address, the origin stays the Host', async () => {
    pools = new DispatcherCache(timeouts);
    const [o] = distinct(1) as [string];
    // The name does not resolve: only connectTo can have reached the tool.
    const unresolved = await pools
      .get(o)
      .request({ origin: o, path: '/', method: 'GET' })
      .then(
        () => 'reached',
        (err: unknown) => (err as { code?: string }).code,
      );
    expect(unresolved).to.equal('ENOTFOUND');
    expect(await get(o)).to.equal('ok');
    expect(hosts).to.deep.equal([new URL(o).host]);
  });

  it('keeps at most maxPools, closing the least recently used first', async () => {
    pools = new DispatcherCache(timeouts, {
      connectionsPerOrigin: 4,
      limits: { maxPools: 8, idleMs: 60_000 },
      now: () => clock,
    });
    const origins = distinct(40);
    const handles: Pool[] = [];
    for (const o of origins) {
      handles.push(pools.get(o, undefined, '127.0.0.1'));
      expect(await get(o)).to.equal('ok');
      expect(pools.size).to.be.at.most(8);
    }
    await settled();
    expect(hosts).to.have.length(40);
    expect(open.size).to.be.at.most(8); // the evicted pools' connections are closed, not leaked
    expect(handles.map((p) => p.closed)).to.deep.equal([
      ...Array<boolean>(32).fill(true),
      ...Array<boolean>(8).fill(false),
    ]);
    // Using the oldest kept pool keeps it over the next one.
    const pool = (o: string): Pool => pools.get(o, undefined, '127.0.0.1');
    expect(pool(origins[32]!)).to.equal(handles[32]);
    pool(distinct(41)[40]!); // a new origin: evicts origins[33], now the least recently used
    expect(handles[33]!.closed).to.equal(true);
    expect(handles[32]!.closed).to.equal(false);
    expect(pools.size).to.equal(8);
  });

  it('closes a pool nobody used for idleMs, but not one with a response in flight', async () => {
    pools = new DispatcherCache(timeouts, {
      connectionsPerOrigin: 4,
      limits: { maxPools: 8, idleMs: 60_000 },
      now: () => clock,
    });
    const [idle, busy, recent] = distinct(3) as [string, string, string];
    expect(await get(idle)).to.equal('ok');
    const slow = pools
      .get(busy, undefined, '127.0.0.1')
      .request({ origin: busy, path: '/slow', method: 'GET' });
    const body = (await slow).body.text();
    clock = 50_000;
    expect(await get(recent)).to.equal('ok');
    pools.sweep();
    expect(pools.size).to.equal(3); // nothing idle for a minute yet
    clock = 60_001;
    pools.sweep();
    expect(pools.size).to.equal(2); // `idle` closed; `busy` still streams; `recent` is recent
    const idlePool = pools.get(idle, undefined, '127.0.0.1');
    expect(pools.size).to.equal(3); // asked again: a new pool
    expect(idlePool.closed).to.equal(false);
    held[0]?.end('lo');
    expect(await body).to.equal('hello');
    clock = 200_000;
    pools.sweep();
    expect(pools.size).to.equal(0);
  });

  it('a pool closed for the bound lets its request in flight finish', async () => {
    pools = new DispatcherCache(timeouts, {
      connectionsPerOrigin: 4,
      limits: { maxPools: 1, idleMs: 60_000 },
      now: () => clock,
    });
    const [first, second] = distinct(2) as [string, string];
    const firstPool = pools.get(first, undefined, '127.0.0.1');
    const res = await firstPool.request({ origin: first, path: '/slow', method: 'GET' });
    expect(await get(second)).to.equal('ok'); // evicts `first` while its body is half sent
    expect(pools.size).to.equal(1);
    expect(firstPool.closed).to.equal(true);
    const body = res.body.text();
    held[0]?.end('lo');
    expect(await body).to.equal('hello');
  });
});
