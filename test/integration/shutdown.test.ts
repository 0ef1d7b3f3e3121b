// Graceful shutdown: on SIGTERM the server stops accepting but lets an in-flight stream finish,
// then exits 0; started again, it serves through kube-apiserver as before. With
// --shutdown-delay-duration, a replica going away fails no request of a client that keeps sending
// while the endpoints catch up.

import { join } from 'node:path';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  frontProxyCert,
  kubeRequest,
  loggedSince,
  namespace,
  proxyPath,
} from '../helpers/env.js';

describe('graceful shutdown', function () {
  it('an in-flight download completes after SIGTERM; the server exits 0 and comes back', async function () {
    const ns = await namespace('shutdown');
    const { tool, toolUser, toolPassword, sys } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
    ]);
    await eventually('the Connector to reach the server', async () => {
      return (await kubeRequest(proxyPath(ns, 'echo', '/ready'))).status === 200;
    });

    const size = 32 * 1024 * 1024;
    const fp = frontProxyCert();
    // Straight to the server as kube-apiserver's front proxy would call it. Once the response is
    // complete the draining server closes the idle connection; the client takes that as the end.
    const agent = new Agent({ connect: { ca: sys.servingCaPem, cert: fp.certPem, key: fp.keyPem } });
    const res = await request(new URL(proxyPath(ns, 'echo', `/bytes/${size}`), sys.serverUrl), {
      dispatcher: agent,
      headers: { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
    });
    expect(res.statusCode).to.equal(200);
    let received = 0;
    let stopping: Promise<unknown> | undefined;
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      // Signal once the stream is well under way, then keep reading slowly.
      if (!stopping && received > 1024 * 1024) stopping = sys.stopServer();
      if (stopping) await new Promise((r) => setTimeout(r, 1));
    }
    await stopping;
    expect(received).to.equal(size);
    await agent.close();
    expect(sys.server.exitStatus?.code).to.equal(0);

    await sys.startServer();
    await eventually(
      'the server to serve through kube-apiserver again',
      async () => {
        return (await kubeRequest(proxyPath(ns, 'echo', '/again'))).status === 200;
      },
      60_000,
    );
  });

  // What a rolling update or `kubectl delete pod` does to a replica: SIGTERM, while kube-proxy and
  // kube-apiserver's aggregator go on sending it requests, new connections included, until the
  // endpoint change reaches them. Here a client balances continuous requests over two replicas on
  // keep-alive connections (undici, as a Node client would) and plays the endpoints itself: it
  // drops replica A only after A has answered `lag` requests with Connection: close, that is well
  // after A got SIGTERM. A second SIGTERM and a SIGINT arrive in between, as an impatient operator
  // would send them.
  it('with --shutdown-delay-duration, a client sending continuously while a replica stops sees no failed request', async function () {
    this.timeout(180_000);
    const ns = await namespace('shutdown-delay');
    const { tool, toolUser, toolPassword, sys } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
    ]);
    const delay = ['--shutdown-delay-duration=5s'];
    const since = Date.now();
    const [a, b] = await Promise.all([
      sys.startReplica('connectors-apiserver-a', delay),
      sys.startReplica('connectors-apiserver-b', delay),
    ]);
    const fp = frontProxyCert();
    const agent = new Agent({ connect: { ca: sys.servingCaPem, cert: fp.certPem, key: fp.keyPem } });
    const headers = { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' };
    const get = (url: string, path: string) =>
      request(new URL(path, url), { dispatcher: agent, headers }).then(async (res) => ({
        status: res.statusCode,
        connection: res.headers.connection,
        body: await res.body.text(),
      }));
    try {
      for (const replica of [a, b]) {
        await eventually(`${replica.url} to serve the Connector`, async () => {
          return (await get(replica.url, proxyPath(ns, 'echo', '/ready'))).status === 200;
        });
      }

      const lag = 50;
      let endpoints = [a.url, b.url];
      let closedByA = 0;
      let answered = 0;
      let stopped = false;
      const failures: string[] = [];
      let readyzOfA: { status: number; body: string } | undefined;
      let readyzChecked: Promise<void> = Promise.resolve();
      const worker = async (id: number): Promise<void> => {
        for (let n = 0; !stopped; n++) {
          const url = endpoints[(id + n) % endpoints.length] ?? b.url;
          try {
            const r = await get(url, proxyPath(ns, 'echo', `/w${id}/${n}`));
            answered++;
            if (r.status !== 200) failures.push(`${url}: ${r.status} ${r.body}`);
            if (url !== a.url || r.connection !== 'close') continue;
            closedByA++;
            if (closedByA === 10) {
              process.kill(a.process.pid as number, 'SIGTERM');
              process.kill(a.process.pid as number, 'SIGINT');
            }
            if (closedByA === lag) {
              endpoints = [b.url];
              readyzChecked = get(a.url, '/readyz').then((ready) => {
                readyzOfA = { status: ready.status, body: ready.body };
              });
            }
          } catch (err) {
            failures.push(`${url}: ${(err as { code?: string }).code ?? String(err)}`);
          }
        }
      };
      const workers = [0, 1, 2, 3].map(worker);
      // Keep-alive connections to both replicas are in use before the signal.
      await eventually('requests to flow', () => Promise.resolve(answered >= 100));
      expect(closedByA, 'no Connection: close before the signal').to.equal(0);
      const exit = await a.process.stop(60_000);
      const answeredWhenAExited = answered;
      await eventually('B to go on answering', () => Promise.resolve(answered >= answeredWhenAExited + 100));
      stopped = true;
      await Promise.all(workers);
      await readyzChecked;

      expect(failures).to.deep.equal([]);
      expect(closedByA).to.be.at.least(lag);
      // kubelet saw the replica NotReady while it still served.
      expect(readyzOfA).to.deep.equal({ status: 503, body: 'not ready: shutting down\n' });
      expect(exit.code).to.equal(0);
      const logged = loggedSince(join(sys.logDir, 'connectors-apiserver-a.log'), since);
      expect(logged).to.include.members(['shutdown delay over', 'signal received; already shutting down']);
      // Every connection had closed by the drain: nothing was left for the end of the grace period.
      expect(logged).not.to.include('grace period over; closing the remaining connections');
    } finally {
      await agent.close();
      await Promise.all([a.process.stop(), b.process.stop()]);
    }
  });
});
