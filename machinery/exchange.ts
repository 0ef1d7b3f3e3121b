// The one request wrapper every process serves through: the handler runs; whatever it throws
// becomes a metav1.Status, written as the response (or, once the response has started, the
// connection is cut); then one access log line, `request`. What the line says is each process's
// (what the request was for, who sent it); that it comes last, once, with the code the client got
// and the whole exchange's duration, is this module's. A CONNECT is answered the same way on the
// socket it hands over.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LogFields, Logger } from './log.js';
import { rawStatusResponse, writeStatus, type StatusError } from './status.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
export type ConnectListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** How an exchange ended, for its log line and metrics. */
export interface Finished {
  /** The status the client got. */
  code: number;
  /** process.hrtime.bigint() (or the given clock) when the exchange began and ended. */
  started: bigint;
  ended: bigint;
  /** The whole exchange, in whole milliseconds. */
  ms: number;
}

export interface ExchangeOptions<X> {
  log: Logger;
  /** A fresh record of one request, which the handler fills in for the status and the log line. */
  begin: () => X;
  /** The Status of a failure (registry/errors.ts toStatus, with what the record says of it). */
  status: (err: unknown, x: X) => StatusError;
  /** Headers a Status carries besides its own (a challenge, a cache directive). */
  statusHeaders?: (err: StatusError) => Record<string, string>;
  /**
   * The access log line's fields (code and duration given), or undefined for a request that is
   * not logged (health probes). Where a process also counts its requests.
   */
  accessLog: (req: IncomingMessage, x: X, finished: Finished) => LogFields | undefined;
  /** A monotonic clock in nanoseconds (tests give a fake one). */
  now?: () => bigint;
}

type Handler<X> = (x: X) => Promise<void>;

async function run<X>(
  o: ExchangeOptions<X>,
  req: IncomingMessage,
  handle: Handler<X>,
  answer: (err: StatusError) => void,
  code: () => number,
): Promise<void> {
  const now = o.now ?? ((): bigint => process.hrtime.bigint());
  const started = now();
  const x = o.begin();
  try {
    await handle(x);
  } catch (err) {
    answer(o.status(err, x));
  }
  const ended = now();
  const fields = o.accessLog(req, x, {
    code: code(),
    started,
    ended,
    ms: Math.round(Number(ended - started) / 1e6),
  });
  if (fields) o.log.info('request', fields);
}

/** A request listener that serves each request through `handle`, wrapped. */
export function serveRequests<X>(
  o: ExchangeOptions<X>,
  handle: (req: IncomingMessage, res: ServerResponse, x: X) => Promise<void>,
): RequestListener {
  return (req, res) => {
    void run(
      o,
      req,
      (x) => handle(req, res, x),
      (err) => {
        writeStatus(res, err, o.statusHeaders?.(err));
      },
      () => res.statusCode,
    );
  };
}

/**
 * A 'connect' listener that serves each CONNECT through `handle`, wrapped: a failure is answered on
 * the socket handed over, which is then closed; success counts as 200.
 */
export function serveConnects<X>(
  o: ExchangeOptions<X>,
  handle: (req: IncomingMessage, socket: Duplex, head: Buffer, x: X) => Promise<void>,
): ConnectListener {
  return (req, socket, head) => {
    let code = 200;
    void run(
      o,
      req,
      (x) => handle(req, socket, head, x),
      (err) => {
        code = err.code;
        if (socket.destroyed || !socket.writable) return;
        socket.end(rawStatusResponse(err, o.statusHeaders?.(err)));
      },
      () => code,
    );
  };
}
