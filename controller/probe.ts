// The class's probes, as published: an HTTP probe (path appended to the scheme and host of the
// Connector's address, its path prefix dropped; optional host, scheme, method, disableRedirect,
// templated headers, response.cel) and an API probe (path under the class's resolved API address).
// Requests use the Connector's extra CA (spec.caCertSecretRef) on top of the system roots, one
// pooled dispatcher per origin (proxy/dispatchers.ts) and explicit timeouts: connect, response
// headers, and the whole probe including redirects.
//
// What comes back is a verdict, never a credential: error messages name the method, origin and path
// (no query; no path at all when the path template reads the Secret), and every Secret value and
// rendered header value is scrubbed from them as a second line of defence.

import type { Dispatcher } from 'undici';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import type { Connector, NamedValue } from '../registry/types.js';
import { CelCompileError, evaluateResponseCel } from './cel.js';
import { GoMap, GoStruct, renderTemplate, TemplateError } from '../template/index.js';

export interface HttpProbeSpec {
  path?: string;
  host?: string;
  scheme?: string;
  method?: string;
  disableRedirect?: boolean;
  httpHeaders?: { name?: string; value?: string }[];
  response?: { cel?: string };
}

export interface ApiProbeSpec {
  path?: string;
}

export interface ProbeSpec {
  http?: HttpProbeSpec;
  api?: ApiProbeSpec;
}

/** A Connector's Secret as read from the API: its data base64-encoded, as kube-apiserver sends it. */
export interface SecretData {
  name: string;
  namespace: string;
  type: string;
  data: Readonly<Record<string, string>>;
}

export type ProbeResult =
  /** The tool answered; `accepted` per response.cel, or per the probe kind's default rule. */
  | { kind: 'answered'; statusCode: number; accepted: boolean; detail?: string }
  /** No answer: connection refused, DNS, TLS, timeout… */
  | { kind: 'unreachable'; message: string }
  /** The probe itself cannot run: a template or CEL error, an unusable path, no API address. */
  | { kind: 'invalid'; message: string };

export interface ProbeTarget {
  connector: Connector;
  secret: SecretData | null;
  /** PEM trusted in addition to the system roots (the Connector's caCertSecretRef). */
  ca: string | undefined;
}

// --- template data: the Go structs upstream templates are written against -------------------------

const stringMap = (entries: Record<string, string> | undefined): GoMap =>
  new GoMap('map[string]string', new Map(Object.entries(entries ?? {})), '');

/** A Tekton-style ParamValue: `.Value.StringVal` for strings, `.ArrayVal`, `.ObjectVal`. */
function paramValue(v: unknown): GoStruct {
  const base = { Type: 'string', StringVal: '', ArrayVal: [] as string[], ObjectVal: stringMap({}) };
  if (Array.isArray(v)) {
    const items = v.map((e: unknown) => (typeof e === 'string' ? e : JSON.stringify(e)));
    return new GoStruct('v1alpha1.ParamValue', { ...base, Type: 'array', ArrayVal: items });
  }
  if (v !== null && typeof v === 'object') {
    const obj = Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, e]) => [
        k,
        typeof e === 'string' ? e : JSON.stringify(e),
      ]),
    );
    return new GoStruct('v1alpha1.ParamValue', { ...base, Type: 'object', ObjectVal: stringMap(obj) });
  }
  const scalar = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  return new GoStruct('v1alpha1.ParamValue', { ...base, StringVal: scalar });
}

const params = (list: NamedValue[] | undefined): GoStruct[] =>
  (list ?? []).map((p) => new GoStruct('v1alpha1.Param', { Name: p.name, Value: paramValue(p.value) }));

function objectMeta(meta: Connector['metadata']): Record<string, unknown> {
  return {
    Name: meta?.name ?? '',
    Namespace: meta?.namespace ?? '',
    Labels: stringMap(meta?.labels),
    Annotations: stringMap(meta?.annotations),
    UID: meta?.uid ?? '',
    ResourceVersion: meta?.resourceVersion ?? '',
    Generation: meta?.generation ?? 0,
  };
}

/** The data of every probe template: `.Connector` and `.Secret` (nil without a Secret). */
export function templateData(connector: Connector, secret: SecretData | null): GoStruct {
  const spec = connector.spec;
  const ref = spec?.auth?.secretRef;
  const meta = objectMeta(connector.metadata);
  const goConnector = new GoStruct('*v1alpha1.Connector', {
    Kind: connector.kind ?? 'Connector',
    APIVersion: connector.apiVersion ?? '',
    ...meta,
    ObjectMeta: new GoStruct('v1.ObjectMeta', meta),
    Spec: new GoStruct('v1alpha1.ConnectorSpec', {
      ConnectorClassName: spec?.connectorClassName ?? '',
      Address: spec?.address ?? '',
      AddressExtensions: params(spec?.addressExtensions),
      Params: params(spec?.params),
      Auth: new GoStruct('v1alpha1.ConnectorAuth', {
        Name: spec?.auth?.name ?? '',
        SecretRef: ref
          ? new GoStruct('*v1.ObjectReference', { Name: ref.name ?? '', Namespace: ref.namespace ?? '' })
          : null,
        Params: params(spec?.auth?.params),
      }),
    }),
  });
  let goSecret: GoStruct | null = null;
  if (secret) {
    const decoded = Object.fromEntries(
      Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    const secretMeta = objectMeta({ name: secret.name, namespace: secret.namespace });
    goSecret = new GoStruct('*v1.Secret', {
      ...secretMeta,
      ObjectMeta: new GoStruct('v1.ObjectMeta', secretMeta),
      Type: secret.type,
      StringData: stringMap(decoded),
    });
  }
  return new GoStruct('probeData', { Connector: goConnector, Secret: goSecret });
}

// --- redaction -----------------------------------------------------------------------------------

/** Values that must never appear in a message: every Secret value, and rendered header values. */
export function sensitiveValues(secret: SecretData | null, headerValues: readonly string[] = []): string[] {
  const out = new Set<string>();
  const add = (v: string): void => {
    // Shorter strings would blank out ordinary words of the message; they carry no useful secret.
    if (v.length >= 4) out.add(v);
  };
  for (const v of Object.values(secret?.data ?? {})) {
    const decoded = Buffer.from(v, 'base64').toString('utf8');
    add(decoded);
    add(v);
    for (const line of decoded.split(/\r?\n/)) add(line.trim());
  }
  for (const h of headerValues) {
    add(h);
    for (const part of h.split(/\s+/).slice(1)) add(part);
  }
  // Longest first, so that a value containing another is removed whole.
  return [...out].sort((a, b) => b.length - a.length);
}

export function scrub(message: string, sensitive: readonly string[]): string {
  let out = message;
  for (const s of sensitive) out = out.split(s).join('[redacted]');
  return out;
}

// --- the prober ----------------------------------------------------------------------------------

export interface ProberOptions {
  pools: DispatcherCache;
  /** Pools towards class API backends (their CA, the client certificate); default: `pools`. */
  classApiPools?: DispatcherCache;
  /** The whole probe, redirects included. */
  timeoutMs: number;
  /** How much of a body response.cel may see. */
  maxBodyBytes?: number;
}

/** Statuses that mean "the tool answered" for a liveness probe without response.cel. */
export const livenessAccepts = (code: number): boolean =>
  (code >= 200 && code < 400) || code === 401 || code === 403;

/** Statuses that mean success for an auth probe (and any API probe) without response.cel. */
export const authAccepts = (code: number): boolean => code >= 200 && code < 300;

const redirectCodes = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 10;
// eslint-disable-next-line no-control-regex
const badPathChars = /[\u0000-\u0020\u007f]/;
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

class InvalidProbe extends Error {}

interface Hop {
  origin: string;
  path: string;
}

/** Go's spelling of the method in its client errors: `Get "https://…": …`. */
const goMethod = (m: string): string => m.charAt(0) + m.slice(1).toLowerCase();

function describeError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      return `no answer within ${timeoutMs / 1000}s`;
    }
    const code = (err as { code?: string }).code;
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect timeout';
    if (code === 'UND_ERR_HEADERS_TIMEOUT') return `no response headers within the probe timeout`;
    if (code === 'UND_ERR_SOCKET') return 'the connection was closed before a response';
    const cause = err.cause instanceof Error ? err.cause.message : '';
    return cause && !err.message.includes(cause) ? `${err.message}: ${cause}` : err.message;
  }
  return String(err);
}

export class Prober {
  private readonly maxBody: number;

  constructor(private readonly opts: ProberOptions) {
    this.maxBody = opts.maxBodyBytes ?? 1 << 20;
  }

  /** Runs an HTTP probe against the Connector's address. */
  async http(
    spec: HttpProbeSpec,
    target: ProbeTarget,
    defaultAccept: (code: number) => boolean,
  ): Promise<ProbeResult> {
    const data = templateData(target.connector, target.secret);
    let sensitive = sensitiveValues(target.secret);
    try {
      const address = new URL(target.connector.spec?.address ?? '');
      if (address.protocol !== 'http:' && address.protocol !== 'https:') {
        throw new InvalidProbe('spec.address must be an http or https URL');
      }
      const host = spec.host ?? '';
      const scheme =
        spec.scheme || (host === '' || host === address.host ? address.protocol.slice(0, -1) : 'http');
      let origin: string;
      try {
        origin = new URL(`${scheme}://${host || address.host}`).origin;
      } catch {
        throw new InvalidProbe(`probe host "${host}" is not a valid host name`);
      }
      const path = this.render('path', spec.path ?? '/', data);
      const headers: Record<string, string> = {};
      for (const h of spec.httpHeaders ?? []) {
        const name = h.name ?? '';
        if (!headerName.test(name))
          throw new InvalidProbe(`httpHeaders: "${name}" is not a valid header name`);
        const value = this.render(`httpHeaders[${name}]`, h.value ?? '', data);
        // As upstream: a header whose value renders empty (no Secret) is not sent.
        if (value === '') continue;
        if (/[\r\n\0]/.test(value)) {
          throw new InvalidProbe(`httpHeaders[${name}] renders to a value with a line break or NUL`);
        }
        headers[name.toLowerCase()] = value;
      }
      sensitive = sensitiveValues(target.secret, Object.values(headers));
      const method = (spec.method ?? 'GET').toUpperCase();
      if (method !== 'GET' && method !== 'POST')
        throw new InvalidProbe(`method ${method} is not GET or POST`);
      // The message shows where the probe went, but not a path built from the Secret.
      const shownPath = (spec.path ?? '').includes('.Secret') ? '' : path.split('?')[0];
      const where = `${goMethod(method)} "${origin}${shownPath ?? ''}"`;
      return await this.exchange(
        method,
        { origin, path },
        headers,
        (o) => this.opts.pools.get(o, target.ca),
        !spec.disableRedirect,
        spec.response?.cel,
        defaultAccept,
        where,
        sensitive,
      );
    } catch (err) {
      return this.invalid(err, sensitive);
    }
  }

  /**
   * Runs an API probe: `path` under the class's resolved API address, with the published
   * X-Plugin-* headers so the class API backend can reach the tool with the Connector's Secret.
   */
  async api(spec: ApiProbeSpec, target: ProbeTarget, apiBaseUrl: string | null): Promise<ProbeResult> {
    const sensitive = sensitiveValues(target.secret);
    try {
      if (!apiBaseUrl)
        throw new InvalidProbe('the class has an API probe but its spec.api address is not resolved');
      const base = new URL(apiBaseUrl);
      const data = templateData(target.connector, target.secret);
      const rendered = this.render('path', spec.path ?? '/', data);
      const path = `${base.pathname.replace(/\/+$/, '')}${rendered.startsWith('/') ? '' : '/'}${rendered}`;
      const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
      const headers: Record<string, string> = {
        'x-plugin-meta': b64(JSON.stringify({ baseURL: target.connector.spec?.address ?? '' })),
      };
      if (target.secret) {
        headers['x-plugin-auth'] = b64(target.secret.type);
        headers['x-plugin-secret'] = b64(JSON.stringify(target.secret.data));
      }
      const where = `Get "${base.origin}${path.split('?')[0] ?? ''}"`;
      // Our own backend, reached as the API server reaches it; it applies the Connector's CA itself.
      return await this.exchange(
        'GET',
        { origin: base.origin, path },
        headers,
        (o) => this.classApiPool(o),
        true,
        undefined,
        authAccepts,
        where,
        [...sensitive, headers['x-plugin-secret'] ?? ''].filter(Boolean),
      );
    } catch (err) {
      return this.invalid(err, sensitive);
    }
  }

  /** Any HTTP answer from `url` within the timeout (the class API reachability check). */
  async reachable(url: string): Promise<{ ok: true } | { ok: false; message: string }> {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return { ok: false, message: `"${url}" is not an absolute URL` };
    }
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const res = await this.classApiPool(u.origin).request({
        method: 'GET',
        path: u.pathname + u.search,
        signal,
      });
      await res.body.dump();
      return { ok: true };
    } catch (err) {
      return {
        ok: false,
        message: `Get "${u.origin}${u.pathname}": ${describeError(err, this.opts.timeoutMs)}`,
      };
    }
  }

  private classApiPool(origin: string): Dispatcher {
    return (this.opts.classApiPools ?? this.opts.pools).get(origin);
  }

  private render(what: string, source: string, data: GoStruct): string {
    try {
      return renderTemplate(source, data);
    } catch (err) {
      if (err instanceof TemplateError) throw new InvalidProbe(`${what}: ${err.message}`);
      throw err;
    }
  }

  private invalid(err: unknown, sensitive: readonly string[]): ProbeResult {
    if (err instanceof InvalidProbe || err instanceof CelCompileError) {
      return { kind: 'invalid', message: scrub(err.message, sensitive) };
    }
    if (err instanceof TypeError) return { kind: 'invalid', message: 'spec.address is not an absolute URL' };
    return { kind: 'invalid', message: scrub(err instanceof Error ? err.message : String(err), sensitive) };
  }

  private async exchange(
    method: string,
    first: Hop,
    headers: Record<string, string>,
    pool: (origin: string) => Dispatcher,
    followRedirects: boolean,
    cel: string | undefined,
    defaultAccept: (code: number) => boolean,
    where: string,
    sensitive: readonly string[],
  ): Promise<ProbeResult> {
    if (!first.path.startsWith('/')) first = { ...first, path: `/${first.path}` };
    if (badPathChars.test(first.path)) {
      throw new InvalidProbe('the probe path renders to a value with spaces or control characters');
    }
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    let hop = first;
    let currentMethod = method;
    let currentHeaders = headers;
    let res: Dispatcher.ResponseData;
    try {
      for (let n = 0; ; n++) {
        res = await pool(hop.origin).request({
          method: currentMethod,
          path: hop.path,
          headers: currentHeaders,
          signal,
          ...(currentMethod === 'POST' ? { body: '' } : {}),
        });
        const location = res.headers.location;
        if (!followRedirects || !redirectCodes.has(res.statusCode) || typeof location !== 'string') break;
        await res.body.dump();
        if (n >= maxRedirects) {
          return {
            kind: 'unreachable',
            message: scrub(`${where}: stopped after ${maxRedirects} redirects`, sensitive),
          };
        }
        const next = new URL(location, `${hop.origin}${hop.path}`);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') break;
        // As Go's client: credentials are not sent on to another origin.
        if (next.origin !== hop.origin) currentHeaders = {};
        if (
          res.statusCode === 303 ||
          ((res.statusCode === 301 || res.statusCode === 302) && currentMethod === 'POST')
        ) {
          currentMethod = 'GET';
        }
        hop = { origin: next.origin, path: next.pathname + next.search };
      }
    } catch (err) {
      return {
        kind: 'unreachable',
        message: scrub(`${where}: ${describeError(err, this.opts.timeoutMs)}`, sensitive),
      };
    }
    const statusCode = res.statusCode;
    if (!cel) {
      await res.body.dump().catch(() => undefined);
      return { kind: 'answered', statusCode, accepted: defaultAccept(statusCode) };
    }
    let bodyString: string;
    try {
      bodyString = await this.readBody(res.body);
    } catch (err) {
      return {
        kind: 'unreachable',
        message: scrub(`${where}: reading the body: ${describeError(err, this.opts.timeoutMs)}`, sensitive),
      };
    }
    const responseHeaders: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v : [v];
    }
    const verdict = evaluateResponseCel(cel, { statusCode, headers: responseHeaders, bodyString });
    if (!verdict.ok)
      return { kind: 'answered', statusCode, accepted: false, detail: scrub(verdict.error, sensitive) };
    return {
      kind: 'answered',
      statusCode,
      accepted: verdict.accepted,
      ...(verdict.accepted ? {} : { detail: 'response.cel is false' }),
    };
  }

  private async readBody(body: Dispatcher.ResponseData['body']): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      chunks.push(buf.subarray(0, Math.max(0, this.maxBody - size)));
      size += buf.length;
      if (size >= this.maxBody) {
        body.destroy();
        break;
      }
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}
