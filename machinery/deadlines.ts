// Deadlines on what a client sends, so that a slow or silent client cannot hold a socket, a slot
// in flight and a tool's connection for as long as it likes:
//
//   request head   must be complete within --request-header-timeout of its first byte (over TLS
//                  the handshake gets as long). Node's headersTimeout counts from a message's
//                  first byte, or from the connection's start for its first message, not across
//                  the idle time of a keep-alive connection: kube-apiserver's 90 s idle
//                  connections stay usable (keepAliveTimeout is separate).
//   request body   may pause for at most --request-body-idle-timeout; then the caller gets 408
//                  (or, once the response has started, a cut connection), and the tool's request
//                  is aborted with it. Idle, not total: a slow upload that keeps moving may take
//                  as long as it needs.
//
// Responses are not bounded here: a tool's answer may stream for hours, and the upstream
// timeouts (--upstream-*) bound a tool that goes silent.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { hasBody } from './body.js';
import type { RequestListener } from './exchange.js';
import type { Logger } from './log.js';
import { requestTimeout, writeStatus } from './status.js';

export interface ClientDeadlines {
  headerMs: number;
  bodyIdleMs: number;
}

/**
 * createServer options enforcing the header deadline. Node checks its deadlines on a timer
 * (connectionsCheckingInterval, 30 s by default, which would let a 30 s deadline run to a minute);
 * a check every second or so costs a walk over the open connections.
 */
export function headerDeadlineOptions(headerMs: number): {
  headersTimeout: number;
  connectionsCheckingInterval: number;
} {
  return { headersTimeout: headerMs, connectionsCheckingInterval: Math.min(1000, headerMs) };
}

/**
 * For a server that never listens and is handed its connections (the Connectors Proxy's parser of
 * intercepted TLS). Node starts checking a server's deadlines when it starts listening, so such a
 * server is told that it "listens": without it a head sent slowly inside a tunnel held the tunnel
 * forever. And no tls.Server bounds the TLS handshakes of the sockets it is handed: one that has not
 * completed within `headerMs` is closed (Node's own answer to a late head cannot leave before the
 * handshake, so it would wait for it forever).
 */
export function enforceDeadlinesWithoutListening(server: Server, headerMs: number): void {
  server.emit('listening');
  server.on('connection', (socket: Socket) => {
    if (!(socket instanceof TLSSocket)) return;
    const timer = setTimeout(() => socket.destroy(), headerMs);
    timer.unref();
    const clear = (): void => {
      clearTimeout(timer);
    };
    socket.once('secure', clear);
    socket.once('close', clear);
  });
}

/**
 * Serves `listener`, abandoning any request whose body stops arriving for `idleMs`. Progress is
 * what the client delivers: bytes read from its socket, or bytes already buffered for a consumer
 * that has not taken them (the hold-up is then ours or the tool's, not the client's). One timer
 * per request that has a body, checked a few times per period; nothing per chunk.
 */
export function watchBodyIdle(listener: RequestListener, idleMs: number, log: Logger): RequestListener {
  const tick = Math.max(1, Math.floor(idleMs / 4));
  return (req, res) => {
    if (hasBody(req.headers)) {
      const socket = req.socket;
      let seen = socket.bytesRead;
      let movedAt = performance.now();
      const timer = setInterval(() => {
        if (req.complete || req.destroyed || socket.destroyed) {
          clearInterval(timer);
          return;
        }
        const now = performance.now();
        if (socket.bytesRead !== seen || req.readableLength > 0) {
          seen = socket.bytesRead;
          movedAt = now;
          return;
        }
        if (now - movedAt < idleMs) return;
        clearInterval(timer);
        abandon(req, res, idleMs, log);
      }, tick);
      timer.unref();
    }
    listener(req, res);
  };
}

function abandon(req: IncomingMessage, res: ServerResponse, idleMs: number, log: Logger): void {
  log.info('request body stalled; the request is abandoned', {
    method: req.method,
    path: (req.url ?? '').split('?')[0], // never the query: tools take tokens there
    idleMs,
  });
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  // Closing the response aborts the tool's request (proxy/forward.ts); `connection: close` makes
  // Node close the socket once the Status is out instead of waiting for the rest of the body, and
  // the request is then destroyed so that whoever reads it learns that it was aborted.
  res.once('finish', () => req.destroy());
  writeStatus(
    res,
    requestTimeout(
      `no byte of the request body arrived for ${idleMs / 1000} s; the request was abandoned (send the body without pausing so long)`,
    ),
    { connection: 'close' },
  );
}
