// Requests in flight, capped per server process as kube-apiserver caps them with
// --max-requests-inflight and --max-mutating-requests-inflight: one budget for reads (GET, HEAD)
// and one for every other method, so that a flood of long downloads cannot starve writes (the
// admission webhook among them) and the other way round. A request holds its slot until its
// response has closed, so a stream counts for as long as it runs. Beyond the budget a request is
// answered at once with 429 TooManyRequests and `Retry-After: 1`, as kube-apiserver answers,
// before anything else looks at it: no authentication, no tool, no buffered body. Health probes
// and /metrics are exempted by the caller of guard(), so that kubelet never restarts an overloaded
// pod for being overloaded and its load stays visible.

import type { IncomingMessage } from 'node:http';
import type { ConnectListener, RequestListener } from './exchange.js';
import type { Logger } from './log.js';
import { rawStatusResponse, tooManyRequests, writeStatus } from './status.js';

export type RequestKind = 'readOnly' | 'mutating';
export const requestKinds: readonly RequestKind[] = ['readOnly', 'mutating'];

/** The most requests of each kind served at once; 0 means no limit (as in kube-apiserver). */
export type InflightLimits = Record<RequestKind, number>;

/** What /metrics reads. */
export interface InflightCounts {
  inFlight(kind: RequestKind): number;
  /** Requests refused for load since the start. */
  dropped(kind: RequestKind): number;
}

/** kube-apiserver's Retry-After for a request refused for load. */
const retryAfterSeconds = 1;
const retryAfter = { 'retry-after': String(retryAfterSeconds) };
/** A flood is logged at most this often, with the count since the last line. */
const warnEveryMs = 10_000;

/**
 * GET and HEAD read; so does CONNECT, whose tunnel is a channel to read through (the requests an
 * intercepting proxy serves inside it count again, each by its own method). Any other method may
 * write.
 */
export function requestKind(method: string): RequestKind {
  return method === 'GET' || method === 'HEAD' || method === 'CONNECT' ? 'readOnly' : 'mutating';
}

export class InflightLimiter implements InflightCounts {
  private readonly current: Record<RequestKind, number> = { readOnly: 0, mutating: 0 };
  private readonly drops: Record<RequestKind, number> = { readOnly: 0, mutating: 0 };
  private unreported = 0;
  private lastWarning = -Infinity;

  constructor(
    private readonly limits: InflightLimits,
    private readonly log: Logger,
  ) {}

  inFlight(kind: RequestKind): number {
    return this.current[kind];
  }

  dropped(kind: RequestKind): number {
    return this.drops[kind];
  }

  /**
   * Takes a slot of `kind` and returns the function that gives it back (calling it twice gives
   * back one slot); undefined, and counted as dropped, when every slot is taken.
   */
  tryAcquire(kind: RequestKind): (() => void) | undefined {
    const limit = this.limits[kind];
    if (limit > 0 && this.current[kind] >= limit) {
      this.drop(kind);
      return undefined;
    }
    this.current[kind]++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.current[kind]--;
    };
  }

  /** `listener` within the budget, `exempt` requests always; the rest get 429. */
  guard(listener: RequestListener, exempt: (req: IncomingMessage) => boolean = () => false): RequestListener {
    return (req, res) => {
      if (exempt(req)) {
        listener(req, res);
        return;
      }
      const release = this.tryAcquire(requestKind(req.method ?? 'GET'));
      if (!release) {
        writeStatus(res, this.refusal(), retryAfter);
        return;
      }
      res.once('close', release);
      listener(req, res);
    };
  }

  /** A 'connect' listener within the read budget; a tunnel holds its slot until its socket closes. */
  guardConnect(listener: ConnectListener): ConnectListener {
    return (req, socket, head) => {
      const release = this.tryAcquire('readOnly');
      if (!release) {
        socket.on('error', () => socket.destroy());
        socket.end(rawStatusResponse(this.refusal(), retryAfter));
        return;
      }
      socket.once('close', release);
      listener(req, socket, head);
    };
  }

  private refusal() {
    return tooManyRequests('Too many requests, please try again later.', retryAfterSeconds);
  }

  private drop(kind: RequestKind): void {
    this.drops[kind]++;
    this.unreported++;
    const now = performance.now();
    if (now - this.lastWarning < warnEveryMs) return;
    this.log.warn('requests refused with 429: too many in flight', {
      refused: this.unreported,
      inFlight: { ...this.current },
      limits: this.limits,
    });
    this.unreported = 0;
    this.lastWarning = now;
  }
}
