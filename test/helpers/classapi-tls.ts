// The certificates of the class API backend's mutual TLS, for tests that start a backend of their
// own: a CA, the backend's serving certificate (127.0.0.1, localhost), the API server's client
// certificate (the name the backend allows), and one client certificate of each kind it refuses.

import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { classApiClientName } from '../../hack/localsystem.js';
import { createCA, issueCert, type CertKeyPem } from '../../hack/pki.js';

export interface BackendTls {
  dir: string;
  caPem: string;
  /** The backend's flags for these files. */
  flags: string[];
  /** The Config fields of the same files (for startBackend). */
  config: { tlsCertFile: string; tlsKeyFile: string; clientCaFile: string; allowedClientNames: string[] };
  /** The API server's client certificate. */
  apiServer: CertKeyPem;
  /** Refused: the right CA, another name. */
  wrongName: CertKeyPem;
  /** Refused: the right name, another CA. */
  otherCa: CertKeyPem;
  /** A dispatcher that trusts the backend and presents `client` (none: no client certificate). */
  agent(client?: CertKeyPem): Agent;
}

export async function backendTls(): Promise<BackendTls> {
  const dir = mkdtempSync(join(tmpdir(), 'connectors-classapi-tls-'));
  const [ca, stranger] = await Promise.all([createCA('classapi-test-ca'), createCA('stranger-ca')]);
  const [serving, apiServer, wrongName, otherCa] = await Promise.all([
    issueCert(ca, {
      commonName: 'connectors-classapi',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      server: true,
    }),
    issueCert(ca, { commonName: classApiClientName, client: true }),
    issueCert(ca, { commonName: 'system:serviceaccount:default:intruder', client: true }),
    issueCert(stranger, { commonName: classApiClientName, client: true }),
  ]);
  const config = {
    tlsCertFile: join(dir, 'tls.crt'),
    tlsKeyFile: join(dir, 'tls.key'),
    clientCaFile: join(dir, 'client-ca.crt'),
    allowedClientNames: [classApiClientName],
  };
  await Promise.all([
    writeFile(config.tlsCertFile, serving.certPem),
    writeFile(config.tlsKeyFile, serving.keyPem, { mode: 0o600 }),
    writeFile(config.clientCaFile, ca.certPem),
  ]);
  return {
    dir,
    caPem: ca.certPem,
    flags: [
      `--tls-cert-file=${config.tlsCertFile}`,
      `--tls-private-key-file=${config.tlsKeyFile}`,
      `--client-ca-file=${config.clientCaFile}`,
      `--allowed-client-names=${classApiClientName}`,
    ],
    config,
    apiServer,
    wrongName,
    otherCa,
    agent: (client) =>
      new Agent({
        connect: { ca: ca.certPem, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) },
      }),
  };
}
