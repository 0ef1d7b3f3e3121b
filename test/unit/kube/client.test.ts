// The lean Kubernetes client against stand-ins for kube-apiserver: JSON requests with the
// credentials of the access, failures as KubeApiError with the server's Status (and never the
// token), a timeout on every request, TLS with the cluster CA and a client certificate, and
// watches whose events arrive one by one as kube-apiserver sends them, however the bytes are cut.

import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { expect } from 'chai';
import { createCA, issueCert } from '../../../hack/pki.js';
import {
  isResourceVersionExpired,
  KubeApiError,
  KubeClient,
  WatchParser,
  type RawWatchEvent,
  type WatchEvent,
} from '../../../kube/client.js';
import { staticAccess } from '../../../kube/config.js';

const line = (ev: unknown): string => `${JSON.stringify(ev)}\n`;
const cm = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

describe('kube/client WatchParser', () => {
  const events = [
    { type: 'ADDED', object: cm('a', '1') },
    { type: 'MODIFIED', object: { ...cm('b', '2'), data: { note: 'naïve – ✓' } } },
    { type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } },
    { type: 'DELETED', object: cm('a', '4') },
    {
      type: 'ERROR',
      object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' },
    },
  ];
  const bytes = Buffer.from(events.map(line).join(''));

  const cuts: [string, (b: Buffer) => Buffer[]][] = [
    ['one chunk', (b) => [b]],
    ['a byte at a time (multi-byte characters split too)', (b) => [...b].map((x) => Buffer.from([x]))],
    [
      'chunks of 7 bytes',
      (b) => Array.from({ length: Math.ceil(b.length / 7) }, (_, i) => b.subarray(i * 7, i * 7 + 7)),
    ],
  ];
  for (const [what, cut] of cuts) {
    it(`parses every event, in order: ${what}`, () => {
      const parser = new WatchParser();
      const got: RawWatchEvent[] = [];
      for (const chunk of cut(bytes)) got.push(...parser.push(chunk));
      got.push(...parser.end());
      expect(got).to.deep.equal(events);
    });
  }

  it('gives each event as soon as its line is complete', () => {
    const parser = new WatchParser();
    const first = line(events[0]);
    expect(parser.push(Buffer.from(first.slice(0, 10)))).to.deep.equal([]);
    expect(parser.push(Buffer.from(first.slice(10)))).to.deep.equal([events[0]]);
  });

  it('skips blank lines and takes a last event without its newline', () => {
    const parser = new WatchParser();
    expect(parser.push(Buffer.from(`\n\n${line(events[0])}\n${JSON.stringify(events[1])}`))).to.deep.equal([
      events[0],
    ]);
    expect(parser.end()).to.deep.equal([events[1]]);
  });

  it('an event cut short by the end of the stream is an error', () => {
    const parser = new WatchParser();
    parser.push(Buffer.from(line(events[0]).slice(0, 20)));
    expect(() => parser.end()).to.throw(/not JSON/);
  });

  it('an event of an unknown type or shape is an error', () => {
    expect(() => new WatchParser().push(Buffer.from(line({ type: 'SURPRISE', object: {} })))).to.throw(
      /unknown shape/,
    );
    expect(() => new WatchParser().push(Buffer.from(line({ type: 'ADDED' })))).to.throw(/unknown shape/);
  });
});

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

describe('kube/client KubeClient', function () {
  this.timeout(10_000);
  let server: Server;
  let url: string;
  let handler: Handler;
  let client: KubeClient;
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

  before(async () => {
    const http = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        handler(req, res, body);
      });
    });
    server = http;
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    seen.length = 0;
    client = new KubeClient(staticAccess(`${url}/prefix/`, { token: 'sekrit-token' }), {
      requestTimeoutMs: 500,
      userAgent: 'connectors-test',
    });
  });

  afterEach(async () => {
    await client.close();
  });

  after(async () => {
    (server as ReturnType<typeof createHttpServer>).closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  const json = (status: number, body: unknown): Handler => {
    return (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
  };

  it('GET: the server’s path prefix, the query, the bearer token and a user agent; the JSON answer', async () => {
    handler = json(200, { kind: 'Secret', data: { a: 'Yg==' } });
    const got = await client.get<{ data: Record<string, string> }>('/api/v1/namespaces/ns/secrets/s', {
      query: { fieldSelector: 'metadata.name=a b', limit: 500, continue: undefined },
    });
    expect(got.data).to.deep.equal({ a: 'Yg==' });
    expect(seen[0]).to.include({
      method: 'GET',
      url: '/prefix/api/v1/namespaces/ns/secrets/s?fieldSelector=metadata.name%3Da+b&limit=500',
    });
    expect(seen[0]!.headers).to.include({
      authorization: 'Bearer sekrit-token',
      accept: 'application/json',
      'user-agent': 'connectors-test',
    });
  });

  it('POST, PUT and PATCH send JSON with the right content type', async () => {
    handler = (req, res, body) => res.writeHead(201).end(body);
    expect(await client.post('/x', { a: 1 })).to.deep.equal({ a: 1 });
    expect(await client.put('/x', { b: 2 })).to.deep.equal({ b: 2 });
    expect(await client.patch('/x', { c: 3 })).to.deep.equal({ c: 3 });
    expect(seen.map((s) => [s.method, s.headers['content-type']])).to.deep.equal([
      ['POST', 'application/json'],
      ['PUT', 'application/json'],
      ['PATCH', 'application/merge-patch+json'],
    ]);
  });

  it('an Accept header of the caller’s choice (PartialObjectMetadata)', async () => {
    handler = json(200, { kind: 'PartialObjectMetadata', metadata: { resourceVersion: '7' } });
    const accept = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
    await client.get('/api/v1/namespaces/ns/secrets/s', { accept });
    expect(seen[0]!.headers['accept']).to.equal(accept);
  });

  it('headers with several values are sent repeated (Impersonate-Group)', async () => {
    handler = json(200, {});
    const access = staticAccess(url);
    const both = new KubeClient({
      ...access,
      credentials: () => ({
        tls: { rejectUnauthorized: true },
        headers: { 'impersonate-group': ['a', 'b'] },
      }),
    });
    try {
      await both.get('/api');
    } finally {
      await both.close();
    }
    expect(seen[0]!.headers['impersonate-group']).to.equal('a, b');
  });

  describe('a 401 to credentials that can be renewed (an exec plugin’s)', () => {
    /** Credentials that change each time `rejected` is called: token-1, token-2, … */
    function renewable(renews: boolean) {
      let n = 1;
      let current = { tls: { rejectUnauthorized: true }, headers: { authorization: 'Bearer token-1' } };
      const refused: string[] = [];
      return {
        refused,
        client: new KubeClient({
          ...staticAccess(url),
          credentials: () => current,
          rejected: (used) => {
            refused.push(String(used.headers['authorization']));
            if (!renews) return false;
            n += 1;
            current = { ...current, headers: { authorization: `Bearer token-${n}` } };
            return true;
          },
        }),
      };
    }
    const acceptOnly = (token: string): Handler => {
      return (req, res) => {
        if (req.headers.authorization === `Bearer ${token}`) json(200, { ok: true })(req, res, '');
        else
          json(401, { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' })(
            req,
            res,
            '',
          );
      };
    };

    it('is sent once more with the fresh credentials', async () => {
      const { client: c, refused } = renewable(true);
      handler = acceptOnly('token-2');
      try {
        expect(await c.post('/x', { a: 1 })).to.deep.equal({ ok: true });
      } finally {
        await c.close();
      }
      expect(refused).to.deep.equal(['Bearer token-1']);
      expect(seen.map((r) => [r.method, r.headers.authorization, r.body])).to.deep.equal([
        ['POST', 'Bearer token-1', '{"a":1}'],
        ['POST', 'Bearer token-2', '{"a":1}'],
      ]);
    });

    it('only once: a second 401 is the answer', async () => {
      const { client: c } = renewable(true);
      handler = acceptOnly('never');
      try {
        expect(await failure(c.get('/x'))).to.include({ status: 401, reason: 'Unauthorized' });
      } finally {
        await c.close();
      }
      expect(seen).to.have.length(2);
    });

    it('not for a body streamed by stream(): its 401 is the answer, and the next request gets fresh credentials', async () => {
      const { client: c, refused } = renewable(true);
      handler = acceptOnly('token-2');
      try {
        const first = await c.stream('PUT', '/x', { body: Readable.from([Buffer.from('once')]) });
        expect(first.statusCode).to.equal(401);
        first.body.resume();
        await once(first.body, 'end');
        const second = await c.stream('PUT', '/x', { body: 'again' });
        expect(second.statusCode).to.equal(200);
        second.body.resume();
      } finally {
        await c.close();
      }
      expect(refused).to.deep.equal(['Bearer token-1']);
      expect(seen.map((r) => [r.headers.authorization, r.body])).to.deep.equal([
        ['Bearer token-1', 'once'],
        ['Bearer token-2', 'again'],
      ]);
    });

    it('not at all when the credentials would be the same', async () => {
      const { client: c, refused } = renewable(false);
      handler = acceptOnly('token-2');
      try {
        expect(await failure(c.get('/x'))).to.include({ status: 401 });
      } finally {
        await c.close();
      }
      expect(refused).to.have.length(1);
      expect(seen).to.have.length(1);
    });
  });

  it('stream(): the answer as it comes whatever its status; the caller’s headers never replace the credentials', async () => {
    handler = (_req, res, body) => res.writeHead(404, { 'x-tool': 'yes' }).end(`no ${body}`);
    const res = await client.stream('POST', '/x/proxy/a?b=1', {
      headers: { authorization: 'Bearer forged', 'content-type': 'text/plain', 'x-many': ['1', '2'] },
      body: Readable.from([Buffer.from('up'), Buffer.from('load')]),
    });
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    expect([res.statusCode, res.headers['x-tool'], Buffer.concat(chunks).toString()]).to.deep.equal([
      404,
      'yes',
      'no upload',
    ]);
    expect(seen[0]).to.include({ method: 'POST', url: '/prefix/x/proxy/a?b=1', body: 'upload' });
    expect(seen[0]!.headers).to.include({
      authorization: 'Bearer sekrit-token',
      'content-type': 'text/plain',
      'x-many': '1, 2',
      'user-agent': 'connectors-test',
    });
  });

  it('a Status keeps its body: the server’s message and the causes’ fields', async () => {
    const body = {
      kind: 'Status',
      code: 400,
      reason: 'BadRequest',
      message: 'param "repository" is required',
      details: { causes: [{ reason: 'FieldValueRequired', field: 'repository' }] },
    };
    handler = json(400, body);
    expect((await failure(client.get('/x'))).body).to.deep.equal(body);
  });

  async function failure(p: Promise<unknown>): Promise<KubeApiError> {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(KubeApiError);
      return err as KubeApiError;
    }
    return expect.fail('expected a KubeApiError');
  }

  it('a Status failure: its code, reason and message; never the token', async () => {
    handler = json(403, {
      kind: 'Status',
      status: 'Failure',
      code: 403,
      reason: 'Forbidden',
      message: 'secrets "s" is forbidden: User "x" cannot get resource "secrets"',
    });
    const err = await failure(client.get('/api/v1/namespaces/ns/secrets/s'));
    expect(err).to.include({ status: 403, reason: 'Forbidden' });
    expect(err.message).to.equal(
      'GET /api/v1/namespaces/ns/secrets/s: 403 Forbidden: secrets "s" is forbidden: User "x" cannot get resource "secrets"',
    );
    expect(JSON.stringify(err)).not.to.contain('sekrit');
    expect(err.message).not.to.contain('sekrit');
  });

  it('a failure that is no Status (a proxy’s page): the HTTP status and its reason', async () => {
    handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
    const err = await failure(client.get('/api'));
    expect(err).to.include({ status: 502, reason: 'Unknown' });
    handler = (_req, res) => res.writeHead(404).end();
    expect(await failure(client.get('/api'))).to.include({ status: 404, reason: 'NotFound' });
  });

  it('a server that never answers: the request times out', async () => {
    handler = () => undefined;
    const started = Date.now();
    try {
      await client.get('/hang');
      expect.fail('expected a timeout');
    } catch (err) {
      expect((err as { code?: string }).code).to.equal('UND_ERR_HEADERS_TIMEOUT');
    }
    expect(Date.now() - started).to.be.below(3000);
  });

  it('kube-apiserver unreachable: the connection error’s code', async () => {
    const down = new KubeClient(staticAccess('http://127.0.0.1:1'));
    try {
      await down.get('/api');
      expect.fail('expected ECONNREFUSED');
    } catch (err) {
      expect((err as { code?: string }).code).to.equal('ECONNREFUSED');
    } finally {
      await down.close();
    }
  });

  it('through the cluster’s proxy-url: the request is tunnelled by the proxy', async () => {
    handler = json(200, { through: 'proxy' });
    const tunnels: string[] = [];
    const proxy = createHttpServer();
    proxy.on('connect', (req: IncomingMessage, socket: Socket) => {
      tunnels.push(req.url ?? '');
      const [host = '', port = ''] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const proxied = new KubeClient(
      staticAccess(url, { proxyUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }),
    );
    try {
      expect(await proxied.get('/api')).to.deep.equal({ through: 'proxy' });
      expect(tunnels).to.deep.equal([url.replace('http://', '')]);
    } finally {
      await proxied.close();
      proxy.closeAllConnections();
      proxy.close();
    }
  });

  describe('watch', () => {
    let open: ServerResponse | undefined;
    afterEach(() => {
      open?.destroy();
      open = undefined;
    });

    /** Answers the watch with its head and `first`, then keeps the stream open for the test. */
    const streaming = (first: string): Handler => {
      return (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(first);
        open = res;
      };
    };

    it('asks for a watch with its options, and yields each event as it is written', async () => {
      handler = streaming(line({ type: 'ADDED', object: cm('a', '5') }));
      const controller = new AbortController();
      const stream = await client.watch<ReturnType<typeof cm>>('/api/v1/configmaps', {
        resourceVersion: '4',
        allowWatchBookmarks: true,
        timeoutSeconds: 300,
        fieldSelector: 'metadata.name=a',
        signal: controller.signal,
      });
      expect(seen[0]!.url).to.equal(
        '/prefix/api/v1/configmaps?watch=true&resourceVersion=4&allowWatchBookmarks=true&timeoutSeconds=300&fieldSelector=metadata.name%3Da',
      );
      const it = stream[Symbol.asyncIterator]();
      expect((await it.next()).value).to.deep.equal({ type: 'ADDED', object: cm('a', '5') });
      // The stream is still open: the next event comes when it is written, split as it may be.
      const next = it.next();
      const modified = line({ type: 'MODIFIED', object: cm('a', '6') });
      open!.write(modified.slice(0, 9));
      await new Promise((r) => setTimeout(r, 50));
      open!.write(modified.slice(9));
      expect((await next).value).to.deep.equal({ type: 'MODIFIED', object: cm('a', '6') });
      // Aborting ends it.
      const after = it.next();
      controller.abort();
      try {
        await after;
        expect.fail('expected the aborted watch to end with an error');
      } catch (err) {
        expect((err as Error).name).to.match(/Abort/);
      }
    });

    it('an ERROR event is thrown as KubeApiError: 410 Expired means relist', async () => {
      handler = streaming(
        line({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }) +
          line({
            type: 'ERROR',
            object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' },
          }),
      );
      const got: WatchEvent<unknown>[] = [];
      let thrown: unknown;
      try {
        for await (const ev of await client.watch('/api/v1/configmaps')) got.push(ev);
      } catch (err) {
        thrown = err;
      }
      expect(got).to.deep.equal([{ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }]);
      expect(thrown).to.be.instanceOf(KubeApiError).and.include({ status: 410, reason: 'Expired' });
      expect(isResourceVersionExpired(thrown)).to.equal(true);
    });

    it('a refused watch is thrown before any event: 410 Gone, 403 Forbidden', async () => {
      handler = json(410, {
        kind: 'Status',
        code: 410,
        reason: 'Gone',
        message: 'too old resource version: 1 (5)',
      });
      let err = await failure(client.watch('/api/v1/configmaps', { resourceVersion: '1' }));
      expect(isResourceVersionExpired(err)).to.equal(true);
      handler = json(403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'no' });
      err = await failure(client.watch('/api/v1/configmaps'));
      expect(err).to.include({ status: 403 });
      expect(isResourceVersionExpired(err)).to.equal(false);
    });

    it('a stream that ends cleanly ends the iteration', async () => {
      handler = (_req, res) => {
        res.writeHead(200).end(line({ type: 'ADDED', object: cm('a', '1') }));
      };
      const got: unknown[] = [];
      for await (const ev of await client.watch('/api/v1/configmaps')) got.push(ev);
      expect(got).to.have.length(1);
    });
  });
});

describe('kube/client KubeClient over TLS', function () {
  this.timeout(20_000);

  it('trusts the cluster CA, names the server as tls-server-name says, presents the client certificate', async () => {
    const ca = await createCA('cluster-ca');
    const serving = await issueCert(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['kubernetes'],
      server: true,
    });
    const clientCa = await createCA('client-ca');
    const user = await issueCert(clientCa, { commonName: 'alice', client: true });
    const https = createHttpsServer(
      {
        key: serving.keyPem,
        cert: serving.certPem,
        ca: clientCa.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ cn: peer.subject.CN }));
      },
    );
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const server = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
    const good = new KubeClient(
      staticAccess(server, {
        tls: { ca: ca.certPem, cert: user.certPem, key: user.keyPem, servername: 'kubernetes' },
      }),
    );
    const untrusting = new KubeClient(
      staticAccess(server, { tls: { cert: user.certPem, key: user.keyPem, servername: 'kubernetes' } }),
    );
    try {
      expect(await good.get('/whoami')).to.deep.equal({ cn: 'alice' });
      let code: string | undefined;
      try {
        await untrusting.get('/whoami');
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code).to.match(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    } finally {
      await Promise.all([good.close(), untrusting.close()]);
      https.closeAllConnections();
      https.close();
    }
  });
});
