// A port of its own for /healthz, /livez, /readyz and /metrics, for a process that serves nothing
// else (the status controller): the probes answered by writeHealth as every process answers them,
// the metrics from the process's registry (machinery/metrics.ts). Plain HTTP for the kubelet and a
// scraper; nothing here reads a Secret or reaches a tool. Processes that serve requests answer the
// same paths on their serving port (machinery/serve.ts).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { healthPaths, targetPath, writeHealth } from './health.js';
import { pathNotFound, writeStatus } from './status.js';

export interface HealthServerOptions {
  port: number;
  bindAddress: string;
  /** What keeps the process from being ready; [] when it is. */
  notReady: () => string[];
  metrics: Registry;
}

export interface HealthServer {
  /** The port it listens on (0 picks one). */
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = targetPath(req);
    if (healthPaths.has(path)) {
      writeHealth(res, path, opts.notReady);
    } else if (path === '/metrics') {
      opts.metrics.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.metrics.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      writeStatus(res, pathNotFound());
    }
  });
  return listenHealth(server, opts.port, opts.bindAddress);
}

/**
 * Listens with a health port's limits (a request must arrive whole within 10 s) and returns how
 * to close it, open connections included: for this kit and for a process whose probe answers
 * differ (the CSI driver asks its own gRPC socket).
 */
export async function listenHealth(
  server: Server,
  port: number,
  bindAddress?: string,
): Promise<HealthServer> {
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bindAddress, () => {
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
