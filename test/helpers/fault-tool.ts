// A tool that misbehaves on purpose, written on raw TCP so that every byte and every close is
// under the test's control (node:http would refuse to send most of these answers):
//
//   /cut-download         200 with Content-Length 8 MiB, sends 1 MiB, then closes (FIN)
//   /reset-before-headers resets the connection (RST) as soon as the request head has arrived
//   /reset-after-headers  200 with Content-Length 8 MiB, sends 256 KiB, then resets (RST)
//   /cut-upload           reads 256 KiB of the request body, then closes while the caller still sends
//   /slow-headers         sends the status line, then one byte of a header every 250 ms, forever
//   /stall-body           200 with Content-Length 1 MiB, sends 64 KiB, then goes silent
//   /many-headers         200 with 10,000 headers
//   /huge-header          200 with one 1 MiB header
//   /stream               200 with Content-Length 1 GiB, written with back-pressure; see `streamed`
//   anything else         200 "ok"
// Every connection is closed after one exchange (Connection: close).

import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FaultTool {
  url: string;
  /** Request paths in arrival order, and whether each carried a Basic credential. */
  requests: { path: string; basicAuth: boolean }[];
  /** Body bytes /stream has handed to the kernel so far (reset by each /stream request). */
  readonly streamed: number;
  /** Connections open right now whose request was for `path`. */
  openFor(path: string): number;
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const chunk = Buffer.alloc(64 * 1024, 'f');

function head(status: string, headers: string[]): string {
  return [`HTTP/1.1 ${status}`, ...headers, 'Connection: close', '', ''].join('\r\n');
}

const okHead = (length: number): string =>
  head('200 OK', ['Content-Type: application/octet-stream', `Content-Length: ${length}`]);

/** Writes `total` bytes with back-pressure, calling `progress` after each chunk; resolves when done or cut. */
function pump(socket: Socket, total: number, progress: (n: number) => void): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    const step = (): void => {
      while (sent < total && !socket.destroyed) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        progress(n);
        if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          socket.once('drain', step);
          return;
        }
      }
      resolve();
    };
    socket.once('close', () => {
      resolve();
    });
    step();
  });
}

export async function startFaultTool(): Promise<FaultTool> {
  const requests: FaultTool['requests'] = [];
  const sockets = new Map<Socket, string>();
  const timers = new Set<NodeJS.Timeout>();
  let streamed = 0;

  const every = (socket: Socket, ms: number, fn: () => void): void => {
    const timer = setInterval(fn, ms);
    timers.add(timer);
    socket.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  };

  const answer = async (socket: Socket, path: string, rest: Buffer): Promise<void> => {
    switch (path) {
      case '/cut-download':
        socket.write(okHead(8 * MiB));
        await pump(socket, MiB, () => undefined);
        socket.end();
        return;
      case '/reset-before-headers':
        socket.resetAndDestroy();
        return;
      case '/reset-after-headers':
        socket.write(okHead(8 * MiB));
        await pump(socket, MiB / 4, () => undefined);
        setTimeout(() => socket.resetAndDestroy(), 100);
        return;
      case '/cut-upload': {
        let read = rest.length;
        const onData = (c: Buffer): void => {
          read += c.length;
          if (read >= MiB / 4) {
            socket.off('data', onData);
            socket.destroy();
          }
        };
        socket.on('data', onData);
        return;
      }
      case '/slow-headers':
        socket.write('HTTP/1.1 200 OK\r\nX-Slow: ');
        every(socket, 250, () => socket.write('a'));
        return;
      case '/stall-body':
        socket.write(okHead(MiB));
        socket.write(chunk);
        return;
      case '/many-headers': {
        const many = Array.from({ length: 10_000 }, (_, i) => `X-Many-${i}: ${i}`);
        socket.end(head('200 OK', [...many, 'Content-Length: 0']));
        return;
      }
      case '/huge-header':
        socket.end(head('200 OK', [`X-Huge: ${'h'.repeat(MiB)}`, 'Content-Length: 0']));
        return;
      case '/stream':
        streamed = 0;
        socket.write(okHead(1024 * MiB));
        await pump(socket, 1024 * MiB, (n) => (streamed += n));
        socket.end();
        return;
      default:
        socket.end(head('200 OK', ['Content-Type: text/plain', 'Content-Length: 2']) + 'ok');
    }
  };

  const server: Server = createServer((socket) => {
    sockets.set(socket, '');
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // resets and EPIPE are the point here
    let buffered = Buffer.alloc(0);
    const onHead = (c: Buffer): void => {
      buffered = Buffer.concat([buffered, c]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onHead);
      const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
      const path = (lines[0] ?? '').split(' ')[1] ?? '/';
      const basicAuth = lines.some((l) => /^authorization:\s*basic /i.test(l));
      requests.push({ path, basicAuth });
      sockets.set(socket, path);
      void answer(socket, path, buffered.subarray(end + 4));
    };
    socket.on('data', onHead);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get streamed() {
      return streamed;
    },
    openFor: (path) => [...sockets.values()].filter((p) => p === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        for (const s of sockets.keys()) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A listener that only counts connections: where a credential must never be sent. */
export async function startSentinel(): Promise<{
  port: number;
  connections: () => number;
  close(): Promise<void>;
}> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
