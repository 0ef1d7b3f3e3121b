// Options → validated Config for the class API backend. Flags are read once at startup; every
// invalid option is reported together, each with the fix.

import {
  ConfigError,
  readFlags,
  readServingLimits,
  servingLimitFlags,
  type FlagSpec,
  type ServingLimits,
} from '../apiserver/machinery/flags.js';
import type { LogLevel } from '../apiserver/machinery/log.js';

export interface Config {
  bindAddress: string;
  port: number;
  upstream: { connectMs: number; headersMs: number; bodyMs: number };
  shutdownGraceMs: number;
  logLevel: LogLevel;
  limits: ServingLimits;
}

// A class API call is short (a list of refs or tags) but buffers the tool's answer whole, so the
// budget is far below the API server's: it is what users browsing branches and tags need, and it
// keeps a flood from piling answers up in the Deployment's 256 MiB. Only GET and HEAD are served;
// other methods are refused at once and need few slots.
const limits = servingLimitFlags({ readOnly: 100, mutating: 20 });

export const usage = `Usage: node dist/classapi/main.js [flags]

Serves the built-in ConnectorClass APIs over plain HTTP, behind a cluster Service that only the
Connectors API server calls: /git/branches, /git/tags, /git/git/gitrefs and /oci/tags.

  --port=8080                         HTTP port (0 picks a free one and logs it)
  --bind-address=0.0.0.0              address to listen on
  --upstream-connect-timeout=5s       time to connect to a tool
  --upstream-response-timeout=20s     time for a tool to send response headers, and the longest
                                      pause inside its body (then 504)
  --shutdown-grace-period=10s         how long in-flight requests may finish after SIGTERM
  --log-level=info                    debug, info, warn or error
${limits.usage}`;

const flags = {
  port: { type: 'string', default: '8080' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  'upstream-connect-timeout': { type: 'string', default: '5s' },
  'upstream-response-timeout': { type: 'string', default: '20s' },
  'shutdown-grace-period': { type: 'string', default: '10s' },
  'log-level': { type: 'string', default: 'info' },
  ...limits.flags,
} satisfies FlagSpec;

export function parseConfig(argv: string[]): Config {
  const f = readFlags(argv, flags, usage);
  const bindAddress = f.str('bind-address');
  if (bindAddress === '') f.problems.push('--bind-address must not be empty; use 0.0.0.0 for all');
  const responseMs = f.duration('upstream-response-timeout');
  const config: Config = {
    bindAddress,
    port: f.port('port'),
    upstream: {
      connectMs: f.duration('upstream-connect-timeout'),
      headersMs: responseMs,
      bodyMs: responseMs,
    },
    shutdownGraceMs: f.duration('shutdown-grace-period'),
    logLevel: f.logLevel('log-level'),
    limits: readServingLimits(f),
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
