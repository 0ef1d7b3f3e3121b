// The floor of Node's stack on this machine: a server that relays every request to the tool with
// undici, injecting the Basic credential as nginx does, and does nothing else (no authentication,
// authorization, routing, metrics or logs). It uses the same undici dispatch interface as
// proxy/forward.ts. Over HTTPS it is the floor of our /proxy, over plain HTTP (no certificate given)
// that of the Connectors Proxy; the ratio of ours to it is what our handler chain costs. It runs
// with the V8 heap setting both of ours run with (machinery/heap.ts): that is how we run
// Node, not part of the chain.
//   BENCH_TOOL_AUTHORIZATION='Basic …' node dist/bench/bare-relay-main.js <port> <tool url> [<cert.pem> <key.pem>]

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Pool, type Dispatcher } from 'undici';
import { tuneHeapForStreaming } from '../machinery/heap.js';

const [port, toolUrl, certFile, keyFile] = process.argv.slice(2);
if (!port || !toolUrl || !certFile !== !keyFile) {
  process.stderr.write('usage: bare-relay-main.js <port> <tool url> [<cert.pem> <key.pem>]\n');
  process.exit(2);
}
tuneHeapForStreaming();
const authorization = process.env.BENCH_TOOL_AUTHORIZATION ?? '';
const pool = new Pool(toolUrl, { connections: 256, allowH2: false });
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding']);

/** Relays one answer as proxy/forward.ts does, minus everything but the headers' hop-by-hop filter. */
class Relay implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}

  private controller: Dispatcher.DispatchController | undefined;
  private readonly resume = (): void => this.controller?.resume();

  // undici 8 refuses a handler without it (InvalidArgumentError, which became a 502 for every
  // request); the relay has nothing to do before the request goes out.
  onRequestStart(): void {
    return;
  }

  onResponseError(): void {
    if (this.res.headersSent) this.res.destroy();
    else this.res.writeHead(502).end();
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number): void {
    const raw = controller.rawHeaders as Buffer[];
    const headers: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = String(raw[i]);
      if (!hopByHop.has(name.toLowerCase())) headers.push(name, String(raw[i + 1]));
    }
    this.res.writeHead(status, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.res.write(chunk)) return;
    this.controller = controller;
    controller.pause();
    this.res.once('drain', this.resume);
  }

  onResponseEnd(): void {
    this.res.end();
  }
}

/** A request body (the uploads of the streaming rows) streams through with its length and type. */
const relay = (req: IncomingMessage, res: ServerResponse): void => {
  const length = req.headers['content-length'];
  const headers: Record<string, string> = { authorization };
  if (length !== undefined) headers['content-length'] = length;
  if (req.headers['content-type'] !== undefined) headers['content-type'] = req.headers['content-type'];
  pool.dispatch(
    {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers,
      body: req.headers['transfer-encoding'] !== undefined || (length ?? '0') !== '0' ? req : null,
    },
    new Relay(res),
  );
};
const server =
  certFile && keyFile
    ? createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, relay)
    : createHttpServer(relay);
server.listen(Number(port), '127.0.0.1');
