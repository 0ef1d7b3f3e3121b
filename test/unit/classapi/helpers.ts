// Helpers for the class API backend tests: the contract's headers, and small local HTTP servers.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The X-Plugin-* headers the Connectors API server sends for a Connector and its Secret. */
export function pluginHeaders(
  baseURL: string | undefined,
  secret?: { type: string; data: Record<string, string> },
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (baseURL !== undefined) headers['x-plugin-meta'] = b64(JSON.stringify({ baseURL }));
  if (secret) {
    headers['x-plugin-auth'] = b64(secret.type);
    headers['x-plugin-secret'] = b64(
      JSON.stringify(Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, b64(v)]))),
    );
  }
  return headers;
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface LocalServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 that records every request and lets `handle` answer. */
export async function localServer(
  handle: (req: IncomingMessage, res: ServerResponse, url: URL) => void,
): Promise<LocalServer> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    handle(req, res, new URL(req.url ?? '/', 'http://local.invalid'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
