// What one exchange of the Connectors Proxy was, and how the one request wrapper
// (machinery/exchange.ts) answers and logs it: a failure is a Status with the proxy's challenge
// (errors.ts), named after the Connector it concerns; every exchange but a health probe leaves one
// `request` line with its mode, Connector, target, path (never the query: tools take tokens there),
// code, user and duration.

import type { ExchangeOptions } from '../machinery/exchange.js';
import type { Logger } from '../machinery/log.js';
import { toStatus } from '../registry/errors.js';
import type { ConnectorRef } from '../registry/types.js';
import { challengeHeaders } from './errors.js';

/** What one request was, for its Status and its access log line. */
export interface Exchange {
  mode: 'reverse' | 'forward' | 'intercept' | 'connect' | 'tunnel' | 'ping' | 'health' | 'none';
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
