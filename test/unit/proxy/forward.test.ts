// A tool that was reached but broke the exchange before answering is a 502 (BadGateway), not a
// 503 "cannot be reached": the caller, and whoever reads the metrics, must be told apart a tool
// that is down from one that answers garbage or drops the connection mid-request.

import { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { DispatcherCache } from '../../../proxy/dispatchers.js';
import { ProxyError } from '../../../proxy/errors.js';
import { forward } from '../../../proxy/forward.js';
import { toStatus } from '../../../registry/errors.js';
import { createLogger } from '../../../machinery/log.js';
import { freePort } from '../../../hack/process.js';

/** A raw TCP tool: `answer` gets the socket once the request head has arrived. */
async function rawTool(answer: (socket: Socket) => void): Promise<{ origin: string; server: Server }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      answer(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('proxy/forward: a tool that breaks the exchange before answering', () => {
  let pools: DispatcherCache;
  let server: Server | undefined;

  beforeEach(() => {
    pools = new DispatcherCache({ connectMs: 5_000, headersMs: 5_000, bodyMs: 5_000 });
    server = undefined;
  });

  afterEach(async () => {
    await pools.close();
    const s = server;
    if (s) await new Promise((resolve) => s.close(resolve));
  });

  async function failure(origin: string): Promise<ProxyError> {
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const request = {
      method: 'GET',
      origin,
      prefix: '',
      path: '/',
      headers: {},
      body: null,
      injector: null,
      signal: new AbortController().signal,
    };
    try {
      await forward(pools, request, res);
    } catch (err) {
      expect(err).to.be.instanceOf(ProxyError);
      expect(res.headersSent).to.equal(false);
      return err as ProxyError;
    }
    throw new Error('forward() succeeded');
  }

  const cases: { title: string; answer: (s: Socket) => void; message: RegExp }[] = [
    {
      title: 'resets the connection (RST)',
      answer: (s) => s.resetAndDestroy(),
      message:
        /^the tool at http:\/\/127\.0\.0\.1:\d+ closed the connection before answering \(ECONNRESET\)$/,
    },
    {
      title: 'closes the connection (FIN)',
      answer: (s) => s.end(),
      message: /^the tool at \S+ closed the connection before answering \(UND_ERR_SOCKET\)$/,
    },
    {
      title: 'sends 10,000 headers',
      answer: (s) =>
        s.end(
          `HTTP/1.1 200 OK\r\n${Array.from({ length: 10_000 }, (_, i) => `X-H-${i}: ${i}\r\n`).join('')}\r\n`,
        ),
      message: /^the tool at \S+ sent response headers larger than 16 KiB$/,
    },
    {
      title: 'answers with something that is not HTTP',
      answer: (s) => s.end('SSH-2.0-OpenSSH_9.6\r\n'),
      message: /^the tool at \S+ answered with something that is not HTTP$/,
    },
  ];
  for (const c of cases) {
    it(`${c.title} → UpstreamBroken, a 502 BadGateway Status`, async () => {
      const tool = await rawTool(c.answer);
      server = tool.server;
      const err = await failure(tool.origin);
      expect(err.code).to.equal('UpstreamBroken');
      expect(err.message).to.match(c.message);
      const status = toStatus(err, 'Connector ns/c: ', createLogger({ level: 'error' })).status;
      expect(status).to.include({ code: 502, reason: 'BadGateway' });
      expect(status.message).to.equal(`Connector ns/c: ${err.message}`);
    });
  }

  it('nobody listening stays UpstreamUnreachable, a 503', async () => {
    const err = await failure(`http://127.0.0.1:${await freePort()}`);
    expect(err.code).to.equal('UpstreamUnreachable');
    expect(err.message).to.match(/cannot be reached \(ECONNREFUSED\)$/);
  });
});
