// A small Kubernetes REST client: JSON in and out over one undici Agent with the cluster's TLS
// options, failures as KubeApiError (the HTTP status and the server's Status reason and message,
// never a header or a credential), a timeout on every request, and watches streamed one event at
// a time. Every process talks to kube-apiserver through it: a generated SDK's import alone cost
// ~76 MB of resident memory for the handful of calls each process makes (docs/memory.md).

import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import type { ClusterAccess, CredentialHeaders, Credentials, TlsOptions } from './credentials.js';

const defaultRequestTimeoutMs = 30_000;
/** Longer than any object kube-apiserver stores (etcd takes 1.5 MiB a request by default). */
const maxEventBytes = 16 * 1024 * 1024;

interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** metav1.Status, the body of every kube-apiserver failure. */
export interface ApiStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: StatusCause[] };
}

/** A request kube-apiserver answered with a failure (or a watch ERROR event). */
export class KubeApiError extends Error {
  readonly code = 'KubeApiError';

  constructor(
    /** The HTTP status (the Status's code for a watch ERROR event). */
    readonly status: number,
    /** The Status reason (NotFound, Forbidden, Expired, …), else the HTTP reason phrase. */
    readonly reason: string,
    message: string,
    /** The reasons of the Status's causes (e.g. ResourceVersionTooLarge). */
    readonly causes: readonly string[] = [],
    /** The Status the server answered with, as it came; absent when the body was none. */
    readonly body?: ApiStatus,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }

  static fromStatus(what: string, status: number, body: ApiStatus | undefined): KubeApiError {
    const code = typeof body?.code === 'number' && body.code > 0 ? body.code : status;
    const reason = body?.reason ?? reasonPhrase(code);
    const detail = body?.message ? `: ${body.message}` : '';
    const causes = (body?.details?.causes ?? []).map((c) => c.reason ?? '').filter((r) => r !== '');
    return new KubeApiError(code, reason, `${what}: ${code} ${reason}${detail}`, causes, body);
  }
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    409: 'Conflict',
    410: 'Gone',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return phrases[status] ?? 'Unknown';
}

/**
 * The resourceVersion a list or watch resumed from is no longer served (410 Gone / Expired), or is
 * ahead of this kube-apiserver (restored etcd): only a fresh list helps, as client-go's reflector.
 */
export function isResourceVersionExpired(err: unknown): boolean {
  return (
    err instanceof KubeApiError &&
    (err.status === 410 ||
      err.reason === 'Expired' ||
      err.reason === 'Gone' ||
      err.causes.includes('ResourceVersionTooLarge'))
  );
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T> {
  type: WatchEventType;
  /** For BOOKMARK, only metadata.resourceVersion is meaningful. */
  object: T;
}

export type RawWatchEvent = { type: WatchEventType; object: unknown } | { type: 'ERROR'; object: ApiStatus };

const eventTypes = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/**
 * Splits a watch response body (one JSON event a line) into events as the chunks arrive: a chunk
 * may end mid-event or mid-character, and nothing but the one unfinished line is held.
 */
export class WatchParser {
  private readonly decoder = new TextDecoder('utf-8');
  private partial = '';

  push(chunk: Uint8Array): RawWatchEvent[] {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > maxEventBytes) {
      throw new Error(`a watch event longer than ${maxEventBytes} bytes`);
    }
    const events: RawWatchEvent[] = [];
    for (const line of lines) if (line.trim() !== '') events.push(parseEvent(line));
    return events;
  }

  /** The stream ended: anything left over was an event cut short. */
  end(): RawWatchEvent[] {
    const rest = (this.partial + this.decoder.decode()).trim();
    this.partial = '';
    return rest === '' ? [] : [parseEvent(rest)];
  }
}

function parseEvent(line: string): RawWatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error('the watch sent a line that is not JSON (cut short?)');
  }
  const ev = parsed as { type?: unknown; object?: unknown };
  if (
    typeof ev.type !== 'string' ||
    !eventTypes.has(ev.type) ||
    typeof ev.object !== 'object' ||
    !ev.object
  ) {
    throw new Error(`the watch sent an event of unknown shape (type ${String(ev.type)})`);
  }
  return ev as RawWatchEvent;
}

export interface WatchOptions {
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** kube-apiserver ends the watch after this long; the client also gives up on silence past it. */
  timeoutSeconds?: number;
  fieldSelector?: string;
  labelSelector?: string;
  signal?: AbortSignal;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** The Accept header, e.g. for PartialObjectMetadata; default application/json. */
  accept?: string;
  signal?: AbortSignal;
}

export interface KubeClientOptions {
  /** Per request (watches excepted): until the response headers, and between body chunks. */
  requestTimeoutMs?: number;
  /** Shows in kube-apiserver's audit log. */
  userAgent?: string;
  /** Connections to kube-apiserver at most (each watch holds one for its life). */
  connections?: number;
}

/** A request body: any JSON object or array (a typed Kubernetes object too). */
type Json = object;

export interface StreamRequest {
  headers?: Record<string, string | string[]>;
  body?: string | Buffer | Readable | null;
  signal?: AbortSignal;
}

export interface StreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** Must be read to its end or destroyed: it holds a connection. */
  body: Readable;
}

function queryString(query: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

export class KubeClient {
  private readonly origin: string;
  /** The server URL's own path (a cluster behind a path-routing proxy), prepended to every path. */
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly connections: number;
  private dispatcher: Dispatcher | undefined;
  private tls: TlsOptions | undefined;
  /** Dispatchers replaced after the credentials' TLS material changed, closed once idle. */
  private readonly retired = new Set<Dispatcher>();
  private closed = false;

  constructor(
    readonly access: ClusterAccess,
    opts: KubeClientOptions = {},
  ) {
    const url = new URL(access.server);
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/$/, '');
    this.timeoutMs = opts.requestTimeoutMs ?? defaultRequestTimeoutMs;
    this.userAgent = opts.userAgent ?? 'connectors';
    this.connections = opts.connections ?? 64;
    if (access.proxyUrl && !/^https?:\/\//.test(access.proxyUrl)) {
      throw new Error(`proxy-url ${access.proxyUrl.split(':')[0] ?? ''}: only http(s) proxies are supported`);
    }
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, undefined, opts);
  }

  post<T>(path: string, body: Json, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, body, opts);
  }

  put<T>(path: string, body: Json, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, body, opts);
  }

  /** A JSON merge patch (RFC 7386). */
  patch<T>(path: string, body: Json, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, body, opts, 'application/merge-patch+json');
  }

  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, undefined, opts);
  }

  async request<T>(
    method: Dispatcher.HttpMethod,
    path: string,
    body: Json | undefined,
    opts: RequestOptions = {},
    contentType = 'application/json',
  ): Promise<T> {
    const res = await this.send((dispatcher, headers) =>
      dispatcher.request({
        origin: this.origin,
        path: this.prefix + path + queryString(opts.query),
        method,
        headers: {
          ...headers,
          accept: opts.accept ?? 'application/json',
          'user-agent': this.userAgent,
          ...(body === undefined ? {} : { 'content-type': contentType }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    );
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300)
      throw failure(`${method} ${path}`, res.statusCode, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KubeApiError(res.statusCode, 'InvalidResponse', `${method} ${path}: the answer is not JSON`);
    }
  }

  /**
   * Sends a request as given and resolves with the response as it arrives, whatever its status:
   * bytes to relay (a tool's answer through a Connector's proxy), not JSON. The caller's headers
   * cannot override the credentials' (Authorization, Impersonate-*). A body given as a stream is
   * sent as it is read, so a 401 is answered as it came instead of sent again with fresh
   * credentials. Timeouts as for every request: until the response headers, and between chunks.
   */
  async stream(
    method: Dispatcher.HttpMethod,
    path: string,
    req: StreamRequest = {},
  ): Promise<StreamResponse> {
    const retryable = !(req.body instanceof Readable);
    const res = await this.send(
      (dispatcher, headers) =>
        dispatcher.request({
          origin: this.origin,
          path: this.prefix + path,
          method,
          headers: { 'user-agent': this.userAgent, ...req.headers, ...headers },
          body: req.body ?? null,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          ...(req.signal ? { signal: req.signal } : {}),
        }),
      retryable,
    );
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  }

  /**
   * Opens a watch; resolves once kube-apiserver has accepted it (200), with its events as they
   * arrive. A failure before then, an ERROR event and a stream cut mid-event are thrown, as
   * KubeApiError when kube-apiserver said so. Aborting `signal` ends it.
   */
  async watch<T>(path: string, opts: WatchOptions = {}): Promise<AsyncIterable<WatchEvent<T>>> {
    const query = queryString({
      watch: 'true',
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: opts.allowWatchBookmarks,
      timeoutSeconds: opts.timeoutSeconds,
      fieldSelector: opts.fieldSelector,
      labelSelector: opts.labelSelector,
    });
    const res = await this.send((dispatcher, headers) =>
      dispatcher.request({
        origin: this.origin,
        path: this.prefix + path + query,
        method: 'GET',
        headers: { ...headers, accept: 'application/json', 'user-agent': this.userAgent },
        headersTimeout: this.timeoutMs,
        // Events may be minutes apart; silence well past the watch's own end means a dead peer.
        bodyTimeout: opts.timeoutSeconds ? (opts.timeoutSeconds + 60) * 1000 : 0,
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
    );
    if (res.statusCode !== 200) throw failure(`GET ${path} (watch)`, res.statusCode, await res.body.text());
    return watchEvents<T>(res.body, `GET ${path} (watch)`);
  }

  /** Closes every connection; requests still in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.retired, ...(this.dispatcher ? [this.dispatcher] : [])];
    this.retired.clear();
    this.dispatcher = undefined;
    await Promise.allSettled(all.map((d) => d.destroy()));
  }

  /**
   * Sends one request with the current credentials. A 401 that the access can answer with fresh
   * credentials (an exec plugin's token revoked or expired early) is sent once more with them.
   */
  private async send(
    attempt: (dispatcher: Dispatcher, headers: CredentialHeaders) => Promise<Dispatcher.ResponseData>,
    retryable = true,
  ): Promise<Dispatcher.ResponseData> {
    if (this.closed) throw new Error('the Kubernetes client is closed');
    const creds = await this.access.credentials();
    const res = await attempt(this.dispatcherFor(creds), creds.headers);
    if (res.statusCode !== 401 || !this.access.rejected?.(creds) || !retryable) return res;
    await res.body.dump();
    const fresh = await this.access.credentials();
    return attempt(this.dispatcherFor(fresh), fresh.headers);
  }

  /** The dispatcher for `creds`'s TLS material: a new one when it changed. */
  private dispatcherFor(creds: Credentials): Dispatcher {
    if (this.closed) throw new Error('the Kubernetes client is closed');
    if (!this.dispatcher || creds.tls !== this.tls) {
      const old = this.dispatcher;
      if (old) {
        this.retired.add(old);
        old.close().then(
          () => this.retired.delete(old),
          () => this.retired.delete(old),
        );
      }
      this.dispatcher = this.newDispatcher(creds.tls);
      this.tls = creds.tls;
    }
    return this.dispatcher;
  }

  private newDispatcher(tls: TlsOptions): Dispatcher {
    const connect = { ...tls, timeout: 10_000 };
    // HTTP/1.1 as before undici 8, which would otherwise negotiate HTTP/2 with kube-apiserver.
    const common = { connections: this.connections, keepAliveTimeout: 30_000, allowH2: false };
    if (this.access.proxyUrl)
      // A CONNECT tunnel for http:// clusters too, as undici 7 did (undici 8 would send those as
      // absolute-form requests): the proxy relays bytes, whatever the scheme.
      return new ProxyAgent({ uri: this.access.proxyUrl, requestTls: connect, proxyTunnel: true, ...common });
    return new Agent({ connect, ...common });
  }
}

function failure(what: string, status: number, text: string): KubeApiError {
  let body: ApiStatus | undefined;
  try {
    const parsed = JSON.parse(text) as ApiStatus;
    if (parsed.kind === 'Status') body = parsed;
  } catch {
    body = undefined; // a proxy's HTML page, or nothing: the status code says enough
  }
  return KubeApiError.fromStatus(what, status, body);
}

async function* watchEvents<T>(body: AsyncIterable<unknown>, what: string): AsyncGenerator<WatchEvent<T>> {
  const parser = new WatchParser();
  const events = function* (raw: RawWatchEvent[]): Generator<WatchEvent<T>> {
    for (const ev of raw) {
      if (ev.type === 'ERROR') throw KubeApiError.fromStatus(what, 500, ev.object);
      yield ev as WatchEvent<T>;
    }
  };
  for await (const chunk of body) yield* events(parser.push(chunk as Buffer));
  yield* events(parser.end());
}
