// One probe request and its answer: the path checked, redirects followed as Go's client follows
// them (at most ten, credentials dropped on the way to another origin, POST turned into GET where
// Go does), one timeout for the whole exchange, and the verdict: response.cel on the status, the
// headers and up to maxBodyBytes of the body, or the probe kind's default rule on the status. Every
// message is scrubbed of the Secret's values and the rendered header values.

import type { Dispatcher } from 'undici';
import { evaluateResponseCel } from './cel.js';
import type { ProbeResult } from './probe.js';
import { scrub } from './redaction.js';

const redirectCodes = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 10;
// eslint-disable-next-line no-control-regex
const badPathChars = /[\u0000-\u0020\u007f]/;

/** The probe cannot run as the class declares it: reported as invalid, not as the tool's fault. */
export class InvalidProbe extends Error {}

export interface Hop {
  origin: string;
  path: string;
}

/** What went wrong, in words a status condition can show. */
export function describeError(err: unknown, timeoutMs: number): string {
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

export interface ExchangeOptions {
  method: string;
  first: Hop;
  headers: Record<string, string>;
  pool: (origin: string) => Dispatcher;
  followRedirects: boolean;
  /** response.cel, which then sees the body; without it, `defaultAccept` judges the status. */
  cel: string | undefined;
  defaultAccept: (code: number) => boolean;
  /** `Get "https://origin/path"`, the start of every message. */
  where: string;
  sensitive: readonly string[];
  /** The whole exchange, redirects included. */
  timeoutMs: number;
  /** How much of a body response.cel may see. */
  maxBodyBytes: number;
  /**
   * Without response.cel, the message of a refusal's metav1.Status body becomes the detail: our own
   * class API backend explains its answers that way (API probes).
   */
  statusDetail?: boolean;
}

/** One probe request, its redirects and the verdict on the answer. */
export async function probeExchange(opts: ExchangeOptions): Promise<ProbeResult> {
  const {
    method,
    headers,
    pool,
    followRedirects,
    cel,
    defaultAccept,
    where,
    sensitive,
    timeoutMs,
    maxBodyBytes,
  } = opts;
  let first = opts.first;
  if (!first.path.startsWith('/')) first = { ...first, path: `/${first.path}` };
  if (badPathChars.test(first.path)) {
    throw new InvalidProbe('the probe path renders to a value with spaces or control characters');
  }
  const signal = AbortSignal.timeout(timeoutMs);
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
      message: scrub(`${where}: ${describeError(err, timeoutMs)}`, sensitive),
    };
  }
  const statusCode = res.statusCode;
  if (!cel) {
    const accepted = defaultAccept(statusCode);
    if (accepted || !opts.statusDetail) {
      await res.body.dump().catch(() => undefined);
      return { kind: 'answered', statusCode, accepted };
    }
    const detail = statusMessage(await readBody(res.body, maxBodyBytes).catch(() => ''));
    return {
      kind: 'answered',
      statusCode,
      accepted,
      ...(detail ? { detail: scrub(detail, sensitive) } : {}),
    };
  }
  let bodyString: string;
  try {
    bodyString = await readBody(res.body, maxBodyBytes);
  } catch (err) {
    return {
      kind: 'unreachable',
      message: scrub(`${where}: reading the body: ${describeError(err, timeoutMs)}`, sensitive),
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

/** The message of a metav1.Status body, or '' for any other body. */
function statusMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; message?: unknown };
    return parsed.kind === 'Status' && typeof parsed.message === 'string' ? parsed.message : '';
  } catch {
    return '';
  }
}

async function readBody(body: Dispatcher.ResponseData['body'], maxBody: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    chunks.push(buf.subarray(0, Math.max(0, maxBody - size)));
    size += buf.length;
    if (size >= maxBody) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}
