// Raw HTTP/1.1 on a socket, for the hostile-request corpus: the bytes go out exactly as written
// (no client library to normalise a path, merge headers or fix framing), and every response that
// comes back on the connection is parsed, so a smuggled second request shows up as a second answer.

import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface Endpoint {
  host: string;
  port: number;
  /** TLS options when the endpoint speaks HTTPS (ca, client certificate…). */
  tls?: ConnectionOptions;
  /**
   * A forward proxy's CONNECT to send first; once it answers 200, TLS with these options is
   * spoken inside the tunnel (an intercepting proxy).
   */
  tunnel?: { connect: string; tls: ConnectionOptions };
}

export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface WireAnswer {
  /** Every response read from the connection, in order. */
  responses: WireResponse[];
  /** Everything read, for failure messages. */
  text: string;
}

function chunkedBody(data: Buffer, start: number): { body: Buffer; end: number } {
  const chunks: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return { body: Buffer.concat(chunks), end: data.length };
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    at = lineEnd + 2;
    if (!(size > 0)) return { body: Buffer.concat(chunks), end: at + 2 }; // + the empty trailer line
    chunks.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

/** Parses as many responses as `data` holds (Content-Length, chunked, or up to the end). */
function parseResponses(data: Buffer): WireResponse[] {
  const out: WireResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const [statusLine = '', ...lines] = data.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const start = headEnd + 4;
    let body: Buffer;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const chunked = chunkedBody(data, start);
      body = chunked.body;
      at = chunked.end;
    } else if (headers['content-length'] !== undefined) {
      at = start + Number(headers['content-length']);
      body = data.subarray(start, at);
    } else {
      body = data.subarray(start);
      at = data.length;
    }
    out.push({ status: Number(m[1]), headers, body: body.toString('latin1') });
  }
  return out;
}

/** Connects, and for a tunnel endpoint establishes the tunnel and its TLS; resolves when writable. */
function open(to: Endpoint): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (to.tls) {
      const socket = tlsConnect({ host: to.host, port: to.port, ...to.tls });
      socket.once('secureConnect', () => {
        resolve(socket);
      });
      socket.once('error', reject);
      return;
    }
    const socket = netConnect({ host: to.host, port: to.port });
    socket.once('error', reject);
    const tunnel = to.tunnel;
    if (!tunnel) {
      socket.once('connect', () => {
        resolve(socket);
      });
      return;
    }
    let head = '';
    const onData = (c: Buffer): void => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!/^HTTP\/1\.1 200 /.test(head)) {
        socket.destroy();
        reject(new Error(`the proxy refused the tunnel: ${head}`));
        return;
      }
      const tls = tlsConnect({ socket, ...tunnel.tls });
      tls.once('secureConnect', () => {
        resolve(tls);
      });
      tls.once('error', reject);
    };
    socket.on('data', onData);
    socket.once('connect', () => socket.write(tunnel.connect));
  });
}

/**
 * Writes `bytes` on a fresh connection and collects what comes back until the peer closes, or
 * until `idleMs` pass without data once something arrived (a server still waiting for the rest
 * of a body it was promised keeps the connection open), or `timeoutMs` in all.
 */
export async function exchange(
  to: Endpoint,
  bytes: string | Buffer,
  opts: { idleMs?: number; timeoutMs?: number } = {},
): Promise<WireAnswer> {
  const idleMs = opts.idleMs ?? 1_500;
  const socket = await open(to);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(idle);
      clearTimeout(overall);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ responses: parseResponses(data), text: data.toString('latin1') });
    };
    const overall = setTimeout(done, opts.timeoutMs ?? 30_000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(idle);
      idle = setTimeout(done, idleMs);
    });
    socket.once('close', done);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // A server may answer and reset (Node's parser does on a malformed head), or reset while we
      // still write: what was read so far is its answer.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
        done();
        return;
      }
      clearTimeout(idle);
      clearTimeout(overall);
      reject(err);
    });
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}
