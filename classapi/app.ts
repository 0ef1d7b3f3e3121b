// The handler chain of the class API backend, written once:
//   the request wrapper (machinery/exchange.ts: Status, access log) → health → caller (the API
//   server's client certificate) → route (koa, by exact path) → X-Plugin-* headers → the family's
//   handler.
// Every failure leaves as a metav1.Status. The backend serves the Connectors API server only, which
// has already authenticated and authorized the user; what it trusts is the Connector address and
// Secret in the headers of that call, so no other caller gets past the caller check.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { serveRequests, type RequestListener } from '../machinery/exchange.js';
import { healthPaths, targetPath, writeHealth } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { koaRoutes } from '../machinery/routes.js';
import { methodNotAllowed, pathNotFound } from '../machinery/status.js';
import { verbForMethod } from '../machinery/verbs.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import type { ClassApi } from './api.js';
import type { CallerCheck } from './callers.js';
import { decodeConnectorMeta, decodeSecret, type PluginDecoder } from './plugin.js';
import { toStatus } from '../registry/errors.js';

export interface AppDeps {
  log: Logger;
  apis: readonly ClassApi[];
  pools: DispatcherCache;
  plugin: PluginDecoder;
  /** How long a `connection` family may take to connect to a tool. */
  connectTimeoutMs: number;
  /** Refuses every caller but the API server (classapi/callers.ts). */
  checkCaller: CallerCheck;
  /** Why the backend is not ready, or [] when it is. */
  notReady: () => string[];
}

/** What a route needs from one request, whatever its family reads of it. */
export interface RouteInput {
  headers: IncomingHttpHeaders;
  query: URLSearchParams;
  signal: AbortSignal;
}

/** A route of any family, bound to how its family reads the X-Plugin-* headers. */
export type RouteHandler = (input: RouteInput) => Promise<unknown>;

/** Every route of every family, by full path (`/git/branches`). */
export function routeTable(
  apis: readonly ClassApi[],
  deps: Pick<AppDeps, 'pools' | 'plugin' | 'connectTimeoutMs'>,
): ReadonlyMap<string, RouteHandler> {
  const table = new Map<string, RouteHandler>();
  const add = (path: string, handler: RouteHandler): void => {
    if (table.has(path)) throw new Error(`two class API routes claim ${path}`);
    table.set(path, handler);
  };
  for (const api of apis) {
    if (api.protocol === 'connection') {
      for (const route of api.routes) {
        add(api.prefix + route.path, ({ headers, query, signal }) => {
          const meta = decodeConnectorMeta(headers);
          return route.get({
            address: meta.baseURL,
            caCert: meta.caCert,
            secret: decodeSecret(headers),
            query,
            signal,
            connectTimeoutMs: deps.connectTimeoutMs,
          });
        });
      }
    } else {
      for (const route of api.routes) {
        add(api.prefix + route.path, async ({ headers, query, signal }) =>
          route.get({ plugin: await deps.plugin.decode(headers), query, signal, pools: deps.pools }),
        );
      }
    }
  }
  return table;
}

/** What the chain learns of one request, for its log line. */
interface Exchange {
  path: string;
  /** A health probe: not logged. */
  probe: boolean;
}

/** The class API routes, in koa (machinery/routes.ts): by exact path, reads only. */
function classApiRoutes(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const routes = routeTable(deps.apis, deps);
  return koaRoutes((app) => {
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
      const abort = new AbortController();
      ctx.res.once('close', () => {
        if (!ctx.res.writableFinished) abort.abort();
      });
      const body = await route({
        headers: ctx.headers,
        query: new URLSearchParams(ctx.querystring),
        signal: abort.signal,
      });
      ctx.status = 200;
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(body);
    });
  });
}

export function createApp(deps: AppDeps): RequestListener {
  const { log } = deps;
  const routes = classApiRoutes(deps);
  return serveRequests<Exchange>(
    {
      log,
      begin: () => ({ path: '', probe: false }),
      status: (err) => toStatus(err, '', log),
      statusHeaders: () => ({ 'cache-control': 'no-store' }),
      // The query is never logged (it names repositories, and other tools put tokens there), nor
      // is any header.
      accessLog: (req, ex, { code, ms }) =>
        ex.probe ? undefined : { method: req.method, path: ex.path, status: code, ms },
    },
    async (req, res, ex) => {
      ex.path = targetPath(req);
      // Health, for kubelet probes; never touches a tool.
      if (healthPaths.has(ex.path)) {
        ex.probe = true;
        writeHealth(res, ex.path, deps.notReady);
        return;
      }
      // The caller: before anything else is looked at, so that nobody else learns even the routes.
      const refused = deps.checkCaller(req);
      if (refused) throw refused;
      await routes(req, res);
    },
  );
}
