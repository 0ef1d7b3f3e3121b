// Koa where a process routes, and only there (the design card names it): discovery and OpenAPI
// documents in the API server, the class APIs in their backend. The chain around the routes is the
// one request wrapper (exchange.ts), so a route's failure is not answered by koa: it is handed back
// to the wrapper, which writes the one Status and the one log line. A separate module, so that a
// process that routes nothing never loads koa.

import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';

/**
 * A koa app for `mount` to add its middleware to, as a function that serves a request through it
 * and rejects with what a route threw (headers a route set, such as Allow, stay on the response).
 */
export function koaRoutes(
  mount: (app: Koa) => void,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const failures = new WeakMap<ServerResponse, unknown>();
  const app = new Koa();
  app.proxy = false;
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      ctx.respond = false; // the wrapper answers instead
      failures.set(ctx.res, err);
    }
  });
  mount(app);
  const handle = app.callback();
  return async (req, res) => {
    await handle(req, res);
    if (!failures.has(res)) return;
    const err = failures.get(res);
    failures.delete(res);
    throw err;
  };
}
