// Forward mode: the caller uses the proxy as http_proxy (absolute-form targets) or https_proxy
// (CONNECT, then intercepted requests) and names its Connectors in Proxy-Authorization
// (`<namespace>/<name>[,…]` as username, a ServiceAccount token as password). A request whose
// origin and path lie under one of those Connectors' addresses goes to the tool with that
// Connector's credential (match.ts); any other host is refused, or with --other-hosts=tunnel passed
// on as a plain proxy would, to an address the destination policy allows and with the caller's own
// credentials only.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallerChecks } from '../kube/callers.js';
import { hasBody } from '../machinery/body.js';
import { StatusError } from '../machinery/status.js';
import type { MethodVerb } from '../machinery/verbs.js';
import { forward } from '../proxy/forward.js';
import { forwardRequestHeaders } from '../proxy/headers.js';
import { checkQuery, toolPath, type ToolAddress } from '../proxy/target.js';
import { connectorChecks } from '../registry/access.js';
import { refuseCustomProxyClass, type BuiltinProxy } from '../registry/classproxy.js';
import { resolveConnector, type ResolvedConnector } from '../registry/resolve.js';
import type { ConnectorLister } from '../registry/store.js';
import { refName, type Exchange } from '../registry/proxyexchange.js';
import type { DestinationPolicy } from './destinations.js';
import { proxyAuthRequired } from '../registry/proxyexchange.js';
import { connectorAddresses, matchAddress } from './match.js';
import { parseProxyAuthorization, type ProxyCredentials } from './route.js';
import { sendToTool, type ToolDeps } from '../registry/tool.js';

/** What forwardRequestHeaders drops as a credential, kept for hosts that are no Connector's. */
const callerOwnHeaders = ['authorization', 'cookie', 'private-token'] as const;

export interface ForwardDeps extends ToolDeps {
  lister: ConnectorLister;
  callers: CallerChecks;
  /** Hosts that are no listed Connector's: refused, or tunnelled to what the policy allows. */
  otherHosts: 'refuse' | DestinationPolicy;
  /** Connectors of classes with a proxy of their own are refused (registry/classproxy.ts). */
  builtinProxy: BuiltinProxy;
}

/** A Connector the caller named, with the addresses it answers for. */
export interface Candidate {
  owner: ResolvedConnector;
  addresses: ToolAddress[];
}

/** The caller's Proxy-Authorization; 407 without a usable one. */
export function proxyCredentials(req: IncomingMessage): ProxyCredentials {
  const creds = parseProxyAuthorization(req.headers['proxy-authorization']);
  if (!creds) {
    throw proxyAuthRequired(
      'send Proxy-Authorization Basic with "<namespace>/<name>[,…]" as username and a ServiceAccount token ' +
        'as password, e.g. https_proxy=http://<namespace>%2F<name>:<token>@<proxy>',
    );
  }
  if ('problem' in creds) throw proxyAuthRequired(creds.problem);
  return creds;
}

export function otherHostRefused(origin: string): StatusError {
  return new StatusError(
    403,
    'Forbidden',
    `${origin} is not the address of a Connector named in Proxy-Authorization, and this proxy refuses other hosts`,
  );
}

export class ForwardMode {
  constructor(private readonly deps: ForwardDeps) {}

  /**
   * The Connectors `creds` name, once the caller may use them: `verb` on connectors/proxy (the
   * request's method's; null for a CONNECT, see CallerChecks). 407 for a bad token, 403 without RBAC.
   */
  async candidates(creds: ProxyCredentials, ex: Exchange, verb: MethodVerb | null): Promise<Candidate[]> {
    ex.connector = creds.connectors.map(refName).join(',');
    const user = await this.deps.callers.identify(creds.token);
    if (!user) throw proxyAuthRequired('the token is invalid or expired');
    ex.user = user.username;
    await this.deps.callers.authorize(user, connectorChecks(creds.connectors, verb));
    return creds.connectors.map((ref) => {
      const owner = resolveConnector(this.deps.lister, ref.namespace, ref.name);
      refuseCustomProxyClass(owner, this.deps.builtinProxy);
      return { owner, addresses: connectorAddresses(owner) };
    });
  }

  /** A forward-mode request to `origin` + `target` (raw path and query). */
  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    origin: string,
    target: string,
    candidates: Candidate[],
    ex: Exchange,
  ): Promise<void> {
    const q = target.indexOf('?');
    const rawPath = q === -1 ? target : target.slice(0, q);
    const query = q === -1 ? '' : target.slice(q + 1);
    const match = matchAddress(candidates, origin, rawPath);
    if (match) {
      const name = `${match.owner.connector.metadata?.namespace ?? ''}/${match.owner.connector.metadata?.name ?? ''}`;
      ex.connector = name;
      const path = toolPath(match.address, match.segments);
      checkQuery(query);
      await sendToTool(this.deps, req, res, {
        resolved: match.owner,
        address: match.address,
        path: query ? `${path}?${query}` : path,
        headers: forwardRequestHeaders(req.headers),
      });
      return;
    }
    const policy = this.deps.otherHosts;
    if (policy === 'refuse') throw otherHostRefused(origin);
    ex.connector = undefined;
    const url = new URL(origin);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const connectTo = await policy.destination(url.hostname.replace(/^\[(.*)\]$/, '$1'), port);
    // Some other host: passed on as a plain proxy would, with the caller's own credentials for it
    // (their business; ours travel in Proxy-Authorization), and never a Connector's credential.
    const headers = forwardRequestHeaders(req.headers);
    for (const name of callerOwnHeaders) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    await forward(
      this.deps.pools,
      {
        method: req.method ?? 'GET',
        origin,
        prefix: '',
        path: target,
        headers,
        body: hasBody(req.headers) ? req : null,
        injector: null,
        ca: this.deps.upstreamCaPem,
        connectTo,
        relayRedirects: true,
      },
      res,
    );
  }
}
