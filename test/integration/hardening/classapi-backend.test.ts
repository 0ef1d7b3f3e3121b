// The class API backend accepts the API server only, and Secret data never travels in clear text.
// Whoever reaches the backend's port directly (another pod on the network) with no client
// certificate, a certificate of another CA, or one of the right CA with another name, is refused
// at the handshake or with a 401/403 Status, and the tool the request names receives nothing; the
// same request through the API server reaches the tool, with the credential. A class whose API
// address is plain http gets no Secret data: the API server refuses, naming the class and the fix.

import { expect } from 'chai';
import { Agent, request } from 'undici';
import { issueCert, type CertKeyPem } from '../../../hack/pki.js';
import { startEchoTool, type EchoTool } from '../../../hack/tools/echo-tool.js';
import {
  apply,
  basicAuthSecret,
  env,
  gvPath,
  kubeRequest,
  namespace,
  secretValue,
} from '../../helpers/env.js';
import { registerRecorder } from '../../helpers/leaks.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('the class API backend serves the API server only', function () {
  this.timeout(120_000);
  const user = 'backend-bot';
  const password = secretValue('classapi-backend-password');
  let tool: EchoTool;
  let ns: string;

  /** The headers the API server sends, naming the tool and carrying its credential. */
  const pluginHeaders = (): Record<string, string> => ({
    'x-plugin-meta': b64(JSON.stringify({ baseURL: tool.url })),
    'x-plugin-auth': b64('kubernetes.io/basic-auth'),
    'x-plugin-secret': b64(JSON.stringify({ username: b64(user), password: b64(password) })),
  });

  before(async function () {
    const { sys } = env();
    tool = await startEchoTool({ username: user, password });
    registerRecorder('the tool behind the class API backend', tool, [password]);
    await sys.installClasses();
    ns = await namespace('classapi-backend');
    await apply([
      basicAuthSecret(ns, 'creds', user, password),
      {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'git', namespace: ns },
        spec: {
          connectorClassName: 'git',
          address: tool.url,
          auth: { name: 'basicAuth', secretRef: { name: 'creds' } },
        },
      },
    ]);
  });

  after(async function () {
    await tool.close();
  });

  it('is served over https only', function () {
    expect(new URL(env().sys.classApiUrl).protocol).to.equal('https:');
  });

  const strangers: { title: string; client: () => Promise<CertKeyPem | undefined> }[] = [
    { title: 'no client certificate', client: () => Promise.resolve(undefined) },
    {
      title: 'a certificate of the cluster’s client CA (another CA)',
      client: () => Promise.resolve(env().sys.cp.admin),
    },
    {
      title: 'a certificate of an unrelated CA with the API server’s name',
      client: () =>
        issueCert(env().sys.cp.otherCA, {
          commonName: 'system:serviceaccount:connectors-system:connectors-apiserver',
          client: true,
        }),
    },
    {
      title: 'a certificate of the backend’s CA with another name',
      client: () =>
        issueCert(env().sys.classApiCA, { commonName: 'system:serviceaccount:team-a:builder', client: true }),
    },
  ];
  for (const c of strangers) {
    it(`refuses a direct caller with ${c.title}; the tool receives nothing`, async function () {
      const client = await c.client();
      const agent = new Agent({
        connect: {
          ca: env().sys.classApiCA.certPem,
          ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
        },
      });
      const before = tool.requests.length;
      try {
        for (const path of ['/git/branches?repository=org/app.git', '/oci/tags?repository=x', '/nowhere']) {
          let outcome: string;
          try {
            const res = await request(`${env().sys.classApiUrl}${path}`, {
              dispatcher: agent,
              headers: pluginHeaders(),
            });
            const text = await res.body.text();
            outcome = String(res.statusCode);
            if (res.statusCode === 401 || res.statusCode === 403) {
              expect(JSON.parse(text)).to.include({ kind: 'Status', code: res.statusCode });
            }
          } catch (err) {
            outcome = 'refused at the handshake';
            expect(String((err as { code?: string }).code ?? err)).to.match(
              /UND_ERR_SOCKET|ECONNRESET|ERR_SSL|EPIPE/,
            );
          }
          expect(outcome, path).to.be.oneOf(['401', '403', 'refused at the handshake']);
        }
      } finally {
        await agent.close();
      }
      expect(tool.requests.length).to.equal(before);
    });
  }

  it('serves the same request through the API server, whose client certificate it accepts', async function () {
    const before = tool.requests.length;
    const r = await kubeRequest(`${gvPath}/namespaces/${ns}/connectors/git/branches?repository=org/app.git`);
    // The echo tool speaks no Git: the backend reached it and says so (502), with the credential sent.
    expect(r.status, r.body).to.equal(502);
    expect(r.body).to.contain('did not answer with a smart-HTTP ref advertisement');
    const reached = tool.requests.slice(before);
    expect(reached.map((q) => q.url)).to.deep.equal(['/org/app.git/info/refs?service=git-upload-pack']);
    expect(reached[0]?.headers.authorization).to.equal(`Basic ${b64(`${user}:${password}`)}`);
  });

  it('a class whose API address is plain http gets no Secret data: a Status names the class and the fix', async function () {
    const backend = await startEchoTool();
    registerRecorder('a plain-http class API backend', backend);
    try {
      await apply([
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'ConnectorClass',
          metadata: { name: 'plain-http-api' },
          spec: {
            address: { name: 'address', type: 'string' },
            auth: { types: [{ name: 'basicAuth', secretType: 'kubernetes.io/basic-auth' }] },
            api: {
              uri: `${backend.url}/api`,
              openapi: {
                openapi: '3.0.3',
                info: { title: 'plain', version: '1' },
                paths: { '/branches': { get: { operationId: 'listBranches', 'x-provider-type': 'api' } } },
              },
            },
          },
        },
        {
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name: 'plain', namespace: ns },
          spec: {
            connectorClassName: 'plain-http-api',
            address: tool.url,
            auth: { name: 'basicAuth', secretRef: { name: 'creds' } },
          },
        },
      ]);
      let r = await kubeRequest(`${gvPath}/namespaces/${ns}/connectors/plain/branches`);
      for (let i = 0; i < 50 && r.status === 404; i++) {
        await new Promise((res) => setTimeout(res, 200)); // the class reaches the server's informer
        r = await kubeRequest(`${gvPath}/namespaces/${ns}/connectors/plain/branches`);
      }
      expect(r.status, r.body).to.equal(400);
      const status = JSON.parse(r.body) as { kind: string; message: string };
      expect(status.kind).to.equal('Status');
      expect(status.message).to.contain('ConnectorClass "plain-http-api"');
      expect(status.message).to.contain('https');
      expect(backend.requests).to.deep.equal([]);
    } finally {
      await backend.close();
    }
  });
});
