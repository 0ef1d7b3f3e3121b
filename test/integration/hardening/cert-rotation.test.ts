// The serving certificate is renewed under the running server (cert-manager does this long before
// expiry) the way the kubelet updates a Secret volume: a new directory swapped in behind `..data`.
// While callers keep sending requests through kube-apiserver and directly, on kept-alive and on
// fresh connections, not one request fails, and new connections are served the new certificate. A
// pair that does not load (a key of another certificate) is refused and the last good one kept.

import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { connect } from 'node:tls';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import { writeSecretVolume } from '../../../hack/secretvolume.js';
import { env, eventually, gvPath } from '../../helpers/env.js';

/** The fingerprint of the certificate a new TLS connection to the server is served. */
function servedFingerprint(): Promise<string> {
  const { sys } = env();
  const url = new URL(sys.serverUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      ca: sys.servingCaPem,
      servername: 'localhost',
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

interface Traffic {
  name: string;
  sent: number;
  failures: string[];
}

describe('serving certificate rotation under traffic', function () {
  this.timeout(120_000);

  it('picks up a renewed certificate without failing a request, and keeps it over a broken one', async () => {
    const { sys } = env();
    const admin = sys.cp.admin;
    const direct = new Agent({ connect: { ca: sys.servingCaPem, cert: admin.certPem, key: admin.keyPem } });
    const viaKube = new Agent({ connect: { ca: sys.cp.caCertPem, cert: admin.certPem, key: admin.keyPem } });
    const loops: Traffic[] = [];
    let stop = false;
    const run = (name: string, origin: string, dispatcher: Agent, fresh: boolean): Promise<void> => {
      const t: Traffic = { name, sent: 0, failures: [] };
      loops.push(t);
      return (async () => {
        while (!stop) {
          try {
            // reset: the connection closes after the answer, so every request is a new handshake.
            const r = await request(`${origin}${gvPath}`, { dispatcher, reset: fresh });
            const body = await r.body.text();
            if (r.statusCode !== 200) t.failures.push(`${r.statusCode} ${body.slice(0, 200)}`);
          } catch (err) {
            t.failures.push(String(err));
          }
          t.sent++;
        }
      })();
    };
    const sentBy = (): number[] => loops.map((l) => l.sent);
    /** Waits until every loop has sent `n` more requests than at `since`. */
    const more = (since: number[], n: number, what: string) =>
      eventually(what, () => Promise.resolve(loops.every((l, i) => l.sent >= (since[i] ?? 0) + n)), 60_000);

    const running = [
      run('direct, kept alive', sys.serverUrl, direct, false),
      run('direct, new connections', sys.serverUrl, direct, true),
      run('through kube-apiserver', sys.cp.server, viaKube, false),
      run('through kube-apiserver, new connections', sys.cp.server, viaKube, true),
    ];
    try {
      const old = await servedFingerprint();
      await more(sentBy(), 5, 'traffic before the rotation');

      const renewed = await sys.rotateServingCert();
      expect(fingerprint(renewed.certPem)).not.to.equal(old);
      await eventually(
        'new connections to be served the renewed certificate',
        async () => (await servedFingerprint()) === fingerprint(renewed.certPem),
        30_000,
      );
      await more(sentBy(), 10, 'traffic after the rotation');

      // A renewal gone wrong: the certificate of one pair with the key of another.
      const other = await sys.cp.issueServingCert(['localhost'], ['127.0.0.1']);
      const logFrom = statSync(sys.serverLog).size;
      await writeSecretVolume(sys.servingCertDir, { 'tls.crt': other.certPem, 'tls.key': renewed.keyPem });
      await eventually(
        'the server to refuse the mismatched pair',
        () =>
          Promise.resolve(
            readFileSync(sys.serverLog, 'utf8')
              .slice(logFrom)
              .includes('cannot load the serving certificate; keeping the one in use'),
          ),
        30_000,
      );
      expect(await servedFingerprint()).to.equal(fingerprint(renewed.certPem));
      await more(sentBy(), 5, 'traffic after the broken renewal');
      // Put the good pair back, as the next renewal would.
      await sys.rotateServingCert();
    } finally {
      stop = true;
      await Promise.all(running);
      await Promise.all([direct.close(), viaKube.close()]);
    }
    for (const l of loops) {
      expect(l.sent, l.name).to.be.greaterThan(20);
      expect(l.failures, l.name).to.deep.equal([]);
    }
  });
});
