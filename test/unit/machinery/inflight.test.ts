// The in-flight budget (machinery/inflight.ts) on real local servers: a stream holds its slot until
// it closes, the request beyond the budget gets 429 + Retry-After as a Status without reaching the
// handler, exempt requests (probes) always pass, reads and writes have separate budgets, and a
// CONNECT tunnel holds a read slot for as long as its socket is open.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import { InflightLimiter, requestKind } from '../../../machinery/inflight.js';
import { createLogger } from '../../../machinery/log.js';

const quiet = createLogger({ level: 'error', write: () => undefined });

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

describe('machinery/inflight requestKind', function () {
  it('reads are GET, HEAD and CONNECT; everything else may write', function () {
    for (const m of ['GET', 'HEAD', 'CONNECT']) expect(requestKind(m), m).to.equal('readOnly');
    for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      expect(requestKind(m), m).to.equal('mutating');
    }
  });
});

describe('machinery/inflight InflightLimiter', function () {
  it('hands out at most the limit, counts what it refuses, and takes each slot back once', function () {
    const limiter = new InflightLimiter({ readOnly: 2, mutating: 1 }, quiet);
    const a = limiter.tryAcquire('readOnly');
    const b = limiter.tryAcquire('readOnly');
    expect(a).to.be.a('function');
    expect(b).to.be.a('function');
    expect(limiter.tryAcquire('readOnly')).to.equal(undefined);
    expect(limiter.dropped('readOnly')).to.equal(1);
    expect(limiter.inFlight('readOnly')).to.equal(2);
    // The other budget is untouched.
    expect(limiter.tryAcquire('mutating')).to.be.a('function');
    a?.();
    a?.();
    expect(limiter.inFlight('readOnly')).to.equal(1);
    expect(limiter.tryAcquire('readOnly')).to.be.a('function');
  });

  it('0 means no limit', function () {
    const limiter = new InflightLimiter({ readOnly: 0, mutating: 0 }, quiet);
    for (let i = 0; i < 10_000; i++) expect(limiter.tryAcquire('readOnly')).to.be.a('function');
    expect(limiter.dropped('readOnly')).to.equal(0);
  });

  it('logs a flood once, with the count, not once per refusal', function () {
    const lines: string[] = [];
    const limiter = new InflightLimiter(
      { readOnly: 1, mutating: 1 },
      createLogger({ level: 'warn', write: (l) => lines.push(l) }),
    );
    limiter.tryAcquire('readOnly');
    for (let i = 0; i < 100; i++) limiter.tryAcquire('readOnly');
    expect(lines).to.have.length(1);
    expect(JSON.parse(lines[0] ?? '{}')).to.include({ msg: 'requests refused with 429: too many in flight' });
  });
});

describe('machinery/inflight guard (a real HTTP server)', function () {
  let server: Server;
  let url: string;
  let limiter: InflightLimiter;
  /** Responses held open by the handler, and how many requests reached it. */
  let held: ServerResponse[];
  let reached: number;
  let agent: Agent;

  beforeEach(async function () {
    held = [];
    reached = 0;
    limiter = new InflightLimiter({ readOnly: 2, mutating: 1 }, quiet);
    server = createServer(
      limiter.guard(
        (req: IncomingMessage, res: ServerResponse) => {
          reached++;
          res.writeHead(200, { 'content-type': 'text/plain' });
          if (req.url === '/hold') {
            res.write('streaming');
            held.push(res);
          } else res.end('ok');
        },
        (req) => req.url === '/healthz',
      ),
    );
    url = await listen(server);
    agent = new Agent({ connections: 50 });
  });

  afterEach(async function () {
    await agent.destroy();
    await close(server);
  });

  const get = async (path: string, method = 'GET') => {
    const r = await request(`${url}${path}`, { dispatcher: agent, method: method as 'GET' });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  };

  /** Opens a held stream and returns once its head arrived. */
  const hold = async (): Promise<() => Promise<void>> => {
    const r = await request(`${url}/hold`, { dispatcher: agent });
    expect(r.statusCode).to.equal(200);
    return () => r.body.dump().catch(() => undefined);
  };

  it('a request beyond the budget gets 429, Retry-After and a Status, and never reaches the handler', async function () {
    await hold();
    await hold();
    expect(reached).to.equal(2);
    const r = await get('/more');
    expect(r.status).to.equal(429);
    expect(r.headers['retry-after']).to.equal('1');
    expect(r.headers['content-type']).to.equal('application/json');
    expect(JSON.parse(r.body)).to.deep.equal({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Too many requests, please try again later.',
      reason: 'TooManyRequests',
      details: { retryAfterSeconds: 1 },
      code: 429,
    });
    expect(reached).to.equal(2);
    expect(limiter.inFlight('readOnly')).to.equal(2);
    expect(limiter.dropped('readOnly')).to.equal(1);
  });

  it('exempt requests pass a full budget; writes have their own', async function () {
    await hold();
    await hold();
    expect((await get('/healthz')).status).to.equal(200);
    expect((await get('/write', 'POST')).status).to.equal(200);
  });

  it('a stream gives its slot back when it ends, and when its client goes away', async function () {
    await hold();
    await hold();
    expect((await get('/more')).status).to.equal(429);
    held.shift()?.end(); // ends normally
    const s = new Promise<void>((resolve) =>
      server.once('request', () => {
        resolve();
      }),
    );
    expect((await get('/more')).status).to.equal(200);
    await s;

    // A client that disconnects mid-stream: the response closes, the slot comes back.
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) =>
      socket.once('data', () => {
        resolve();
      }),
    );
    expect(limiter.inFlight('readOnly')).to.equal(2);
    socket.destroy();
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (limiter.inFlight('readOnly') === 1) {
          clearInterval(poll);
          resolve();
        }
      }, 10);
    });
  });
});

describe('machinery/inflight guardConnect', function () {
  let server: Server;
  let tunnels: Socket[];

  beforeEach(async function () {
    tunnels = [];
    const limiter = new InflightLimiter({ readOnly: 1, mutating: 1 }, quiet);
    server = createServer();
    server.on(
      'connect',
      limiter.guardConnect((_req, socket) => {
        tunnels.push(socket as Socket);
        // As a tunnel does: the client's end ends it (the server's sockets are half-open).
        socket.once('end', () => socket.end());
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      }),
    );
    await listen(server);
  });

  afterEach(async function () {
    for (const t of tunnels) t.destroy();
    await close(server);
  });

  const connectOnce = (): Promise<{ socket: Socket; head: string }> =>
    new Promise((resolve, reject) => {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      let head = '';
      // A tunnel stays open after its 200; a refusal is read to its end.
      socket.on('data', (c: Buffer) => {
        head += c.toString('latin1');
        if (/^HTTP\/1\.1 200 [^]*\r\n\r\n/.test(head)) resolve({ socket, head });
      });
      socket.once('close', () => {
        resolve({ socket, head });
      });
      socket.once('error', reject);
      socket.write('CONNECT tool.example:443 HTTP/1.1\r\nHost: tool.example:443\r\n\r\n');
    });

  it('an open tunnel holds a read slot; the next CONNECT gets 429 with Retry-After until it closes', async function () {
    const first = await connectOnce();
    expect(first.head).to.match(/^HTTP\/1\.1 200 /);
    const second = await connectOnce();
    expect(second.head).to.match(/^HTTP\/1\.1 429 /);
    expect(second.head.toLowerCase()).to.contain('retry-after: 1\r\n');
    expect(second.head).to.contain('"reason":"TooManyRequests"');
    second.socket.destroy();
    first.socket.destroy();
    // The server notices the close asynchronously; a CONNECT is served again soon after.
    for (;;) {
      const next = await connectOnce();
      next.socket.destroy();
      if (/^HTTP\/1\.1 200 /.test(next.head)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
