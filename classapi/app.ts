// The handler chain of the class API backend, written once:
//   errors + access log → health → caller (the API server's client certificate) → route (by exact
//   path) → X-Plugin-* headers → the family's handler.
// Every failure leaves as a metav1.Status. The backend serves the Connectors API server only, which
// has already authenticated and authorized the user; what it trusts is the Connector address and
// Secret in the headers of that call, so no other caller gets past the caller check.

import Koa, { type Context, type Next } from 'koa';
import type { Logger } from '../machinery/log.js';
import { methodNotAllowed, pathNotFound, StatusError } from '../machinery/status.js';
import { verbForMethod } from '../machinery/verbs.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import type { ClassApi, ClassApiRoute } from './api.js';
import type { CallerCheck } from './callers.js';
import type { PluginDecoder } from './plugin.js';
import { toStatus } from '../registry/errors.js';
import { healthAnswer, healthPaths } from '../machinery/health.js';

export interface AppDeps {
  log: Logger;
  apis: readonly ClassApi[];
  pools: DispatcherCache;
  plugin: PluginDecoder;
  /** Refuses every caller but the API server (classapi/callers.ts). */
  checkCaller: CallerCheck;
  /** Why the backend is not ready, or [] when it is. */
  notReady: () => string[];
}

function writeStatus(ctx: Context, err: StatusError): void {
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  ctx.status = err.code;
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(err.status);
}

/** Every route of every family, by full path (`/git/branches`). */
export function routeTable(apis: readonly ClassApi[]): ReadonlyMap<string, ClassApiRoute> {
  const table = new Map<string, ClassApiRoute>();
  for (const api of apis) {
    for (const route of api.routes) {
      const path = api.prefix + route.path;
      if (table.has(path)) throw new Error(`two class API routes claim ${path}`);
      table.set(path, route);
    }
  }
  return table;
}

export function createApp(deps: AppDeps): Koa {
  const { log } = deps;
  const routes = routeTable(deps.apis);
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  // 1. Errors and the access log. The query is never logged (it names repositories, and other
  //    tools put tokens there), nor is any header.
  app.use(async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } catch (err) {
      writeStatus(ctx, toStatus(err, '', log));
    }
    const fields = {
      method: ctx.method,
      path: ctx.path,
      status: ctx.res.headersSent ? ctx.res.statusCode : ctx.status,
      ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
    };
    if (healthPaths.has(ctx.path)) log.debug('request', fields);
    else log.info('request', fields);
  });

  // 2. Health, for kubelet probes; never touches a tool.
  app.use(async (ctx: Context, next: Next) => {
    if (!healthPaths.has(ctx.path)) {
      await next();
      return;
    }
    const answer = healthAnswer(ctx.path, deps.notReady);
    ctx.status = answer.status;
    ctx.type = 'text/plain';
    ctx.body = answer.body;
  });

  // 3. The caller: before anything else is looked at, so that nobody else learns even the routes.
  app.use(async (ctx: Context, next: Next) => {
    const refused = deps.checkCaller(ctx.req);
    if (refused) throw refused;
    await next();
  });

  // 4. The class APIs.
  app.use(async (ctx: Context) => {
    const route = routes.get(ctx.path);
    if (!route) {
      throw pathNotFound(
        `the class API backend serves ${[...routes.keys()].join(', ')}; ${ctx.path} is none of them`,
      );
    }
    // Every route is a read: only the methods whose verb is `get` in the one method→verb table.
    if (verbForMethod(ctx.method) !== 'get') {
      ctx.set('Allow', 'GET, HEAD');
      throw methodNotAllowed(`${ctx.method} is not supported on ${ctx.path}; it is read-only (GET)`);
    }
    const plugin = await deps.plugin.decode(ctx.headers);
    const abort = new AbortController();
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) abort.abort();
    });
    const body = await route.get({
      plugin,
      query: new URLSearchParams(ctx.querystring),
      signal: abort.signal,
      pools: deps.pools,
    });
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(body);
  });

  return app;
}
