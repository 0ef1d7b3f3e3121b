// /healthz, /livez and /readyz, answered the same way by every process: unauthenticated (for
// kubelet probes), never touching a tool; /readyz lists what is not ready yet.

import type { IncomingMessage, ServerResponse } from 'node:http';

export const healthPaths: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz']);

/** The path of a request's target, without its query (never logged: tools take tokens there). */
export function targetPath(req: IncomingMessage): string {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

export function healthAnswer(path: string, notReady: () => string[]): { status: number; body: string } {
  const problems = path === '/readyz' ? notReady() : [];
  return problems.length
    ? { status: 503, body: `not ready: ${problems.join('; ')}\n` }
    : { status: 200, body: 'ok\n' };
}

/** Answers the health probe for `path` (one of healthPaths). */
export function writeHealth(res: ServerResponse, path: string, notReady: () => string[]): void {
  const answer = healthAnswer(path, notReady);
  res.writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(answer.body);
}
