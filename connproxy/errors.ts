// How the Connectors Proxy answers a request no HTTP parser accepts inside an intercepted tunnel.
// (Its Statuses and their challenges are every proxy's: registry/proxyexchange.ts.)

import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../machinery/log.js';

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
