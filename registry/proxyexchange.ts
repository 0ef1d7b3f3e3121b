// What one exchange of a Connectors Proxy (the built-in one, or a custom one made with kit/) was,
// and how the one request wrapper (machinery/exchange.ts) answers and logs it: a failure is a
// Status with the proxy's challenge, named after the Connector it concerns; every exchange but a
// health probe leaves one `request` line with its mode, Connector, target, path (never the query:
// tools take tokens there), code, user and duration. A 401 always carries the Basic challenge (so
// git, skopeo and friends retry with the token), a 407 the proxy challenge. Messages name
// Connectors, hosts and problems, never a header value.

import type { ExchangeOptions } from '../machinery/exchange.js';
import type { Logger } from '../machinery/log.js';
import { StatusError } from '../machinery/status.js';
import { toStatus } from './errors.js';
import type { ConnectorRef } from './types.js';

export const realm = 'connectors-proxy';
const challenge = `Basic realm="${realm}"`;

/** 401: a request without a usable token. */
export const unauthenticated = (message: string): StatusError =>
  new StatusError(401, 'Unauthorized', `Unauthorized: ${message}`);

/** 407: forward mode without usable Proxy-Authorization. */
export const proxyAuthRequired = (message: string): StatusError =>
  new StatusError(407, 'Unauthorized', `Proxy authentication required: ${message}`);

/** The challenge a 401 or 407 carries, so that clients retry with the token. */
export function challengeHeaders(err: StatusError): Record<string, string> {
  if (err.code === 401) return { 'www-authenticate': challenge };
  if (err.code === 407) return { 'proxy-authenticate': challenge };
  return {};
}

/** What one request was, for its Status and its access log line. */
export interface Exchange {
  /** `apiserver`: a custom proxy's request from the Connectors API server (kit/). */
  mode: 'reverse' | 'forward' | 'intercept' | 'connect' | 'tunnel' | 'ping' | 'health' | 'apiserver' | 'none';
  connector?: string;
  target?: string;
  path?: string;
  user?: string;
}

export function refName(ref: ConnectorRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** The wrapper's options for exchanges that begin in `mode`. */
export function exchangeOptions(mode: Exchange['mode'], log: Logger): ExchangeOptions<Exchange> {
  return {
    log,
    begin: () => ({ mode }),
    status: (err, ex) => toStatus(err, ex.connector ? `Connector ${ex.connector}: ` : '', log),
    statusHeaders: challengeHeaders,
    accessLog: (req, ex, { code, ms }) =>
      ex.mode === 'health'
        ? undefined
        : {
            mode: ex.mode,
            method: req.method,
            connector: ex.connector,
            target: ex.target,
            path: ex.path,
            code,
            user: ex.user,
            ms,
          },
  };
}
