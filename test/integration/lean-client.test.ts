// The aggregated server and the Connectors Proxy never load @kubernetes/client-node (~76 MB of
// RSS, kube/client.ts says why): each is started from its real entry point with a preload that
// records every package module it resolves, made to use every kind of call it makes to
// kube-apiserver (lists and watches until ready, TokenReview, SubjectAccessReview, a Secret read,
// the proxy's CA ConfigMap), and stopped; then its record is read.

import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { Agent } from 'undici';
import { repoRoot } from '../../hack/binaries.js';
import { freePort, ManagedProcess } from '../../hack/process.js';
import { connectorReader, proxyRbac, send, startProxy } from '../helpers/connproxy.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  frontProxyCert,
  grant,
  namespace,
} from '../helpers/env.js';
import { recordResponse } from '../helpers/leaks.js';

const clientNode = '/node_modules/@kubernetes/client-node/';

/** The node flag that records the package modules a process resolves into `out`. */
function traced(out: string): string {
  const url = new URL('../helpers/module-trace.js', import.meta.url);
  url.searchParams.set('out', out);
  return `--import=${url.href}`;
}

function packagesIn(out: string): string[] {
  const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  return [...new Set(lines.map((l) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(l)?.[1] ?? l))].sort();
}

describe('the server and the Connectors Proxy without client-node', function () {
  this.timeout(120_000);
  let ns: string;

  before(async function () {
    ns = await namespace('lean');
    const { tool, toolUser, toolPassword } = env();
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', toolUser, toolPassword),
      connector(ns, 'echo', { address: tool.url, secret: 'creds' }),
      // The proxy's caller: get on the Connector and on connectors/proxy.
      ...grant(ns, 'lean-user', { kind: 'ServiceAccount', name: 'user' }, ['get']),
      ...connectorReader(ns, 'user'),
    ]);
  });

  it('the trace sees a package imported lazily (so an empty finding below means something)', async function () {
    const out = join(env().sys.cp.dir, 'lean-control.modules');
    const r = await ManagedProcess.run(
      process.execPath,
      [
        traced(out),
        '--input-type=module',
        '-e',
        "await new Promise((r) => setTimeout(r, 50)); await import('@kubernetes/client-node');",
      ],
      { cwd: repoRoot() },
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(packagesIn(out)).to.include('@kubernetes/client-node');
  });

  it('the aggregated server (dist/apiserver/main.js)', async function () {
    const { cp } = env().sys;
    const out = join(cp.dir, 'lean-apiserver.modules');
    const token = await cp.createToken('connectors-system', 'connectors-apiserver', {
      expirationSeconds: 3600,
    });
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'lean-apiserver.kubeconfig'), { token });
    const serving = await cp.issueServingCert(['localhost'], ['127.0.0.1']);
    const files = { cert: join(cp.dir, 'lean-serving.crt'), key: join(cp.dir, 'lean-serving.key') };
    await writeFile(files.cert, serving.certPem);
    await writeFile(files.key, serving.keyPem, { mode: 0o600 });
    const port = await freePort();
    const server = ManagedProcess.start({
      name: 'connectors-apiserver (traced)',
      binary: process.execPath,
      args: [
        traced(out),
        join(repoRoot(), 'dist', 'apiserver', 'main.js'),
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        `--tls-cert-file=${files.cert}`,
        `--tls-private-key-file=${files.key}`,
        `--kubeconfig=${kubeconfig}`,
      ],
      logFile: join(env().sys.logDir, 'connectors-apiserver-traced.log'),
    });
    const agent = (cert?: { certPem: string; keyPem: string }): Agent =>
      new Agent({
        connect: { ca: cp.servingCaPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
      });
    const call = async (
      path: string,
      headers: Record<string, string>,
      cert?: { certPem: string; keyPem: string },
    ) => {
      const a = agent(cert);
      try {
        const r = await a.request({ origin: `https://127.0.0.1:${port}`, path, method: 'GET', headers });
        const body = await r.body.text();
        recordResponse(`connectors-apiserver (traced) GET ${path}`, r.headers, body);
        return { status: r.statusCode, body };
      } finally {
        await a.close();
      }
    };
    try {
      // Ready: both informers listed and watching, the authentication ConfigMap read.
      await server.waitUntil(async () => (await call('/readyz', {})).status === 200, {
        timeoutMs: 60_000,
        what: 'the traced server /readyz',
      });
      const proxy = `/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/${ns}/connectors/echo/proxy/x`;
      // A bearer token: TokenReview, then SubjectAccessReview (this ServiceAccount may do nothing).
      const nobody = await cp.createToken(ns, 'nobody');
      expect((await call(proxy, { authorization: `Bearer ${nobody}` })).status).to.equal(403);
      // The front proxy as the admin: the Connector's Secret is read and the tool answers.
      const r = await call(
        proxy,
        { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' },
        frontProxyCert(),
      );
      expect(r.status, r.body).to.equal(200);
    } finally {
      await server.stop();
    }
    expect(readFileSync(join(env().sys.logDir, 'connectors-apiserver-traced.log'), 'utf8')).to.contain(
      '"stopped"',
    );
    const packages = packagesIn(out);
    expect(packages).to.include.members(['undici', 'koa', 'js-yaml']);
    expect(packages).not.to.include('@kubernetes/client-node');
    expect(readFileSync(out, 'utf8')).not.to.contain(clientNode);
  });

  it('the Connectors Proxy (dist/connproxy/main.js)', async function () {
    const { cp } = env().sys;
    const out = join(cp.dir, 'lean-connproxy.modules');
    await apply(proxyRbac('lean-connproxy', ns, 'lean-connproxy'));
    const token = await cp.createToken(ns, 'lean-connproxy', { expirationSeconds: 3600 });
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'lean-connproxy.kubeconfig'), { token });
    const proxy = await startProxy(
      'connectors-proxy-traced',
      kubeconfig,
      [`--publish-ca-configmap=${ns}/lean-proxy-ca`],
      [traced(out)],
    );
    try {
      const user = await cp.createToken(ns, 'user');
      // TokenReview and SubjectAccessReview for the caller, the Secret for the tool.
      for (let i = 0; ; i++) {
        const r = await send(proxy.port, `/namespaces/${ns}/connectors/echo/x`, {
          authorization: `Bearer ${user}`,
        });
        if (r.status === 200) break;
        if (i > 50) expect.fail(`the proxy answered ${r.status}: ${r.body}`);
        await new Promise((res) => setTimeout(res, 200)); // RBAC settles within moments
      }
    } finally {
      await proxy.proc.stop();
    }
    expect(readFileSync(proxy.log, 'utf8')).to.contain('proxy CA published');
    const packages = packagesIn(out);
    expect(packages).to.include('undici');
    expect(packages).not.to.include('@kubernetes/client-node');
    expect(readFileSync(out, 'utf8')).not.to.contain(clientNode);
  });
});
