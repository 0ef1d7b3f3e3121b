// The gRPC server of the driver on its unix socket (CSI_ENDPOINT), serving the Identity and Node
// services. Every handler goes through `unary`, which turns whatever a handler throws or rejects
// with into a gRPC status: grpc-js itself leaves an async handler's rejection unanswered, and the
// caller (kubelet) would wait for its 2-minute deadline. Unexpected errors become INTERNAL with a
// fixed message; their text goes to the log only, as it could hold anything.

import { lstat, chmod, unlink } from 'node:fs/promises';
import {
  Server,
  ServerCredentials,
  status,
  type handleUnaryCall,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { LogFields, Logger } from '../machinery/log.js';
import { CsiError } from './errors.js';
import { identityService, nodeService } from './proto.js';

export type UnaryHandler<Req, Res> = (request: Req) => Promise<Res>;

/** Log fields describing a request; never its secrets or volume context values. */
export type Describe<Req> = (request: Req) => LogFields;

export interface UnaryOptions<Req> {
  describe?: Describe<Req>;
  /**
   * Answer DEADLINE_EXCEEDED (which kubelet retries) after this long, well before kubelet's own
   * 2-minute deadline; the work itself goes on, and a retry meanwhile is ABORTED.
   */
  deadlineMs?: number;
}

/** `fn` as a grpc-js unary handler that always answers: a response, or a status with a message. */
export function unary<Req, Res>(
  method: string,
  fn: UnaryHandler<Req, Res>,
  log: Logger,
  opts: UnaryOptions<Req> = {},
): handleUnaryCall<Req, Res> {
  // Probe is called every few seconds by the liveness sidecar; it only clutters the info level.
  const level = method === 'Probe' ? 'debug' : 'info';
  return (call, callback) => {
    const started = performance.now();
    let fields: LogFields = { method };
    let result: Promise<Res>;
    try {
      fields = { method, ...opts.describe?.(call.request) };
      result = fn(call.request);
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const { deadlineMs } = opts;
    let timer: NodeJS.Timeout | undefined;
    if (deadlineMs !== undefined) {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new CsiError(
              status.DEADLINE_EXCEEDED,
              `${method} did not finish within ${Math.round(deadlineMs / 1000)}s; kubelet will retry`,
            ),
          );
        }, deadlineMs);
      });
      result = Promise.race([result, late]);
    }
    result
      .finally(() => {
        clearTimeout(timer);
      })
      .then(
        (response) => {
          log[level]('answered', { ...fields, code: 'OK', ms: Math.round(performance.now() - started) });
          callback(null, response);
        },
        (err: unknown) => {
          const answer = toStatus(err);
          const ms = Math.round(performance.now() - started);
          if (err instanceof CsiError) {
            log.info('refused', { ...fields, code: status[answer.code], message: answer.details, ms });
          } else {
            log.error('failed', { ...fields, code: status[answer.code], error: err, ms });
          }
          callback(answer);
        },
      );
  };
}

function toStatus(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  if (err instanceof CsiError) return { code: err.code, details: err.message, message: err.message };
  const message = 'internal error in the connectors-csi driver; see its log';
  return { code: status.INTERNAL, details: message, message };
}

export type Handlers = Record<string, handleUnaryCall<never, unknown>>;

export interface CsiServer {
  /** The endpoint as given, e.g. unix:///csi/csi.sock. */
  endpoint: string;
  /** Stops taking calls, lets running ones finish within `graceMs`, then cuts them. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Binds `socketPath` (a stale socket file from a previous run is removed first, as grpc-js would
 * fail with EADDRINUSE) and serves the handlers. The socket is made 0600: only root (kubelet, the
 * registrar sidecar) may call the driver.
 */
export async function startCsiServer(
  socketPath: string,
  handlers: { identity: Handlers; node: Handlers },
): Promise<CsiServer> {
  try {
    if ((await lstat(socketPath)).isSocket()) await unlink(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const server = new Server();
  server.addService(identityService, handlers.identity as UntypedServiceImplementation);
  server.addService(nodeService, handlers.node as UntypedServiceImplementation);
  const endpoint = `unix://${socketPath}`;
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(endpoint, ServerCredentials.createInsecure(), (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  await chmod(socketPath, 0o600);
  return {
    endpoint,
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
