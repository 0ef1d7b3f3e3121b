// The request chains of the aggregated server and of the Connectors Proxy, in-process and over
// real HTTP, with everything but the code under test faked: authentication answers from a fixed
// token table, authorization records every question it is asked (and answers by a predicate), and
// the Connectors and their Secrets come from memory. The tools are recording echo tools. Used by
// the method→verb tests, whose point is what was authorized against what reached a tool.

import { createServer, type Server } from 'node:http';
import { expect } from 'chai';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { createApp } from '../../../apiserver/app.js';
import { Authenticator } from '../../../apiserver/authn.js';
import type { TokenReviewer, UserInfo } from '../../../kube/tokenreview.js';
import type { Authorizer, Decision } from '../../../kube/authz.js';
import { createLogger } from '../../../machinery/log.js';
import { verbForMethod, type MethodVerb } from '../../../machinery/verbs.js';
import type { RequestInfo } from '../../../machinery/requestinfo.js';
import { InflightLimiter } from '../../../machinery/inflight.js';
import { Metrics } from '../../../apiserver/metrics.js';
import { ProxyCertificateAuthority } from '../../../proxy/ca.js';
import { CallerChecks } from '../../../kube/callers.js';
import { ProxyHandler } from '../../../connproxy/handler.js';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import { injectorFor } from '../../../proxy/credentials/index.js';
import { DispatcherCache } from '../../../proxy/dispatchers.js';
import { noHeaderFilter } from '../../../proxy/headers.js';
import { classApiHandler } from '../../../registry/classapis.js';
import { CustomProxies } from '../../../registry/classproxy.js';
import { proxySubresource } from '../../../registry/proxy.js';
import type { SecretSource } from '../../../registry/secrets.js';
import type { ConnectorLister } from '../../../registry/store.js';
import { SubresourceCatalog } from '../../../registry/subresource.js';
import type { Connector, ConnectorClass } from '../../../registry/types.js';

export const ns = 'team-a';
/** The bearer token of the one known caller. */
export const callerToken = 'caller-token';
export const toolUser = 'bot';
export const toolPassword = 'chains-T00l-password';
export const toolAuthorization = `Basic ${Buffer.from(`${toolUser}:${toolPassword}`).toString('base64')}`;

/** Methods a tool may act on or echo, none of which has an RBAC verb of its own. */
export { unservedMethods } from '../../helpers/methods.js';

const caller: UserInfo = { username: 'system:serviceaccount:team-a:ci', groups: ['dev'], extra: {} };

/** A Connector `tool` (class `plain`) and `forge` (class `forge`, which declares a read and a write). */
function world(toolUrl: string): ConnectorLister {
  const connector = (name: string, className: string): Connector => ({
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { namespace: ns, name },
    spec: {
      connectorClassName: className,
      address: `${toolUrl}/base`,
      auth: { secretRef: { name: 'creds' } },
    },
  });
  const classes: ConnectorClass[] = [
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'ConnectorClass',
      metadata: { name: 'plain' },
      spec: {},
    },
    {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'ConnectorClass',
      metadata: { name: 'forge' },
      spec: {
        api: {
          openapi: {
            openapi: '3.0.3',
            info: { title: 'forge', version: '1' },
            paths: {
              '/projects/{id}/branches': {
                get: { operationId: 'listBranches' },
                post: { operationId: 'createBranch' },
                delete: { operationId: 'deleteBranches' },
                options: { operationId: 'describeBranches' },
              },
            },
          },
        },
      },
    },
  ];
  const connectors = [connector('tool', 'plain'), connector('forge', 'forge')];
  return {
    connector: (namespace, name) =>
      connectors.find((c) => c.metadata?.namespace === namespace && c.metadata.name === name),
    connectorClass: (name) => classes.find((c) => c.metadata?.name === name),
    connectorClasses: () => classes,
  };
}

const secrets: SecretSource = {
  credential: (namespace, name) => {
    const data = { username: toolUser, password: toolPassword };
    const type = 'kubernetes.io/basic-auth';
    const raw = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)]));
    return Promise.resolve({
      found: true,
      type,
      injector: injectorFor({ namespace, name, type, data: raw }),
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    });
  },
  caBundle: () => Promise.resolve({ found: false, message: 'none' }),
};

export class RecordingAuthorizer implements Authorizer {
  readonly asked: RequestInfo[] = [];
  constructor(public allow: (info: RequestInfo) => boolean) {}
  authorize(_user: UserInfo, info: RequestInfo): Promise<Decision> {
    this.asked.push(info);
    const allowed = this.allow(info);
    return Promise.resolve({ allowed, reason: allowed ? '' : `may not ${info.verb} ${info.subresource}` });
  }
}

const reviewer: TokenReviewer = {
  review: (token) => Promise.resolve(token === callerToken ? caller : null),
};

export interface Chain {
  port: number;
  tool: EchoTool;
  authorizer: RecordingAuthorizer;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server, tool: EchoTool, pools: DispatcherCache): () => Promise<void> {
  return async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await Promise.all([tool.close(), pools.close()]);
  };
}

const pools = (): DispatcherCache =>
  new DispatcherCache({ connectMs: 2_000, headersMs: 5_000, bodyMs: 5_000 });

/** The aggregated server's chain (apiserver/app.ts) over HTTP, its subresources the real ones. */
export async function startAggregatedChain(
  allow: (info: RequestInfo) => boolean = () => true,
): Promise<Chain> {
  const tool = await startEchoTool({ username: toolUser, password: toolPassword });
  const lister = world(tool.url);
  const dispatchers = pools();
  const authorizer = new RecordingAuthorizer(allow);
  const customProxies = new CustomProxies(
    {
      builtinServices: new Set(['connectors-system/connectors-proxy']),
      defaultNamespace: 'connectors-system',
      overrides: new Map(),
    },
    dispatchers,
  );
  const catalog = new SubresourceCatalog(
    [
      proxySubresource({
        lister,
        secrets,
        pools: dispatchers,
        droppedHeaders: () => noHeaderFilter,
        customProxies,
      }),
    ],
    classApiHandler({
      lister,
      secrets,
      pools: dispatchers,
      backendPools: dispatchers,
      droppedHeaders: () => noHeaderFilter,
      defaultNamespace: 'connectors-system',
      customProxies,
    }),
    lister,
  );
  const log = createLogger({ level: 'error' });
  const app = createApp({
    log,
    metrics: new Metrics(new InflightLimiter({ readOnly: 0, mutating: 0 }, log)),
    authenticator: new Authenticator(() => null, reviewer, log),
    authorizer,
    subresources: catalog,
    admission: new Map(),
    admissionFromCluster: () => false,
    notReady: () => [],
  });
  const server = createServer(app);
  return { port: await listen(server), tool, authorizer, close: closer(server, tool, dispatchers) };
}

/** The Connectors Proxy's chain (connproxy/handler.ts) over HTTP: reverse and forward mode. */
export async function startProxyChain(allow: (info: RequestInfo) => boolean = () => true): Promise<Chain> {
  const tool = await startEchoTool({ username: toolUser, password: toolPassword });
  const dispatchers = pools();
  const authorizer = new RecordingAuthorizer(allow);
  const intercept = createServer();
  const handler = new ProxyHandler({
    log: createLogger({ level: 'error' }),
    lister: world(tool.url),
    secrets,
    pools: dispatchers,
    callers: new CallerChecks(reviewer, authorizer),
    ca: await ProxyCertificateAuthority.generate(),
    upstreamCaPem: undefined,
    otherHosts: 'refuse',
    builtinProxy: {
      services: new Set(['connectors-system/connectors-proxy']),
      namespace: 'connectors-system',
    },
    connectTimeoutMs: 2_000,
    notReady: () => [],
    intercept,
  });
  intercept.on('request', handler.intercepted);
  const server = createServer(handler.request);
  server.on('connect', handler.connect);
  return { port: await listen(server), tool, authorizer, close: closer(server, tool, dispatchers) };
}

/** The request path of the aggregated server's /proxy subresource for a tool sub-path. */
export const aggregatedProxyPath = (rest: string): string =>
  `/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/${ns}/connectors/tool/proxy/${rest}`;

/** Proxy-Authorization for forward mode as the known caller, through Connector `tool`. */
export const proxyAuthorization = `Basic ${Buffer.from(`${ns}/tool:${callerToken}`).toString('base64')}`;

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function dechunk(data: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return out;
    const size = parseInt(data.slice(at, lineEnd), 16);
    if (!(size > 0)) return out;
    out += data.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * One request written as raw bytes on a fresh connection, so that the method and target go out
 * exactly as given (Node's client would upper-case `get`), read until the server closes.
 */
export function send(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers, connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => {
      socket.write(`${method} ${target} HTTP/1.1\r\n${lines}\r\n`, 'latin1');
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m || headEnd < 0) {
        reject(new Error(`no response to ${method} ${target}: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const head: Record<string, string> = {};
      for (const line of text.slice(0, headEnd).split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) head[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = text.slice(headEnd + 4);
      const body = head['transfer-encoding'] === 'chunked' ? dechunk(rest) : rest;
      resolve({ status: Number(m[1]), headers: head, body });
    });
  });
}

/**
 * Sends one request through `chain` and says what reached the tool: null when nothing did (any
 * answer was then a refusal, 4xx or a dropped connection), else the verb of the method that did,
 * which the one table must serve, and the method must have arrived as sent.
 */
export async function verbReachingTool(
  chain: Chain,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<MethodVerb | null> {
  let reply: Reply | null = null;
  try {
    reply = await send(chain.port, method, path, headers);
  } catch {
    // The server dropped the connection (Node does for CONNECT without a listener): refused.
  }
  const reached = chain.tool.requests;
  if (reached.length === 0) {
    if (reply) expect(reply.status, `${method} ${path}: ${reply.body}`).to.be.at.least(400);
    return null;
  }
  expect(reached.map((q) => q.method)).to.deep.equal([method]);
  const verb = verbForMethod(method);
  if (verb === undefined) expect.fail(`${method} reached a tool`);
  return verb;
}
