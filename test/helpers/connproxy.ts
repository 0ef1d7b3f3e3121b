// The Connectors Proxy (dist/connproxy/main.js) for integration tests: started from its real entry
// point, and one plain HTTP/1.1 request to it exactly as given.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from '../../hack/binaries.js';
import { freePort, ManagedProcess } from '../../hack/process.js';
import { env } from './env.js';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to the proxy, exactly as given (path may be absolute-form, Host free). */
export function send(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Starts the proxy from its real entry point and waits until /readyz answers 200. */
export async function startConnectorsProxy(
  name: string,
  kubeconfig: string,
  extra: string[],
): Promise<{ proc: ManagedProcess; port: number; log: string; caFile: string }> {
  const port = await freePort();
  const log = join(env().sys.logDir, `${name}.log`);
  const caFile = join(env().sys.cp.dir, `${name}-ca.crt`);
  const proc = ManagedProcess.start({
    name,
    binary: process.execPath,
    args: [
      join(repoRoot(), 'dist', 'connproxy', 'main.js'),
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--kubeconfig=${kubeconfig}`,
      `--proxy-ca-out=${caFile}`,
      '--upstream-response-timeout=10s',
      ...extra,
    ],
    logFile: log,
  });
  await proc.waitUntil(
    async () => {
      const r = await send(port, '/readyz');
      return r.status === 200;
    },
    { timeoutMs: 30_000, what: `${name} /readyz` },
  );
  return { proc, port, log, caFile };
}
