// Issue 16, item 5: the Connectors Proxy could be used as a pivot and crashed. A caller with `get`
// on one Connector could tunnel (CONNECT) or forward plain HTTP to any address from the proxy's
// network position (loopback services, the cloud metadata endpoint, kube-apiserver), because
// --other-hosts=tunnel was the default; and every distinct origin it named got an undici pool that
// was never closed, so naming many exhausted the heap.
//
// Proved here against the real entry point: by default other hosts are refused and nothing reaches
// the listener; with tunnelling on, the refused destinations stay refused in every spelling and
// mode while an --allow-hosts entry goes through; and hundreds of distinct origins leave at most
// --max-upstream-pools pools (each kept pool holds a keep-alive connection to its origin, so the
// listeners' open connections are the pools' count, seen from outside).

import { createServer, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import {
  proxyRbac,
  proxyUser,
  send,
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
  namespace,
} from '../../helpers/env.js';
import { startSentinel } from '../../helpers/fault-tool.js';
import { recordResponse, registerRecorder } from '../../helpers/leaks.js';

/** A CONNECT to the proxy; `then` is written once the tunnel is up. Resolves with all it read. */
function connectThrough(port: number, target: string, auth: string, then?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let text = '';
    let sent = false;
    socket.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      if (then !== undefined && !sent && text.startsWith('HTTP/1.1 200 ') && text.includes('\r\n\r\n')) {
        sent = true;
        socket.write(then);
      }
    });
    socket.once('close', () => {
      recordResponse(`connectors-proxy :${port} CONNECT ${target}`, {}, text);
      resolve(text);
    });
    socket.once('error', reject);
    socket.setTimeout(15_000, () => socket.destroy(new Error(`no answer; got so far: ${text}`)));
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${auth}\r\n\r\n`);
  });
}

const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4);

/** Many HTTP listeners (distinct origins) that keep idle connections open and count them. */
async function startListeners(n: number): Promise<{
  ports: number[];
  open: () => number;
  served: () => number;
  close(): Promise<void>;
}> {
  const open = new Set<Socket>();
  let served = 0;
  const servers: Server[] = [];
  for (let i = 0; i < n; i++) {
    const server = createServer((_req, res) => {
      served++;
      res.end('ok');
    });
    server.keepAliveTimeout = 120_000; // a pool that is not closed keeps its connection this long
    server.on('connection', (s: Socket) => {
      open.add(s);
      s.once('close', () => open.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  return {
    ports: servers.map((s) => (s.address() as AddressInfo).port),
    open: () => open.size,
    served: () => served,
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections();
              s.close(() => {
                resolve();
              });
            }),
        ),
      );
    },
  };
}

describe('hardening: the Connectors Proxy is no pivot, and its upstream pools stay bounded', function () {
  this.timeout(120_000);
  let ns: string;
  let auth: string;
  let kubeconfig: string;
  let sentinel: Awaited<ReturnType<typeof startSentinel>>;
  let allowed: EchoTool;
  const proxies: RunningConnectorsProxy[] = [];

  before(async function () {
    ns = await namespace('pivot');
    const { tool, toolUser, toolPassword } = env();
    [sentinel, allowed] = await Promise.all([startSentinel(), startEchoTool()]);
    registerRecorder('connproxy-pivot: an allow-listed host', allowed);
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'tool-creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'tool-creds' }),
      ...proxyUser(ns, 'user', ['get']),
      ...proxyRbac(`connectors-proxy-${ns}`, ns, 'connectors-proxy'),
    ]);
    const cp = env().sys.cp;
    const token = await cp.createToken(ns, 'user');
    auth = `Basic ${Buffer.from(`${ns}/echo:${token}`).toString('base64')}`;
    kubeconfig = await cp.writeKubeconfig(join(cp.dir, `${ns}-proxy.kubeconfig`), {
      token: await cp.createToken(ns, 'connectors-proxy', { expirationSeconds: 86_400 }),
    });
  });

  after(async function () {
    await Promise.all([...proxies.map((p) => p.proc.stop()), sentinel.close(), allowed.close()]);
  });

  async function proxy(name: string, flags: string[]): Promise<number> {
    const p = await startProxy(`connectors-proxy-${name}`, kubeconfig, flags);
    proxies.push(p);
    // RBAC settles within moments of being created.
    await eventually(`${name} to serve the Connector`, async () => {
      const r = await send(p.port, `${env().tool.url}/ready`, { 'proxy-authorization': auth });
      return r.status === 200;
    });
    return p.port;
  }

  describe('with default flags', function () {
    let port: number;
    before(async function () {
      port = await proxy('pivot-default', []);
    });

    it('a plain-HTTP forward and a CONNECT to a host that is no Connector’s are 403; nothing reaches it', async function () {
      const before = sentinel.connections();
      const r = await send(port, `http://127.0.0.1:${sentinel.port}/x`, { 'proxy-authorization': auth });
      expect(r.status, r.body).to.equal(403);
      expect(r.body).to.contain('refuses other hosts');
      const text = await connectThrough(port, `127.0.0.1:${sentinel.port}`, auth);
      expect(statusOf(text), text).to.equal(403);
      expect(bodyOf(text)).to.contain('refuses other hosts');
      expect(sentinel.connections()).to.equal(before);
    });
  });

  describe('with --other-hosts=tunnel', function () {
    let port: number;
    let apiserver: URL;
    before(async function () {
      apiserver = new URL(env().sys.cp.server);
      port = await proxy('pivot-tunnel', ['--other-hosts=tunnel', `--allow-hosts=127.0.0.1:${allowed.port}`]);
    });

    // kube-apiserver listens on 127.0.0.1 here, so that address is refused as kube-apiserver's,
    // whatever the port; other loopback addresses as loopback.
    const refused = (): { target: string; why: RegExp }[] => [
      { target: `127.0.0.1:${sentinel.port}`, why: /kube-apiserver's address/ },
      { target: `[::ffff:127.0.0.1]:${sentinel.port}`, why: /kube-apiserver's address/ },
      { target: `localhost:${sentinel.port}`, why: /kube-apiserver's address|a loopback address/ },
      { target: `127.1.2.3:${sentinel.port}`, why: /a loopback address/ },
      { target: `[::1]:${sentinel.port}`, why: /a loopback address/ },
      { target: `0.0.0.0:${sentinel.port}`, why: /an unspecified address/ },
      { target: '169.254.169.254:80', why: /a cloud metadata endpoint/ },
      { target: '[::ffff:a9fe:a9fe]:80', why: /a cloud metadata endpoint/ },
      { target: '169.254.1.1:80', why: /a link-local address/ },
      { target: apiserver.host, why: /kube-apiserver's address/ },
    ];

    it('CONNECT to loopback, link-local, metadata and kube-apiserver is 403 naming --allow-hosts; nothing is reached', async function () {
      const before = sentinel.connections();
      for (const { target, why } of refused()) {
        const text = await connectThrough(port, target, auth, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        expect(statusOf(text), `${target}: ${text}`).to.equal(403);
        const status = JSON.parse(bodyOf(text)) as { code: number; message: string };
        expect(status.code).to.equal(403);
        expect(status.message, target).to.match(why);
        expect(status.message).to.contain('--allow-hosts=');
      }
      expect(sentinel.connections()).to.equal(before);
    });

    it('plain-HTTP forward to the same destinations is 403 too; nothing is reached', async function () {
      const before = sentinel.connections();
      for (const { target, why } of refused()) {
        const r = await send(port, `http://${target}/latest/meta-data/`, { 'proxy-authorization': auth });
        expect(r.status, `${target}: ${r.body}`).to.equal(403);
        expect((JSON.parse(r.body) as { message: string }).message, target).to.match(why);
      }
      // kube-apiserver over its own scheme, as a caller would ask for it.
      const api = await send(port, `${apiserver.origin}/version`, { 'proxy-authorization': auth });
      expect(api.status, api.body).to.equal(403);
      expect(api.body).to.contain("kube-apiserver's address");
      expect(sentinel.connections()).to.equal(before);
    });

    it('an --allow-hosts address goes through, CONNECT and plain HTTP, without any credential', async function () {
      const before = allowed.requests.length;
      const r = await send(port, `${allowed.url}/plain`, { 'proxy-authorization': auth });
      expect(r.status, r.body).to.equal(200);
      const text = await connectThrough(
        port,
        `127.0.0.1:${allowed.port}`,
        auth,
        `GET /tunnelled HTTP/1.1\r\nHost: 127.0.0.1:${allowed.port}\r\nConnection: close\r\n\r\n`,
      );
      expect(statusOf(text), text).to.equal(200);
      expect(text).to.contain('"url":"/tunnelled"');
      const seen = allowed.requests.slice(before);
      expect(seen.map((s) => s.url)).to.deep.equal(['/plain', '/tunnelled']);
      for (const s of seen) {
        expect(s.headers.authorization).to.equal(undefined);
        expect(s.headers['proxy-authorization']).to.equal(undefined);
      }
    });

    it('a host that does not resolve is a 503 with the resolver’s code only', async function () {
      const text = await connectThrough(port, 'no-such-host.invalid:443', auth);
      expect(statusOf(text), text).to.equal(503);
      const status = JSON.parse(bodyOf(text)) as { message: string };
      expect(status.message).to.match(/^no-such-host\.invalid:443 cannot be resolved \(E[A-Z_]+\)$/);
    });
  });

  describe('pools', function () {
    it('hundreds of distinct origins leave at most --max-upstream-pools pools open', async function () {
      const listeners = await startListeners(300);
      try {
        const port = await proxy('pivot-pools', [
          '--other-hosts=tunnel',
          '--allow-hosts=127.0.0.1',
          '--max-upstream-pools=16',
        ]);
        const queue = [...listeners.ports];
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
              const r = await send(port, `http://127.0.0.1:${p}/`, { 'proxy-authorization': auth });
              expect(r.status, r.body).to.equal(200);
            }
          }),
        );
        expect(listeners.served()).to.equal(300);
        // Closed pools end their keep-alive connections; a kept one holds its connection open.
        await eventually(
          'at most 16 upstream connections open',
          () => Promise.resolve(listeners.open() <= 16),
          10_000,
        ).catch((err: unknown) => {
          throw new Error(`${(err as Error).message}: ${listeners.open()} are`);
        });
        // And the proxy still serves.
        const r = await send(port, `${env().tool.url}/after`, { 'proxy-authorization': auth });
        expect(r.status).to.equal(200);
      } finally {
        await listeners.close();
      }
    });
  });
});
