// /healthz, /livez and /readyz, answered the same way by every process: unauthenticated (for
// kubelet probes), never touching a tool; /readyz lists what is not ready yet.

export const healthPaths: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz']);

export function healthAnswer(path: string, notReady: () => string[]): { status: number; body: string } {
  const problems = path === '/readyz' ? notReady() : [];
  return problems.length
    ? { status: 503, body: `not ready: ${problems.join('; ')}\n` }
    : { status: 200, body: 'ok\n' };
}
