// Structured JSON logs, one object per line, written by pino:
//   {"level":"info","ts":"2025-01-02T03:04:05.678Z","component":"apiserver","port":443,"msg":"serving"}
// Field values are written as given, so callers never pass credentials; as a second line of
// defence any field whose name looks like a credential is replaced, whatever its value and however
// deep it is nested. An Error, wherever it is, is written as {type, message, stack} (and its code
// and cause when it has them), never with its other properties, which may carry a request's
// headers.
//
// The redaction is a walk of every logged object (pino's formatters.log hook), not pino's `redact`
// paths: those name exact keys at fixed depths (a wildcard stands for one level), while the rule
// here is a pattern over key names (clientSecret, x-private-token, accessToken…) at any depth,
// which no finite list of paths covers.
//
// Lines are written synchronously (a destination with sync: true), as process.stdout writes to a
// file or a pipe on Linux and as the logger before pino did: a line is out when the call returns,
// however the process then ends (process.exit() after a drain, a crash, the SIGKILL at the end of
// a pod's grace period, an OOM kill), while an asynchronous destination is flushed on a clean exit
// only, and the lines lost would be the last ones, that tell how it ended. It costs a write per
// line, as before.

import { pino, type DestinationStream, type Logger as Pino } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

const sensitiveKey = /authorization|password|passwd|secret|token|cookie|private-token|credential/i;
const censor = '[REDACTED]';
/** The logger's own keys: a field of the same name is dropped rather than written twice. */
const ownKeys = new Set(['level', 'ts', 'msg']);
/**
 * Objects nested deeper are written as a marker, never walked (nor printed unredacted): the walk
 * recurses, and log fields are a few levels deep.
 */
const maxDepth = 32;

function errorFields(err: Error): LogFields {
  const { code } = err as { code?: unknown };
  return {
    type: err.constructor.name,
    message: err.message,
    stack: err.stack,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(err.cause === undefined ? {} : { cause: err.cause }),
  };
}

/** `value` with every credential-like key's value censored; `ancestors` are the objects above it. */
function redact(value: unknown, ancestors: object[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.includes(value)) return '[Circular]';
  if (ancestors.length >= maxDepth) return '[Too deep]';
  ancestors.push(value);
  try {
    if (Array.isArray(value)) return value.map((v) => redact(v, ancestors));
    const out: LogFields = {};
    for (const [k, v] of Object.entries(value instanceof Error ? errorFields(value) : value))
      out[k] = sensitiveKey.test(k) ? censor : redact(v, ancestors);
    return out;
  } finally {
    ancestors.pop();
  }
}

/** What pino writes of a call's fields (formatters.log). */
function lineFields(fields: LogFields): LogFields {
  const out: LogFields = {};
  const ancestors: object[] = [fields];
  for (const [k, v] of Object.entries(fields)) {
    if (!ownKeys.has(k)) out[k] = sensitiveKey.test(k) ? censor : redact(v, ancestors);
  }
  return out;
}

let stdout: DestinationStream | undefined;

function wrap(p: Pino, base: LogFields): Logger {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (p.isLevelEnabled(level)) p[level]({ ...base, ...fields }, msg);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    with: (fields) => wrap(p, { ...base, ...fields }),
  };
}

/**
 * A logger at `level` (info by default) writing to stdout, or line by line to `write`; `base`
 * fields are on every line (with() adds more, a later value of a key winning).
 */
export function createLogger(
  opts: { level?: LogLevel; write?: (line: string) => void; base?: LogFields } = {},
): Logger {
  const destination = opts.write
    ? { write: opts.write }
    : (stdout ??= pino.destination({ fd: 1, sync: true }));
  const p = pino(
    {
      level: opts.level ?? 'info',
      base: null,
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      // lineFields has written every Error as {type, message, stack}; pino's own serializer for
      // `err` would take that plain object for an Error of type Object.
      serializers: { err: (value: unknown) => value },
      formatters: { level: (label) => ({ level: label }), log: lineFields },
    },
    destination,
  );
  return wrap(p, opts.base ?? {});
}
