// A tool whose certificate chains to a private CA: unreachable (503, naming the TLS failure) until
// the Connector names a Secret with that CA in spec.caCertSecretRef; then served, credential and all.

import { expect } from 'chai';
import { startGitServer, type GitServer } from '../../hack/tools/gitserver.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  kubeRequest,
  namespace,
  proxyPath,
  secretValue,
} from '../helpers/env.js';

describe('tools with a private CA (spec.caCertSecretRef)', function () {
  let ns: string;
  let git: GitServer;
  const repo = 'org/tls.git';

  before(async function () {
    const password = secretValue('tls-git-password');
    git = await startGitServer({ username: 'tls-user', password, tls: true, logDir: env().sys.logDir });
    await git.createRepo(repo, { branches: ['main'], tags: [] });
    ns = await namespace('tls');
    await apply([
      connectorClass('http-test'),
      basicAuthSecret(ns, 'creds', 'tls-user', password),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'git-ca', namespace: ns },
        type: 'Opaque',
        stringData: { 'ca.crt': git.caCertPem ?? '' },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'not-a-ca', namespace: ns },
        type: 'Opaque',
        stringData: { note: 'no certificate here' },
      },
      connector(ns, 'untrusted', { address: git.url, secret: 'creds' }),
      {
        ...(connector(ns, 'trusted', { address: git.url, secret: 'creds' }) as { spec: object }),
        spec: {
          connectorClassName: 'http-test',
          address: git.url,
          auth: { name: 'basicAuth', secretRef: { name: 'creds' } },
          caCertSecretRef: { name: 'git-ca' },
        },
      },
      {
        ...(connector(ns, 'bad-ca', { address: git.url }) as { spec: object }),
        spec: { connectorClassName: 'http-test', address: git.url, caCertSecretRef: { name: 'not-a-ca' } },
      },
    ]);
  });

  after(async function () {
    await git.stop();
  });

  const refs = `/${repo}/info/refs?service=git-upload-pack`;

  it('without the CA the tool is unreachable: 503 naming the TLS failure', async function () {
    expect(git.url).to.match(/^https:/);
    const r = await kubeRequest(proxyPath(ns, 'untrusted', refs));
    expect(r.status).to.equal(503);
    expect(r.body).to.match(
      /cannot be reached \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|DEPTH_ZERO_SELF_SIGNED_CERT)\)/,
    );
  });

  it('with caCertSecretRef the tool is trusted and answers', async function () {
    const r = await kubeRequest(proxyPath(ns, 'trusted', refs));
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.equal('application/x-git-upload-pack-advertisement');
    expect(r.body).to.contain('refs/heads/main');
  });

  it('a caCertSecretRef without a certificate is a 400 naming the Secret', async function () {
    const r = await kubeRequest(proxyPath(ns, 'bad-ca', refs));
    expect(r.status).to.equal(400);
    expect(r.body).to.contain(`spec.caCertSecretRef: Secret ${ns}/not-a-ca holds no PEM certificate`);
  });
});
