// Forwards one request to a tool and streams the answer back. The tool's response is relayed
// chunk by chunk from undici's dispatch handler straight into the caller's response, with
// back-pressure both ways and nothing buffered whole; the caller going away aborts the upstream
// request. Redirects of GET/HEAD are followed here, because kube-apiserver turns any 3xx from an
// aggregated server into a 502, but only inside the Connector's address: its origin and its path
// prefix, each hop held to the rules of a caller's path (target.ts), so the credential only ever
// reaches where the Connector points. Any other redirect is refused with a Status or, for callers
// that can follow it themselves, relayed unfollowed.
//
// Why dispatch and not undici.request(): request() wraps every response in a Readable that is then
// piped into the ServerResponse; on small responses that wrapping, the pipe and the AbortSignal
// were a third of the proxy's CPU. The relay below writes each chunk the moment undici parses it.

import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { responseHeadSent } from '../machinery/responsehead.js';
import type { CredentialInjector } from './credentials/index.js';
import type { DispatcherCache } from './dispatchers.js';
import { brokenExchange, ProxyError } from './errors.js';
import { forwardResponseHeaders, headerValue, type OutgoingHeaders, type RawHeaders } from './headers.js';
import { redirectTarget, type RedirectTarget } from './target.js';

export interface ForwardRequest {
  method: string;
  origin: string;
  /** The address's path prefix ('' for the whole origin): redirects are followed only below it. */
  prefix: string;
  /** Path and query, already validated (see target.ts). */
  path: string;
  headers: OutgoingHeaders;
  body: Readable | null;
  injector: CredentialInjector | null;
  /** Extra CA bundle (PEM) the tool's certificate may chain to. */
  ca?: string | undefined;
  /** The IP address to connect to, already checked, instead of resolving the origin's host. */
  connectTo?: string | undefined;
  /** Rewrites the Location header of the response relayed to the caller. */
  mapLocation?: ((location: string) => string) | undefined;
  /**
   * A redirect that is not followed (it leaves the address) is relayed to the caller as the tool
   * sent it, rather than refused: for callers that talk to us directly and can follow it
   * themselves, without our credential. Through kube-apiserver a 3xx would become a bare 502.
   */
  relayRedirects?: boolean | undefined;
  /**
   * false: no redirect is followed here, every one is relayed (through mapLocation), for a custom
   * proxy whose authentication is bound to the request (a signature a followed hop would carry
   * stale); its caller follows it back through the proxy. Default: followed inside the address.
   */
  followRedirects?: boolean | undefined;
}

const maxRedirects = 5;

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Maps an undici failure to a ProxyError whose message names the tool origin but no header. */
export function upstreamError(err: unknown, origin: string): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as { code?: string; message?: string };
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new ProxyError('UpstreamTimeout', `the tool at ${origin} did not answer in time`, { cause: err });
  }
  const broken = brokenExchange(err, `the tool at ${origin}`);
  if (broken) return broken;
  const detail = e.code ?? (err instanceof Error ? err.name : 'error');
  return new ProxyError('UpstreamUnreachable', `the tool at ${origin} cannot be reached (${detail})`, {
    cause: err,
  });
}

/** How one exchange with the tool ended: relayed to the caller, or a redirect decided on. */
type Outcome = { relayed: true; status: number } | { relayed: false; status: number; next: RedirectTarget };

const callerGone = new Error('the caller closed the connection');

/**
 * One request/response exchange. Resolves once the caller's response has closed (relayed), or
 * once a redirect's body has been drained (the connection stays reusable). Rejects only while
 * nothing has been written to the caller, so the API layer can still answer with a Status; a
 * failure after the head was sent destroys the caller's response instead (the caller sees a cut
 * stream, as it would from the tool itself).
 *
 * It speaks undici's handler interface (onRequestStart/onResponseStart/onResponseData/…) and
 * relays the raw header list the controller carries, not the object undici parses for handlers:
 * writeHead takes the list as it is, filtered, and repeated headers stay in the order received.
 */
class Relay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private redirect: RedirectTarget | undefined;
  private started = false;
  private settled = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly req: ForwardRequest,
    /** Decides on a redirect's Location; null when redirects are not followed. */
    private readonly decide: ((location: string) => RedirectTarget) | null,
    private readonly resolve: (o: Outcome) => void,
    private readonly reject: (e: ProxyError) => void,
  ) {
    res.once('close', this.onCallerClose);
  }

  private readonly onCallerClose = (): void => {
    if (this.started) this.settle({ relayed: true, status: this.status });
    this.controller?.abort(callerGone);
  };

  private readonly onDrain = (): void => {
    this.controller?.resume();
  };

  private settle(outcome: Outcome | ProxyError): void {
    if (this.settled) return;
    this.settled = true;
    if (outcome instanceof ProxyError) {
      this.res.off('close', this.onCallerClose);
      this.reject(outcome);
    } else if (!outcome.relayed) {
      this.res.off('close', this.onCallerClose);
      this.resolve(outcome);
    } else {
      this.resolve(outcome);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.closed) controller.abort(callerGone);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number): void {
    if (status < 200) return; // an informational answer; the real one follows
    this.status = status;
    const raw = rawHeaders(controller);
    const location = this.decide && isRedirect(status) ? headerValue(raw, 'location') : undefined;
    if (this.decide && location !== undefined) {
      const next = this.decide(location);
      if (next.inside || !this.req.relayRedirects) {
        this.redirect = next;
        return; // its body is read and dropped
      }
    }
    try {
      this.res.writeHead(status, forwardResponseHeaders(raw, this.req.mapLocation));
    } catch {
      // Node refuses a header value it cannot send (it checks what undici's parser let through).
      this.settle(
        new ProxyError('UpstreamUnreachable', `the tool at ${this.req.origin} sent an invalid header`),
      );
      controller.abort(callerGone);
      return;
    }
    responseHeadSent(this.res);
    this.started = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.started || this.res.write(chunk)) return;
    controller.pause(); // until the caller has taken what it was given
    this.res.once('drain', this.onDrain);
  }

  onResponseEnd(): void {
    if (this.redirect !== undefined) {
      this.settle({ relayed: false, status: this.status, next: this.redirect });
    } else if (this.started) {
      this.res.end(); // 'close' follows and settles
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.started) {
      this.res.destroy(); // a tool reset mid-stream: nothing more can be said on this response
      return;
    }
    this.settle(upstreamError(err, this.req.origin));
  }
}

/** The response head as received: undici's HTTP/1 client keeps it on the controller as a list. */
function rawHeaders(controller: Dispatcher.DispatchController): RawHeaders {
  const raw = controller.rawHeaders;
  if (Array.isArray(raw)) return raw;
  // Only an HTTP/2 session gives an object; our pools speak HTTP/1.1 (undici's default).
  throw new ProxyError('UpstreamUnreachable', 'the tool answered in a form this relay does not read');
}

async function exchange(
  pools: DispatcherCache,
  req: ForwardRequest,
  res: ServerResponse,
  opts: {
    path: string;
    method: string;
    body: Readable | null;
    decide: ((location: string) => RedirectTarget) | null;
  },
): Promise<Outcome> {
  const headers: OutgoingHeaders = { ...req.headers };
  if (req.injector)
    await req.injector.inject(headers, { method: opts.method, origin: req.origin, path: opts.path });
  const pool = pools.get(req.origin, req.ca, req.connectTo);
  return new Promise<Outcome>((resolve, reject) => {
    const relay = new Relay(res, req, opts.decide, resolve, reject);
    pool.dispatch(
      {
        origin: req.origin,
        path: opts.path,
        method: opts.method,
        headers,
        body: opts.body,
      },
      relay,
    );
  });
}

/**
 * Sends the request and relays the tool's answer to `res`. Throws ProxyError only before the
 * response has started. Resolves with the status code sent once the response has closed.
 */
export async function forward(
  pools: DispatcherCache,
  req: ForwardRequest,
  res: ServerResponse,
): Promise<number> {
  let path = req.path;
  let method = req.method;
  for (let hops = 0; ; hops++) {
    const from = path;
    const outcome = await exchange(pools, req, res, {
      path,
      method,
      body: hops === 0 ? req.body : null, // a followed redirect is a GET/HEAD without a body
      decide:
        req.followRedirects !== false && (method === 'GET' || method === 'HEAD') && hops < maxRedirects
          ? (location) => redirectTarget(req, from, location)
          : null,
    });
    if (outcome.relayed) return outcome.status;
    if (!outcome.next.inside) {
      throw new ProxyError(
        'UpstreamRedirect',
        `the tool redirected ${outcome.next.why}; a redirect is followed only inside the Connector's ` +
          `address ${req.origin}${req.prefix}`,
      );
    }
    path = outcome.next.path;
    method = outcome.status === 303 ? 'GET' : method;
  }
}
