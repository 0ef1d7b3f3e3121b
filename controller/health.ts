// The controller's own port (--health-port): /healthz, /livez and /readyz answered by
// machinery/health.ts as every process answers them (ready once both informers have listed, until
// shutdown begins), and /metrics for Prometheus. Plain HTTP for the kubelet and a scraper; nothing
// here reads a Secret or reaches a tool.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { healthAnswer, healthPaths } from '../machinery/health.js';

export interface HealthServerOptions {
  port: number;
  bindAddress: string;
  /** What keeps the controller from being ready; [] when it is. */
  notReady: () => string[];
  metrics: Registry;
}

export interface HealthServer {
  /** The port it listens on (--health-port=0 picks one). */
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (healthPaths.has(path)) {
      const answer = healthAnswer(path, opts.notReady);
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
    } else if (path === '/metrics') {
      opts.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.bindAddress, () => {
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
