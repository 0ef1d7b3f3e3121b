// Forwards one request to a tool and streams the answer back. Bodies flow in both directions
// through pipes (back-pressure intact, never buffered whole); a caller that goes away aborts the
// upstream request. Same-origin redirects of GET/HEAD are followed here, because kube-apiserver
// turns any 3xx from an aggregated server into a 502; a redirect to another origin is never
// followed, so a credential can only ever reach the Connector's own origin.

import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { CredentialInjector } from './credentials/index.js';
import type { DispatcherCache } from './dispatchers.js';
import { brokenExchange, ProxyError } from './errors.js';
import { forwardResponseHeaders, type OutgoingHeaders } from './headers.js';

export interface ForwardRequest {
  method: string;
  origin: string;
  /** Path and query, already validated (see target.ts). */
  path: string;
  headers: OutgoingHeaders;
  body: Readable | null;
  injector: CredentialInjector | null;
  /** Extra CA bundle (PEM) the tool's certificate may chain to. */
  ca?: string | undefined;
  signal: AbortSignal;
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

async function send(
  pools: DispatcherCache,
  req: ForwardRequest,
  path: string,
  method: string,
  first: boolean,
) {
  const headers: OutgoingHeaders = { ...req.headers };
  if (req.injector) await req.injector.inject(headers, { method, origin: req.origin, path });
  const options: Dispatcher.RequestOptions = {
    origin: req.origin,
    path,
    method,
    headers,
    body: first ? req.body : null, // a followed redirect is a GET/HEAD without a body
    signal: req.signal,
  };
  try {
    return await pools.get(req.origin, req.ca).request(options);
  } catch (err) {
    throw upstreamError(err, req.origin);
  }
}

/**
 * Sends the request and writes the tool's answer to `res`. Throws ProxyError only before the
 * response has started; a failure mid-body destroys `res` (the caller sees a cut stream, as it
 * would from the tool itself). Resolves with the status code sent.
 */
export async function forward(
  pools: DispatcherCache,
  req: ForwardRequest,
  res: ServerResponse,
): Promise<number> {
  let path = req.path;
  let method = req.method;
  let upstream = await send(pools, req, path, method, true);
  for (let hops = 0; isRedirect(upstream.statusCode); hops++) {
    const location = upstream.headers.location;
    if (typeof location !== 'string' || (method !== 'GET' && method !== 'HEAD') || hops >= maxRedirects)
      break;
    const next = new URL(location, req.origin + path);
    upstream.body.resume(); // discard the redirect body, keep the connection reusable
    if (next.origin !== req.origin) {
      throw new ProxyError(
        'UpstreamRedirect',
        `the tool redirected to another origin (${next.origin}); Connectors only talks to ${req.origin}`,
      );
    }
    path = next.pathname + next.search;
    method = upstream.statusCode === 303 ? 'GET' : method;
    upstream = await send(pools, req, path, method, false);
  }

  res.writeHead(upstream.statusCode, forwardResponseHeaders(upstream.headers));
  // pipe() keeps back-pressure; stream/promises' pipeline() would do the same but creates and
  // aborts an AbortController (and a DOMException) per call, which the profile showed at ~15% of
  // the proxy's CPU. 'close' comes last on both paths: after 'finish', or after a destroy.
  const body = upstream.body;
  await new Promise<void>((resolve) => {
    body.once('error', () => {
      res.destroy(); // a tool reset mid-stream: nothing more can be said on this response
    });
    res.once('close', () => {
      if (!body.readableEnded) body.destroy(); // the caller went away: stop reading the tool
      resolve();
    });
    body.pipe(res);
  });
  return upstream.statusCode;
}
