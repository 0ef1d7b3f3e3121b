// /healthz of the node plugin, for the DaemonSet's livenessProbe (in place of the livenessprobe
// sidecar): it calls the driver's own Probe over its unix socket, as kubelet would reach it, so a
// wedged gRPC server fails the probe; and it fails while kubelet has refused the registration, so the
// container restarts and registers again. Plain HTTP on the pod's address, no secrets, nothing else.

import { createServer, type Server } from 'node:http';
import { credentials, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { listenHealth, type HealthServer } from '../machinery/healthserver.js';
import { csiPackage, type ProbeResponse } from './proto.js';
import type { RegistrationState } from './registration.js';

type ProbeMethod = (
  request: unknown,
  options: { deadline: number },
  callback: (err: ServiceError | null, response: ProbeResponse) => void,
) => void;

export interface HealthOptions {
  port: number;
  /** The driver's CSI endpoint, unix:///…. */
  endpoint: string;
  /** How registration stands; absent when another process registers the driver. */
  registration?: () => RegistrationState;
  /** How long the Probe call may take. */
  timeoutMs?: number;
}

/** The problem that makes the driver unhealthy, or undefined. */
export type HealthCheck = () => Promise<string | undefined>;

export function driverHealthCheck(options: Omit<HealthOptions, 'port'>): {
  check: HealthCheck;
  close(): void;
} {
  const Identity = csiPackage['Identity'] as ServiceClientConstructor;
  const client: Client = new Identity(options.endpoint, credentials.createInsecure());
  const probe = (client as unknown as Record<string, ProbeMethod>)['Probe'] as ProbeMethod;
  const timeoutMs = options.timeoutMs ?? 3000;
  const check: HealthCheck = async () => {
    const state = options.registration?.();
    if (state?.kind === 'refused') return `kubelet refused the registration: ${state.error}`;
    return new Promise((resolve) => {
      probe.call(client, {}, { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) resolve(`Probe failed: ${err.details || err.message}`);
        else if (!response.ready.value) resolve('Probe answered not ready');
        else resolve(undefined);
      });
    });
  };
  return {
    check,
    close: () => {
      client.close();
    },
  };
}

/** Serves GET /healthz (and /livez) from `check`; 404 for anything else. */
export async function startHealthServer(port: number, check: HealthCheck): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/livez')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    check().then(
      (problem) => {
        if (problem === undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        else res.writeHead(503, { 'content-type': 'text/plain' }).end(`${problem}\n`);
      },
      () => res.writeHead(503, { 'content-type': 'text/plain' }).end('health check failed\n'),
    );
  });
  return listenHealth(server, port);
}
