// Graceful shutdown: on SIGTERM the server stops accepting but lets an in-flight stream finish,
// then exits 0; started again, it serves through kube-apiserver as before.

import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { get } from 'node:https';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  frontProxyCert,
  kubeRequest,
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
    // node:https, not undici: once this response is complete the draining server closes the idle
    // connection, and undici 7.30 fails a body whose consumer is paused when that close arrives,
    // even with every byte received (nodejs/undici#5360). Node's client, like kube-apiserver's,
    // takes a close after a complete response as the end it is.
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const url = new URL(sys.serverUrl);
      get(
        {
          host: url.hostname,
          port: url.port,
          path: proxyPath(ns, 'echo', `/bytes/${size}`),
          ca: sys.servingCaPem,
          cert: fp.certPem,
          key: fp.keyPem,
          headers: { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
        },
        resolve,
      ).on('error', reject);
    });
    expect(res.statusCode).to.equal(200);
    let received = 0;
    let stopping: Promise<unknown> | undefined;
    for await (const chunk of res) {
      received += (chunk as Buffer).length;
      // Signal once the stream is well under way, then keep reading slowly.
      if (!stopping && received > 1024 * 1024) stopping = sys.stopServer();
      if (stopping) await new Promise((r) => setTimeout(r, 1));
    }
    await stopping;
    expect(received).to.equal(size);
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
});
