// The tool `npm run dev` registers as the Connector demo/demo-tool: it demands Basic auth and, when
// the credential it expects arrives, says so without repeating any of it. Connectors' promise is that
// callers reach the tool without ever holding its credential; a tool that echoed the injected
// Authorization header back would hand it to every caller (alice included), so this one answers
//
//   200 {"authenticated": "<username>", "method", "path", "bodyBytes"}   the expected credential arrived
//   401 {"authenticated": false, "message"}                               none, or another one
//
// and nothing else of the request. (The integration tests' witness, echo-tool.ts, echoes everything:
// the tests must see what arrived; a demo must not show it.)

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoTool {
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export async function startDemoTool(opts: { username: string; password: string }): Promise<DemoTool> {
  // Compared as digests, in constant time: the answer's timing tells nothing about the credential.
  const expected = digest(`Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`);
  const answer = (res: ServerResponse, status: number, body: object): void => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (status === 401) headers['www-authenticate'] = 'Basic realm="demo-tool"';
    res.writeHead(status, headers);
    res.end(`${JSON.stringify(body)}\n`);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const given = req.headers.authorization;
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      if (given === undefined) {
        answer(res, 401, { authenticated: false, message: 'no credential: this tool wants Basic auth' });
      } else if (!timingSafeEqual(digest(given), expected)) {
        answer(res, 401, { authenticated: false, message: 'not the credential this tool expects' });
      } else {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        answer(res, 200, { authenticated: opts.username, method: req.method, path, bodyBytes });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
