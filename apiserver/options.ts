// Options → validated Config. Flags are read once at startup; every invalid option is reported
// together, each with the fix.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { LogLevel } from './machinery/log.js';

export interface Config {
  bindAddress: string;
  securePort: number;
  tlsCertPem: string;
  tlsKeyPem: string;
  kubeconfig: string | undefined;
  upstream: { connectMs: number; headersMs: number; bodyMs: number };
  authenticationCacheMs: number;
  authorizationCacheMs: number;
  secretCacheMs: number;
  tokenAudiences: string[];
  shutdownGraceMs: number;
  logLevel: LogLevel;
  /** The server's own namespace (POD_NAMESPACE), where class API Services without one are looked up. */
  namespace: string;
}

export const usage = `Usage: node dist/apiserver/main.js [flags]

  --secure-port=10250                 HTTPS port (0 picks a free one and logs it)
  --bind-address=0.0.0.0              address to listen on
  --tls-cert-file=PATH                serving certificate (PEM); SAN <service>.<namespace>.svc
  --tls-private-key-file=PATH         its private key (PEM)
  --kubeconfig=PATH                   kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --upstream-connect-timeout=5s       time to connect to a tool
  --upstream-response-timeout=30s     time for a tool to send response headers (then 504)
  --upstream-idle-timeout=5m          longest pause inside a tool's response body
  --authentication-cache-ttl=10s      how long TokenReview answers are reused
  --authorization-cache-ttl=10s       how long SubjectAccessReview answers are reused
  --secret-cache-ttl=10s              how long a Connector's Secret is reused before it is read again
  --authentication-token-audiences=A,B audiences a bearer token must carry (default: kube-apiserver's)
  --shutdown-grace-period=30s         how long in-flight requests may finish after SIGTERM
  --log-level=info                    debug, info, warn or error
`;

export function parseDuration(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(n * unit);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid options:\n${problems.map((p) => `  - ${p}`).join('\n')}\n\n${usage}`);
    this.name = 'ConfigError';
  }
}

const flags = {
  'secure-port': { type: 'string', default: '10250' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  kubeconfig: { type: 'string' },
  'upstream-connect-timeout': { type: 'string', default: '5s' },
  'upstream-response-timeout': { type: 'string', default: '30s' },
  'upstream-idle-timeout': { type: 'string', default: '5m' },
  'authentication-cache-ttl': { type: 'string', default: '10s' },
  'authorization-cache-ttl': { type: 'string', default: '10s' },
  'secret-cache-ttl': { type: 'string', default: '10s' },
  'authentication-token-audiences': { type: 'string', default: '' },
  'shutdown-grace-period': { type: 'string', default: '30s' },
  'log-level': { type: 'string', default: 'info' },
} as const;

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    options: flags,
  });
  const problems: string[] = [];
  const known = new Set(Object.keys(flags));
  for (const k of Object.keys(values)) {
    if (!known.has(k)) problems.push(`unknown flag --${k}; see the list below`);
  }
  for (const p of positionals) problems.push(`unexpected argument "${p}"; every option is a --flag=value`);
  const str = (k: string): string => {
    const v = values[k];
    return typeof v === 'string' ? v : '';
  };
  const duration = (k: string): number => {
    const ms = parseDuration(str(k));
    if (ms === null || ms <= 0) {
      problems.push(`--${k}=${str(k)} is not a positive duration; write e.g. 500ms, 10s or 5m`);
      return 0;
    }
    return ms;
  };
  const port = /^\d{1,5}$/.test(str('secure-port')) ? Number(str('secure-port')) : -1;
  if (port < 0 || port > 65535) {
    problems.push(`--secure-port=${str('secure-port')} must be a port number from 0 to 65535`);
  }
  const readPem = (k: string): string => {
    const path = str(k);
    if (!path) {
      problems.push(`--${k} is required: the server serves HTTPS only`);
      return '';
    }
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      problems.push(
        `--${k}=${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path`,
      );
      return '';
    }
  };
  const logLevel = str('log-level');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    problems.push(`--log-level=${logLevel} must be one of debug, info, warn, error`);
  }
  const config: Config = {
    bindAddress: str('bind-address'),
    securePort: port,
    tlsCertPem: readPem('tls-cert-file'),
    tlsKeyPem: readPem('tls-private-key-file'),
    kubeconfig: str('kubeconfig') || undefined,
    upstream: {
      connectMs: duration('upstream-connect-timeout'),
      headersMs: duration('upstream-response-timeout'),
      bodyMs: duration('upstream-idle-timeout'),
    },
    authenticationCacheMs: duration('authentication-cache-ttl'),
    authorizationCacheMs: duration('authorization-cache-ttl'),
    secretCacheMs: duration('secret-cache-ttl'),
    tokenAudiences: str('authentication-token-audiences')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
    shutdownGraceMs: duration('shutdown-grace-period'),
    logLevel: logLevel as LogLevel,
    namespace: env.POD_NAMESPACE ?? 'connectors-system',
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
