// Bodies stream through /proxy in both directions via kube-apiserver without the server's memory
// growing with the body: 100 MiB each way while the server's RSS is sampled from /proc.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { Agent } from 'undici';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  kubeRequest,
  namespace,
  proxyPath,
} from '../helpers/env.js';
import { mib, rssBytes, sampleRss } from '../helpers/memory.js';

const size = 100 * 1024 * 1024;
const chunk = Buffer.alloc(64 * 1024, 'c');

function generated(total: number, hash: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk.length, total - sent);
      const piece = chunk.subarray(0, n);
      hash.update(piece);
      sent += n;
      this.push(piece);
    },
  });
}

describe('streaming through /proxy', function () {
  let ns: string;
  let pid: number;

  before(async function () {
    ns = await namespace('stream');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
    ]);
    pid = env().sys.server.pid as number;
    // Warm the path (pools, caches, JIT) so the baseline is the steady state.
    for (let i = 0; i < 5; i++) await kubeRequest(proxyPath(ns, 'echo', '/bytes/1048576'));
  });

  it('100 MiB download: every byte arrives and server memory stays flat', async function () {
    const baseline = rssBytes(pid);
    const stop = sampleRss(pid);
    const cp = env().sys.cp;
    const agent = new Agent({
      connect: { ca: cp.caCertPem, cert: cp.admin.certPem, key: cp.admin.keyPem },
      allowH2: false,
    });
    const res = await agent.request({
      origin: cp.server,
      path: proxyPath(ns, 'echo', `/bytes/${size}`),
      method: 'GET',
    });
    let received = 0;
    for await (const c of res.body) received += (c as Buffer).length;
    await agent.close();
    const peak = stop();
    expect(res.statusCode).to.equal(200);
    expect(received).to.equal(size);
    this.test!.title += ` (RSS ${mib(baseline)} → peak ${mib(peak)})`;
    expect(peak - baseline).to.be.below(48 * 1024 * 1024);
  });

  it('100 MiB upload: the tool receives every byte intact and server memory stays flat', async function () {
    const baseline = rssBytes(pid);
    const stop = sampleRss(pid);
    const hash = createHash('sha256');
    const r = await kubeRequest(proxyPath(ns, 'echo', '/sink'), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: generated(size, hash),
    });
    const peak = stop();
    expect(r.status).to.equal(200);
    const got = JSON.parse(r.body) as { bytes: number; sha256: string };
    expect(got.bytes).to.equal(size);
    expect(got.sha256).to.equal(hash.digest('hex'));
    this.test!.title += ` (RSS ${mib(baseline)} → peak ${mib(peak)})`;
    expect(peak - baseline).to.be.below(48 * 1024 * 1024);
  });
});
