// Reverse mode: the Host (c-<name>.<namespace>) or the path (/namespaces/<ns>/connectors/<name>/…)
// names the Connector. The caller presents a ServiceAccount token (Bearer, the Basic password, or
// the header its class declares); TokenReview and SubjectAccessReviews (`get` on the Connector, the
// method's verb on connectors/proxy) decide; the request goes to the tool with the Connector's
// credential, and Location headers on the tool's address are mapped back into the proxy's view.
// The registry ping (/v2/) answers a registry client's first question for any valid caller.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallerChecks } from '../kube/callers.js';
import type { UserInfo } from '../kube/tokenreview.js';
import type { MethodVerb } from '../machinery/verbs.js';
import { forwardRequestHeaders, noHeaderFilter, type HeaderFilter } from '../proxy/headers.js';
import { checkQuery, toolPath } from '../proxy/target.js';
import { connectorChecks } from '../registry/access.js';
import { refuseCustomProxyClass, type BuiltinProxy } from '../registry/classproxy.js';
import { resolveConnector } from '../registry/resolve.js';
import { callerToken, proxyLocation, tokenHeaderFor, type Mount } from '../registry/reverse.js';
import type { ConnectorLister } from '../registry/store.js';
import type { ConnectorRef } from '../registry/types.js';
import type { Exchange } from '../registry/proxyexchange.js';
import { unauthenticated } from '../registry/proxyexchange.js';
import { sendToTool, type ToolDeps } from '../registry/tool.js';

export interface ReverseDeps extends ToolDeps {
  lister: ConnectorLister;
  callers: CallerChecks;
  /** Connectors of classes with a proxy of their own are refused (registry/classproxy.ts). */
  builtinProxy: BuiltinProxy;
}

/** A reverse-mode target (connproxy/route.ts). */
export interface ReverseTarget {
  ref: ConnectorRef;
  segments: string[];
  query: string;
  mount: Mount;
}

export class ReverseMode {
  constructor(private readonly deps: ReverseDeps) {}

  /** The registry ping: `{}` for a caller with a valid token, 401 otherwise. */
  async registryPing(req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> {
    await this.caller(req, ex);
    const body = '{}';
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': String(body.length),
      'docker-distribution-api-version': 'registry/2.0',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    target: ReverseTarget,
    ex: Exchange,
    verb: MethodVerb,
  ): Promise<void> {
    const { ref } = target;
    const tokenHeader = tokenHeaderFor(this.deps.lister, ref);
    const user = await this.caller(req, ex, tokenHeader);
    await this.deps.callers.authorize(user, connectorChecks([ref], verb));

    const resolved = resolveConnector(this.deps.lister, ref.namespace, ref.name);
    refuseCustomProxyClass(resolved, this.deps.builtinProxy);
    const address = resolved.address;
    const path = toolPath(address, target.segments);
    checkQuery(target.query);
    const toolPrefix = address.prefix + target.mount.toolBase;
    const filter: HeaderFilter = tokenHeader
      ? { names: new Set([tokenHeader.toLowerCase()]), prefixes: [] }
      : noHeaderFilter;
    ex.target = address.origin;
    ex.path = path;
    await sendToTool(this.deps, req, res, {
      resolved,
      address,
      path: target.query ? `${path}?${target.query}` : path,
      headers: forwardRequestHeaders(req.headers, filter),
      mapLocation: (location) =>
        proxyLocation(
          location,
          { origin: address.origin, requestPath: path, toolPrefix },
          target.mount.proxyBase,
        ),
    });
  }

  /** The caller of a reverse-mode request, from its token; 401 without a valid one. */
  private async caller(req: IncomingMessage, ex: Exchange, tokenHeader?: string): Promise<UserInfo> {
    const token = callerToken(req.headers, tokenHeader);
    if (!token) {
      throw unauthenticated(
        'present a ServiceAccount token as "Authorization: Bearer <token>" or as the Basic password' +
          (tokenHeader ? ` or in the ${tokenHeader} header` : ''),
      );
    }
    const user = await this.deps.callers.identify(token);
    if (!user) throw unauthenticated('the token is invalid or expired');
    ex.user = user.username;
    return user;
  }
}
