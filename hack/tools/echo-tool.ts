// A small HTTP tool that records exactly what it received: the demo tool of `npm run dev` and the
// witness of the integration tests ("the tool saw the injected credential, not the caller's").
//
//   any path        → 200 JSON {method, url, headers, bodyBytes}; body consumed and counted
//   /hang           → accepts the request and never answers (timeout tests)
//   /bytes/{n}      → streams n bytes, generated chunk by chunk (download tests)
//   /sink           → consumes the body, answers {bytes, sha256} (upload tests)
//   /redirect?to=U  → 302 to U (redirect tests)
// With credentials set, every request must carry them as Basic auth, or it gets a 401 (or, with
// `authorize`, pass that check: signing-tool.ts). Serves HTTP, or HTTPS with a given certificate.

import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { CertKeyPem } from '../pki.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  /** The peer's address: which process (or pod) made the request. */
  remoteAddress: string;
}

export interface EchoTool {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Changes the Basic credentials the tool accepts (null: accept anything). */
  setCredentials(creds: { username: string; password: string } | null): void;
  close(): Promise<void>;
}

const chunk = Buffer.alloc(64 * 1024, 'x');

function streamBytes(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

export async function startEchoTool(
  opts: {
    username?: string;
    password?: string;
    port?: number;
    host?: string;
    /** Serve HTTPS with this certificate (its SANs must cover `host`). */
    tls?: CertKeyPem;
    /**
     * Answer with the request's headers but its Authorization replaced by a note: for a demo, whose
     * callers must not be handed the Connector's credential. `requests` still records it.
     */
    hideAuthorization?: boolean;
    /** Instead of Basic credentials: why a request is refused (401), or null to serve it. */
    authorize?: (req: IncomingMessage) => string | null;
  } = {},
): Promise<EchoTool> {
  let expected =
    opts.username !== undefined && opts.password !== undefined
      ? `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`
      : null;
  const requests: RecordedRequest[] = [];
  const shownHeaders = (headers: IncomingHttpHeaders): IncomingHttpHeaders =>
    opts.hideAuthorization && headers.authorization !== undefined
      ? { ...headers, authorization: '(received and accepted; not shown to callers)' }
      : headers;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    const record: RecordedRequest = {
      method: req.method ?? '',
      url,
      headers: req.headers,
      bodyBytes: 0,
      remoteAddress: req.socket.remoteAddress ?? '',
    };
    requests.push(record);
    const refused = opts.authorize
      ? opts.authorize(req)
      : expected !== null && req.headers.authorization !== expected
        ? 'wrong or missing credentials'
        : null;
    if (refused !== null) {
      req.resume();
      res.writeHead(401, {
        'www-authenticate': 'Basic realm="echo-tool"',
        'content-type': 'application/json',
      });
      res.end(JSON.stringify({ message: refused }));
      return;
    }
    if (path === '/hang') return; // never answer
    const bytes = /^\/bytes\/(\d+)$/.exec(path);
    if (bytes) {
      req.resume();
      streamBytes(res, Number(bytes[1]));
      return;
    }
    if (path === '/redirect') {
      req.resume();
      const to = new URL(url, 'http://x').searchParams.get('to') ?? '/';
      res.writeHead(302, { location: to });
      res.end();
      return;
    }
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => {
      record.bodyBytes += c.length;
      if (path === '/sink') hash.update(c);
    });
    req.on('end', () => {
      const body =
        path === '/sink'
          ? { bytes: record.bodyBytes, sha256: hash.digest('hex') }
          : { method: record.method, url, headers: shownHeaders(req.headers), bodyBytes: record.bodyBytes };
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'tool-session=abc; Path=/' });
      res.end(JSON.stringify(body));
    });
  };

  const server = opts.tls
    ? createHttpsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handle)
    : createServer(handle);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    setCredentials(creds) {
      expected = creds
        ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
        : null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
