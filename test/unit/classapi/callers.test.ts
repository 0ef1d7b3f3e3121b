// The backend serves the API server only: a caller is identified by the names of the client
// certificate the handshake verified (subject CN, DNS and URI SANs); no verified certificate is a
// 401, a verified one with another name a 403.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { allowedCallers } from '../../../classapi/callers.js';
import { certificateNames } from '../../../machinery/certificates.js';
import { createCA, issueCert } from '../../../hack/pki.js';

function request(socket: object): IncomingMessage {
  return { socket } as IncomingMessage;
}

describe('classapi/callers', () => {
  let apiServer: X509Certificate;
  let bySan: X509Certificate;
  let other: X509Certificate;
  const allowed = 'system:serviceaccount:connectors-system:connectors-apiserver';

  before(async () => {
    const ca = await createCA('ca');
    apiServer = new X509Certificate((await issueCert(ca, { commonName: allowed, client: true })).certPem);
    bySan = new X509Certificate(
      (await issueCert(ca, { commonName: 'x', dnsNames: ['api.connectors-system.svc'], client: true }))
        .certPem,
    );
    other = new X509Certificate((await issueCert(ca, { commonName: 'intruder', client: true })).certPem);
  });

  it('names a certificate by its CN and SANs', () => {
    expect(certificateNames(apiServer)).to.deep.equal([allowed]);
    expect(certificateNames(bySan)).to.deep.equal(['x', 'api.connectors-system.svc']);
  });

  it('allows a verified certificate with an allowed name, by CN or SAN', () => {
    const check = allowedCallers([allowed, 'api.connectors-system.svc']);
    for (const cert of [apiServer, bySan]) {
      expect(check(request({ authorized: true, getPeerX509Certificate: () => cert }))).to.equal(null);
    }
  });

  it('refuses a verified certificate with another name: 403', () => {
    const refused = allowedCallers([allowed])(
      request({ authorized: true, getPeerX509Certificate: () => other }),
    );
    expect(refused?.code).to.equal(403);
    expect(refused?.message).to.contain('"intruder"');
  });

  it('refuses a certificate the handshake did not verify, and a plain connection: 401', () => {
    const check = allowedCallers([allowed]);
    expect(check(request({ authorized: false, getPeerX509Certificate: () => apiServer }))?.code).to.equal(
      401,
    );
    expect(check(request({}))?.code).to.equal(401);
  });
});
