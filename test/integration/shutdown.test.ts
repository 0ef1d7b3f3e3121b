// Graceful shutdown: on SIGTERM the server stops accepting but lets an in-flight stream finish,
// then exits 0; started again, it serves through kube-apiserver as before.

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
});
