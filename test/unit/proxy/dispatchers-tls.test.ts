// Pools towards class API backends present a client certificate and trust an extra CA, both read at
// every new connection: after the files are reloaded (a new ClientTls object), new connections
// present the new certificate, without the pool being dropped.
import { X509Certificate } from 'node:crypto';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { expect } from 'chai';
import type { ClientTls } from '../../../machinery/certificates.js';
import { createCA, issueCert, type CertKeyPem } from '../../../hack/pki.js';
import { DispatcherCache } from '../../../proxy/dispatchers.js';

describe('proxy/dispatchers client TLS', () => {
  let server: Server;
  let origin: string;
  let first: CertKeyPem;
  let second: CertKeyPem;
  let caPem: string;

  before(async () => {
    const ca = await createCA('backend-ca');
    caPem = ca.certPem;
    const serving = await issueCert(ca, { commonName: 'backend', ipAddresses: ['127.0.0.1'], server: true });
    [first, second] = await Promise.all([
      issueCert(ca, { commonName: 'first-client', client: true }),
      issueCert(ca, { commonName: 'second-client', client: true }),
    ]);
    server = createServer(
      {
        cert: serving.certPem,
        key: serving.keyPem,
        ca: [ca.certPem],
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerX509Certificate();
        res.end(peer ? new X509Certificate(peer.raw).subject : '');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('presents the current client certificate on each new connection, trusting the extra CA', async () => {
    let tls: ClientTls = { ca: caPem, cert: first.certPem, key: first.keyPem };
    const pools = new DispatcherCache(
      { connectMs: 2_000, headersMs: 2_000, bodyMs: 2_000 },
      { connectionsPerOrigin: 1, clientTls: () => tls },
    );
    try {
      const ask = async (): Promise<string> => {
        const res = await pools.get(origin).request({ path: '/', method: 'GET', reset: true });
        return res.body.text();
      };
      expect(await ask()).to.equal('CN=first-client');
      tls = { ca: caPem, cert: second.certPem, key: second.keyPem };
      expect(await ask()).to.equal('CN=second-client');
    } finally {
      await pools.close();
    }
  });

  it('without the CA the backend is not trusted; without a certificate it refuses the handshake', async () => {
    for (const tls of [{ cert: first.certPem, key: first.keyPem }, { ca: caPem }] as ClientTls[]) {
      const pools = new DispatcherCache(
        { connectMs: 2_000, headersMs: 2_000, bodyMs: 2_000 },
        { connectionsPerOrigin: 1, clientTls: () => tls },
      );
      try {
        let failed = false;
        try {
          await (await pools.get(origin).request({ path: '/', method: 'GET' })).body.text();
        } catch {
          failed = true;
        }
        expect(failed, JSON.stringify(Object.keys(tls))).to.equal(true);
      } finally {
        await pools.close();
      }
    }
  });
});

// undici speaks HTTP/2 on any connection whose ALPN settled on h2, whatever the pool's allowH2
// says; a tool that prefers h2 (kube-apiserver, any Go server) picked it when our connector offered
// it, and the relay, which reads HTTP/1.1 heads, answered 503 to every request.
describe('proxy/dispatchers protocol', () => {
  it('speaks HTTP/1.1 to a tool that prefers HTTP/2', async () => {
    const ca = await createCA('h2-tool-ca');
    const serving = await issueCert(ca, { commonName: 'h2-tool', ipAddresses: ['127.0.0.1'], server: true });
    const server = createSecureServer(
      { cert: serving.certPem, key: serving.keyPem, allowHTTP1: true },
      (req: Http2ServerRequest, res: Http2ServerResponse) => {
        res.end(`${req.httpVersion} ${(req.socket as TLSSocket).alpnProtocol || 'none'}`);
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const pools = new DispatcherCache({ connectMs: 2_000, headersMs: 2_000, bodyMs: 2_000 });
    try {
      const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await pools.get(origin, ca.certPem).request({ path: '/', method: 'GET' });
      expect(await res.body.text()).to.equal('1.1 http/1.1');
    } finally {
      await pools.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
