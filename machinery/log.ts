// Structured JSON logs, one object per line. Field values are written as given, so callers never
// pass credentials; as a second line of defence any field whose name looks like a credential is
// replaced, whatever its value.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const sensitiveField = /authorization|password|passwd|secret|token|cookie|private-token|credential/i;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  with(fields: LogFields): Logger;
}

function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return value.message;
  if (value === null || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: LogFields = {};
  for (const [k, v] of Object.entries(value))
    out[k] = sensitiveField.test(k) ? '[REDACTED]' : redact(v, depth + 1);
  return out;
}

export function createLogger(
  opts: { level?: LogLevel; write?: (line: string) => void; base?: LogFields } = {},
): Logger {
  const min = levelRank[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(line));
  const base = opts.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (levelRank[level] < min) return;
    const record = {
      ...(redact({ ...base, ...fields }) as LogFields),
      ts: new Date().toISOString(),
      level,
      msg,
    };
    write(JSON.stringify(record) + '\n');
  };
  return {
    debug: (m, f) => {
      emit('debug', m, f);
    },
    info: (m, f) => {
      emit('info', m, f);
    },
    warn: (m, f) => {
      emit('warn', m, f);
    },
    error: (m, f) => {
      emit('error', m, f);
    },
    with: (fields) => createLogger({ ...opts, base: { ...base, ...fields } }),
  };
}
