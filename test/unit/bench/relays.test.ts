// The relays the bench compares our servers with must do the job they are named for, or their rows
// measure an error page: each relays a request to the tool with the Basic credential in place of
// the caller's, and the tool's answer back. The Node relay runs from dist/ as the bench runs it;
// the Go relay is built by the bench's own build step (into the cache).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { request } from 'undici';
import { cacheRoot } from '../../../hack/cache.js';
import { findGo, goRelayBinary } from '../../../bench/gorelay.js';
import { repoRoot } from '../../../hack/binaries.js';
import { freePort, ManagedProcess } from '../../../hack/process.js';

const credential = 'Basic dG9vbDpzZWNyZXQ=';

describe('bench relays', function () {
  this.timeout(120_000);
  let tool: Server;
  let toolUrl: string;
  let seen: { url: string | undefined; headers: IncomingHttpHeaders }[];
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-relays-'));
    tool = createServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'x-tool': 'yes' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
    toolUrl = `http://127.0.0.1:${(tool.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    seen = [];
  });

  after(async () => {
    tool.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function through(binary: string, args: (port: number) => string[], env: NodeJS.ProcessEnv = {}) {
    const port = await freePort();
    const proc = ManagedProcess.start({
      name: 'relay',
      binary,
      args: args(port),
      env: { ...process.env, ...env, BENCH_TOOL_AUTHORIZATION: credential },
      logFile: join(dir, `relay-${port}.log`),
    });
    try {
      let answer: { status: number; tool: unknown; body: string } | undefined;
      await proc.waitUntil(
        async () => {
          const r = await request(`http://127.0.0.1:${port}/data.json?x=1`, {
            headers: { authorization: 'Bearer caller-token' },
          });
          answer = { status: r.statusCode, tool: r.headers['x-tool'], body: await r.body.text() };
          return true;
        },
        { timeoutMs: 20_000, what: 'the relay' },
      );
      return answer;
    } finally {
      await proc.stop();
    }
  }

  const expectRelayed = (answer: { status: number; tool: unknown; body: string } | undefined): void => {
    expect(answer).to.deep.equal({ status: 200, tool: 'yes', body: '{"ok":true}' });
    expect(seen).to.have.length(1);
    expect(seen[0]?.url).to.equal('/data.json?x=1');
    expect(seen[0]?.headers.authorization).to.equal(credential);
  };

  it('bare-relay-main relays with the credential injected (plain HTTP)', async () => {
    const main = join(repoRoot(), 'dist', 'bench', 'bare-relay-main.js');
    expectRelayed(await through(process.execPath, (port) => [main, String(port), toolUrl]));
  });

  it('go-relay relays with the credential injected (plain HTTP)', async function () {
    const go = findGo();
    // `npm test` needs Go (it builds kube-apiserver and etcd); the bench alone does without.
    if (!go) throw new Error('go is neither on PATH nor in /usr/local/go/bin');
    const { binary } = await goRelayBinary({
      source: join(repoRoot(), 'bench', 'go-relay'),
      cache: cacheRoot(),
      go,
    });
    expectRelayed(await through(binary, (port) => [String(port), toolUrl], { GOMAXPROCS: '1' }));
  });
});
