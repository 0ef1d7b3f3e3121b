// The Connectors Proxy's own Statuses and their challenges: a 401 always carries the Basic
// challenge (so git, skopeo and friends retry with the token), a 407 the proxy challenge; the one
// request wrapper (machinery/exchange.ts) writes them. Messages name Connectors, hosts and problems,
// never a header value.

import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../machinery/log.js';
import { StatusError } from '../machinery/status.js';

export const realm = 'connectors-proxy';
const challenge = `Basic realm="${realm}"`;

/** 401: reverse mode without a usable token. */
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

/**
 * The 'clientError' listener of the server that parses intercepted connections: a request no
 * parser accepts is answered as Node answers it on a listening server (431 for an oversized head,
 * 400 otherwise), so a client in the tunnel learns why instead of seeing the connection drop.
 */
export function answerClientError(log: Logger): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    log.debug('intercepted connection: bad request', { error: err.message });
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nConnection: close\r\n\r\n`, () =>
      socket.destroy(),
    );
  };
}
