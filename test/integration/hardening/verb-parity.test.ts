// One method→verb table on every surface, proved with real ServiceAccount tokens against the real
// kube-apiserver and the Connectors Proxy from its real entry point:
//
// - the table: for each of several RBAC grants (each with `get` on the Connector itself, as the
//   shipped connectors-proxy-view role has) and every method, the aggregated /proxy through
//   kube-apiserver and the Connectors Proxy in reverse mode, forward mode and inside an
//   intercepted CONNECT give the same allow or deny (the same 403 for a write), exactly what the
//   grant says; and a denied request reaches no tool;
// - the reported attacks, each as it was reproduced: a read-only ServiceAccount writing through
//   `/watch/…` (also to a class API), a connectors-proxy-view ServiceAccount writing through the
//   Connectors Proxy, TRACE echoing the injected credential, method override headers.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { createCA, issueCert } from '../../../hack/pki.js';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import { proxyRbac, startProxy, type RunningConnectorsProxy } from '../../helpers/connproxy.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  gvPath,
  knownSecrets,
  kubectlOk,
  namespace,
  secretValue,
} from '../../helpers/env.js';
import { recordResponse, registerRecorder } from '../../helpers/leaks.js';
import { exchange, type Endpoint, type WireResponse } from './wire.js';

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND'];
const verbOf: Record<string, string> = {
  GET: 'get',
  HEAD: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** A grant on connectors/proxy (plus `get` on the Connector), by a Role or the shipped ClusterRoles. */
interface Grant {
  name: string;
  /** Verbs on connectors/proxy; '*' is every verb. */
  verbs: string[];
  /** Shipped ClusterRoles to bind instead of a Role of `verbs`. */
  clusterRoles?: string[];
}

const grants: Grant[] = [
  { name: 'view', verbs: ['get'], clusterRoles: ['connectors-proxy-view'] },
  {
    name: 'edit',
    verbs: ['get', 'create', 'update', 'patch', 'delete'],
    clusterRoles: ['connectors-proxy-view', 'connectors-proxy-edit'],
  },
  { name: 'none', verbs: [] },
  { name: 'get', verbs: ['get'] },
  { name: 'get-list-watch', verbs: ['get', 'list', 'watch'] },
  { name: 'get-create', verbs: ['get', 'create'] },
  { name: 'get-delete', verbs: ['get', 'delete'] },
  { name: 'get-update-patch', verbs: ['get', 'update', 'patch'] },
  { name: 'create-only', verbs: ['create'] },
  { name: 'all', verbs: ['get', 'create', 'update', 'patch', 'delete'] },
  { name: 'star', verbs: ['*'] },
];

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

function rbac(ns: string, g: Grant): object[] {
  const subject = { kind: 'ServiceAccount', name: g.name, namespace: ns };
  const binding = (name: string, roleKind: 'Role' | 'ClusterRole', role: string): object => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: role },
    subjects: [subject],
  });
  if (g.clusterRoles) return g.clusterRoles.map((role) => binding(`${g.name}-${role}`, 'ClusterRole', role));
  const rules: object[] = [
    { apiGroups: ['connectors.alauda.io'], resources: ['connectors'], verbs: ['get'] },
  ];
  if (g.verbs.length > 0) {
    rules.push({
      apiGroups: ['subresources.connectors.alauda.io'],
      resources: ['connectors/proxy', 'connectors/projects'],
      verbs: g.verbs,
    });
  }
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: g.name, namespace: ns },
      rules,
    },
    binding(g.name, 'Role', g.name),
  ];
}

/** A class declaring reads and writes on /projects/{id}/branches, served by the tool. */
const writingClass = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'ConnectorClass',
  metadata: { name: 'verb-parity-forge' },
  spec: {
    address: { name: 'address', type: 'string' },
    auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true }] },
    api: {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'verb-parity-forge', version: '1' },
        paths: {
          '/projects/{id}/branches': {
            get: { operationId: 'list' },
            post: { operationId: 'create' },
            put: { operationId: 'replace' },
            patch: { operationId: 'change' },
            delete: { operationId: 'remove' },
          },
        },
      },
    },
  },
};

describe('hardening: the verb of the method, the same on every surface', function () {
  this.timeout(120_000);
  let ns: string;
  let tool: EchoTool;
  let tlsTool: EchoTool;
  let proxy: RunningConnectorsProxy;
  let toolPassword: string;
  const tokens = new Map<string, string>();
  let kube: Endpoint;
  let proxyEndpoint: Endpoint;
  let proxyCa: string;

  before(async function () {
    this.timeout(180_000);
    const toolUser = 'parity-user';
    toolPassword = secretValue('verb-parity-tool-password');
    const ca = await createCA('verb-parity-tls-tool-ca');
    const serving = await issueCert(ca, {
      commonName: '127.0.0.1',
      ipAddresses: ['127.0.0.1'],
      server: true,
    });
    [tool, tlsTool] = await Promise.all([
      startEchoTool({ username: toolUser, password: toolPassword }),
      startEchoTool({ username: toolUser, password: toolPassword, tls: serving }),
    ]);
    registerRecorder('verb parity: the tool', tool, [toolPassword]);
    registerRecorder('verb parity: the TLS tool', tlsTool, [toolPassword]);

    ns = await namespace('verb-parity');
    await apply([
      connectorClass('http-test'),
      writingClass,
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'tool', { address: `${tool.url}/base`, secret: 'creds' }),
      connector(ns, 'tls-tool', { address: `${tlsTool.url}/base`, secret: 'creds' }),
      connector(ns, 'forge', {
        connectorClassName: 'verb-parity-forge',
        address: `${tool.url}/base`,
        secret: 'creds',
      }),
      ...grants.flatMap((g) => rbac(ns, g)),
      ...proxyRbac('connectors-proxy-verb-parity', ns, 'connectors-proxy'),
    ]);
    const cp = env().sys.cp;
    for (const g of grants) tokens.set(g.name, await cp.createToken(ns, g.name));
    const proxyToken = await cp.createToken(ns, 'connectors-proxy', { expirationSeconds: 86_400 });
    knownSecrets.push(...tokens.values(), proxyToken);
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-proxy-verb-parity.kubeconfig'), {
      token: proxyToken,
    });
    const upstreamCa = join(cp.dir, 'verb-parity-tls-tool-ca.crt');
    writeFileSync(upstreamCa, ca.certPem);
    proxy = await startProxy('connectors-proxy-verb-parity', kubeconfig, [
      '--other-hosts=refuse',
      `--upstream-ca-file=${upstreamCa}`,
    ]);
    proxyCa = readFileSync(proxy.caFile, 'utf8');
    const k = new URL(cp.server);
    kube = { host: k.hostname, port: Number(k.port), tls: { ca: cp.caCertPem } };
    proxyEndpoint = { host: '127.0.0.1', port: proxy.port };

    // RBAC, both servers' informers and the class catalog settle shortly after apply.
    await eventually(
      'every surface to serve the all-verbs caller',
      async () => {
        for (const s of surfaces) {
          const r = await send(s, 'all', 'GET', 'ok');
          if (r?.status !== 200) return false;
        }
        const c = await sendTo(
          kube,
          `GET ${gvPath}/namespaces/${ns}/connectors/forge/projects/1/branches`,
          'all',
        );
        return c?.status === 200;
      },
      60_000,
    );
  });

  after(async function () {
    await kubectlOk(['delete', 'connectorclass', 'verb-parity-forge']);
    await proxy.proc.stop();
    await Promise.all([tool.close(), tlsTool.close()]);
  });

  const bearer = (grant: string): string => `Authorization: Bearer ${tokens.get(grant) ?? ''}\r\n`;
  const proxyAuthorization = (connectorName: string, grant: string): string =>
    `Proxy-Authorization: Basic ${b64(`${ns}/${connectorName}:${tokens.get(grant) ?? ''}`)}\r\n`;

  /** Sends `line` (method and target) with the grant's token as a header line built by `auth`. */
  async function sendTo(
    to: Endpoint,
    line: string,
    grant: string,
    opts: { host?: string; auth?: string; lines?: string } = {},
  ): Promise<WireResponse | undefined> {
    const host = opts.host ?? `${to.host}:${to.port}`;
    const answer = await exchange(
      to,
      `${line} HTTP/1.1\r\nHost: ${host}\r\n${opts.auth ?? bearer(grant)}${opts.lines ?? ''}Connection: close\r\n\r\n`,
    );
    const first = answer.responses[0];
    if (first) recordResponse(`verb parity: ${line}`, first.headers, first.body);
    return first;
  }

  interface ParitySurface {
    name: string;
    send(grant: string, method: string, rest: string): Promise<WireResponse | undefined>;
    recorder(): EchoTool;
  }

  const surfaces: ParitySurface[] = [
    {
      name: 'aggregated /proxy through kube-apiserver',
      send: (grant, method, rest) =>
        sendTo(kube, `${method} ${gvPath}/namespaces/${ns}/connectors/tool/proxy/${rest}`, grant),
      recorder: () => tool,
    },
    {
      name: 'Connectors Proxy reverse mode',
      send: (grant, method, rest) =>
        sendTo(proxyEndpoint, `${method} /namespaces/${ns}/connectors/tool/${rest}`, grant),
      recorder: () => tool,
    },
    {
      name: 'Connectors Proxy forward mode',
      send: (grant, method, rest) =>
        sendTo(proxyEndpoint, `${method} ${tool.url}/base/${rest}`, grant, {
          host: `127.0.0.1:${tool.port}`,
          auth: proxyAuthorization('tool', grant),
        }),
      recorder: () => tool,
    },
    {
      name: 'Connectors Proxy intercepted CONNECT',
      send: async (grant, method, rest) => {
        const origin = `127.0.0.1:${tlsTool.port}`;
        const tunnel: Endpoint = {
          host: '127.0.0.1',
          port: proxy.port,
          tunnel: {
            connect: `CONNECT ${origin} HTTP/1.1\r\nHost: ${origin}\r\n${proxyAuthorization('tls-tool', grant)}\r\n`,
            tls: { ca: proxyCa, host: '127.0.0.1' },
          },
        };
        try {
          return await sendTo(tunnel, `${method} /base/${rest}`, grant, { host: origin, auth: '' });
        } catch (err) {
          // The CONNECT itself was refused (a grant without get): that is this surface's answer.
          const m = /the proxy refused the tunnel: HTTP\/1\.1 (\d{3})/.exec((err as Error).message);
          if (!m) throw err;
          return { status: Number(m[1]), headers: {}, body: '' };
        }
      },
      recorder: () => tlsTool,
    },
  ];
  const send = (
    s: ParitySurface,
    grant: string,
    method: string,
    rest: string,
  ): Promise<WireResponse | undefined> => s.send(grant, method, rest);

  /** What the grant says of a method: allowed only for a served method whose verb it holds. */
  const expectedAllowed = (g: Grant, method: string): boolean => {
    const verb = verbOf[method];
    return verb !== undefined && (g.verbs.includes('*') || g.verbs.includes(verb));
  };

  for (const g of grants) {
    it(`grant ${g.name} (${g.clusterRoles?.join(' + ') ?? (g.verbs.join(', ') || 'no verbs')}): every method, the same answer on every surface`, async function () {
      const table: string[] = [];
      const want: string[] = [];
      for (const method of methods) {
        const statuses: number[] = [];
        for (const s of surfaces) {
          const recorder = s.recorder();
          const before = recorder.requests.length;
          const r = await send(s, g.name, method, `items/${method.toLowerCase()}`);
          const received = recorder.requests.slice(before);
          const status = r?.status ?? 0;
          statuses.push(status);
          const allowed = status < 400 && received.length === 1 && received[0]?.method === method;
          table.push(`${method} ${s.name}: ${allowed ? 'allowed' : 'denied'}`);
          want.push(`${method} ${s.name}: ${expectedAllowed(g, method) ? 'allowed' : 'denied'}`);
          if (!allowed) {
            expect(status, `${method} ${s.name}: a refusal is a 4xx`).to.be.within(400, 499);
            expect(received, `${method} ${s.name}: a denied request reached the tool`).to.deep.equal([]);
          }
        }
        // A write refused through /proxy is refused with the same code through the Connectors
        // Proxy, and vice versa (methods outside the table are 403 or 405 depending on who refuses).
        if (verbOf[method]) expect(new Set(statuses).size, `${method}: ${statuses.join(', ')}`).to.equal(1);
      }
      expect(table).to.deep.equal(want);
    });
  }

  describe('the reported attacks, as reproduced', function () {
    const watchPath = (rest: string): string => `${gvPath}/watch/namespaces/${ns}/connectors/${rest}`;

    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      it(`a get/list/watch ServiceAccount's ${method} through /watch/…/proxy/ is refused, and the tool receives nothing`, async function () {
        const before = tool.requests.length;
        const r = await sendTo(kube, `${method} ${watchPath('tool/proxy/items/42')}`, 'get-list-watch');
        expect(r?.status, r?.body).to.equal(404);
        expect(r?.body).to.match(/use the plain path/);
        expect(tool.requests.slice(before)).to.deep.equal([]);
      });

      it(`a get/list/watch ServiceAccount's ${method} to a class API through /watch/ is refused, and the tool receives nothing`, async function () {
        const before = tool.requests.length;
        const r = await sendTo(kube, `${method} ${watchPath('forge/projects/1/branches')}`, 'get-list-watch');
        expect(r?.status, r?.body).to.equal(404);
        expect(tool.requests.slice(before)).to.deep.equal([]);
      });

      it(`a connectors-proxy-view ServiceAccount's ${method} through the Connectors Proxy is 403 in both modes, as through /proxy`, async function () {
        const before = tool.requests.length;
        for (const s of surfaces) {
          const r = await send(s, 'view', method, 'items/42');
          expect(r?.status, `${s.name}: ${r?.body ?? ''}`).to.equal(403);
        }
        expect(tool.requests.slice(before)).to.deep.equal([]);
      });
    }

    it('TRACE with every verb granted never reaches the tool, so never echoes the credential', async function () {
      const before = [tool.requests.length, tlsTool.requests.length];
      const answers = [
        await sendTo(kube, `TRACE ${gvPath}/namespaces/${ns}/connectors/tool/proxy/echo`, 'star'),
        await sendTo(kube, `TRACE ${watchPath('tool/proxy/echo')}`, 'star'),
        ...(await Promise.all(surfaces.slice(1).map((s) => send(s, 'star', 'TRACE', 'echo')))),
      ];
      for (const r of answers) {
        expect(r?.status, r?.body).to.equal(405);
        expect(r?.body).not.to.contain(b64(`parity-user:${toolPassword}`));
      }
      expect([tool.requests.length, tlsTool.requests.length]).to.deep.equal(before);
    });

    it('a create-only ServiceAccount cannot turn a POST into a DELETE with an override header', async function () {
      const before = tool.requests.length;
      const r = await sendTo(
        kube,
        `POST ${gvPath}/namespaces/${ns}/connectors/tool/proxy/items/42`,
        'create-only',
        {
          lines:
            'X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\nX-Original-URL: /base/admin\r\nX-Rewrite-URL: /base/admin\r\nContent-Length: 0\r\n',
        },
      );
      expect(r?.status, r?.body).to.equal(200);
      const [q] = tool.requests.slice(before);
      expect(q?.method).to.equal('POST');
      for (const h of [
        'x-http-method-override',
        'x-http-method',
        'x-method-override',
        'x-original-url',
        'x-rewrite-url',
      ])
        expect(q?.headers[h], h).to.equal(undefined);
    });
  });
});
