// The class's probes, as published: an HTTP probe (path appended to the scheme and host of the
// Connector's address, its path prefix dropped; optional host, scheme, method, disableRedirect,
// templated headers, response.cel) and an API probe (path under the class's resolved API address).
// Requests use the Connector's extra CA (spec.caCertSecretRef) on top of the system roots, one
// pooled dispatcher per origin (proxy/dispatchers.ts) and explicit timeouts: connect, response
// headers, and the whole probe including redirects.
//
// What comes back is a verdict, never a credential: error messages name the method, origin and path
// (no query; no path at all when the path template reads the Secret), and every Secret value and
// rendered header value is scrubbed from them as a second line of defence (redaction.ts). This file
// builds each probe from its spec and the template data; exchange.ts sends it and judges the answer.

import type { Dispatcher } from 'undici';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import type { Connector, NamedValue } from '../registry/types.js';
import { CelCompileError } from './cel.js';
import { describeError, InvalidProbe, probeExchange } from './exchange.js';
import { scrub, sensitiveValues } from './redaction.js';
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

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Go's spelling of the method in its client errors: `Get "https://…": …`. */
const goMethod = (m: string): string => m.charAt(0) + m.slice(1).toLowerCase();

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
      return await probeExchange({
        method,
        first: { origin, path },
        headers,
        pool: (o) => this.opts.pools.get(o, target.ca),
        followRedirects: !spec.disableRedirect,
        cel: spec.response?.cel,
        defaultAccept,
        where,
        sensitive,
        timeoutMs: this.opts.timeoutMs,
        maxBodyBytes: this.maxBody,
      });
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
        // The Connector's CA, for backends that connect to the tool themselves (the mysql family).
        'x-plugin-meta': b64(
          JSON.stringify({
            baseURL: target.connector.spec?.address ?? '',
            ...(target.ca ? { caCert: target.ca } : {}),
          }),
        ),
      };
      if (target.secret) {
        headers['x-plugin-auth'] = b64(target.secret.type);
        headers['x-plugin-secret'] = b64(JSON.stringify(target.secret.data));
      }
      const where = `Get "${base.origin}${path.split('?')[0] ?? ''}"`;
      // Our own backend, reached as the API server reaches it; it applies the Connector's CA itself.
      return await probeExchange({
        method: 'GET',
        first: { origin: base.origin, path },
        headers,
        pool: (o) => this.classApiPool(o),
        followRedirects: true,
        cel: undefined,
        defaultAccept: authAccepts,
        where,
        sensitive: [...sensitive, headers['x-plugin-secret'] ?? ''].filter(Boolean),
        timeoutMs: this.opts.timeoutMs,
        maxBodyBytes: this.maxBody,
        statusDetail: true,
      });
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
}
