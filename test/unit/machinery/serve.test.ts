// The serving kit (machinery/serve.ts): /readyz lists the shutdown first, then what each process
// waits for; a shutdown runs once however often it is asked for, and releases what the process
// holds only after the listener has closed; servers made by the kit bound their clients alike.

import { request } from 'node:http';
import { expect } from 'chai';
import { createLogger, type Logger } from '../../../machinery/log.js';
import { Serving, type ServingOptions } from '../../../machinery/serve.js';

function recordingLog(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const log = createLogger({
    level: 'info',
    write: (line) => messages.push((JSON.parse(line) as { msg: string }).msg),
  });
  return { log, messages };
}

const options = (log: Logger, ready: ServingOptions['ready'] = []): ServingOptions => ({
  limits: {
    maxInflight: { readOnly: 0, mutating: 0 },
    deadlines: { headerMs: 5_000, bodyIdleMs: 5_000 },
    listenSockets: 1,
  },
  timing: { delayMs: 0, graceMs: 5_000 },
  log,
  ready,
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    })
      .on('error', reject)
      .end();
  });
}

describe('machinery/serve Serving', () => {
  it('reports each readiness check that fails, and the shutdown once it has begun', async () => {
    let synced = false;
    const { log } = recordingLog();
    const serving = new Serving(
      options(log, [() => (synced ? undefined : 'informers have not synced'), () => undefined]),
    );
    expect(serving.notReady()).to.deep.equal(['informers have not synced']);
    synced = true;
    expect(serving.notReady()).to.deep.equal([]);

    const running = await serving.start(
      serving.http(() => undefined),
      {
        port: 0,
        bindAddress: '127.0.0.1',
        release: () => Promise.resolve(),
      },
    );
    synced = false;
    await running.shutdown();
    expect(serving.notReady()).to.deep.equal(['shutting down', 'informers have not synced']);
  });

  it('shuts down once however often asked, releasing only after the listener has closed', async () => {
    const { log, messages } = recordingLog();
    const serving = new Serving(options(log));
    const server = serving.http((_req, res) => {
      res.end('ok');
    });
    let releases = 0;
    let listeningAtRelease: boolean | undefined;
    const running = await serving.start(server, {
      port: 0,
      bindAddress: '127.0.0.1',
      fields: { mode: 'test' },
      release: () => {
        releases++;
        listeningAtRelease = server.listening;
        return Promise.resolve();
      },
    });
    expect(await get(running.port, '/')).to.deep.equal({ status: 200, body: 'ok' });
    const first = running.shutdown();
    expect(running.shutdown()).to.equal(first);
    await Promise.all([first, running.shutdown()]);
    expect(releases).to.equal(1);
    expect(listeningAtRelease).to.equal(false);
    expect(messages[0]).to.equal('serving');
    expect(messages.at(-1)).to.equal('stopped');
  });

  it('serves more listeners of the process and drains them all before releasing', async () => {
    const { log } = recordingLog();
    const serving = new Serving(options(log));
    const main = serving.http((_req, res) => {
      res.end('main');
    });
    const more = serving.http((_req, res) => {
      res.end('more');
    });
    let listeningAtRelease: boolean[] = [];
    const running = await serving.start(main, {
      port: 0,
      bindAddress: '127.0.0.1',
      more: [{ server: more, port: 0 }],
      release: () => {
        listeningAtRelease = [main.listening, more.listening];
        return Promise.resolve();
      },
    });
    const [morePort] = running.morePorts;
    expect(morePort).to.be.a('number').and.not.equal(running.port);
    expect(await get(running.port, '/')).to.deep.equal({ status: 200, body: 'main' });
    expect(await get(morePort!, '/')).to.deep.equal({ status: 200, body: 'more' });
    await running.shutdown();
    expect(listeningAtRelease).to.deep.equal([false, false]);
  });

  it('keeps idle connections longer than clients do, and lifts the request timeout only for streams', () => {
    const serving = new Serving(options(recordingLog().log));
    const plain = serving.http(() => undefined);
    const streams = serving.http(() => undefined, { streams: true });
    const inner = serving.innerServer({ streams: true });
    expect([plain, streams, inner].map((s) => s.keepAliveTimeout)).to.deep.equal([95_000, 95_000, 95_000]);
    expect(plain.requestTimeout).to.equal(300_000);
    expect([streams.requestTimeout, inner.requestTimeout]).to.deep.equal([0, 0]);
    expect(inner.maxHeadersCount).to.equal(0); // every header line kept, as on a listening server
  });

  it('refuses beyond the in-flight budget but never the exempt requests', async () => {
    const { log } = recordingLog();
    const opts = options(log);
    const serving = new Serving({
      ...opts,
      limits: { ...opts.limits, maxInflight: { readOnly: 1, mutating: 1 } },
    });
    const held: (() => void)[] = [];
    const server = serving.http(
      serving.guard(
        (req, res) => {
          if (req.url === '/readyz') {
            res.end('ok\n');
            return;
          }
          res.writeHead(200);
          res.write('streaming');
          held.push(() => res.end());
        },
        (req) => req.url === '/readyz',
      ),
    );
    const running = await serving.start(server, {
      port: 0,
      bindAddress: '127.0.0.1',
      release: () => Promise.resolve(),
    });
    const stream = new Promise<void>((resolve, reject) => {
      request({ host: '127.0.0.1', port: running.port, path: '/stream', agent: false }, (res) => {
        res.resume();
        res.once('data', () => {
          resolve();
        });
      })
        .on('error', reject)
        .end();
    });
    await stream;
    expect((await get(running.port, '/other')).status).to.equal(429);
    expect(await get(running.port, '/readyz')).to.deep.equal({ status: 200, body: 'ok\n' });
    for (const end of held) end();
    await running.shutdown();
  });
});
