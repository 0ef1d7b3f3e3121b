// The system the hostile-request corpus attacks, and the surfaces it attacks it through.
//
// One namespace with two Connectors whose addresses have a path prefix (`…/base`): `tool` (plain
// HTTP) and `tls-tool` (HTTPS, for the Connectors Proxy's intercepted CONNECT), a ConnectorClass
// `hostile-forge` declaring a proxy operation and an operation of a class API backend, and a
// Connectors Proxy that refuses other hosts. Every server is a recording echo tool; two more,
// the sentinels, listen where the tricks try to go (127.0.0.2 and another port of 127.0.0.1) and
// must never see a request.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { createCA, issueCert } from '../../../hack/pki.js';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import {
  connectorReader,
  proxyRbac,
  startProxy,
  type RunningConnectorsProxy,
} from '../../helpers/connproxy.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  frontProxyCert,
  grant,
  gvPath,
  knownSecrets,
  kubectlOk,
  namespace,
  secretValue,
} from '../../helpers/env.js';
import { exchange, type Endpoint } from './wire.js';

export const surfaceNames = [
  'aggregated server as the front proxy',
  'aggregated server with a bearer token',
  'kube-apiserver',
  'class API proxy operation as the front proxy',
  'class API proxy operation through kube-apiserver',
  'class API backend operation as the front proxy',
  'Connectors Proxy reverse mode by path',
  'Connectors Proxy reverse mode by Host',
  'Connectors Proxy forward mode',
  'Connectors Proxy intercepted CONNECT',
] as const;

export type SurfaceName = (typeof surfaceNames)[number];

export interface Surface {
  name: SurfaceName;
  /** Who parses the request first: our Node server, kube-apiserver, or the Connectors Proxy. */
  group: 'aggregated' | 'kube' | 'proxy';
  endpoint: Endpoint;
  host: string;
  /** The request target of `rest`, a sub-path below the Connector's address. */
  target(rest: string): string;
  /** The path the recorder sees for an accepted `rest`. */
  seen(rest: string): string;
  /** Header lines that authenticate a caller allowed to use the Connector here. */
  auth: string;
  /** The same for a caller without any RBAC. */
  nobodyAuth: string;
  /**
   * The same for a caller RBAC allows every verb (`*`) on Connectors and their subresources, so
   * that kube-apiserver lets through what only our servers can refuse (TRACE, `/watch/…`). In the
   * intercepted tunnel, whose caller proved itself on the CONNECT: the tunnel's caller.
   */
  rootAuth: string;
  /** The server this surface's accepted requests reach (the tool, or the class API backend). */
  recorder: EchoTool;
  /** Whether the path is matched against a declared operation (a class API): a trick that is not exactly one segment is then an undeclared path (404). */
  declared: boolean;
}

export interface HostileSystem {
  ns: string;
  tool: EchoTool;
  tlsTool: EchoTool;
  backend: EchoTool;
  /** Every server a surface forwards to. */
  recorders: EchoTool[];
  /** Servers nothing may ever reach. */
  sentinels: EchoTool[];
  /** `127.0.0.2:<port>` and `127.0.0.1:<port>` of the sentinels. */
  sentinel: string;
  otherPort: string;
  toolUser: string;
  toolPassword: string;
  /** The token of the ServiceAccount the surfaces authenticate as. */
  callerToken: string;
  proxyLog: string;
  /** Every token made here, for the log checks. */
  tokens: string[];
  surfaces: Record<SurfaceName, Surface>;
  stop(): Promise<void>;
}

const bearer = (token: string): string => `Authorization: Bearer ${token}\r\n`;
const proxyAuthorization = (user: string, token: string): string =>
  `Proxy-Authorization: Basic ${Buffer.from(`${user}:${token}`, 'latin1').toString('base64')}\r\n`;

function hostileClass(backendUrl: string): object {
  return {
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'ConnectorClass',
    metadata: { name: 'hostile-forge' },
    spec: {
      address: { name: 'address', type: 'string' },
      auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true }] },
      api: {
        uri: `${backendUrl}/backend`,
        openapi: {
          openapi: '3.0.3',
          info: { title: 'hostile-forge', version: '1' },
          paths: {
            '/projects/{id}/repository/branches': {
              get: { operationId: 'projectBranches' },
              post: { operationId: 'createBranch' },
            },
            '/repos/{repo}/branches': { get: { operationId: 'repoBranches', 'x-provider-type': 'api' } },
          },
        },
      },
    },
  };
}

/**
 * RBAC for `subject`: every verb (`*`) on Connectors (the `/proxy/…` form's resource), their
 * subresources in our group, and `get` on the Connector objects the Connectors Proxy checks.
 */
function everyVerb(
  ns: string,
  name: string,
  subject: { kind: 'User' | 'ServiceAccount'; name: string; namespace?: string },
): object[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: ns },
      rules: [
        {
          apiGroups: ['subresources.connectors.alauda.io'],
          resources: ['connectors', 'connectors/proxy', 'connectors/projects', 'connectors/repos'],
          verbs: ['*'],
        },
        { apiGroups: ['connectors.alauda.io'], resources: ['connectors'], verbs: ['get'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [
        subject.kind === 'User'
          ? { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: subject.name }
          : { kind: 'ServiceAccount', name: subject.name, namespace: subject.namespace ?? ns },
      ],
    },
  ];
}

export async function startHostileSystem(): Promise<HostileSystem> {
  const toolUser = 'hostile-user';
  const toolPassword = secretValue('hostile-tool-password');
  const ca = await createCA('hostile-tls-tool-ca');
  const serving = await issueCert(ca, { commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], server: true });
  // The class API backend stand-in serves https with the backend CA: Secret data goes nowhere else.
  const backendServing = await issueCert(env().sys.classApiCA, {
    commonName: '127.0.0.1',
    ipAddresses: ['127.0.0.1'],
    server: true,
  });
  const creds = { username: toolUser, password: toolPassword };
  const [tool, tlsTool, backend, far, near] = await Promise.all([
    startEchoTool(creds),
    startEchoTool({ ...creds, tls: serving }),
    startEchoTool({ host: '127.0.0.1', tls: backendServing }),
    startEchoTool({ host: '127.0.0.2' }),
    startEchoTool(),
  ]);
  const ns = await namespace('hostile');
  await apply([
    connectorClass('http-test'),
    hostileClass(backend.url),
    basicAuthSecret(ns, 'creds', toolUser, toolPassword),
    connector(ns, 'tool', { address: `${tool.url}/base`, secret: 'creds' }),
    connector(ns, 'tls-tool', { address: `${tlsTool.url}/base`, secret: 'creds' }),
    connector(ns, 'forge', {
      connectorClassName: 'hostile-forge',
      address: `${tool.url}/base`,
      secret: 'creds',
    }),
    ...grant(ns, 'alice', { kind: 'User', name: 'alice' }, ['get', 'create'], ['proxy', 'projects', 'repos']),
    ...grant(
      ns,
      'caller',
      { kind: 'ServiceAccount', name: 'caller' },
      ['get', 'create'],
      ['proxy', 'projects'],
    ),
    ...connectorReader(ns, 'caller'),
    ...everyVerb(ns, 'root', { kind: 'User', name: 'root' }),
    ...everyVerb(ns, 'root-sa', { kind: 'ServiceAccount', name: 'root', namespace: ns }),
    ...proxyRbac('connectors-proxy-hostile', ns, 'connectors-proxy'),
  ]);
  const cp = env().sys.cp;
  const [token, nobodyToken, rootToken, proxyToken] = await Promise.all([
    cp.createToken(ns, 'caller'),
    cp.createToken(ns, 'nobody'),
    cp.createToken(ns, 'root'),
    cp.createToken(ns, 'connectors-proxy', { expirationSeconds: 86_400 }),
  ]);
  const tokens = [token, nobodyToken, rootToken, proxyToken];
  knownSecrets.push(...tokens);
  const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-proxy-hostile.kubeconfig'), {
    token: proxyToken,
  });
  const upstreamCa = join(cp.dir, 'hostile-tls-tool-ca.crt');
  writeFileSync(upstreamCa, ca.certPem);
  const proxy: RunningConnectorsProxy = await startProxy('connectors-proxy-hostile', kubeconfig, [
    '--other-hosts=refuse',
    `--upstream-ca-file=${upstreamCa}`,
  ]);

  const server = new URL(env().sys.serverUrl);
  const kube = new URL(cp.server);
  const fp = frontProxyCert();
  const aggregatedTls: ConnectionOptions = { ca: env().sys.servingCaPem, servername: 'localhost' };
  const asFrontProxy: Endpoint = {
    host: server.hostname,
    port: Number(server.port),
    tls: { ...aggregatedTls, cert: fp.certPem, key: fp.keyPem },
  };
  const kubeApiserver: Endpoint = { host: kube.hostname, port: Number(kube.port), tls: { ca: cp.caCertPem } };
  const connectorsProxy: Endpoint = { host: '127.0.0.1', port: proxy.port };
  const proxyPath = (name: string, rest: string): string =>
    `${gvPath}/namespaces/${ns}/connectors/${name}/proxy/${rest}`;
  const classPath = (rest: string): string =>
    `${gvPath}/namespaces/${ns}/connectors/forge/projects/${rest}/repository/branches`;
  const frontProxyUser = (user: string): string => `X-Remote-User: ${user}\r\nX-Remote-Group: dev\r\n`;
  const onTool = { recorder: tool, seen: (rest: string): string => `/base/${rest}`, declared: false };
  const onClassTool = {
    recorder: tool,
    seen: (rest: string): string => `/base/projects/${rest}/repository/branches`,
    declared: true,
  };
  const tlsOrigin = `127.0.0.1:${tlsTool.port}`;

  const list: Surface[] = [
    {
      name: 'aggregated server as the front proxy',
      group: 'aggregated',
      endpoint: asFrontProxy,
      host: 'localhost',
      target: (rest) => proxyPath('tool', rest),
      auth: frontProxyUser('alice'),
      nobodyAuth: frontProxyUser('nobody'),
      rootAuth: frontProxyUser('root'),
      ...onTool,
    },
    {
      name: 'aggregated server with a bearer token',
      group: 'aggregated',
      endpoint: { host: server.hostname, port: Number(server.port), tls: aggregatedTls },
      host: 'localhost',
      target: (rest) => proxyPath('tool', rest),
      auth: bearer(token),
      nobodyAuth: bearer(nobodyToken),
      rootAuth: bearer(rootToken),
      ...onTool,
    },
    {
      name: 'kube-apiserver',
      group: 'kube',
      endpoint: kubeApiserver,
      host: kube.host,
      target: (rest) => proxyPath('tool', rest),
      auth: bearer(token),
      nobodyAuth: bearer(nobodyToken),
      rootAuth: bearer(rootToken),
      ...onTool,
    },
    {
      name: 'class API proxy operation as the front proxy',
      group: 'aggregated',
      endpoint: asFrontProxy,
      host: 'localhost',
      target: classPath,
      auth: frontProxyUser('alice'),
      nobodyAuth: frontProxyUser('nobody'),
      rootAuth: frontProxyUser('root'),
      ...onClassTool,
    },
    {
      name: 'class API proxy operation through kube-apiserver',
      group: 'kube',
      endpoint: kubeApiserver,
      host: kube.host,
      target: classPath,
      auth: bearer(token),
      nobodyAuth: bearer(nobodyToken),
      rootAuth: bearer(rootToken),
      ...onClassTool,
    },
    {
      name: 'class API backend operation as the front proxy',
      group: 'aggregated',
      endpoint: asFrontProxy,
      host: 'localhost',
      target: (rest) => `${gvPath}/namespaces/${ns}/connectors/forge/repos/${rest}/branches`,
      auth: frontProxyUser('alice'),
      nobodyAuth: frontProxyUser('nobody'),
      rootAuth: frontProxyUser('root'),
      recorder: backend,
      seen: (rest) => `/backend/repos/${rest}/branches`,
      declared: true,
    },
    {
      name: 'Connectors Proxy reverse mode by path',
      group: 'proxy',
      endpoint: connectorsProxy,
      host: `127.0.0.1:${proxy.port}`,
      target: (rest) => `/namespaces/${ns}/connectors/tool/${rest}`,
      auth: bearer(token),
      nobodyAuth: bearer(nobodyToken),
      rootAuth: bearer(rootToken),
      ...onTool,
    },
    {
      name: 'Connectors Proxy reverse mode by Host',
      group: 'proxy',
      endpoint: connectorsProxy,
      host: `c-tool.${ns}`,
      target: (rest) => `/${rest}`,
      auth: bearer(token),
      nobodyAuth: bearer(nobodyToken),
      rootAuth: bearer(rootToken),
      ...onTool,
    },
    {
      name: 'Connectors Proxy forward mode',
      group: 'proxy',
      endpoint: connectorsProxy,
      host: `127.0.0.1:${tool.port}`,
      target: (rest) => `${tool.url}/base/${rest}`,
      auth: proxyAuthorization(`${ns}/tool`, token),
      nobodyAuth: proxyAuthorization(`${ns}/tool`, nobodyToken),
      rootAuth: proxyAuthorization(`${ns}/tool`, rootToken),
      ...onTool,
    },
    {
      name: 'Connectors Proxy intercepted CONNECT',
      group: 'proxy',
      endpoint: {
        host: '127.0.0.1',
        port: proxy.port,
        tunnel: {
          connect: `CONNECT ${tlsOrigin} HTTP/1.1\r\nHost: ${tlsOrigin}\r\n${proxyAuthorization(`${ns}/tls-tool`, token)}\r\n`,
          tls: { ca: readFileSync(proxy.caFile, 'utf8'), host: '127.0.0.1' },
        },
      },
      host: tlsOrigin,
      target: (rest) => `/base/${rest}`,
      // The caller proved itself on the CONNECT; requests in the tunnel carry nothing.
      auth: '',
      nobodyAuth: '',
      rootAuth: '',
      recorder: tlsTool,
      seen: (rest) => `/base/${rest}`,
      declared: false,
    },
  ];
  const surfaces = Object.fromEntries(list.map((s) => [s.name, s])) as Record<SurfaceName, Surface>;

  // RBAC, the informers of both servers and the class catalog settle shortly after apply.
  await eventually(
    'every surface to serve an honest request, from the caller and from root',
    async () => {
      for (const s of list) {
        for (const auth of [s.auth, s.rootAuth]) {
          const r = await exchange(
            s.endpoint,
            `GET ${s.target('ok')} HTTP/1.1\r\nHost: ${s.host}\r\n${auth}Connection: close\r\n\r\n`,
          );
          if (r.responses[0]?.status !== 200) return false;
        }
      }
      return true;
    },
    60_000,
  );

  return {
    ns,
    tool,
    tlsTool,
    backend,
    recorders: [tool, tlsTool, backend],
    sentinels: [far, near],
    sentinel: `127.0.0.2:${far.port}`,
    otherPort: String(near.port),
    toolUser,
    toolPassword,
    callerToken: token,
    proxyLog: proxy.log,
    tokens,
    surfaces,
    stop: async () => {
      // The class is cluster-wide: later tests' discovery must not list its subresources.
      await kubectlOk(['delete', 'connectorclass', 'hostile-forge']);
      await proxy.proc.stop();
      await Promise.all([tool, tlsTool, backend, far, near].map((t) => t.close()));
    },
  };
}
