// A redirect is followed, with the credential injected afresh, only inside the Connector's
// address: its origin AND its path prefix. A tool at http://tool/team-a that answers "302 to
// /team-b/private" must not get the credential sent to /team-b. What is not followed is either a
// 502 Status (the aggregated API: kube-apiserver would turn a 3xx into a bare 502 anyway) or, for
// callers that can follow a redirect themselves (the Connectors Proxy), relayed unfollowed.

import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { expect } from 'chai';
import type { CredentialInjector } from '../../../proxy/credentials/index.js';
import { DispatcherCache } from '../../../proxy/dispatchers.js';
import { ProxyError } from '../../../proxy/errors.js';
import { forward, type ForwardRequest } from '../../../proxy/forward.js';
import { headerValue } from '../../../proxy/headers.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
}

/** A tool whose answers are 302s to the Location in `redirects` (by request path), else 200. */
async function redirectingTool(
  redirects: Record<string, string>,
): Promise<{ origin: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    const to = redirects[req.url ?? ''];
    if (to !== undefined) {
      res.writeHead(302, { location: to, 'content-type': 'text/plain' });
      res.end('moved');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`landed at ${req.url ?? ''}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const credential: CredentialInjector = {
  inject(headers) {
    headers.authorization = 'Bearer connector-credential';
  },
};

/** A caller's response that records what was written to it. */
function callerResponse(): {
  res: ServerResponse;
  written: () => { status: number; body: string };
  head: () => string[];
} {
  const res = new ServerResponse(new IncomingMessage(new Socket()));
  const chunks: Buffer[] = [];
  let head: string[] = [];
  const writeHead = res.writeHead.bind(res);
  res.writeHead = ((status: number, headers: string[]) => {
    head = headers;
    return writeHead(status, headers);
  }) as ServerResponse['writeHead'];
  res.write = ((chunk: Buffer | string) => {
    chunks.push(Buffer.from(chunk));
    return true;
  }) as ServerResponse['write'];
  res.end = ((chunk?: Buffer | string) => {
    if (chunk !== undefined && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
    res.emit('close');
    return res;
  }) as ServerResponse['end'];
  return {
    res,
    written: () => ({ status: res.statusCode, body: Buffer.concat(chunks).toString() }),
    head: () => head,
  };
}

/** GET /team-a/go on an address with the prefix /team-a, redirects relayed rather than refused. */
const relayedGo = (origin: string): ForwardRequest => ({
  method: 'GET',
  origin,
  path: '/team-a/go',
  headers: {},
  body: null,
  injector: credential,
  prefix: '/team-a',
  relayRedirects: true,
});

describe('proxy/forward: redirects stay inside the Connector address, path prefix included', () => {
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

  async function run(
    origin: string,
    path: string,
    extra: { prefix: string; relayRedirects?: boolean },
  ): Promise<{ status: number; body: string } | ProxyError> {
    const { res, written } = callerResponse();
    // Built as a variable, not a literal, so that this test compiled (and failed) on the code
    // before the fix too, whose ForwardRequest had no prefix.
    const request = { method: 'GET', origin, path, headers: {}, body: null, injector: credential, ...extra };
    try {
      await forward(pools, request, res);
      return written();
    } catch (err) {
      expect(err).to.be.instanceOf(ProxyError);
      expect(res.headersSent).to.equal(false);
      return err as ProxyError;
    }
  }

  const leaving: [string, string][] = [
    ['a sibling prefix', '/team-b/private'],
    ['a prefix that starts with the address prefix', '/team-ab/private'],
    ['the origin root', '/'],
    ['a dot-segment climbing out', '/team-a/../team-b/private'],
    ['an encoded dot-segment climbing out', '/team-a/%2e%2e/team-b/private'],
    ['a double-encoded dot-segment', '/team-a/%252e%252e/team-b/private'],
    ['an encoded slash with a dot-segment', '/team-a/..%2fteam-b'],
  ];
  for (const [title, location] of leaving) {
    it(`GET: a redirect to ${title} (${location}) → UpstreamRedirect (502); nothing sent there`, async () => {
      const tool = await redirectingTool({ '/team-a/go': location });
      server = tool.server;
      const out = await run(tool.origin, '/team-a/go', { prefix: '/team-a' });
      expect(out).to.be.instanceOf(ProxyError);
      const err = out as ProxyError;
      expect(err.code).to.equal('UpstreamRedirect');
      expect(err.message).to.not.contain('connector-credential');
      expect(err.message).to.not.contain('private');
      expect(tool.seen.map((s) => s.url)).to.deep.equal(['/team-a/go']);
    });
  }

  it('names why in the message: outside the address path, or another origin', async () => {
    const tool = await redirectingTool({
      '/team-a/sibling': '/team-b/private',
      '/team-a/away': 'http://127.0.0.2:1/steal',
    });
    server = tool.server;
    const sibling = (await run(tool.origin, '/team-a/sibling', { prefix: '/team-a' })) as ProxyError;
    expect(sibling.message).to.equal(
      "the tool redirected outside the Connector's address path /team-a; a redirect is followed only " +
        `inside the Connector's address ${tool.origin}/team-a`,
    );
    const away = (await run(tool.origin, '/team-a/away', { prefix: '/team-a' })) as ProxyError;
    expect(away.message).to.contain('another origin (http://127.0.0.2:1)');
    expect(away.message).to.not.contain('steal');
  });

  it('a redirect inside the prefix is followed, the credential injected for the new path', async () => {
    const tool = await redirectingTool({ '/team-a/go': '/team-a/landed?x=1', '/team-a/landed?x=1': 'next' });
    server = tool.server;
    const out = await run(tool.origin, '/team-a/go', { prefix: '/team-a' });
    expect(out).to.deep.equal({ status: 200, body: 'landed at /team-a/next' });
    expect(tool.seen).to.deep.equal([
      { method: 'GET', url: '/team-a/go', authorization: 'Bearer connector-credential' },
      { method: 'GET', url: '/team-a/landed?x=1', authorization: 'Bearer connector-credential' },
      { method: 'GET', url: '/team-a/next', authorization: 'Bearer connector-credential' },
    ]);
  });

  it('a redirect to the address path itself is followed', async () => {
    const tool = await redirectingTool({ '/team-a/go': '/team-a' });
    server = tool.server;
    expect(await run(tool.origin, '/team-a/go', { prefix: '/team-a' })).to.deep.equal({
      status: 200,
      body: 'landed at /team-a',
    });
  });

  it('followRedirects false: even a redirect inside the address is relayed, Location mapped', async () => {
    const tool = await redirectingTool({ '/team-a/go': '/team-a/landed' });
    server = tool.server;
    const { res, written, head } = callerResponse();
    const request = {
      ...relayedGo(tool.origin),
      injector: null,
      followRedirects: false,
      mapLocation: (location: string) => `/proxied${location}`,
    };
    expect(await forward(pools, request, res)).to.equal(302);
    expect(written()).to.deep.equal({ status: 302, body: 'moved' });
    expect(headerValue(head(), 'location')).to.equal('/proxied/team-a/landed');
    expect(tool.seen.map((s) => s.url)).to.deep.equal(['/team-a/go']);
  });

  it('relayRedirects: a redirect outside is relayed to the caller unfollowed, Location as sent', async () => {
    const tool = await redirectingTool({ '/team-a/go': '/team-b/private' });
    server = tool.server;
    const { res, written, head } = callerResponse();
    const request = relayedGo(tool.origin);
    expect(await forward(pools, request, res)).to.equal(302);
    expect(written()).to.deep.equal({ status: 302, body: 'moved' });
    expect(headerValue(head(), 'location')).to.equal('/team-b/private');
    expect(tool.seen.map((s) => s.url)).to.deep.equal(['/team-a/go']);
  });

  it('relayRedirects: a redirect inside is still followed', async () => {
    const tool = await redirectingTool({ '/team-a/go': '/team-a/landed' });
    server = tool.server;
    expect(await run(tool.origin, '/team-a/go', { prefix: '/team-a', relayRedirects: true })).to.deep.equal({
      status: 200,
      body: 'landed at /team-a/landed',
    });
  });

  it('a Location that is not a URL is a 502, not an internal error', async () => {
    const tool = await redirectingTool({ '/team-a/go': 'http://[::1' });
    server = tool.server;
    const out = await run(tool.origin, '/team-a/go', { prefix: '/team-a' });
    expect(out).to.be.instanceOf(ProxyError);
    expect((out as ProxyError).code).to.equal('UpstreamRedirect');
  });
});
