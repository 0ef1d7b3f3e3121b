// HTTP out, for the class APIs: one GET to the Connector's tool with its credential, through the
// shared per-origin pools. Redirects inside the Connector's address are followed (Git servers add
// `.git`, registries move between paths) with the credential injected afresh for each hop; a
// redirect to another origin or out of the address's path prefix is never followed (the decision
// of proxy/target.ts, as for /proxy), so the credential stays inside the Connector's address. Failures become
// ProxyErrors (unreachable → 503, timeout → 504), and a tool's refusal becomes a Status that is
// never 401: to kubectl, 401 means "you are not logged in", which would blame the wrong party.

import type { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { badGateway, notFound, serviceUnavailable, StatusError } from '../machinery/status.js';
import type { CredentialInjector } from '../proxy/credentials/index.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import { brokenExchange, ProxyError } from '../proxy/errors.js';
import type { OutgoingHeaders } from '../proxy/headers.js';
import { redirectTarget } from '../proxy/target.js';

export interface ToolRequest {
  /** What the tool is, for messages: 'the Git server', 'the registry'. */
  tool: string;
  origin: string;
  /** The address's path prefix: redirects are followed only below it. */
  prefix: string;
  /** Path and query. */
  path: string;
  headers: OutgoingHeaders;
  injector: CredentialInjector | null;
  signal: AbortSignal;
}

export interface ToolResponse {
  statusCode: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Readable;
  /** The path finally answered, after redirects. */
  path: string;
}

const maxRedirects = 5;

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function failure(err: unknown, req: ToolRequest): Error {
  if (err instanceof ProxyError || err instanceof StatusError) return err;
  if (req.signal.aborted) return new ProxyError('UpstreamUnreachable', 'the caller went away');
  const where = `${req.tool} at ${req.origin}`;
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new ProxyError('UpstreamTimeout', `${where} did not answer in time`, { cause: err });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return new ProxyError('UpstreamTimeout', `${where} did not accept a connection in time`, { cause: err });
  }
  const broken = brokenExchange(err, where);
  if (broken) return broken;
  const e = err as { code?: string };
  const detail = e.code ?? (err instanceof Error ? err.name : 'error');
  return new ProxyError('UpstreamUnreachable', `${where} cannot be reached (${detail})`, { cause: err });
}

/** GET, following redirects inside the address. The caller must consume or destroy the body. */
export async function getFromTool(pools: DispatcherCache, req: ToolRequest): Promise<ToolResponse> {
  let path = req.path;
  for (let hops = 0; ; hops++) {
    const headers: OutgoingHeaders = { ...req.headers };
    let res: Dispatcher.ResponseData;
    try {
      if (req.injector) await req.injector.inject(headers, { method: 'GET', origin: req.origin, path });
      res = await pools.get(req.origin).request({
        origin: req.origin,
        path,
        method: 'GET',
        headers,
        signal: req.signal,
      });
    } catch (err) {
      throw failure(err, req);
    }
    const location = res.headers.location;
    if (!isRedirect(res.statusCode) || typeof location !== 'string') return { ...res, path };
    res.body.resume();
    if (hops >= maxRedirects) {
      throw badGateway(`${req.tool} at ${req.origin} redirected more than ${maxRedirects} times`);
    }
    const next = redirectTarget(req, path, location);
    if (!next.inside) {
      throw badGateway(
        `${req.tool} redirected ${next.why}; the Connector's credential only goes to its address ` +
          `${req.origin}${req.prefix}`,
      );
    }
    path = next.path;
  }
}

/** Reads a whole (small) body, refusing more than `maxBytes`. */
export async function readBody(res: ToolResponse, req: ToolRequest, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        res.body.destroy();
        throw badGateway(`${req.tool} at ${req.origin} sent more than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw failure(err, req);
  }
  return Buffer.concat(chunks);
}

/**
 * The Status for a tool answer that is not a success. `subject` names what was asked for
 * (`repository "org/app.git"`); `hint` is added to refusals.
 */
export function toolRefusal(
  req: ToolRequest,
  statusCode: number,
  subject: { resource: string; name: string },
  hasCredential: boolean,
  hint = '',
): StatusError {
  if (statusCode === 401 || statusCode === 403) {
    const why = hasCredential
      ? `${req.tool} refused the Connector's credential (${statusCode})`
      : `${req.tool} requires a credential and the Connector has none (${statusCode})`;
    return new StatusError(
      403,
      'Forbidden',
      `${subject.resource} "${subject.name}" is forbidden: ${why}${hint}`,
      { name: subject.name, kind: subject.resource },
    );
  }
  if (statusCode === 404) {
    return notFound(
      { group: '', resource: subject.resource },
      subject.name,
      `${req.tool} at ${req.origin} does not know it (404)`,
    );
  }
  if (statusCode === 429) {
    return serviceUnavailable(
      `${req.tool} at ${req.origin} is rate limiting this Connector (429); try again later`,
    );
  }
  return badGateway(
    `${req.tool} at ${req.origin} answered ${statusCode} for ${subject.resource} "${subject.name}"`,
  );
}
