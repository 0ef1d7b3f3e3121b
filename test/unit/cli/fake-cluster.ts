// A stand-in for kube-apiserver that the plugin reaches through a real kubeconfig: each request is
// recorded (method, path with query, headers, body) and answered by the test's routes; and the
// plugin run in this process with its output captured.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Io } from '../../../cli/io.js';
import { StatusError, type StatusDetails, type StatusReason } from '../../../machinery/status.js';
import { run } from '../../../cli/run.js';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
}

export type Routes = (req: Seen) => Answer | undefined;

export interface FakeCluster {
  url: string;
  seen: Seen[];
  routes: Routes;
  /** A kubeconfig with contexts `main` (current, namespace team-a, token main-token) and `other` (token other-token). */
  kubeconfig: string;
  close(): Promise<void>;
}

/** A metav1.Status answer, as our server builds one. */
export function status(code: number, reason: StatusReason, message: string, details?: StatusDetails): Answer {
  return { status: code, body: new StatusError(code, reason, message, details).status };
}

export async function startFakeCluster(dir: string): Promise<FakeCluster> {
  const seen: Seen[] = [];
  let routes: Routes = () => undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(one);
      const answer =
        routes(one) ?? status(404, 'NotFound', 'the server could not find the requested resource');
      setTimeout(() => {
        const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
        res.end(text);
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: url } }],
      users: [
        { name: 'main', user: { token: 'main-token' } },
        { name: 'other', user: { token: 'other-token' } },
      ],
      contexts: [
        { name: 'main', context: { cluster: 'fake', user: 'main', namespace: 'team-a' } },
        { name: 'other', context: { cluster: 'fake', user: 'other' } },
      ],
      'current-context': 'main',
    }),
  );
  return {
    url,
    kubeconfig,
    seen,
    get routes() {
      return routes;
    },
    set routes(r: Routes) {
      routes = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * A stand-in for the enclosing describe block, started before its tests and stopped after them; its
 * recorded requests and routes are reset before each test. The fields are set once it runs.
 */
export function useFakeCluster(): { fake: FakeCluster; dir: string; kc: string[] } {
  const held = {} as { fake: FakeCluster; dir: string; kc: string[] };
  before(async () => {
    held.dir = mkdtempSync(join(tmpdir(), 'cli-'));
    held.fake = await startFakeCluster(held.dir);
    held.kc = ['--kubeconfig', held.fake.kubeconfig];
  });
  after(async () => {
    await held.fake.close();
    rmSync(held.dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    held.fake.seen.length = 0;
    held.fake.routes = () => undefined;
  });
  return held;
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the plugin in this process; stderr is a terminal when `tty`. */
export async function runPlugin(
  argv: string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: string; tty?: boolean; now?: number } = {},
): Promise<Ran> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = Object.assign(new PassThrough(), { isTTY: opts.tty === true });
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const io: Io = {
    stdout,
    stderr,
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]),
    env: { HOME: '/nonexistent', ...opts.env },
    now: () => opts.now ?? Date.parse('2025-06-01T12:00:00Z'),
  };
  const code = await run(argv, io);
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
