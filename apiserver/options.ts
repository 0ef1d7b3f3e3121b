// Options → validated Config. Flags are read once at startup; every invalid option is reported
// together, each with the fix.

import { readFileSync } from 'node:fs';
import { ConfigError, readFlags, type FlagSpec } from './machinery/flags.js';
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
  --help                              this text
`;

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
} satisfies FlagSpec;

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const f = readFlags(argv, flags, usage);
  const readPem = (k: string): string => {
    const path = f.str(k);
    if (!path) {
      f.problems.push(`--${k} is required: the server serves HTTPS only`);
      return '';
    }
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      f.problems.push(
        `--${k}=${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path`,
      );
      return '';
    }
  };
  const config: Config = {
    bindAddress: f.str('bind-address'),
    securePort: f.port('secure-port'),
    tlsCertPem: readPem('tls-cert-file'),
    tlsKeyPem: readPem('tls-private-key-file'),
    kubeconfig: f.str('kubeconfig') || undefined,
    upstream: {
      connectMs: f.duration('upstream-connect-timeout'),
      headersMs: f.duration('upstream-response-timeout'),
      bodyMs: f.duration('upstream-idle-timeout'),
    },
    authenticationCacheMs: f.duration('authentication-cache-ttl'),
    authorizationCacheMs: f.duration('authorization-cache-ttl'),
    secretCacheMs: f.duration('secret-cache-ttl'),
    tokenAudiences: f
      .str('authentication-token-audiences')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean),
    shutdownGraceMs: f.duration('shutdown-grace-period'),
    logLevel: f.logLevel('log-level'),
    namespace: env.POD_NAMESPACE ?? 'connectors-system',
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
