// The handler chain, written once:
//   the request wrapper (machinery/exchange.ts: Status, access log, metrics) → request info → health and the admission webhooks (unauthenticated) → authn
//   → method (one method→verb table) and plain path form → authz
//   → Connector subresources | routes (discovery, OpenAPI, metrics).
// The chain is one async function over Node's request and response, not koa middleware: every
// proxied request runs through it, and koa's context, delegates and middleware dispatch cost a
// quarter of the proxy's CPU for nothing a subresource uses. Koa and its router serve only the
// document routes, after the chain has authenticated and authorized them (machinery/routes.ts).
// Routes and subresources never authenticate or authorize themselves.

import type { IncomingMessage, ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import { toStatus } from '../registry/errors.js';
import type { SubresourceCatalog, SubresourceHandler } from '../registry/subresource.js';
import { subresourceGroup, subresourceVersion } from '../registry/types.js';
import {
  defaultAdmissionBodyLimits,
  maxAdmissionReviewBytes,
  type AdmissionBodyLimits,
  type AdmissionHandler,
} from './admission.js';
import { InvalidCredentialError, type Authenticator } from './authn.js';
import type { UserInfo } from '../kube/tokenreview.js';
import type { Authorizer } from '../kube/authz.js';
import {
  acceptsPlainJson,
  apiGroup,
  apiGroupList,
  apiResourceList,
  type DiscoveryDocument,
} from './discovery.js';
import { healthPaths, writeHealth } from '../machinery/health.js';
import type { Logger } from '../machinery/log.js';
import { parseRequestInfo, type RequestInfo } from '../machinery/requestinfo.js';
import { onResponseHead } from '../machinery/responsehead.js';
import { koaRoutes } from '../machinery/routes.js';
import { readJsonBody } from '../machinery/body.js';
import { serveRequests, type RequestListener } from '../machinery/exchange.js';
import {
  badRequest,
  forbidden,
  methodNotAllowed,
  notAcceptable,
  pathNotFound,
  StatusError,
  tooManyRequests,
  unauthorized,
  writeStatus,
} from '../machinery/status.js';
import { requireServedMethod, type MethodVerb } from '../machinery/verbs.js';
import type { Metrics } from './metrics.js';
import { openApiDocuments, type OpenApiDocuments } from './openapi.js';

export interface AppDeps {
  log: Logger;
  metrics: Metrics;
  authenticator: Authenticator;
  authorizer: Authorizer;
  subresources: SubresourceCatalog;
  /** The admission webhooks' handlers, by path (apiserver/admission.ts). */
  admission: ReadonlyMap<string, AdmissionHandler>;
  /**
   * Whether the connection presents a client certificate of the cluster's client or front-proxy CA,
   * as kube-apiserver does when configured to (admission.ts clusterClientCertificate).
   */
  admissionFromCluster: (req: IncomingMessage) => boolean;
  /** Default: defaultAdmissionBodyLimits. */
  admissionLimits?: AdmissionBodyLimits;
  /** Why the server is not ready, or [] when it is. */
  notReady: () => string[];
  /** A monotonic clock in nanoseconds (tests give a fake one). */
  now?: () => bigint;
}

const gvPrefix = `/apis/${subresourceGroup}/${subresourceVersion}`;

function toStatusError(err: unknown, info: RequestInfo | null, log: Logger): StatusError {
  if (err instanceof InvalidCredentialError) return unauthorized(`Unauthorized: ${err.message}`);
  return toStatus(err, info?.name ? `Connector ${info.namespace}/${info.name}: ` : '', log);
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

/**
 * Discovery, OpenAPI and /metrics. Discovery and OpenAPI are rebuilt only when the set of
 * subresources changed (a class was added, changed or deleted), then served from memory.
 */
function documentRoutes(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  let docs: { version: number; resourceList: DiscoveryDocument; openapi: OpenApiDocuments } | undefined;
  const current = (): NonNullable<typeof docs> => {
    const version = deps.subresources.version;
    if (docs?.version !== version) {
      const described = deps.subresources.describe();
      docs = { version, resourceList: apiResourceList(described), openapi: openApiDocuments(described) };
    }
    return docs;
  };

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

  return koaRoutes((app) => {
    app.use(router.routes());
    app.use(() => {
      throw pathNotFound();
    });
  });
}

/**
 * Refuses a path of our group in a verb-prefixed form (`…/v1alpha1/watch/namespaces/…`), whatever
 * kube-apiserver authorized: it authorized the verb in the path, and the tool would get the method.
 */
function refuseVerbPrefixedPath(info: RequestInfo): void {
  if (info.isResourceRequest && info.apiGroup === subresourceGroup && info.pathVerb !== '') {
    throw pathNotFound(
      `the /${info.pathVerb}/ form of a path is not served; use the plain path ` +
        `${gvPrefix}/namespaces/<namespace>/connectors/<name>/<subresource>/…`,
    );
  }
}

/**
 * The subresource a request is for, or undefined when it is no Connector subresource. Only a
 * request whose authorized verb is its method's verb is one: the method is what reaches a tool.
 */
function subresourceHandler(
  info: RequestInfo,
  verb: MethodVerb,
  catalog: SubresourceCatalog,
): SubresourceHandler | undefined {
  return info.isResourceRequest &&
    info.apiGroup === subresourceGroup &&
    info.apiVersion === subresourceVersion &&
    info.resource === 'connectors' &&
    info.namespace !== '' &&
    info.name !== '' &&
    info.subresource !== '' &&
    info.pathVerb === '' &&
    info.verb === verb
    ? catalog.handler(info.subresource)
    : undefined;
}

/**
 * The admission webhooks' endpoint. It sits before authentication, so a body is read in full (up to
 * maxAdmissionReviewBytes) only from a cluster client certificate; anyone else gets a small limit,
 * and only so many of them at once. Every body has a deadline. A refused body is left unread and
 * the connection closed, so that nothing of it is held.
 */
function admissionEndpoint(
  deps: AppDeps,
): (admit: AdmissionHandler, req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const limits = deps.admissionLimits ?? defaultAdmissionBodyLimits;
  let untrusted = 0;
  return async (admit, req, res) => {
    if (req.method !== 'POST') throw methodNotAllowed(`POST an AdmissionReview to ${req.url ?? ''}`);
    const trusted = deps.admissionFromCluster(req);
    if (!trusted && untrusted >= limits.untrustedConcurrency) {
      writeStatus(
        res,
        tooManyRequests(
          'too many AdmissionReviews from callers without a cluster client certificate are in progress; retry shortly',
          1,
        ),
        { connection: 'close', 'retry-after': '1' },
      );
      return;
    }
    if (!trusted) untrusted++;
    try {
      let body: unknown;
      try {
        const limit = trusted ? maxAdmissionReviewBytes : limits.untrustedBytes;
        body = await readJsonBody(req, {
          limit,
          deadlineMs: limits.deadlineMs,
          ...(limit < maxAdmissionReviewBytes
            ? {
                tooLargeHint:
                  'larger AdmissionReviews are read only from a client certificate of the cluster ' +
                  '(configure kube-apiserver to present one to this webhook)',
              }
            : {}),
          lateHint: 'send the whole AdmissionReview at once',
        });
      } catch (err) {
        if (!(err instanceof StatusError)) throw err;
        writeStatus(res, err, { connection: 'close' });
        return;
      }
      const answer = JSON.stringify(await admit(body));
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(answer)),
      });
      res.end(answer);
    } finally {
      if (!trusted) untrusted--;
    }
  };
}

/**
 * The subresource label of a request: its name when the server serves it now (`proxy`, or a name
 * a ConnectorClass declares), else `other`, so that a caller cannot mint label values.
 */
function subresourceLabeller(catalog: SubresourceCatalog): (name: string) => string {
  let served: { version: number; names: ReadonlySet<string> } | undefined;
  return (name) => {
    if (served?.version !== catalog.version) {
      served = { version: catalog.version, names: new Set(catalog.describe().map((d) => d.name)) };
    }
    return served.names.has(name) ? name : 'other';
  };
}

/** What the chain learns of one request, for its Status, its log line and its metrics. */
interface Exchange {
  info: RequestInfo | null;
  user?: UserInfo;
  connectorClass: string;
  /** When a relayed response's head went out (machinery/responsehead.ts). */
  headAt?: bigint;
  /** A health probe: not logged. */
  probe: boolean;
}

export function createApp(deps: AppDeps): RequestListener {
  const { log, metrics, authenticator, authorizer, subresources } = deps;
  const now = deps.now ?? ((): bigint => process.hrtime.bigint());
  const routes = documentRoutes(deps);
  const answerAdmission = admissionEndpoint(deps);
  const subresourceLabel = subresourceLabeller(subresources);

  const serve = async (req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> => {
    // Request info, parsed once from the raw target.
    const info = parseRequestInfo(req.method ?? 'GET', req.url ?? '');
    if (!info) throw badRequest('the request target must be a path (origin-form), not an absolute URL');
    ex.info = info;

    // Health: unauthenticated, for kubelet probes; never touches a tool; not logged.
    if (healthPaths.has(info.path)) {
      ex.probe = true;
      writeHealth(res, info.path, deps.notReady);
      return;
    }

    const admit = deps.admission.get(info.path);
    if (admit) {
      // The admission webhooks for Connectors: kube-apiserver calls webhooks without client
      // credentials unless configured to present a certificate, so this sits before
      // authentication; it has no side effects and only answers a verdict (and the admitted
      // stamp) about the object it is sent, for the user kube-apiserver names in it.
      await answerAdmission(admit, req, res);
      return;
    }

    // Authentication.
    const authn = await authenticator.authenticate(req);
    if (!authn) throw unauthorized('Unauthorized: present a bearer token or a client certificate');
    const user = authn.user;
    ex.user = user;

    // One method→verb table and only plain paths: what is authorized below is then exactly the
    // method that would reach a tool.
    const verb = requireServedMethod(req.method, (name, value) => res.setHeader(name, value));
    refuseVerbPrefixedPath(info);

    // Authorization: SubjectAccessReview for resource requests and /metrics; any authenticated
    // user may read discovery and OpenAPI (kube-apiserver's system:discovery role does the same).
    if (info.isResourceRequest || info.path === '/metrics') {
      const decision = await authorizer.authorize(user, info);
      if (!decision.allowed) {
        throw forbidden(
          { group: info.apiGroup, resource: info.resource || 'path' },
          info.name || (info.isResourceRequest ? '' : info.path),
          decision.reason,
        );
      }
    }

    // Connector subresources stream on the raw response; everything else is a document route.
    const sub = subresourceHandler(info, verb, subresources);
    if (sub) {
      // A relayed stream goes on long after its head: the latency is taken when the head goes.
      onResponseHead(res, () => {
        ex.headAt = now();
      });
      ex.connectorClass = (await sub.serve({ info, user, req, res })).connectorClass;
    } else await routes(req, res);
  };

  return serveRequests<Exchange>(
    {
      log,
      now,
      begin: () => ({ info: null, connectorClass: '', probe: false }),
      status: (err, ex) => toStatusError(err, ex.info, log),
      // One access log line per request (with the whole exchange's duration), and the request
      // metrics of authenticated callers only: an anonymous caller must not be able to add series.
      accessLog: (req, { info, user, connectorClass, headAt, probe }, { code, started, ended, ms }) => {
        if (probe) return undefined;
        if (user && info?.isResourceRequest) {
          const labels = {
            subresource: subresourceLabel(info.subresource),
            verb: info.verb,
            code,
            connectorClass,
          };
          metrics.observeRequest(labels, Number((headAt ?? ended) - started) / 1e9);
        }
        return {
          method: req.method,
          path: info?.path ?? '', // the query is never logged: tools take tokens there
          code,
          user: user?.username,
          ms,
          auditID: req.headers['audit-id'],
        };
      },
    },
    serve,
  );
}
