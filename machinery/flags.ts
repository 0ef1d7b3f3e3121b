// Flag reading shared by every entry point: flags are read once at startup, every invalid option
// is collected, and the caller reports them together with the usage text and the fix.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ClientDeadlines } from './deadlines.js';
import type { InflightLimits } from './inflight.js';
import type { LogLevel } from './log.js';

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>;

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    usage: string,
  ) {
    super(`invalid options:\n${problems.map((p) => `  - ${p}`).join('\n')}\n\n${usage}`);
    this.name = 'ConfigError';
  }
}

/** Thrown for --help: the caller prints the usage and exits 0. */
export class HelpRequested extends Error {
  constructor(usage: string) {
    super(usage);
    this.name = 'HelpRequested';
  }
}

export function parseDuration(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(n * unit);
}

export interface Flags {
  /** Every problem found so far, each with its fix. */
  problems: string[];
  str(name: string): string;
  /** A positive duration in milliseconds (e.g. 500ms, 10s, 5m). */
  duration(name: string): number;
  /** A duration in milliseconds that may be zero (e.g. 0s, 5s). */
  durationOrZero(name: string): number;
  port(name: string): number;
  logLevel(name: string): LogLevel;
  /** The text of the file the flag names; undefined when the flag is unset, '' when unreadable. */
  file(name: string): string | undefined;
}

/** Reads `argv` against `spec` (plus --help, which throws HelpRequested). */
export function readFlags(argv: string[], spec: FlagSpec, usage: string): Flags {
  const options = { ...spec, help: { type: 'boolean', default: false } } as const;
  const { values, positionals } = parseArgs({ args: argv, strict: false, allowPositionals: true, options });
  if (values.help === true) throw new HelpRequested(usage);
  const problems: string[] = [];
  for (const k of Object.keys(values)) {
    if (!(k in options)) problems.push(`unknown flag --${k}; see the list below`);
  }
  for (const p of positionals) problems.push(`unexpected argument "${p}"; every option is a --flag=value`);
  const str = (k: string): string => {
    const v = values[k];
    return typeof v === 'string' ? v : '';
  };
  return {
    problems,
    str,
    duration(k) {
      const ms = parseDuration(str(k));
      if (ms === null || ms <= 0) {
        problems.push(`--${k}=${str(k)} is not a positive duration; write e.g. 500ms, 10s or 5m`);
        return 0;
      }
      return ms;
    },
    durationOrZero(k) {
      const ms = parseDuration(str(k));
      if (ms === null) {
        problems.push(`--${k}=${str(k)} is not a duration; write e.g. 0s, 500ms or 5s`);
        return 0;
      }
      return ms;
    },
    port(k) {
      const port = /^\d{1,5}$/.test(str(k)) ? Number(str(k)) : -1;
      if (port < 0 || port > 65535) problems.push(`--${k}=${str(k)} must be a port number from 0 to 65535`);
      return port;
    },
    logLevel(k) {
      const level = str(k);
      if (!['debug', 'info', 'warn', 'error'].includes(level)) {
        problems.push(`--${k}=${level} must be one of debug, info, warn, error`);
      }
      return level as LogLevel;
    },
    file(k) {
      const path = str(k);
      if (!path) return undefined;
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        problems.push(`--${k}=${path} cannot be read (${code}); check the path`);
        return '';
      }
    },
  };
}

/**
 * --shutdown-delay-duration, kube-apiserver's flag with its meaning, for every HTTP server
 * (machinery/lifecycle.ts GracefulShutdown). 0s by default, as kube-apiserver's: processes on a
 * host have no endpoints to wait for; the manifests set it.
 */
export const shutdownDelayFlag = {
  'shutdown-delay-duration': { type: 'string', default: '0s' },
} satisfies FlagSpec;

export const shutdownDelayUsage = `  --shutdown-delay-duration=0s        after SIGTERM, go on serving this long before the grace period:
                                      /readyz answers 503 and every response closes its connection,
                                      so that clients move to other replicas while the endpoints
                                      are updated (the manifests set 5s)
`;

/**
 * Flags of every process that checks callers by token and reads Connectors' Secrets (the API
 * server, both Connectors Proxies): how long each answer is reused, and the token's audiences.
 */
export const callerCheckFlags = {
  'authentication-cache-ttl': { type: 'string', default: '10s' },
  'authorization-cache-ttl': { type: 'string', default: '10s' },
  'secret-cache-ttl': { type: 'string', default: '10s' },
  'authentication-token-audiences': { type: 'string', default: '' },
} satisfies FlagSpec;

export const callerCheckUsage = `  --authentication-cache-ttl=10s      how long TokenReview answers are reused
  --authorization-cache-ttl=10s       how long SubjectAccessReview answers are reused
  --secret-cache-ttl=10s              how long a Connector's Secret is reused before it is read again
  --authentication-token-audiences=A,B audiences a bearer token must carry (default: kube-apiserver's)
`;

export interface CallerCheckConfig {
  authenticationCacheMs: number;
  authorizationCacheMs: number;
  secretCacheMs: number;
  tokenAudiences: string[];
}

export function readCallerCheckConfig(f: Flags): CallerCheckConfig {
  return {
    authenticationCacheMs: f.duration('authentication-cache-ttl'),
    authorizationCacheMs: f.duration('authorization-cache-ttl'),
    secretCacheMs: f.duration('secret-cache-ttl'),
    tokenAudiences: f
      .str('authentication-token-audiences')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
  };
}

/** Flags of every process that calls tools for authenticated callers (API server, Connectors Proxy). */
export const toolCallerFlags = {
  'upstream-connect-timeout': { type: 'string', default: '5s' },
  'upstream-response-timeout': { type: 'string', default: '30s' },
  'upstream-idle-timeout': { type: 'string', default: '5m' },
  ...callerCheckFlags,
  'shutdown-grace-period': { type: 'string', default: '30s' },
  ...shutdownDelayFlag,
  'log-level': { type: 'string', default: 'info' },
} satisfies FlagSpec;

export const toolCallerUsage = `  --upstream-connect-timeout=5s       time to connect to a tool
  --upstream-response-timeout=30s     time for a tool to send response headers (then 504)
  --upstream-idle-timeout=5m          longest pause inside a tool's response body
${callerCheckUsage}  --shutdown-grace-period=30s         how long in-flight requests may finish after SIGTERM
${shutdownDelayUsage}  --log-level=info                    debug, info, warn or error
`;

export interface ToolCallerConfig extends CallerCheckConfig {
  upstream: { connectMs: number; headersMs: number; bodyMs: number };
  shutdownGraceMs: number;
  shutdownDelayMs: number;
  logLevel: LogLevel;
}

export function readToolCallerConfig(f: Flags): ToolCallerConfig {
  return {
    upstream: {
      connectMs: f.duration('upstream-connect-timeout'),
      headersMs: f.duration('upstream-response-timeout'),
      bodyMs: f.duration('upstream-idle-timeout'),
    },
    ...readCallerCheckConfig(f),
    shutdownGraceMs: f.duration('shutdown-grace-period'),
    shutdownDelayMs: f.durationOrZero('shutdown-delay-duration'),
    logLevel: f.logLevel('log-level'),
  };
}

/** The value of --flag=<namespace>/<name> of a ConfigMap, or undefined when the flag is not given. */
export function parseNamespacedName(f: Flags, flag: string): { namespace: string; name: string } | undefined {
  const value = f.str(flag);
  if (!value) return undefined;
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(value);
  if (!m?.[1] || !m[3]) {
    f.problems.push(
      `--${flag}=${value} must be <namespace>/<name> of a ConfigMap, e.g. connectors-system/connectors-proxy-ca`,
    );
    return undefined;
  }
  return { namespace: m[1], name: m[3] };
}

/**
 * What every serving process bounds for its clients (machinery/inflight.ts, deadlines.ts), and how
 * many listening sockets accept them (machinery/lifecycle.ts listen()).
 */
export interface ServingLimits {
  maxInflight: InflightLimits;
  deadlines: ClientDeadlines;
  listenSockets: number;
}

/**
 * Listening sockets per port. In a burst of 1,000 clients connecting at once to download 4 MiB each
 * from a fresh server (2 cores), the share that hit their 10 s connect timeout was 25-51% with 1,
 * 25% with 2, 0-14% with 4, 0-2% with 8 and 0 with 16: libuv accepts one connection per socket per
 * event-loop turn, and a longer listen queue alone (backlog 4096) still left 33%.
 */
const defaultListenSockets = 16;
const maxListenSockets = 64;

/** The flags of ServingLimits, with this server's defaults for the budgets in flight. */
export function servingLimitFlags(defaults: InflightLimits): { flags: FlagSpec; usage: string } {
  const line = (flag: string, text: string): string => `  ${flag.padEnd(35)} ${text}\n`;
  return {
    flags: {
      'max-requests-inflight': { type: 'string', default: String(defaults.readOnly) },
      'max-mutating-requests-inflight': { type: 'string', default: String(defaults.mutating) },
      'request-header-timeout': { type: 'string', default: '30s' },
      'request-body-idle-timeout': { type: 'string', default: '60s' },
      'listen-sockets': { type: 'string', default: String(defaultListenSockets) },
    },
    usage:
      line(
        `--max-requests-inflight=${defaults.readOnly}`,
        'GET, HEAD and CONNECT requests served at once, streams',
      ) +
      line('', 'included; more get 429 with Retry-After (0: no limit)') +
      line(`--max-mutating-requests-inflight=${defaults.mutating}`, 'the same for every other method') +
      line('--request-header-timeout=30s', 'time for a client to send a request head (and the TLS') +
      line('', 'handshake); then 408') +
      line('--request-body-idle-timeout=60s', 'longest pause inside a request body; then 408 and the') +
      line('', "tool's request is aborted") +
      line(`--listen-sockets=${defaultListenSockets}`, 'sockets listening on the port (SO_REUSEPORT), each') +
      line('', 'accepting new connections; 1: one socket, no SO_REUSEPORT'),
  };
}

function listenSockets(f: Flags): number {
  const v = f.str('listen-sockets');
  const n = /^\d{1,2}$/.test(v) ? Number(v) : 0;
  if (n < 1 || n > maxListenSockets) {
    f.problems.push(`--listen-sockets=${v} must be a whole number from 1 to ${maxListenSockets}`);
  }
  return n;
}

export function readServingLimits(f: Flags): ServingLimits {
  const count = (k: string): number => {
    const v = f.str(k);
    if (/^\d{1,9}$/.test(v)) return Number(v);
    f.problems.push(`--${k}=${v} must be a whole number of requests (0: no limit)`);
    return 0;
  };
  const headerMs = f.duration('request-header-timeout');
  // Node refuses a head deadline beyond its whole-request one (300 s by default), and no client
  // needs minutes to send a request head.
  if (headerMs > 300_000) {
    f.problems.push(`--request-header-timeout=${f.str('request-header-timeout')} must be at most 5m`);
  }
  return {
    maxInflight: {
      readOnly: count('max-requests-inflight'),
      mutating: count('max-mutating-requests-inflight'),
    },
    deadlines: { headerMs, bodyIdleMs: f.duration('request-body-idle-timeout') },
    listenSockets: listenSockets(f),
  };
}

/**
 * Takes the repeatable flags `names` (`--name=value` or `--name value`, any number of times) out of
 * `argv`: their values by name, and the other arguments for readFlags, which keeps only the last
 * of a repeated flag.
 */
export function takeRepeatable(
  argv: readonly string[],
  names: readonly string[],
): { values: Map<string, string[]>; rest: string[] } {
  const values = new Map(names.map((n) => [n, [] as string[]]));
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const name = names.find((n) => arg === `--${n}` || arg.startsWith(`--${n}=`));
    if (name === undefined) rest.push(arg);
    else if (arg === `--${name}`) values.get(name)?.push(argv[++i] ?? '');
    else values.get(name)?.push(arg.slice(name.length + 3));
  }
  return { values, rest };
}

/**
 * `NAMESPACE/SERVICE=URL` values (--service-url-override, --proxy-url-override): the Service's
 * `namespace/name` → the URL without a trailing slash; a problem for each value that is not one,
 * or whose URL's scheme is not among `schemes`.
 */
export function serviceUrlOverrides(
  f: Flags,
  flag: string,
  values: readonly string[],
  schemes: readonly ('http' | 'https')[],
): Map<string, string> {
  const overrides = new Map<string, string>();
  for (const o of values) {
    const m = /^([a-z0-9-]+)\/([a-z0-9-]+)=(.+)$/.exec(o);
    let ok = false;
    if (m) {
      try {
        ok = schemes.includes(new URL(m[3] as string).protocol.slice(0, -1) as 'http' | 'https');
      } catch {
        ok = false;
      }
    }
    if (!m || !ok) {
      f.problems.push(
        `--${flag}=${o} must be NAMESPACE/SERVICE=URL with an ${schemes.join(' or ')} URL, e.g. ` +
          `connectors-system/my-service=${schemes[0] ?? 'https'}://127.0.0.1:8443`,
      );
      continue;
    }
    overrides.set(`${m[1] ?? ''}/${m[2] ?? ''}`, (m[3] as string).replace(/\/+$/, ''));
  }
  return overrides;
}

/** The repeatable --builtin-proxy-service of the API server and the Connectors Proxy. */
export const builtinProxyServiceFlag = 'builtin-proxy-service';

export const builtinProxyServiceUsage = `  --builtin-proxy-service=NS/NAME     a Service of the built-in Connectors Proxy (repeatable); a
                                      class whose spec.proxy names another Service, or a uri, has a
                                      proxy of its own (default: <own namespace>/connectors-proxy and
                                      <own namespace>/connectors-proxy-service)
`;

/**
 * The built-in Connectors Proxy's Services as `namespace/name`, from the values of
 * --builtin-proxy-service, or the defaults in `namespace` (the process's own) when none is given.
 */
export function readBuiltinProxyServices(
  f: Flags,
  values: readonly string[],
  namespace: string,
): Set<string> {
  if (values.length === 0) {
    return new Set([`${namespace}/connectors-proxy`, `${namespace}/connectors-proxy-service`]);
  }
  const services = new Set<string>();
  for (const v of values) {
    if (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v)) services.add(v);
    else {
      f.problems.push(
        `--${builtinProxyServiceFlag}=${v} must be <namespace>/<name> of a Service, e.g. connectors-system/connectors-proxy`,
      );
    }
  }
  return services;
}
