// Draining must never cut a response the server has already ended but the client has not read
// yet: with a fast tool and a slow client, that is every large download during a shutdown. The
// shutdown delay keeps a server serving while its endpoints are updated, moving keep-alive clients
// to new connections. And tracking connections must not change how a server answers Upgrade and
// CONNECT requests.

import { Agent, request, createServer, type IncomingMessage, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { connect, Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { expect } from 'chai';
import { healthAnswer } from '../../../machinery/health.js';
import { drain, GracefulShutdown, listen, trackConnections } from '../../../machinery/lifecycle.js';
import { rawRequest } from '../helpers/raw.js';
import { createLogger, type Logger } from '../../../machinery/log.js';

const quiet = createLogger({ level: 'error', write: () => undefined });

describe('machinery/lifecycle drain', () => {
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

  it('closes idle keep-alive connections and finishes well within the grace period', async () => {
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

describe('machinery/lifecycle listen', () => {
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
describe('machinery/lifecycle listen on several sockets', () => {
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

/** A logger that keeps its messages, and resolves `logged(msg)` once that message is written. */
function recordingLogger(): {
  log: Logger;
  messages: string[];
  logged: (msg: string) => Promise<void>;
} {
  const messages: string[] = [];
  const waiting: { msg: string; resolve: () => void }[] = [];
  const log = createLogger({
    level: 'info',
    write: (line) => {
      const { msg } = JSON.parse(line) as { msg: string };
      messages.push(msg);
      for (const w of waiting.filter((w) => w.msg === msg)) w.resolve();
    },
  });
  return {
    log,
    messages,
    logged: (msg) =>
      messages.includes(msg)
        ? Promise.resolve()
        : new Promise((resolve) => {
            waiting.push({ msg, resolve });
          }),
  };
}

const DELAY_OVER = 'shutdown delay over';

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
  /** The client's end of the connection the reply came on. */
  socket: Socket;
}

/** A GET through `agent` (a keep-alive agent reuses its connection), read to the end. */
function get(port: number, path: string, agent: Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path, agent }, (res) => {
      const socket = res.socket; // null once the agent has the connection back
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          body,
          socket,
        });
      });
      res.once('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** A server answering /readyz from `graceful` as the three servers do, and 'ok' to anything else. */
function serverOf(graceful: GracefulShutdown): Server {
  return createServer((req, res) => {
    const answer = healthAnswer(req.url ?? '/', () => graceful.notReady());
    res.writeHead(answer.status);
    res.end(answer.body);
  });
}

describe('machinery/lifecycle GracefulShutdown', () => {
  // kube-proxy and the aggregator still send new connections for a few seconds after SIGTERM;
  // kubelet must see the pod NotReady, and keep-alive clients must move to new connections, which
  // the updated endpoints send elsewhere.
  it('during the delay: still accepts and serves, /readyz answers 503, every response closes its connection', async () => {
    const { log, messages } = recordingLogger();
    const graceful = new GracefulShutdown({ delayMs: 2_000, graceMs: 5_000 }, log);
    const server = serverOf(graceful);
    const port = await listen(server, 0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(port, '/readyz', agent);
      expect([before.status, before.body, before.connection]).to.deep.equal([200, 'ok\n', 'keep-alive']);

      const done = graceful.run(server);
      expect(graceful.notReady()).to.deep.equal(['shutting down']);
      // On the keep-alive connection the response came on a moment ago: served, and closed after.
      const readyz = await get(port, '/readyz', agent);
      expect(readyz.socket).to.equal(before.socket);
      expect([readyz.status, readyz.body, readyz.connection]).to.deep.equal([
        503,
        'not ready: shutting down\n',
        'close',
      ]);
      // A new connection is accepted and served, and closed after its response too.
      const fresh = await get(port, '/', agent);
      expect(fresh.socket).not.to.equal(before.socket);
      expect([fresh.status, fresh.connection]).to.deep.equal([200, 'close']);
      expect(messages, 'all of the above happened during the delay').not.to.include(DELAY_OVER);

      await done;
      expect(messages).to.deep.equal([
        'shutting down: serving on while the endpoints are updated; /readyz answers 503, every response closes its connection',
        DELAY_OVER,
        'shutting down: draining in-flight requests',
      ]);
      const refused = await get(port, '/', agent).then(
        () => '',
        (err: unknown) => (err as NodeJS.ErrnoException).code,
      );
      expect(refused).to.equal('ECONNREFUSED');
    } finally {
      agent.destroy();
    }
  });

  it('closes a quiet keep-alive connection during the delay, and goes on accepting', async () => {
    const { log, messages, logged } = recordingLogger();
    const graceful = new GracefulShutdown({ delayMs: 3_000, graceMs: 5_000 }, log);
    const server = serverOf(graceful);
    const port = await listen(server, 0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const idle = (await get(port, '/', agent)).socket;
      const closed = new Promise((resolve) => idle.once('close', resolve));
      const done = graceful.run(server);
      await closed;
      expect(messages, 'closed during the delay').not.to.include(DELAY_OVER);
      const fresh = await get(port, '/', agent);
      expect([fresh.status, fresh.connection]).to.deep.equal([200, 'close']);
      await logged(DELAY_OVER);
      await done;
    } finally {
      agent.destroy();
    }
  });

  it('spares a connection with a response under way, and closes it after that response', async () => {
    const { log, logged } = recordingLogger();
    const graceful = new GracefulShutdown({ delayMs: 1_500, graceMs: 10_000 }, log);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const underWay = new Promise<void>((resolve) => (arrived = resolve));
    const server = createServer((_req, res) => {
      arrived();
      void gate.then(() => res.end('late'));
    });
    const port = await listen(server, 0, '127.0.0.1');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reply = get(port, '/', agent);
      await underWay;
      const done = graceful.run(server);
      // The whole delay and into the drain: sweeps run, and leave the busy connection alone.
      await logged('shutting down: draining in-flight requests');
      release();
      // Its head was not sent at the signal: it closes the connection, which ends the drain.
      const r = await reply;
      expect([r.status, r.body, r.connection]).to.deep.equal([200, 'late', 'close']);
      await done;
    } finally {
      agent.destroy();
    }
  });

  it('without a delay, stops accepting at once', async () => {
    const { log, messages } = recordingLogger();
    const graceful = new GracefulShutdown({ delayMs: 0, graceMs: 5_000 }, log);
    const server = serverOf(graceful);
    const port = await listen(server, 0, '127.0.0.1');
    const done = graceful.run(server);
    const refused = await getOnNewConnection(port).then(
      () => '',
      (err: unknown) => (err as NodeJS.ErrnoException).code,
    );
    expect(refused).to.equal('ECONNREFUSED');
    await done;
    expect(messages).to.deep.equal(['shutting down: draining in-flight requests']);
  });

  // The Connectors Proxy's intercepted connections: a server that never listens serves sockets
  // another server's CONNECT handler hands it. They close like the listener's own, and the tunnel
  // underneath is the listener's to leave alone.
  it('closes the connections of an inner server alike, and runs the drain and cut hooks', async () => {
    const { log } = recordingLogger();
    const graceful = new GracefulShutdown({ delayMs: 1_000, graceMs: 10_000 }, log);
    const inner = createServer((_req, res) => {
      res.end('inner');
    });
    trackConnections(inner);
    const outer = createServer();
    outer.on('connect', (_req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      inner.emit('connection', socket);
    });
    const port = await listen(outer, 0, '127.0.0.1');
    const tunnel = connect({ port, host: '127.0.0.1' });
    let text = '';
    tunnel.setEncoding('utf8');
    tunnel.on('data', (c: string) => (text += c));
    const ended = new Promise((resolve) => tunnel.once('close', resolve));
    const until = async (what: RegExp): Promise<void> => {
      while (!what.test(text)) {
        if (tunnel.destroyed) throw new Error(`the tunnel closed; read: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    tunnel.write('CONNECT inner:80 HTTP/1.1\r\nHost: inner:80\r\n\r\n');
    await until(/Connection Established\r\n\r\n/);
    tunnel.write('GET /one HTTP/1.1\r\nHost: inner\r\n\r\n');
    await until(/\r\n\r\ninner/);
    expect(text).to.match(/Connection: keep-alive/);

    const hooks: string[] = [];
    const done = graceful.run(outer, {
      inner: [inner],
      draining: () => hooks.push('draining'),
      cut: () => hooks.push('cut'),
    });
    text = '';
    tunnel.write('GET /two HTTP/1.1\r\nHost: inner\r\n\r\n');
    await until(/\r\n\r\ninner/);
    expect(text)
      .to.match(/^HTTP\/1\.1 200 OK\r\n/)
      .and.match(/Connection: close/);
    await ended; // the inner server closed it after that response
    await done;
    expect(hooks).to.deep.equal(['draining']); // nothing was left to cut
  });
});
