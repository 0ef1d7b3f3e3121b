// Certificate files follow their files: a Secret volume's `..data` swap is picked up, as is a file
// rewritten in place; a pair that does not load is logged and the last good one kept; a periodic
// re-read catches what no event reported.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  checkCaBundle,
  checkKeyPair,
  watchedCaBundle,
  watchedKeyPair,
  WatchedFiles,
  type KeyPair,
} from '../../../machinery/certificates.js';
import { createLogger, type Logger } from '../../../machinery/log.js';
import { createCA, issueCert, type CertificateAuthority } from '../../../hack/pki.js';
import { writeSecretVolume } from '../../../hack/secretvolume.js';

function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'info', write: (l) => lines.push(l) }), lines };
}

/** Resolves with the next value `watched` changes to. */
function nextChange<T>(watched: WatchedFiles<T>): Promise<T> {
  return new Promise((resolve) => {
    watched.onChange(resolve);
  });
}

describe('machinery/certificates', () => {
  let ca: CertificateAuthority;
  let first: KeyPair;
  let second: KeyPair;
  let dir: string;
  const stops: (() => void)[] = [];

  before(async () => {
    ca = await createCA('serving-ca');
    [first, second] = await Promise.all([
      issueCert(ca, { commonName: 'first', server: true }),
      issueCert(ca, { commonName: 'second', server: true }),
    ]);
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'connectors-certs-'));
  });

  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const watch = (log: Logger): WatchedFiles<KeyPair> => {
    const w = watchedKeyPair('serving certificate', join(dir, 'tls.crt'), join(dir, 'tls.key'), log);
    stops.push(() => {
      w.stop();
    });
    return w;
  };

  describe('checkKeyPair', () => {
    it('accepts a certificate with its key', () => {
      expect(checkKeyPair(first).subject).to.equal('CN=first');
    });
    it('refuses a key of another certificate', () => {
      expect(() => checkKeyPair({ certPem: first.certPem, keyPem: second.keyPem })).to.throw(
        'the private key does not belong to the certificate',
      );
    });
    it('refuses what is not PEM, without quoting the key', () => {
      expect(() => checkKeyPair({ certPem: 'nothing', keyPem: first.keyPem })).to.throw(
        /holds no PEM certificate/,
      );
      expect(() => checkKeyPair({ certPem: first.certPem, keyPem: 'secret-material' }))
        .to.throw(/holds no PEM private key/)
        .and.satisfy((err: Error) => !err.message.includes('secret-material'));
    });
  });

  describe('checkCaBundle', () => {
    it('accepts one or more certificates and refuses anything else', () => {
      expect(checkCaBundle(`${ca.certPem}\n${first.certPem}`)).to.contain('BEGIN CERTIFICATE');
      expect(() => checkCaBundle('')).to.throw(/holds no PEM certificate/);
    });
  });

  it('refuses to start with files that do not load, naming them', () => {
    writeFileSync(join(dir, 'tls.crt'), first.certPem);
    writeFileSync(join(dir, 'tls.key'), second.keyPem);
    expect(() => watch(recordingLog().log)).to.throw(
      /serving certificate \(.*tls\.crt, .*tls\.key\): the private key/,
    );
  });

  it('follows a Secret volume: the kubelet swaps ..data, the key files never change', async () => {
    await writeSecretVolume(dir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem });
    const { log, lines } = recordingLog();
    const w = watch(log);
    expect(w.current).to.deep.equal(first);
    w.start();
    const changed = nextChange(w);
    await writeSecretVolume(dir, { 'tls.crt': second.certPem, 'tls.key': second.keyPem });
    expect(await changed).to.deep.equal(second);
    expect(w.current).to.deep.equal(second);
    expect(lines.join('')).to.contain('serving certificate reloaded');
  });

  it('keeps the last good pair over one that does not load, then takes the next good one', async () => {
    await writeSecretVolume(dir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem });
    const { log, lines } = recordingLog();
    const w = watch(log);
    w.start();
    await writeSecretVolume(dir, { 'tls.crt': second.certPem, 'tls.key': first.keyPem });
    while (!lines.join('').includes('keeping the one in use')) await new Promise((r) => setTimeout(r, 20));
    expect(w.current).to.deep.equal(first);
    expect(lines.join('')).not.to.contain('BEGIN');
    const changed = nextChange(w);
    await writeSecretVolume(dir, { 'tls.crt': second.certPem, 'tls.key': second.keyPem });
    expect(await changed).to.deep.equal(second);
  });

  it('follows files rewritten in place', async () => {
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    const w = watchedCaBundle('client CA', join(dir, 'ca.crt'), recordingLog().log);
    stops.push(() => {
      w.stop();
    });
    w.start();
    const changed = nextChange(w);
    writeFileSync(join(dir, 'ca.crt'), `${ca.certPem}\n${first.certPem}`);
    expect(await changed).to.contain(first.certPem.trim());
  });

  it('re-reads periodically, for changes no event reported', async () => {
    const file = join(dir, 'ca.crt');
    writeFileSync(file, ca.certPem);
    const w = new WatchedFiles({
      what: 'client CA',
      files: [file],
      parse: ([pem = '']) => checkCaBundle(pem),
      log: recordingLog().log,
      recheckMs: 50,
    });
    stops.push(() => {
      w.stop();
    });
    // Changed before start(): no watcher saw it, only the periodic re-read can.
    writeFileSync(file, first.certPem);
    const changed = nextChange(w);
    w.start();
    expect(await changed).to.equal(first.certPem);
  });
});
