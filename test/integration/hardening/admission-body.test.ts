// The admission endpoint cannot be used to hold the server's memory (issue 16 item 4). It sits before
// authentication, so a caller without a client certificate of the cluster gets a small body limit, a
// body deadline and a cap on concurrent bodies; each refusal is a Status, and the connection is
// closed so that nothing of the body is kept. kube-apiserver, which the local control plane
// configures to present its front-proxy client certificate to webhooks, still has full-size reviews
// read, also while unauthenticated callers hold every slot.

import { connect, type TLSSocket } from 'node:tls';
import { expect } from 'chai';
import { defaultAdmissionBodyLimits } from '../../../apiserver/admission.js';
import { issueCert, type CertKeyPem } from '../../../hack/pki.js';
import { direct, env, frontProxyCert, kubectl, namespace } from '../../helpers/env.js';
import { recordResponse } from '../../helpers/leaks.js';

const limits = defaultAdmissionBodyLimits;

interface Ending {
  /** The status code the server answered, 0 for none. */
  status: number;
  head: string;
  body: string;
  /** The server closed the connection (rather than this test giving up on it). */
  closedByServer: boolean;
}

interface Stalled {
  socket: TLSSocket;
  ending: Promise<Ending>;
}

/**
 * Opens a TLS connection to the server, writes `head` and `body`, and then sends nothing more. Gives
 * up on its own after `giveUpMs`, so that a server that never answers fails the test instead of
 * hanging it.
 */
function stall(head: string, body: Buffer | string, cert?: CertKeyPem, giveUpMs = 40_000): Stalled {
  const url = new URL(env().sys.serverUrl);
  const socket = connect({
    host: url.hostname,
    port: Number(url.port),
    ca: env().sys.servingCaPem,
    servername: 'localhost',
    ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
  });
  const chunks: Buffer[] = [];
  const ending = new Promise<Ending>((resolve) => {
    let closedByServer = false;
    const giveUp = setTimeout(() => socket.destroy(), giveUpMs);
    socket.once('secureConnect', () => {
      socket.write(head);
      socket.write(body);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      closedByServer = true;
    });
    socket.on('error', () => {
      closedByServer = true; // reset by the server
    });
    socket.once('close', () => {
      clearTimeout(giveUp);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const ending: Ending = {
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
        head: split === -1 ? text : text.slice(0, split),
        body: split === -1 ? '' : text.slice(split + 4),
        closedByServer,
      };
      recordResponse(`connectors-apiserver stalled admission body`, {}, text);
      resolve(ending);
    });
  });
  return { socket, ending };
}

const post = (length: number | 'chunked', path = '/admission/connectors'): string =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
  (length === 'chunked' ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${length}\r\n`) +
  '\r\n';

/** A Connector AdmissionReview of about `bytes` bytes (the bulk in an annotation). */
function bigReview(bytes: number, ns: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'big-1',
      resource: { group: 'connectors.alauda.io', version: 'v1alpha1', resource: 'connectors' },
      namespace: ns,
      name: 'big',
      operation: 'CREATE',
      userInfo: { username: 'admin', groups: ['system:masters'] },
      object: {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'big', namespace: ns, annotations: { bulk: 'x'.repeat(bytes) } },
        spec: { connectorClassName: 'none', address: 'https://big.example.com' },
      },
    },
  });
}

describe('hardening: unauthenticated admission bodies are bounded (issue 16 item 4)', function () {
  this.timeout(120_000);
  let ns: string;

  before(async function () {
    ns = await namespace('admission-body');
  });

  it('stalled bodies without a cluster certificate: as many as the cap get 408 at the deadline, the rest 429 at once; every socket is closed', async function () {
    const extra = 8;
    const held = 200 * 1024; // declared and mostly sent: what each one could pin
    // All at once: whichever the server takes first hold the slots, the others are refused.
    let refusedNow: () => void = () => undefined;
    const refused = new Promise<void>((resolve) => (refusedNow = resolve));
    let tooMany = 0;
    const sockets = Array.from({ length: limits.untrustedConcurrency + extra }, () => {
      const s = stall(post(held + 10), Buffer.alloc(held, ' '));
      void s.ending.then((e) => {
        if (e.status === 429 && ++tooMany === extra) refusedNow();
      });
      return s;
    });
    await Promise.race([refused, Promise.all(sockets.map((s) => s.ending))]);

    // The slots are all taken now (that is when the 429s come), and kube-apiserver, with its client
    // certificate, still has its reviews read: a Connector write goes through the webhook.
    const write = await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'during-flood', namespace: ns },
        spec: { connectorClassName: 'none', address: 'https://flood.example.com' },
      }),
    });
    expect(write.code, write.stderr).to.equal(0);

    const endings = await Promise.all(sockets.map((s) => s.ending));
    const by = (code: number): Ending[] => endings.filter((e) => e.status === code);
    expect(
      endings.map((e) => e.status).sort(),
      endings.map((e) => e.head.split('\r\n', 1)[0]).join(' | '),
    ).to.deep.equal(
      [...Array<number>(extra).fill(429), ...Array<number>(limits.untrustedConcurrency).fill(408)].sort(),
    );
    for (const e of by(429)) {
      expect(e.head.toLowerCase()).to.contain('retry-after: 1');
      expect(e.head.toLowerCase()).to.contain('connection: close');
      expect(JSON.parse(e.body)).to.include({ kind: 'Status', code: 429, reason: 'TooManyRequests' });
    }
    for (const e of by(408)) {
      expect(JSON.parse(e.body)).to.include({ kind: 'Status', code: 408, reason: 'Timeout' });
    }
    // The server closed every connection: nothing of the bodies is kept.
    expect(endings.filter((e) => !e.closedByServer)).to.deep.equal([]);

    // The slots are free again.
    const after = await direct('/admission/connectors', { method: 'POST', body: bigReview(10, ns) });
    expect(after.status, after.body).to.equal(200);
  });

  it('a declared body over the unauthenticated limit is refused with 413 at once, unread', async function () {
    const s = stall(post(8 * 1024 * 1024), '{"apiVersion":');
    const e = await s.ending;
    expect(e.status, e.head).to.equal(413);
    expect(JSON.parse(e.body)).to.include({ code: 413, reason: 'RequestEntityTooLarge' });
    expect((JSON.parse(e.body) as { message: string }).message).to.contain(
      `the request body exceeds ${limits.untrustedBytes} bytes; larger AdmissionReviews are read only from a client certificate of the cluster`,
    );
    expect(e.closedByServer).to.equal(true);
  });

  it('a chunked body that grows past the unauthenticated limit is cut off with 413', async function () {
    const chunk = 64 * 1024;
    const data = Buffer.concat(
      Array.from({ length: 6 }, () =>
        Buffer.concat([
          Buffer.from(`${chunk.toString(16)}\r\n`),
          Buffer.alloc(chunk, ' '),
          Buffer.from('\r\n'),
        ]),
      ),
    );
    const e = await stall(post('chunked'), data).ending;
    expect(e.status, e.head).to.equal(413);
    expect(e.closedByServer).to.equal(true);
  });

  it('a certificate from a CA the cluster does not trust counts as none', async function () {
    const cert = await issueCert(env().sys.cp.otherCA, { commonName: 'front-proxy-client', client: true });
    const body = bigReview(400 * 1024, ns);
    const e = await stall(post(Buffer.byteLength(body)), body, cert).ending;
    expect(e.status, e.head).to.equal(413);
  });

  it('a cluster client certificate (kube-apiserver’s front-proxy one) has a full-size review read', async function () {
    const r = await direct('/admission/connectors', {
      method: 'POST',
      body: bigReview(1024 * 1024, ns),
      cert: frontProxyCert(),
    });
    expect(r.status, r.body.slice(0, 300)).to.equal(200);
    expect(JSON.parse(r.body)).to.deep.include({ kind: 'AdmissionReview' });

    // Through kube-apiserver: a Connector whose review is well over the unauthenticated limit is
    // admitted, because kube-apiserver presents its certificate to the webhook. (Annotations are
    // capped at 256 KiB in all; a param value is not.)
    const big = await kubectl(['create', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'big', namespace: ns },
        spec: {
          connectorClassName: 'none',
          address: 'https://big.example.com',
          params: [{ name: 'bulk', value: 'x'.repeat(300 * 1024) }],
        },
      }),
    });
    expect(big.code, big.stderr).to.equal(0);
  });
});
