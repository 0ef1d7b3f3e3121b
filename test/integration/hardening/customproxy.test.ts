// What a custom Connectors Proxy (the example signing proxy, made with kit/) must never believe or
// do, and what the API server and the built-in proxy must refuse about custom-proxy classes:
//   - identity headers (X-Remote-*, X-Connectors-Subresource) count only on a connection whose client
//     certificate the proxy verified and whose name it allows; from anyone else they are dropped,
//     unread and unforwarded: 401 without a token, the token's own user with one;
//   - a verified certificate of another name is refused (403), even with a user named;
//   - a Connector of a class the proxy does not serve is refused (400);
//   - the API server sends identities over https only (an http spec.proxy.uri is a 400);
//   - the built-in Connectors Proxy refuses a custom-proxy class's Connector, reverse and forward
//     (400 naming the address to use).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Agent } from 'undici';
import { issueCert, type CertKeyPem } from '../../../hack/pki.js';
import type { EchoTool } from '../../../hack/tools/echo-tool.js';
import { startSigningTool } from '../../../hack/tools/signing-tool.js';
import { proxyRbac, send, startProxy, type RunningConnectorsProxy } from '../../helpers/connproxy.js';
import { signedClass, signedConnector, signingUser } from '../../helpers/customproxy.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  kubectlOk,
  kubeRequest,
  namespace,
  proxyPath,
  secret,
  secretValue,
  type RawResponse,
} from '../../helpers/env.js';
import { recordResponse, registerRecorder } from '../../helpers/leaks.js';

const flagValue = (flags: readonly string[], name: string): string =>
  flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3) ?? '';

describe('hardening: custom Connectors Proxies', function () {
  this.timeout(90_000);
  let ns: string;
  let tool: EchoTool;
  let port: number;
  let secureUrl: string;
  let podToken: string;
  let nobodyToken: string;
  /** The API server's client certificate towards class APIs and custom proxies. */
  let apiServerCert: CertKeyPem;
  let caPem: string;

  before(async function () {
    const sys = env().sys;
    if (!sys.signingProxy) throw new Error('the integration system runs without the signing proxy');
    port = Number(new URL(sys.signingProxy.url).port);
    secureUrl = sys.signingProxy.secureUrl;
    caPem = sys.classApiCA.certPem;
    apiServerCert = {
      certPem: readFileSync(flagValue(sys.classApiClientFlags, 'classapi-client-cert-file'), 'utf8'),
      keyPem: readFileSync(flagValue(sys.classApiClientFlags, 'classapi-client-key-file'), 'utf8'),
    };
    ns = await namespace('custom-hard');
    const key = secretValue('signing-key');
    tool = await startSigningTool(Buffer.from(key));
    registerRecorder('the hardening signing tool', tool);
    const otherPassword = secretValue('other-class-password');
    await apply([
      signedClass(),
      connectorClass('http-test'),
      secret(ns, 'signing', 'Opaque', { signingKey: key }),
      signedConnector(ns, 'signed', tool.url, 'signing'),
      basicAuthSecret(ns, 'other-creds', 'u', otherPassword),
      connector(ns, 'other', { address: tool.url, secret: 'other-creds' }),
      ...signingUser(ns, { kind: 'ServiceAccount', name: 'pod' }, ['get']),
      ...signingUser(ns, { kind: 'User', name: 'carol' }, ['get']),
    ]);
    podToken = await sys.cp.createToken(ns, 'pod');
    nobodyToken = await sys.cp.createToken(ns, 'nobody');
    await eventually('the signing proxy to serve the Connector', async () => {
      const r = await send(port, `/namespaces/${ns}/connectors/signed/ready`, {
        authorization: `Bearer ${podToken}`,
      });
      return r.status === 200;
    });
  });

  after(async () => {
    await tool.close();
  });

  /** A request to the proxy's HTTPS port, with a client certificate or none. */
  async function secure(
    path: string,
    headers: Record<string, string>,
    cert?: CertKeyPem,
  ): Promise<RawResponse> {
    const agent = new Agent({
      connect: { ca: caPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
    });
    try {
      const r = await agent.request({ origin: secureUrl, path, method: 'GET', headers });
      const body = await r.body.text();
      recordResponse(`signing-proxy https GET ${path}`, r.headers, body);
      return { status: r.statusCode, headers: r.headers, body };
    } finally {
      await agent.close();
    }
  }

  const forged = {
    'x-remote-user': 'system:admin',
    'x-remote-group': 'system:masters',
    'x-connectors-subresource': 'items',
  };

  it('forged identity headers without a client certificate are ignored: 401 without a token', async () => {
    const before = tool.requests.length;
    const plain = await send(port, `/namespaces/${ns}/connectors/signed/x`, forged);
    expect(plain.status).to.equal(401);
    expect(plain.headers['www-authenticate']).to.equal('Basic realm="connectors-proxy"');
    const tls = await secure(`/namespaces/${ns}/connectors/signed/x`, forged);
    expect(tls.status).to.equal(401);
    expect(tool.requests.length).to.equal(before);
  });

  it("forged identity headers with a token: the token's user decides, and nothing forged reaches the tool", async () => {
    const denied = await send(port, `/namespaces/${ns}/connectors/signed/x`, {
      ...forged,
      authorization: `Bearer ${nobodyToken}`,
    });
    expect(denied.status).to.equal(403);
    expect(denied.body).to.contain(`system:serviceaccount:${ns}:nobody`);
    const served = await secure(`/namespaces/${ns}/connectors/signed/forged`, {
      ...forged,
      authorization: `Bearer ${podToken}`,
    });
    expect(served.status, served.body).to.equal(200);
    const got = tool.requests.at(-1)!;
    expect(got.url).to.equal('/forged');
    expect(
      Object.keys(got.headers).filter((h) => h.startsWith('x-remote-') || h === 'x-connectors-subresource'),
    ).to.deep.equal([]);
    expect(got.headers.authorization).to.equal(undefined);
  });

  it('the allowed client certificate is believed: its X-Remote-User is the caller, who needs RBAC too', async () => {
    const carol = await secure(
      `/namespaces/${ns}/connectors/signed/as-carol`,
      { 'x-remote-user': 'carol' },
      apiServerCert,
    );
    expect(carol.status, carol.body).to.equal(200);
    const dan = await secure(
      `/namespaces/${ns}/connectors/signed/as-dan`,
      { 'x-remote-user': 'dan' },
      apiServerCert,
    );
    expect(dan.status).to.equal(403);
    const nobody = await secure(`/namespaces/${ns}/connectors/signed/x`, {}, apiServerCert);
    expect(nobody.status).to.equal(401);
  });

  it('a client certificate of the trusted CA but not in --allowed-client-names is refused (403)', async () => {
    const other = await issueCert(env().sys.classApiCA, { commonName: 'someone-else', client: true });
    const r = await secure(`/namespaces/${ns}/connectors/signed/x`, { 'x-remote-user': 'carol' }, other);
    expect(r.status).to.equal(403);
    expect((JSON.parse(r.body) as { message: string }).message).to.contain(
      '"someone-else" is not one this proxy takes identities from',
    );
  });

  it('a Connector of a class the proxy does not serve is refused (400)', async () => {
    await apply(signingUser(ns, { kind: 'ServiceAccount', name: 'pod' }, ['get']));
    const r = await send(port, `/namespaces/${ns}/connectors/other/x`, {
      authorization: `Bearer ${podToken}`,
    });
    expect(r.status).to.equal(400);
    expect(JSON.parse(r.body)).to.include({
      message: `Connector ${ns}/other is of class http-test, which this proxy does not serve`,
    });
  });

  it('the API server refuses a class whose proxy is at an http uri (400): identities go over mutual TLS only', async () => {
    await apply([
      signedClass('signed-plain-http', { uri: `http://127.0.0.1:${port}` }),
      signedConnector(ns, 'plain', tool.url, 'signing', 'signed-plain-http'),
    ]);
    await eventually('the API server to see the class', async () => {
      const r = await kubeRequest(proxyPath(ns, 'plain', '/x'));
      return r.status !== 404;
    });
    const r = await kubeRequest(proxyPath(ns, 'plain', '/x'));
    expect(r.status).to.equal(400);
    expect(r.body).to.contain('which is not https');
  });

  describe('the built-in Connectors Proxy', () => {
    let builtin: RunningConnectorsProxy;

    before(async () => {
      const cp = env().sys.cp;
      await apply(proxyRbac('connectors-proxy-custom-test', ns, 'builtin'));
      const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-proxy-custom-test.kubeconfig'), {
        token: await cp.createToken(ns, 'builtin', { expirationSeconds: 3600 }),
      });
      builtin = await startProxy('connectors-proxy-custom-test', kubeconfig, []);
      await kubectlOk([
        'patch',
        'connector',
        'signed',
        `--namespace=${ns}`,
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({
          status: { proxy: { httpAddress: { url: `http://c-signed.${ns}.svc.cluster.local` } } },
        }),
      ]);
    });

    after(async () => {
      await builtin.proc.stop();
    });

    const refusal = (): string =>
      `Connector ${ns}/signed is of ConnectorClass "signed-http", which has a proxy of its own: use http://c-signed.`;

    it('refuses a custom-proxy class’s Connector in reverse mode (400 naming the address)', async () => {
      await eventually('the built-in proxy to see the Connector’s status', async () => {
        const r = await send(builtin.port, `/namespaces/${ns}/connectors/signed/x`, {
          authorization: `Bearer ${podToken}`,
        });
        return r.status === 400 && (JSON.parse(r.body) as { message: string }).message.startsWith(refusal());
      });
    });

    it('and in forward mode', async () => {
      const before = tool.requests.length;
      const r = await send(builtin.port, `${tool.url}/x`, {
        'proxy-authorization': `Basic ${Buffer.from(`${ns}/signed:${podToken}`).toString('base64')}`,
      });
      expect(r.status).to.equal(400);
      expect((JSON.parse(r.body) as { message: string }).message).to.contain(refusal());
      expect(tool.requests.length).to.equal(before);
    });
  });
});
