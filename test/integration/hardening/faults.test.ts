// Faults on every side of the server: tools that cut, reset, stall or flood; callers that send or
// read at a crawl; redirects elsewhere; kube-apiserver restarting; a Secret deleted under traffic.
// Each case ends in a clear metav1.Status or a cut stream (when the headers were already sent),
// and after each the server still answers /readyz and a normal /proxy request, its memory stayed
// within a bound, and the Connector's password appears in no answer and not in its log.
// Covered elsewhere, not repeated here (errors.test.ts): tool down → 503, tool hanging → 504,
// a redirect to another host → 502.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { connect } from 'node:tls';
import { expect } from 'chai';
import { Agent, request, type Dispatcher } from 'undici';
import { freePort } from '../../../hack/process.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  direct,
  env,
  eventually,
  frontProxyCert,
  kubectlOk,
  namespace,
  proxyPath,
  secretValue,
} from '../../helpers/env.js';
import { startFaultTool, startSentinel, type FaultTool } from '../../helpers/fault-tool.js';
import { MiB, mib, rssBytes, sampleRss } from '../../helpers/memory.js';

/** How one exchange ended, as the caller saw it. */
interface Outcome {
  /** 0 when no response head arrived. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The first 64 KiB of the body that arrived. */
  body: string;
  bodyBytes: number;
  /** Why the exchange ended early: an error code (ECONNREFUSED, UND_ERR_SOCKET, …), if it did. */
  error?: string;
  ms: number;
}

interface Status {
  kind: string;
  status: string;
  reason: string;
  code: number;
  message: string;
}

const clientTimeoutMs = 90_000;

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}

/** Reads a response to its end or its cut; keeps the first 64 KiB. */
async function settle(outcome: Outcome, body: Readable, hold?: Promise<unknown>): Promise<void> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  for await (const c of body) {
    const b = c as Buffer;
    if (outcome.bodyBytes === 0) await hold;
    outcome.bodyBytes += b.length;
    if (keptBytes < 64 * 1024) {
      kept.push(b);
      keptBytes += b.length;
    }
  }
  outcome.body = Buffer.concat(kept).toString('utf8');
}

/**
 * One request through kube-apiserver as the admin; never throws. The client's own timeouts are
 * far longer than any the server applies, so an exchange the server left hanging shows up as
 * UND_ERR_HEADERS_TIMEOUT or UND_ERR_BODY_TIMEOUT. With `hold`, reading stops after the first
 * chunk until it settles (a stream kept in flight across some event).
 */
async function call(
  path: string,
  opts: {
    method?: Dispatcher.HttpMethod;
    body?: Readable;
    headers?: Record<string, string>;
    hold?: Promise<unknown>;
  } = {},
): Promise<Outcome> {
  const cp = env().sys.cp;
  const agent = new Agent({
    connect: { ca: cp.caCertPem, cert: cp.admin.certPem, key: cp.admin.keyPem },
    headersTimeout: clientTimeoutMs,
    bodyTimeout: clientTimeoutMs,
  });
  const started = Date.now();
  const outcome: Outcome = { status: 0, headers: {}, body: '', bodyBytes: 0, ms: 0 };
  try {
    const r = await agent.request({
      origin: cp.server,
      path,
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      body: opts.body ?? null,
    });
    outcome.status = r.statusCode;
    outcome.headers = r.headers;
    await settle(outcome, r.body, opts.hold);
  } catch (err) {
    outcome.error = errorCode(err);
  } finally {
    outcome.ms = Date.now() - started;
    await agent.destroy(); // not close(): a half-sent upload must not hold it open
  }
  return outcome;
}

function statusOf(o: Outcome): Status {
  expect(o.headers['content-type'], `a Status, got: ${o.body.slice(0, 300)}`).to.match(/^application\/json/);
  const s = JSON.parse(o.body) as Status;
  expect(s.kind).to.equal('Status');
  expect(s.status).to.equal('Failure');
  expect(s.code).to.equal(o.status);
  return s;
}

/** The exchange ended by itself, well before the client would have given up. */
function expectNoHang(o: Outcome): void {
  expect(o.error ?? '').not.to.match(/TIMEOUT/);
  expect(o.ms).to.be.below(clientTimeoutMs / 2);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls `path` through kube-apiserver every `pauseMs` until stopped; stop() returns every outcome. */
function load(path: string, pauseMs: number): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
  const outcomes: Outcome[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      outcomes.push(await call(path));
      await sleep(pauseMs);
    }
  })();
  return {
    outcomes,
    stop: async () => {
      running = false;
      await loop;
      return outcomes;
    },
  };
}

/** A body of `total` bytes produced on demand. */
function generated(total: number): Readable {
  let sent = 0;
  const piece = Buffer.alloc(64 * 1024, 'u');
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      sent += piece.length;
      this.push(piece);
    },
  });
}

describe('faults: tools, callers and kube-apiserver misbehaving', function () {
  this.timeout(180_000);
  let ns: string;
  let fault: FaultTool;
  let password: string;
  /** The password as the tool receives it, in a Basic Authorization header. */
  let basic: string;
  let baseline: number;
  let pid: number;
  let stopSampling: (() => number) | undefined;
  const bound = 100 * MiB;

  before(async function () {
    ns = await namespace('faults');
    fault = await startFaultTool();
    password = secretValue('faults-tool');
    basic = Buffer.from(`fault-user:${password}`).toString('base64');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', 'fault-user', password),
      basicAuthSecret(ns, 'echo-creds', toolUser, toolPassword),
      connector(ns, 'faulty', { address: fault.url, secret: 'creds' }),
      connector(ns, 'echo', { address: tool.url, secret: 'echo-creds' }),
    ]);
    await eventually('the Connectors to reach the server', async () => {
      return (await statuses(['faulty', 'echo'], '/ok')).join() === '200,200';
    });
    pid = env().sys.server.pid as number;
    // Warm the path (pools, caches, JIT) so the baseline is the steady state.
    for (let i = 0; i < 5; i++) await call(proxyPath(ns, 'echo', '/warm'));
    baseline = rssBytes(pid);
  });

  after(async function () {
    await fault.close();
  });

  beforeEach(function () {
    stopSampling = sampleRss(pid);
  });

  afterEach(async function () {
    const peak = stopSampling?.() ?? 0;
    stopSampling = undefined;
    // No crash: the same process still serves, health and a normal request through kube-apiserver.
    expect(env().sys.server.pid, 'the server process was replaced').to.equal(pid);
    expect(env().sys.server.isRunning, 'the server process died').to.equal(true);
    expect((await direct('/readyz')).status).to.equal(200);
    await eventually('a normal /proxy request to succeed', async () => {
      return (await call(proxyPath(ns, 'echo', '/after'))).status === 200;
    });
    expect(peak - baseline, `RSS grew from ${mib(baseline)} to ${mib(peak)}`).to.be.below(bound);
    expect(rssBytes(pid) - baseline).to.be.below(bound);
    const log = readFileSync(env().sys.serverLog, 'utf8');
    expect(log.includes(password), 'the password leaked into the server log').to.equal(false);
    expect(log.includes(basic), 'the Basic credential leaked into the server log').to.equal(false);
  });

  /** The status codes of `/proxy<path>` of each Connector, called at once through kube-apiserver. */
  async function statuses(connectors: string[], path: string): Promise<number[]> {
    const outcomes = await Promise.all(connectors.map((c) => call(proxyPath(ns, c, path))));
    return outcomes.map((o) => o.status);
  }

  /** Calls the faulty tool at `path`: the answer must be a Status of this code, reason and message. */
  async function expectStatus(path: string, code: number, reason: string, message: string): Promise<Outcome> {
    const o = await call(proxyPath(ns, 'faulty', path));
    expectNoHang(o);
    expectNoCredential(o);
    expect(o.status, `error: ${o.error ?? ''}`).to.equal(code);
    const s = statusOf(o);
    expect(s.reason).to.equal(reason);
    expect(s.message).to.contain(message);
    return o;
  }

  /** Calls the faulty tool at `path`: 200 and its headers arrive, then the body is cut. */
  async function expectCutStream(path: string): Promise<Outcome> {
    const o = await call(proxyPath(ns, 'faulty', path));
    expectNoHang(o);
    expectNoCredential(o);
    expect(o.status).to.equal(200);
    expect(o.error, 'the stream ended as if complete').to.be.a('string');
    return o;
  }

  /** The answer holds no trace of the Connector's credential. */
  function expectNoCredential(o: Outcome): void {
    const seen = JSON.stringify(o.headers) + o.body;
    expect(seen).not.to.contain(password);
    expect(seen).not.to.contain(basic);
  }

  describe('the tool closes the connection mid-stream', function () {
    it('download: after part of a Content-Length body, the caller sees the stream cut short', async function () {
      const o = await expectCutStream('/cut-download');
      expect(o.headers['content-length']).to.equal(String(8 * MiB));
      expect(o.bodyBytes).to.be.at.most(MiB);
    });

    it('upload: while the caller is still sending, the caller gets a 502 Status', async function () {
      const before = fault.requests.length;
      const o = await call(proxyPath(ns, 'faulty', '/cut-upload'), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: generated(64 * MiB),
      });
      expectNoHang(o);
      expectNoCredential(o);
      expect(fault.requests.slice(before)).to.deep.equal([{ path: '/cut-upload', basicAuth: true }]);
      expect(o.status, `error: ${o.error ?? ''}`).to.equal(502);
      const s = statusOf(o);
      expect(s.reason).to.equal('BadGateway');
      expect(s.message).to.contain(`Connector ${ns}/faulty`);
      expect(s.message).to.contain('closed the connection');
    });
  });

  describe('the tool resets the connection', function () {
    it('before the response headers → 502 Status', async function () {
      await expectStatus(
        '/reset-before-headers',
        502,
        'BadGateway',
        `Connector ${ns}/faulty: the tool at ${fault.url} closed the connection before answering (ECONNRESET)`,
      );
    });

    it('after the headers → the caller sees the stream cut short', async function () {
      const o = await expectCutStream('/reset-after-headers');
      expect(o.bodyBytes).to.be.below(8 * MiB);
    });
  });

  describe('slow peers', function () {
    it('a caller sending its request head byte by byte is cut off with 408 while others are served', async function () {
      this.timeout(240_000);
      const url = new URL(env().sys.serverUrl);
      const slow = Array.from({ length: 20 }, () => {
        const socket = connect({
          host: url.hostname,
          port: Number(url.port),
          ca: env().sys.servingCaPem,
          servername: 'localhost',
        });
        const started = Date.now();
        let answer = '';
        let drip: NodeJS.Timeout | undefined;
        socket.once('secureConnect', () => {
          socket.write('GET /readyz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
          drip = setInterval(() => socket.write('s'), 500);
        });
        socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
        socket.on('error', () => undefined);
        return new Promise<{ answer: string; ms: number }>((resolve) => {
          socket.once('close', () => {
            clearInterval(drip);
            resolve({ answer, ms: Date.now() - started });
          });
        });
      });
      // Meanwhile the server serves everyone else.
      await sleep(2_000);
      expect((await direct('/readyz')).status).to.equal(200);
      expect((await call(proxyPath(ns, 'echo', '/meanwhile'))).status).to.equal(200);
      const ended = await Promise.all(slow);
      for (const e of ended) {
        expect(e.answer).to.match(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        // The server's request header timeout (30 s), plus the interval at which Node checks it
        // (1 s), plus slack for a busy machine.
        expect(e.ms).to.be.below(180_000);
      }
    });

    it('a caller reading at a crawl: the tool is held back and the server does not buffer the body', async function () {
      const { sys } = env();
      const fp = frontProxyCert();
      const agent = new Agent({
        connect: { ca: sys.servingCaPem, cert: fp.certPem, key: fp.keyPem },
        bodyTimeout: clientTimeoutMs,
      });
      try {
        const res = await agent.request({
          origin: sys.serverUrl,
          path: proxyPath(ns, 'faulty', '/stream'),
          method: 'GET',
          headers: { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
        });
        expect(res.statusCode).to.equal(200);
        expect(res.headers['content-length']).to.equal(String(1024 * MiB));
        const body = res.body;
        let received = 0;
        // The reader stops itself at `until`: polling for it would let the body flow at full speed
        // between two polls, and a fast relay then delivers the whole GiB within the crawl.
        let until = MiB;
        body.on('data', (c: Buffer) => {
          received += c.length;
          if (received >= until) body.pause();
        });
        await eventually('the first MiB', () => Promise.resolve(received >= MiB));

        // Stalled: nothing is read, so the tool must come to a stop once the buffers in between
        // are full, far short of the 1 GiB it would send.
        let last = -1;
        await eventually(
          'the tool to be held back',
          async () => {
            const now = fault.streamed;
            const still = now === last;
            last = now;
            await sleep(1_000);
            return still;
          },
          60_000,
        );
        const held = fault.streamed;
        this.test!.title += ` (tool held at ${mib(held)} while the caller had read ${mib(received)})`;
        expect(held - received).to.be.below(64 * MiB);

        // Crawling: 64 KiB every 200 ms; the tool only ever gets as far ahead as the buffers allow.
        for (let i = 0; i < 15; i++) {
          until = received + 64 * 1024;
          body.resume();
          await eventually('the next 64 KiB', () => Promise.resolve(received >= until));
          await sleep(200);
          expect(fault.streamed - received).to.be.below(64 * MiB);
        }

        // The caller leaves: the tool's connection is closed, not left streaming into nothing.
        body.destroy();
        await eventually('the server to close the tool connection', () =>
          Promise.resolve(fault.openFor('/stream') === 0),
        );
      } finally {
        await agent.destroy();
      }
    });

    it('a tool sending its response headers at a crawl → 504 Status after the response timeout (3s)', async function () {
      const o = await expectStatus(
        '/slow-headers',
        504,
        'Timeout',
        `the tool at ${fault.url} did not answer in time`,
      );
      expect(o.ms).to.be.at.least(3_000);
      await eventually('the server to close the tool connection', () =>
        Promise.resolve(fault.openFor('/slow-headers') === 0),
      );
    });

    it('a tool stalling mid-body → the stream is cut after the idle timeout (10s)', async function () {
      const o = await expectCutStream('/stall-body');
      expect(o.headers['content-length']).to.equal(String(MiB));
      expect(o.bodyBytes).to.equal(64 * 1024);
      expect(o.ms).to.be.at.least(10_000);
      await eventually('the server to close the tool connection', () =>
        Promise.resolve(fault.openFor('/stall-body') === 0),
      );
    });
  });

  describe('redirects that end at another origin (an absolute URL to another host: errors.test.ts)', function () {
    let sentinel: Awaited<ReturnType<typeof startSentinel>>;
    let other: string;

    before(async function () {
      sentinel = await startSentinel();
      other = `127.0.0.1:${sentinel.port}`;
    });

    after(async function () {
      await sentinel.close();
    });

    const enc = encodeURIComponent;
    const cases: [string, () => string[]][] = [
      ['protocol-relative //host:port/', () => [`/redirect?to=${enc(`//${other}/steal`)}`]],
      [
        'backslash /\\host:port/, which URL parsers read as //',
        () => [`/redirect?to=${enc(`/\\${other}/steal`)}`],
      ],
      ['https://same-host:other-port/', () => [`/redirect?to=${enc(`https://${other}/steal`)}`]],
      ['http://same-host:other-port/', () => [`/redirect?to=${enc(`http://${other}/steal`)}`]],
      [
        'a chain whose first hop stays and whose second leaves',
        () => {
          const last = `/redirect?to=${enc(`http://${other}/steal`)}`;
          return [`/redirect?to=${enc(last)}`, last];
        },
      ],
    ];
    for (const [name, hops] of cases) {
      it(`${name} → 502 Status; the other origin receives nothing`, async function () {
        const { tool } = env();
        const seen = hops();
        const before = tool.requests.length;
        const o = await call(proxyPath(ns, 'echo', seen[0]));
        expect(o.status).to.equal(502);
        const s = statusOf(o);
        expect(s.reason).to.equal('BadGateway');
        expect(s.message).to.contain('another origin');
        expect(sentinel.connections()).to.equal(0);
        expect(tool.requests.slice(before).map((q) => q.url)).to.deep.equal(seen);
      });
    }
  });

  describe('a tool flooding its response headers', function () {
    for (const [what, path] of [
      ['10,000 headers', '/many-headers'],
      ['one 1 MiB header', '/huge-header'],
    ] as const) {
      it(`${what} → 502 Status naming the limit`, async function () {
        await expectStatus(
          path,
          502,
          'BadGateway',
          `the tool at ${fault.url} sent response headers larger than 16 KiB`,
        );
      });
    }
  });

  describe('kube-apiserver restarted while requests run', function () {
    interface Stored {
      metadata: { name: string; uid: string; creationTimestamp: string; resourceVersion?: string };
      spec: { address: string };
    }
    const etcd = async (verb: string, body: Record<string, string>): Promise<Record<string, unknown>> => {
      const b64 = (s: string): string => Buffer.from(s).toString('base64');
      const r = await request(`${env().sys.cp.etcdUrl}/v3/kv/${verb}`, {
        method: 'POST',
        body: JSON.stringify(Object.fromEntries(Object.entries(body).map(([k, v]) => [k, b64(v)]))),
      });
      expect(r.statusCode).to.equal(200);
      return (await r.body.json()) as Record<string, unknown>;
    };
    const key = (name: string): string => `/registry/connectors.alauda.io/connectors/${ns}/${name}`;

    it('calls fail while it is down and work after; Connectors written meanwhile reach the server', async function () {
      this.timeout(300_000);
      const { tool, sys } = env();
      const deadPort = await freePort();
      await apply([
        connector(ns, 'doomed', { address: tool.url, secret: 'echo-creds' }),
        connector(ns, 'moving', { address: `http://127.0.0.1:${deadPort}`, secret: 'echo-creds' }),
        basicAuthSecret(ns, 'cold-creds', env().toolUser, env().toolPassword),
        connector(ns, 'cold', { address: tool.url, secret: 'cold-creds' }),
      ]);
      await eventually('doomed and moving to be served', async () => {
        return (await statuses(['doomed', 'moving'], '/x')).join() === '200,503';
      });

      // Load through kube-apiserver for the whole restart, and a stream in flight when it goes.
      const traffic = load(proxyPath(ns, 'echo', '/load'), 250);
      const fp = frontProxyCert();
      let restarted = (): void => undefined;
      const streamsBefore = fault.requests.length;
      const stream = call(proxyPath(ns, 'faulty', '/stream'), {
        hold: new Promise<void>((resolve) => (restarted = resolve)),
      });
      await eventually('the stream to flow', () =>
        Promise.resolve(
          fault.requests.slice(streamsBefore).some((r) => r.path === '/stream') && fault.streamed > MiB,
        ),
      );

      const stored = async (name: string): Promise<Stored> => {
        const r = await etcd('range', { key: key(name) });
        const kvs = r['kvs'] as { value: string }[] | undefined;
        expect(kvs, `${key(name)} in etcd`).to.have.length(1);
        return JSON.parse(Buffer.from(kvs![0]!.value, 'base64').toString('utf8')) as Stored;
      };
      const put = (name: string, obj: Stored): Promise<Record<string, unknown>> =>
        etcd('put', { key: key(name), value: JSON.stringify(obj) });

      await sys.cp.restart(async () => {
        const down = await call(proxyPath(ns, 'echo', '/down'));
        expect(down.status).to.equal(0);
        expect(down.error).to.equal('ECONNREFUSED');

        // Meanwhile, the server keeps serving what it can from its caches; what needs
        // kube-apiserver (the Secret of a Connector never used before) is a clear Status.
        expect((await direct('/readyz')).status).to.equal(200);
        const cold = await direct(proxyPath(ns, 'cold', '/x'), {
          cert: fp,
          headers: { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
        });
        expect(cold.status).to.equal(503);
        const s = JSON.parse(cold.body) as Status;
        expect(s.reason).to.equal('ServiceUnavailable');
        expect(s.message).to.contain(`Secret ${ns}/cold-creds cannot be read`);

        // Writes through another kube-apiserver replica, as it were: straight into etcd.
        const moving = await stored('moving');
        moving.spec.address = tool.url;
        delete moving.metadata.resourceVersion;
        await put('moving', moving);
        const born = await stored('moving');
        born.metadata.name = 'born';
        born.metadata.uid = randomUUID();
        born.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        delete born.metadata.resourceVersion;
        await put('born', born);
        await etcd('deleterange', { key: key('doomed') });
      });

      restarted();
      // Right after the restart, one more Connector through kube-apiserver itself.
      await eventually(
        'calls through kube-apiserver to work again',
        async () => (await call(proxyPath(ns, 'echo', '/back'))).status === 200,
        120_000,
      );
      await apply([connector(ns, 'late', { address: tool.url, secret: 'echo-creds' })]);
      const outcomes = await traffic.stop();

      const cut = await stream;
      expect(cut.status).to.equal(200);
      expect(cut.error).to.be.a('string');
      expect(cut.bodyBytes).to.be.below(1024 * MiB);
      await eventually('the server to close the tool connection of the cut stream', () =>
        Promise.resolve(fault.openFor('/stream') === 0),
      );

      // Every call during the restart ended: with 200, a refused or cut connection, or a Status.
      const kinds = outcomes.map((o) => (o.status === 200 ? 'ok' : o.status === 0 ? o.error : o.status));
      this.test!.title += ` (${outcomes.length} calls: ${[...new Set(kinds)].join(', ')})`;
      for (const o of outcomes) expectNoHang(o);
      expect(kinds).to.include('ok');
      expect(kinds.some((k) => k !== 'ok')).to.equal(true);
      expect(kinds.at(-1)).to.equal('ok');
      for (const o of outcomes.filter((x) => x.status >= 400)) statusOf(o);

      // The informers caught up with what changed while they were disconnected.
      await eventually(
        'born, moving and late to work, doomed to be gone',
        async () => (await statuses(['born', 'moving', 'late', 'doomed'], '/x')).join() === '200,200,200,404',
        90_000,
      );
      const gone = await call(proxyPath(ns, 'doomed', '/x'));
      expect(statusOf(gone).message).to.contain('"doomed" not found');
    });
  });

  describe('the Secret deleted mid-traffic', function () {
    it('in-flight requests finish; later ones get a 400 naming the Secret; recreating it heals', async function () {
      const { toolUser, toolPassword } = env();
      await apply([
        basicAuthSecret(ns, 'rot', toolUser, toolPassword),
        connector(ns, 'rotating', { address: env().tool.url, secret: 'rot' }),
      ]);
      await eventually('the Connector to work', async () => {
        return (await call(proxyPath(ns, 'rotating', '/x'))).status === 200;
      });

      // A download in flight across the deletion: held after its first chunk until the Secret is gone.
      const size = 32 * MiB + 1; // a size no other test asks for, to spot its request at the tool
      let deleted = (): void => undefined;
      const download = call(proxyPath(ns, 'rotating', `/bytes/${size}`), {
        hold: new Promise<void>((resolve) => (deleted = resolve)),
      });
      const traffic = load(proxyPath(ns, 'rotating', '/load'), 100);
      await eventually('the download to reach the tool', () =>
        Promise.resolve(env().tool.requests.some((q) => q.url === `/bytes/${size}`)),
      );
      await kubectlOk(['delete', 'secret', 'rot', '-n', ns]);
      deleted();
      const missing = `Connector ${ns}/rotating: Secret ${ns}/rot does not exist`;
      await eventually('requests to fail with a Status naming the Secret', () =>
        Promise.resolve(traffic.outcomes.at(-1)?.status === 400),
      );
      const outcomes = await traffic.stop();

      const d = await download;
      expect(d.status).to.equal(200);
      expect(d.error).to.equal(undefined);
      expect(d.bodyBytes).to.equal(size);

      // Before the deletion is seen: 200; after: 400 naming the Secret; nothing else, no flapping.
      const codes = outcomes.map((o) => o.status);
      const firstMissing = codes.indexOf(400);
      expect(codes.slice(0, firstMissing).every((c) => c === 200)).to.equal(true);
      expect(codes.slice(firstMissing).every((c) => c === 400)).to.equal(true);
      for (const o of outcomes.slice(firstMissing)) {
        const s = statusOf(o);
        expect(s.reason).to.equal('BadRequest');
        expect(s.message).to.equal(missing);
      }

      await apply([basicAuthSecret(ns, 'rot', toolUser, toolPassword)]);
      await eventually(
        'the recreated Secret to be used',
        async () => (await call(proxyPath(ns, 'rotating', '/x'))).status === 200,
        60_000,
      );
    });
  });
});
