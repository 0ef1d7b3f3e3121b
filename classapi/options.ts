// Options → validated Config for the class API backend. Flags are read once at startup; every
// invalid option is reported together, each with the fix.

import {
  ConfigError,
  readFlags,
  readServingLimits,
  servingLimitFlags,
  shutdownDelayFlag,
  shutdownDelayUsage,
  type FlagSpec,
  type ServingLimits,
} from '../machinery/flags.js';
import type { LogLevel } from '../machinery/log.js';

export interface Config {
  bindAddress: string;
  port: number;
  /** Serving certificate and key files, re-read whenever they change. */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** CA certificates (PEM file) that callers' client certificates must chain to; re-read too. */
  clientCaFile: string;
  /** Names (subject CN, DNS or URI SAN) of the client certificates served: the API server's. */
  allowedClientNames: string[];
  upstream: { connectMs: number; headersMs: number; bodyMs: number };
  shutdownGraceMs: number;
  shutdownDelayMs: number;
  logLevel: LogLevel;
  limits: ServingLimits;
}

// A class API call is short (a list of refs or tags) but buffers the tool's answer whole, so the
// budget is far below the API server's: it is what users browsing branches and tags need, and it
// keeps a flood from piling answers up in the Deployment's 256 MiB. Only GET and HEAD are served;
// other methods are refused at once and need few slots.
const limits = servingLimitFlags({ readOnly: 100, mutating: 20 });

export const usage = `Usage: node dist/classapi/main.js [flags]

Serves the built-in ConnectorClass APIs over HTTPS to the Connectors API server and the status
controller only, which prove themselves with a client certificate: /git/branches, /git/tags,
/git/git/gitrefs and /oci/tags, and the mysql class's probes /mysql/handshake and /mysql/login. Only
/healthz, /livez and /readyz answer without one (for kubelet probes).

  --port=8443                         HTTPS port (0 picks a free one and logs it)
  --bind-address=0.0.0.0              address to listen on
  --tls-cert-file=PATH                serving certificate (PEM), e.g. for
                                      connectors-classapi.connectors-system.svc; re-read when it changes
  --tls-private-key-file=PATH         its private key (PEM)
  --client-ca-file=PATH               CA certificates (PEM) that callers' client certificates must
                                      chain to; re-read when it changes
  --allowed-client-names=A,B          subject CN, DNS or URI SANs of the client certificates accepted,
                                      e.g. system:serviceaccount:connectors-system:connectors-apiserver
  --upstream-connect-timeout=5s       time to connect to a tool (for a MySQL server: to log in)
  --upstream-response-timeout=20s     time for a tool to send response headers, and the longest
                                      pause inside its body (then 504)
  --shutdown-grace-period=10s         how long in-flight requests may finish after SIGTERM
${shutdownDelayUsage}  --log-level=info                    debug, info, warn or error
${limits.usage}`;

const flags = {
  port: { type: 'string', default: '8443' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  'client-ca-file': { type: 'string' },
  'allowed-client-names': { type: 'string', default: '' },
  'upstream-connect-timeout': { type: 'string', default: '5s' },
  'upstream-response-timeout': { type: 'string', default: '20s' },
  'shutdown-grace-period': { type: 'string', default: '10s' },
  ...shutdownDelayFlag,
  'log-level': { type: 'string', default: 'info' },
  ...limits.flags,
} satisfies FlagSpec;

export function parseConfig(argv: string[]): Config {
  const f = readFlags(argv, flags, usage);
  const bindAddress = f.str('bind-address');
  if (bindAddress === '') f.problems.push('--bind-address must not be empty; use 0.0.0.0 for all');
  // Read here only so that a wrong path is reported with the other problems; the server reads
  // (and re-reads) the files itself. Secret data arrives in every request: no plain HTTP mode.
  const required = (k: string, why: string): string => {
    if (f.file(k) === undefined) f.problems.push(`--${k} is required: ${why}`);
    return f.str(k);
  };
  const allowedClientNames = f
    .str('allowed-client-names')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (allowedClientNames.length === 0) {
    f.problems.push(
      '--allowed-client-names is required: name the client certificate of the Connectors API server ' +
        '(its subject CN or a SAN), e.g. system:serviceaccount:connectors-system:connectors-apiserver',
    );
  }
  const responseMs = f.duration('upstream-response-timeout');
  const config: Config = {
    bindAddress,
    port: f.port('port'),
    tlsCertFile: required('tls-cert-file', 'the backend serves HTTPS only, as Secret data reaches it'),
    tlsKeyFile: required('tls-private-key-file', 'the key of --tls-cert-file'),
    clientCaFile: required('client-ca-file', 'the CA that issued the API server’s client certificate'),
    allowedClientNames,
    upstream: {
      connectMs: f.duration('upstream-connect-timeout'),
      headersMs: responseMs,
      bodyMs: responseMs,
    },
    shutdownGraceMs: f.duration('shutdown-grace-period'),
    shutdownDelayMs: f.durationOrZero('shutdown-delay-duration'),
    logLevel: f.logLevel('log-level'),
    limits: readServingLimits(f),
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
