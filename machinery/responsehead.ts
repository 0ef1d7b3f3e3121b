// When a response's head went out, for the latency histogram ("time to response headers"): a
// relayed stream ends long after its head, and only the relay (proxy/forward.ts) knows when the
// head was written. The server's chain asks to be told; the relay tells. A response nobody relays
// (a Status, a document) has its head written when the chain's handler returns.

import type { ServerResponse } from 'node:http';

const waiting = new WeakMap<ServerResponse, () => void>();

/** Calls `listener` once, when responseHeadSent(res) is called. */
export function onResponseHead(res: ServerResponse, listener: () => void): void {
  waiting.set(res, listener);
}

/** Says that the head of `res` has just been written. */
export function responseHeadSent(res: ServerResponse): void {
  const listener = waiting.get(res);
  if (!listener) return;
  waiting.delete(res);
  listener();
}
