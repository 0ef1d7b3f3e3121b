// The handler chain, written once:
//   errors → request info → health and the admission webhook (unauthenticated) → authn → authz
//   → routes → subresources.
// Routes and subresources never authenticate or authorize themselves.

import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import { toStatus } from '../registry/errors.js';
import type { SubresourceCatalog } from '../registry/subresource.js';
import { subresourceGroup, subresourceVersion } from '../registry/types.js';
import { admissionPath, readJsonBody } from './admission.js';
import { InvalidCredentialError, type Authenticator, type UserInfo } from './authn.js';
import type { Authorizer } from './authz.js';
import {
  acceptsPlainJson,
  apiGroup,
  apiGroupList,
  apiResourceList,
  type DiscoveryDocument,
} from './discovery.js';
import type { Logger } from './machinery/log.js';
import { parseRequestInfo, type RequestInfo } from './machinery/requestinfo.js';
import {
  badRequest,
  forbidden,
  methodNotAllowed,
  notAcceptable,
  pathNotFound,
  StatusError,
  unauthorized,
} from './machinery/status.js';
import type { Metrics } from './metrics.js';
import { openApiDocuments, type OpenApiDocuments } from './openapi.js';
import { healthAnswer, healthPaths } from './machinery/health.js';

export interface AppDeps {
  log: Logger;
  metrics: Metrics;
  authenticator: Authenticator;
  authorizer: Authorizer;
  subresources: SubresourceCatalog;
  /** Answers an AdmissionReview of a Connector (apiserver/admission.ts). */
  admission: (body: unknown) => object;
  /** Why the server is not ready, or [] when it is. */
  notReady: () => string[];
}

interface State {
  info: RequestInfo;
  user?: UserInfo;
  connectorClass?: string;
}

const gvPrefix = `/apis/${subresourceGroup}/${subresourceVersion}`;

function toStatusError(err: unknown, info: RequestInfo | undefined, log: Logger): StatusError {
  if (err instanceof InvalidCredentialError) return unauthorized(`Unauthorized: ${err.message}`);
  return toStatus(err, info?.name ? `Connector ${info.namespace}/${info.name}: ` : '', log);
}

function writeStatus(ctx: Context, err: StatusError): void {
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  ctx.respond = true;
  ctx.status = err.code;
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(err.status);
}

function serveDocument(ctx: Context, d: DiscoveryDocument): void {
  ctx.set('ETag', d.etag);
  ctx.set('Cache-Control', 'no-cache, private');
  ctx.type = 'application/json';
  if (ctx.get('If-None-Match') === d.etag) {
    ctx.status = 304;
    return;
  }
  ctx.body = d.body;
}

export function createApp(deps: AppDeps): Koa<State> {
  const { log, metrics } = deps;
  const app = new Koa<State>();
  app.proxy = false;
  app.silent = true;

  // Discovery and OpenAPI are rebuilt only when the set of subresources changed (a class was
  // added, changed or deleted), then served from memory.
  let docs: { version: number; resourceList: DiscoveryDocument; openapi: OpenApiDocuments } | undefined;
  const current = (): NonNullable<typeof docs> => {
    const version = deps.subresources.version;
    if (docs?.version !== version) {
      const described = deps.subresources.describe();
      docs = { version, resourceList: apiResourceList(described), openapi: openApiDocuments(described) };
    }
    return docs;
  };

  // 1. Errors: every failure becomes a metav1.Status; one access log line per request.
  app.use(async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } catch (err) {
      writeStatus(ctx, toStatusError(err, ctx.state.info as RequestInfo | undefined, log));
    }
    const state = ctx.state as Partial<State>;
    const info = state.info;
    const code = ctx.res.headersSent ? ctx.res.statusCode : ctx.status;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (info?.isResourceRequest) {
      const cls = state.connectorClass ?? '';
      metrics.requests.inc({
        subresource: info.subresource,
        verb: info.verb,
        code: String(code),
        connector_class: cls,
      });
      metrics.latency.observe({ subresource: info.subresource, connector_class: cls }, seconds);
      if (code === 503 || code === 504 || code === 502)
        metrics.upstreamErrors.inc({ connector_class: cls, kind: String(code) });
    }
    if (!healthPaths.has(ctx.path)) {
      log.info('request', {
        method: ctx.method,
        path: info?.path ?? '', // the query is never logged: tools take tokens there
        code,
        user: state.user?.username,
        ms: Math.round(seconds * 1000),
        auditID: ctx.get('Audit-ID') || undefined,
      });
    }
  });

  // 2. Request info, parsed once from the raw target.
  app.use(async (ctx: Context, next: Next) => {
    const info = parseRequestInfo(ctx.method, ctx.req.url ?? '');
    if (!info) throw badRequest('the request target must be a path (origin-form), not an absolute URL');
    ctx.state.info = info;
    await next();
  });

  // 3. Health: unauthenticated, for kubelet probes; never touches a tool.
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

  // 3b. The validating webhook for Connectors: kube-apiserver calls webhooks without client
  //     credentials, so this sits before authentication; it has no side effects and only answers
  //     a verdict about the object it is sent.
  app.use(async (ctx: Context, next: Next) => {
    if (ctx.path !== admissionPath) {
      await next();
      return;
    }
    if (ctx.method !== 'POST') throw methodNotAllowed(`POST an AdmissionReview to ${admissionPath}`);
    const review = deps.admission(await readJsonBody(ctx.req));
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(review);
  });

  // 4. Authentication.
  app.use(async (ctx: Context, next: Next) => {
    const result = await deps.authenticator.authenticate(ctx.req);
    if (!result) throw unauthorized('Unauthorized: present a bearer token or a client certificate');
    ctx.state.user = result.user;
    await next();
  });

  // 5. Authorization: SubjectAccessReview for resource requests and /metrics; any authenticated
  //    user may read discovery and OpenAPI (kube-apiserver's system:discovery role does the same).
  app.use(async (ctx: Context, next: Next) => {
    const { info, user } = ctx.state as State;
    if (info.isResourceRequest || info.path === '/metrics') {
      const decision = await deps.authorizer.authorize(user as UserInfo, info);
      if (!decision.allowed) {
        throw forbidden(
          { group: info.apiGroup, resource: info.resource || 'path' },
          info.name || (info.isResourceRequest ? '' : info.path),
          decision.reason,
        );
      }
    }
    await next();
  });

  // 6. Non-resource routes.
  const router = new Router();
  router.get('/apis', (ctx) => {
    if (!acceptsPlainJson(ctx.get('Accept')))
      throw notAcceptable('only application/json APIGroupList is served here');
    serveDocument(ctx, apiGroupList);
  });
  router.get(`/apis/${subresourceGroup}`, (ctx) => {
    serveDocument(ctx, apiGroup);
  });
  router.get(gvPrefix, (ctx) => {
    serveDocument(ctx, current().resourceList);
  });
  router.get('/openapi/v2', (ctx) => {
    serveDocument(ctx, current().openapi.v2);
  });
  router.get('/openapi/v3', (ctx) => {
    serveDocument(ctx, current().openapi.v3root);
  });
  router.get(`/openapi/v3${gvPrefix}`, (ctx) => {
    serveDocument(ctx, current().openapi.v3);
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  app.use(router.routes());

  // 7. Connector subresources.
  app.use(async (ctx: Context) => {
    const info = ctx.state.info as RequestInfo;
    const sub =
      info.isResourceRequest &&
      info.apiGroup === subresourceGroup &&
      info.apiVersion === subresourceVersion &&
      info.resource === 'connectors' &&
      info.namespace !== '' &&
      info.name !== '' &&
      info.subresource !== '' &&
      info.verb !== 'proxy'
        ? deps.subresources.handler(info.subresource)
        : undefined;
    if (!sub) throw pathNotFound();
    const abort = new AbortController();
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) abort.abort();
    });
    ctx.respond = false; // the subresource streams to the raw response
    const result = await sub.serve({ info, req: ctx.req, res: ctx.res, signal: abort.signal });
    ctx.state.connectorClass = result.connectorClass;
  });

  return app;
}
