// `probe.http.response.cel`: a CEL expression over the probe's response that decides success.
// Variables, as published: response.statusCode (int), response.headers (map of canonical header
// name → list of values, as Go's http.Header), response.body (the body parsed as JSON, or null),
// response.bodyString.
//
// The library is @bufbuild/cel: maintained by Buf (it backs protovalidate-es), tested against the
// official cel-spec conformance suite, ESM with types, and it runs on Node 20. It follows the spec
// where a lighter implementation does not (e.g. heterogeneous numeric equality: `1 == 1.0`, which
// matters when JSON numbers, doubles in CEL, meet integer literals).

import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';

export interface ProbeResponse {
  statusCode: number;
  /** Header name (any case) → values. */
  headers: Readonly<Record<string, readonly string[]>>;
  /** The body as text (possibly truncated), or '' when it was not read. */
  bodyString: string;
}

export class CelCompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CelCompileError';
  }
}

type Program = (ctx: Record<string, CelInput>) => CelResult;

const env = celEnv();
const programs = new Map<string, Program>();
const maxPrograms = 1000;

/** Parses and plans `expr` once (cached); throws CelCompileError with the parser's message. */
export function compileCel(expr: string): Program {
  let program = programs.get(expr);
  if (program) return program;
  try {
    program = plan(env, parse(expr));
  } catch (err) {
    throw new CelCompileError(
      `response.cel does not compile: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (programs.size >= maxPrograms) {
    const oldest = programs.keys().next().value;
    if (oldest !== undefined) programs.delete(oldest);
  }
  programs.set(expr, program);
  return program;
}

/** Go's textproto.CanonicalMIMEHeaderKey: `content-type` → `Content-Type`. */
export function canonicalHeaderKey(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

function jsonBody(text: string): CelInput {
  if (text === '') return null;
  try {
    return JSON.parse(text) as CelInput;
  } catch {
    return null;
  }
}

export type CelVerdict = { ok: true; accepted: boolean } | { ok: false; error: string };

/**
 * Evaluates `expr` against a response. A compile error throws (the class is wrong); an evaluation
 * error or a non-boolean result is a verdict with `ok: false` (the response was not what the
 * expression expects). Messages name the problem, never a response value.
 */
export function evaluateResponseCel(expr: string, response: ProbeResponse): CelVerdict {
  const program = compileCel(expr);
  const headers: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(response.headers)) {
    (headers[canonicalHeaderKey(name)] ??= []).push(...values);
  }
  const result = program({
    response: {
      statusCode: BigInt(response.statusCode),
      headers,
      body: jsonBody(response.bodyString),
      bodyString: response.bodyString,
    },
  });
  if (isCelError(result)) return { ok: false, error: `response.cel: ${result.message}` };
  if (typeof result !== 'boolean') return { ok: false, error: 'response.cel must evaluate to a bool' };
  return { ok: true, accepted: result };
}
