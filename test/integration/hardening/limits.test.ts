// Bounded resources (issue 16, items 10 and 14): requests in flight are capped, answered beyond the
// cap with 429 + Retry-After while health probes still answer; a request head must arrive within
// a deadline while idle keep-alive connections stay usable; a request body that stops moving is
// abandoned (the tool's request is aborted) while a slow but moving one goes through; and callers
// who never authenticated cannot add series to /metrics.
//
// The cap and the deadlines are tried on a second aggregated server, started from the real entry
// point with small limits (the shared one keeps its defaults for every other test), called as
// kube-apiserver calls it: the front-proxy client certificate and X-Remote-* headers.

import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect as netConnect, type Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { expect } from 'chai';
import { Agent, request, type Dispatcher } from 'undici';
import { repoRoot } from '../../../hack/binaries.js';
import type { CertKeyPem } from '../../../hack/pki.js';
import { freePort, ManagedProcess } from '../../../hack/process.js';
import { proxyRbac, proxyUser, send, startProxy } from '../../helpers/connproxy.js';
import {
  apply,
  connector,
  connectorClass,
  direct,
  env,
  eventually,
  frontProxyCert,
  namespace,
  proxyPath,
} from '../../helpers/env.js';
import { recordResponse } from '../../helpers/leaks.js';

const admin = { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' };
const readLimit = 3;
const headerTimeoutMs = 2_000;
const bodyIdleMs = 2_000;
/** How long a client here waits for the server to act on a deadline before calling it a hang. */
const giveUpMs = 20_000;

/** A tool that holds GET /hold open until released, and records how each upload ended. */
interface Witness {
  url: string;
  /** Requests for /hold that arrived. */
  held: number;
  uploads: { bytes: number; aborted: boolean; complete: boolean }[];
  release(): void;
  close(): Promise<void>;
}

/** Serves HTTP, or HTTPS with `tls` (the Connectors Proxy intercepts only https origins). */
async function startWitness(tls?: CertKeyPem): Promise<Witness> {
  const holding = new Set<ServerResponse>();
  const w: Witness = {
    url: '',
    held: 0,
    uploads: [],
    release() {
      for (const res of holding) res.end('released');
      holding.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url === '/hold') {
      w.held++;
      holding.add(res);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('holding\n');
      return;
    }
    if (req.url === '/upload') {
      const upload = { bytes: 0, aborted: false, complete: false };
      w.uploads.push(upload);
      req.on('data', (c: Buffer) => {
        upload.bytes += c.length;
      });
      req.on('end', () => {
        upload.complete = true;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes: upload.bytes }));
      });
      req.on('close', () => {
        if (!upload.complete) upload.aborted = true;
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  };
  const server: Server = tls
    ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handle)
    : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  w.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return w;
}

/** A second aggregated server with small limits, same ServiceAccount RBAC as the shared one. */
async function startLimitedServer(args: string[]): Promise<{ url: string; process: ManagedProcess }> {
  const { cp, logDir } = env().sys;
  const token = await cp.createToken('connectors-system', 'connectors-apiserver', {
    expirationSeconds: 3600,
  });
  const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'limits-apiserver.kubeconfig'), { token });
  const serving = await cp.issueServingCert(['localhost'], ['127.0.0.1']);
  const certFile = join(cp.dir, 'limits-serving.crt');
  const keyFile = join(cp.dir, 'limits-serving.key');
  await writeFile(certFile, serving.certPem);
  await writeFile(keyFile, serving.keyPem, { mode: 0o600 });
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const proc = ManagedProcess.start({
    name: 'limits-apiserver',
    binary: process.execPath,
    args: [
      join(repoRoot(), 'dist', 'apiserver', 'main.js'),
      `--secure-port=${port}`,
      '--bind-address=127.0.0.1',
      `--tls-cert-file=${certFile}`,
      `--tls-private-key-file=${keyFile}`,
      `--kubeconfig=${kubeconfig}`,
      ...args,
    ],
    logFile: join(logDir, 'limits-apiserver.log'),
  });
  const probe = new Agent({ connect: { ca: cp.servingCaPem } });
  await proc.waitUntil(
    async () => {
      try {
        const r = await request(`${url}/readyz`, { dispatcher: probe });
        await r.body.dump();
        return r.statusCode === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 60_000, what: 'limits-apiserver /readyz' },
  );
  await probe.close();
  return { url, process: proc };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** An error code when the exchange was cut (no answer, or a cut body). */
  error?: string;
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}

describe('bounded resources: requests in flight, deadlines, metrics (hardening)', function () {
  this.timeout(180_000);
  let ns: string;
  let witness: Witness;
  let limited: { url: string; process: ManagedProcess };
  /** Agents of streams held open, destroyed in after(). */
  const agents: Agent[] = [];

  const agent = (): Agent => {
    const a = new Agent({
      connect: {
        ca: env().sys.servingCaPem,
        cert: frontProxyCert().certPem,
        key: frontProxyCert().keyPem,
      },
      headersTimeout: giveUpMs,
      bodyTimeout: giveUpMs,
    });
    agents.push(a);
    return a;
  };

  /** One request to the limited server as kube-apiserver (front proxy) for the admin; never throws. */
  async function call(
    path: string,
    opts: { method?: Dispatcher.HttpMethod; body?: Readable | string; via?: Agent; hold?: boolean } = {},
  ): Promise<Answer> {
    const via = opts.via ?? agent();
    try {
      const r = await via.request({
        origin: limited.url,
        path,
        method: opts.method ?? 'GET',
        headers: admin,
        body: opts.body ?? null,
      });
      if (opts.hold) return { status: r.statusCode, headers: r.headers, body: '' };
      const body = await r.body.text();
      recordResponse(`limits-apiserver ${opts.method ?? 'GET'} ${path}`, r.headers, body);
      return { status: r.statusCode, headers: r.headers, body };
    } catch (err) {
      return { status: 0, headers: {}, body: '', error: errorCode(err) };
    } finally {
      if (!opts.hold && !opts.via) await via.destroy();
    }
  }

  before(async function () {
    witness = await startWitness();
    ns = await namespace('limits');
    await apply([connectorClass('http-test'), connector(ns, 'witness', { address: witness.url })]);
    limited = await startLimitedServer([
      `--max-requests-inflight=${readLimit}`,
      '--max-mutating-requests-inflight=1',
      `--request-header-timeout=${headerTimeoutMs}ms`,
      `--request-body-idle-timeout=${bodyIdleMs}ms`,
    ]);
    // The server's informer has the Connector once a plain request reaches the tool.
    await eventually('the limited server to serve the Connector', async () => {
      return (await call(proxyPath(ns, 'witness', '/ready'))).status === 200;
    });
  });

  after(async function () {
    witness.release();
    await Promise.all(agents.map((a) => a.destroy()));
    await limited.process.stop();
    await witness.close();
  });

  it('unauthenticated requests with 200 distinct subresource names add no series to /metrics', async function () {
    // The shared server, with its defaults: the attack needs no credential at all.
    const durationSeries = async (): Promise<number> => {
      const r = await direct('/metrics', { cert: frontProxyCert(), headers: admin });
      expect(r.status).to.equal(200);
      return r.body
        .split('\n')
        .filter((l) => l.startsWith('connectors_apiserver_request_duration_seconds_count{')).length;
    };
    const before = await durationSeries();
    const run = randomUUID().slice(0, 8);
    for (let i = 0; i < 200; i++) {
      const r = await direct(
        `/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/x/connectors/y/s${run}${i}`,
      );
      expect(r.status).to.equal(401);
    }
    expect(await durationSeries()).to.equal(before);
  });

  it('beyond the limit: 429 with Retry-After, the tool receives at most the limit, probes still answer', async function () {
    witness.held = 0;
    // Fill every read slot with a stream that stays open.
    const holders = await Promise.all(
      Array.from({ length: readLimit }, () => call(proxyPath(ns, 'witness', '/hold'), { hold: true })),
    );
    expect(holders.map((h) => h.status)).to.deep.equal(Array(readLimit).fill(200));

    const burst = await Promise.all(
      Array.from({ length: 10 }, () => call(proxyPath(ns, 'witness', '/hold'))),
    );
    for (const r of burst) {
      expect(r.status, r.error ?? r.body).to.equal(429);
      expect(r.headers['retry-after']).to.equal('1');
      const status = JSON.parse(r.body) as { kind: string; reason: string; code: number };
      expect(status).to.include({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    }
    expect(witness.held, 'requests for /hold that reached the tool').to.equal(readLimit);

    // kubelet's probes and Prometheus are never refused for load.
    for (const path of ['/healthz', '/livez', '/readyz'])
      expect((await call(path)).status, path).to.equal(200);
    const metrics = await call('/metrics');
    expect(metrics.status).to.equal(200);
    expect(metrics.body).to.match(
      /^connectors_apiserver_dropped_requests_total\{request_kind="readOnly"\} 10$/m,
    );
    expect(metrics.body).to.match(
      new RegExp(
        `^connectors_apiserver_current_inflight_requests\\{request_kind="readOnly"\\} ${readLimit}$`,
        'm',
      ),
    );

    // Writes have their own budget: a full read budget does not refuse them.
    const write = await call(proxyPath(ns, 'witness', '/upload'), { method: 'POST', body: 'payload' });
    expect(write.status, write.body).to.equal(200);

    // A finished stream gives its slot back.
    witness.release();
    await eventually('a read slot to be free again', async () => {
      return (await call(proxyPath(ns, 'witness', '/after'))).status === 200;
    });
  });

  it('a request head sent slowly is cut at the header deadline', async function () {
    const url = new URL(limited.url);
    const outcome = await new Promise<{ closedByServer: boolean; answer: string }>((resolve) => {
      const socket = tlsConnect({
        host: url.hostname,
        port: Number(url.port),
        ca: env().sys.servingCaPem,
        servername: 'localhost',
      });
      let answer = '';
      let drip: NodeJS.Timeout | undefined;
      const giveUp = setTimeout(() => {
        clearInterval(drip);
        socket.destroy();
        resolve({ closedByServer: false, answer });
      }, giveUpMs);
      socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
      socket.on('error', () => undefined);
      socket.once('close', () => {
        clearTimeout(giveUp);
        clearInterval(drip);
        resolve({ closedByServer: true, answer });
      });
      socket.once('secureConnect', () => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
        drip = setInterval(() => {
          if (socket.writable) socket.write('X-Slow: a\r\n');
        }, 200);
      });
    });
    expect(outcome.closedByServer, 'the server closed the connection').to.equal(true);
    expect(outcome.answer).to.match(/^HTTP\/1\.1 408 /);
  });

  it('an idle keep-alive connection outlives the header deadline (kube-apiserver keeps them 90 s)', async function () {
    const via = agent();
    expect((await call('/healthz', { via })).status).to.equal(200);
    await new Promise((r) => setTimeout(r, headerTimeoutMs * 2));
    expect((await call('/healthz', { via })).status).to.equal(200);
  });

  it('a request body that stops moving is abandoned: the tool’s request is aborted, the caller told', async function () {
    const uploads = witness.uploads.length;
    // One chunk, then silence (clients send the request head with the first chunk of a body).
    let sent = false;
    const stalled = new Readable({
      read() {
        if (sent) return;
        sent = true;
        this.push(Buffer.alloc(1024, 'a'));
      },
    });
    const answer = call(proxyPath(ns, 'witness', '/upload'), { method: 'POST', body: stalled });
    await eventually('the first chunk to reach the tool', () =>
      Promise.resolve((witness.uploads[uploads]?.bytes ?? 0) > 0),
    );
    const r = await answer;
    expect(r.error ?? '', 'the server acted, not the client’s own timeout').not.to.match(/TIMEOUT/);
    if (r.status !== 0) {
      expect(r.status, r.body).to.equal(408);
      expect(JSON.parse(r.body)).to.include({ kind: 'Status', code: 408 });
    }
    const upload = witness.uploads[uploads];
    await eventually('the tool to see its request aborted', () => Promise.resolve(upload?.aborted === true));
    expect(upload?.complete).to.equal(false);
  });

  it('a slow but moving upload goes through, however long it takes in all', async function () {
    const chunks = 12;
    let sent = 0;
    const slow = new Readable({
      read() {
        setTimeout(() => {
          sent++;
          this.push(sent > chunks ? null : Buffer.alloc(1024, 'b'));
        }, bodyIdleMs / 4);
      },
    });
    const r = await call(proxyPath(ns, 'witness', '/upload'), { method: 'POST', body: slow });
    expect(r.status, r.error ?? r.body).to.equal(200);
    expect(JSON.parse(r.body)).to.deep.equal({ bytes: chunks * 1024 });
  });
});

describe('bounded resources in the Connectors Proxy: one budget for requests, tunnels and what they carry', function () {
  this.timeout(180_000);
  const budget = 3;
  let ns: string;
  let witness: Witness;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let token: string;
  let proxyCaPem: string;
  const sockets: Socket[] = [];

  const reversePath = (path: string): string => `/namespaces/${ns}/connectors/witness/${path}`;
  const bearer = (): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const proxyAuth = (): string => `Basic ${Buffer.from(`${ns}/witness:${token}`).toString('base64')}`;

  /** A raw reverse-mode GET whose response is held open by the tool; resolves with its status. */
  function holdReverse(): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(proxy.port, '127.0.0.1');
      sockets.push(socket);
      let text = '';
      socket.on('data', (c: Buffer) => {
        text += c.toString('latin1');
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
        if (m && text.includes('\r\n\r\n')) resolve(Number(m[1]));
      });
      socket.once('error', reject);
      socket.write(
        `GET ${reversePath('hold')} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
    });
  }

  /** CONNECT to the witness; on 200, TLS inside the tunnel (intercepted) and GET /hold, held open. */
  function holdIntercepted(): Promise<{ connect: string; inside?: string }> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(proxy.port, '127.0.0.1');
      sockets.push(socket);
      let head = '';
      const onData = (c: Buffer): void => {
        head += c.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        if (!head.startsWith('HTTP/1.1 200 ')) {
          socket.once('close', () => {
            resolve({ connect: head });
          });
          socket.on('data', (more: Buffer) => (head += more.toString('latin1')));
          return;
        }
        const tls = tlsConnect({ socket, host: '127.0.0.1', ca: proxyCaPem });
        let inside = '';
        tls.on('data', (more: Buffer) => {
          inside += more.toString('latin1');
          if (inside.includes('\r\n\r\n')) resolve({ connect: head, inside });
        });
        tls.once('error', reject);
        tls.once('secureConnect', () => {
          tls.write(`GET /hold HTTP/1.1\r\nHost: ${new URL(witness.url).host}\r\n\r\n`);
        });
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.write(
        `CONNECT ${new URL(witness.url).host} HTTP/1.1\r\nHost: ${new URL(witness.url).host}\r\n` +
          `Proxy-Authorization: ${proxyAuth()}\r\n\r\n`,
      );
    });
  }

  before(async function () {
    const cp = env().sys.cp;
    witness = await startWitness(await cp.issueServingCert(['localhost'], ['127.0.0.1']));
    ns = await namespace('limits-proxy');
    await apply([
      connectorClass('http-test'),
      connector(ns, 'witness', { address: witness.url }),
      ...proxyUser(ns, 'user', ['get']),
      ...proxyRbac('limits-connproxy', ns, 'limits-connproxy'),
    ]);
    const proxyToken = await cp.createToken(ns, 'limits-connproxy', { expirationSeconds: 3600 });
    token = await cp.createToken(ns, 'user');
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'limits-connproxy.kubeconfig'), {
      token: proxyToken,
    });
    const upstreamCa = join(cp.dir, 'limits-connproxy-upstream-ca.crt');
    await writeFile(upstreamCa, cp.servingCaPem);
    proxy = await startProxy('limits-connproxy', kubeconfig, [
      `--upstream-ca-file=${upstreamCa}`,
      `--max-requests-inflight=${budget}`,
      `--request-header-timeout=${headerTimeoutMs}ms`,
    ]);
    proxyCaPem = await readFile(proxy.caFile, 'utf8');
    await eventually('the proxy to serve the Connector', async () => {
      return (await send(proxy.port, reversePath('ready'), bearer())).status === 200;
    });
  });

  after(async function () {
    for (const s of sockets) s.destroy();
    witness.release();
    await proxy.proc.stop();
    await witness.close();
  });

  it('a tunnel and the request inside it count; beyond the budget 429 + Retry-After, probes still answer', async function () {
    witness.held = 0;
    expect(await holdReverse()).to.equal(200); // 1 slot
    const tunnel = await holdIntercepted(); // 2 slots: the CONNECT and the request inside it
    expect(tunnel.connect).to.match(/^HTTP\/1\.1 200 /);
    expect(tunnel.inside).to.match(/^HTTP\/1\.1 200 /);
    expect(witness.held).to.equal(2);

    const refused = await send(proxy.port, reversePath('hold'), bearer());
    expect(refused.status).to.equal(429);
    expect(refused.headers['retry-after']).to.equal('1');
    expect(JSON.parse(refused.body)).to.include({ kind: 'Status', reason: 'TooManyRequests', code: 429 });
    const refusedTunnel = await holdIntercepted();
    expect(refusedTunnel.connect).to.match(/^HTTP\/1\.1 429 /);
    expect(refusedTunnel.connect.toLowerCase()).to.contain('retry-after: 1\r\n');
    expect(witness.held, 'requests for /hold that reached the tool').to.equal(2);

    for (const path of ['/healthz', '/livez', '/readyz']) {
      expect((await send(proxy.port, path)).status, path).to.equal(200);
    }
  });

  it('a request head sent slowly is cut at the header deadline', async function () {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = netConnect(proxy.port, '127.0.0.1');
      let drip: NodeJS.Timeout | undefined;
      const giveUp = setTimeout(() => {
        clearInterval(drip);
        socket.destroy();
        resolve(false);
      }, giveUpMs);
      socket.on('error', () => undefined);
      socket.once('close', () => {
        clearTimeout(giveUp);
        clearInterval(drip);
        resolve(true);
      });
      socket.once('connect', () => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: proxy\r\n');
        drip = setInterval(() => {
          if (socket.writable) socket.write('X-Slow: a\r\n');
        }, 200);
      });
    });
    expect(closed, 'the proxy closed the connection').to.equal(true);
  });
});
