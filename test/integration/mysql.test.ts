// The mysql class against Debian's MariaDB 10.11, server and client, both real:
// - the class API backend's mysql family (the class's probes), called as the controller calls it:
//   a server that answers is live, the Connector's account logs in, a wrong password is a 401 whose
//   message is the server's and never the password, TLS to the server is verified, and a server that
//   is gone is not live;
// - the my.cnf the class renders (csi/content.ts with manifests/classes/mysql.yaml) makes the real
//   `mariadb` client log in as {namespace}/{name} with the token as password, over TLS verified with
//   the CA the file names; another CA, or a server without TLS, is refused; and the password goes out
//   with the cleartext plugin (seen by a mysql2 server, without TLS for the occasion).
// The MySQL proxy itself is not here: the file's host and port are pointed at the server directly.

import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createServer, type Connection } from 'mysql2';
import { Agent, request } from 'undici';
import { repoRoot } from '../../hack/binaries.js';
import { classApiClientName } from '../../hack/localsystem.js';
import { createCA, issueCert } from '../../hack/pki.js';
import { freePort, ManagedProcess, type RunResult } from '../../hack/process.js';
import { startMariaDb, type MariaDbServer } from '../../hack/tools/mariadb.js';
import type { ConfiguredClass } from '../../csi/cluster.js';
import { renderConfigurations } from '../../csi/content.js';
import { parseVolumeAttributes } from '../../csi/attributes.js';
import { docBlock } from '../helpers/docs.js';
import { env, kubectl, namespace, secretValue } from '../helpers/env.js';
import { recordOutput, recordResponse } from '../helpers/leaks.js';

interface Pod {
  spec: {
    containers: {
      env: { name: string; value: string }[];
      volumeMounts: { name: string; mountPath: string }[];
    }[];
    volumes: { name: string; csi: { volumeAttributes: Record<string, string> } }[];
  };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

interface StatusBody {
  kind?: string;
  code?: number;
  message?: string;
}

const mysqlClass = (
  loadAllYaml(
    readFileSync(join(repoRoot(), 'manifests', 'classes', 'mysql.yaml'), 'utf8'),
  ) as ConfiguredClass[]
)[0] as ConfiguredClass;

/** The my.cnf of the shipped class for Connector team-a/db, its proxy address at `proxyHost`. */
function renderMyCnf(token: string, proxyHost: string, mountPath: string): string {
  const files = renderConfigurations(
    [
      {
        ref: { namespace: 'team-a', name: 'db' },
        connector: {
          metadata: { name: 'db', namespace: 'team-a' },
          spec: { connectorClassName: 'mysql', address: 'mysql://db.example.com:3306' },
        },
        className: 'mysql',
        connectorClass: mysqlClass,
        proxyAddress: `http://${proxyHost}`,
      },
    ],
    { configurationNames: ['mycnf'], configurationParams: { mycnf: { mountPath } } },
    { token, caCert: 'unused here' },
  );
  return files.get('my.cnf') ?? '';
}

async function mariadb(args: string[]): Promise<RunResult> {
  const r = await ManagedProcess.run('/usr/bin/mariadb', args, { timeoutMs: 20_000 });
  recordOutput(`mariadb ${args[0] ?? ''}`, r);
  return r;
}

describe('mysql class: probes and my.cnf against a real MariaDB', function () {
  this.timeout(120_000);
  const password = secretValue('mysql-password');
  const token = secretValue('mysql-token');
  let db: MariaDbServer;
  let agent: Agent;
  let dir: string;

  before(async function () {
    db = await startMariaDb({ tls: true });
    await db.sql(
      `CREATE USER 'app'@'%' IDENTIFIED BY '${password}'; GRANT SELECT ON *.* TO 'app'@'%';` +
        `CREATE USER 'team-a/db'@'%' IDENTIFIED BY '${token}';`,
    );
    const { sys } = env();
    const client = await issueCert(sys.classApiCA, { commonName: classApiClientName, client: true });
    agent = new Agent({ connect: { ca: sys.classApiCA.certPem, cert: client.certPem, key: client.keyPem } });
    dir = await mkdtemp(join(tmpdir(), 'connectors-mycnf-'));
  });

  after(async function () {
    await agent.close();
    await db.stop();
  });

  /** A probe of the class API backend, as the controller sends it. */
  async function probe(
    path: string,
    address: string,
    opts: { password?: string; caCert?: string } = {},
  ): Promise<{ status: number; body: StatusBody }> {
    const headers: Record<string, string> = {
      'x-plugin-meta': b64(
        JSON.stringify({ baseURL: address, ...(opts.caCert ? { caCert: opts.caCert } : {}) }),
      ),
    };
    if (opts.password !== undefined) {
      headers['x-plugin-auth'] = b64('kubernetes.io/basic-auth');
      headers['x-plugin-secret'] = b64(
        JSON.stringify({ username: b64('app'), password: b64(opts.password) }),
      );
    }
    const res = await request(`${env().sys.classApiUrl}/mysql${path}`, {
      headers,
      dispatcher: agent,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.body.text();
    recordResponse(`classapi GET /mysql${path}`, res.headers, text);
    return { status: res.statusCode, body: JSON.parse(text) as StatusBody };
  }

  it('docs/mysql.md: its Connector and Secret are accepted by kube-apiserver (CRD rules, admission)', async function () {
    await env().sys.installClasses();
    const ns = await namespace('mysql-docs');
    const text = docBlock('mysql-connector').text.replaceAll('namespace: demo', `namespace: ${ns}`);
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: text });
    expect(r.code, r.stderr).to.equal(0);
    // The validating webhook's refusal of other schemes: test/unit/apiserver/admission.test.ts.
  });

  it('docs/mysql.md: the pod’s mountPath, MYSQL_HOME and the mycnf param agree, and name the CA of the volume', function () {
    const pod = (loadAllYaml(docBlock('mysql-pod').text) as Pod[])[0] as Pod;
    const container = pod.spec.containers[0];
    const volume = pod.spec.volumes[0];
    const mountPath = container?.volumeMounts.find((m) => m.name === volume?.name)?.mountPath;
    expect(container?.env.find((e) => e.name === 'MYSQL_HOME')?.value).to.equal(mountPath);
    const attrs = parseVolumeAttributes(
      {
        ...(volume?.csi.volumeAttributes ?? {}),
        'csi.storage.k8s.io/pod.name': 'report',
        'csi.storage.k8s.io/pod.namespace': 'demo',
        'csi.storage.k8s.io/pod.uid': 'uid',
        'csi.storage.k8s.io/serviceAccount.name': 'builder',
        'csi.storage.k8s.io/ephemeral': 'true',
      },
      { multiConnector: false },
    );
    expect(attrs.configurationParams).to.deep.equal({ mycnf: { mountPath } });
    const mycnf = renderMyCnf('a-token', 'c-orders-db.demo.svc.cluster.local', String(mountPath));
    expect(mycnf).to.contain(`ssl-ca = ${String(mountPath)}/ca.crt\n`);
  });

  it('a server that answers is live, with the Connector’s credential or without one', async function () {
    const address = `mysql://127.0.0.1:${db.port}`;
    expect((await probe('/handshake', address, { password })).status).to.equal(200);
    expect((await probe('/handshake', address, { password: 'wrong' })).status).to.equal(200);
    expect((await probe('/handshake', address)).status).to.equal(200);
  });

  it('the Connector’s account logs in; a wrong password is a 401 with the server’s message, not the password', async function () {
    const address = `mysql://127.0.0.1:${db.port}`;
    expect(await probe('/login', address, { password })).to.deep.include({ status: 200 });
    const wrong = secretValue('mysql-wrong-password');
    const refused = await probe('/login', address, { password: wrong });
    expect(refused.status).to.equal(401);
    expect(refused.body.message).to.equal(
      `the MySQL server at 127.0.0.1:${db.port} refused the Connector's credential: ` +
        "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
    );
    expect(JSON.stringify(refused.body)).not.to.contain(wrong).and.not.contain(password);
    const log = await db.errorLog();
    expect(log).not.to.contain(wrong);
  });

  it('TLS to the server is verified: with its CA it logs in, with the system roots only it is refused', async function () {
    const address = `mysql://127.0.0.1:${db.port}?tls=true`;
    expect((await probe('/login', address, { password, caCert: db.caCertPem })).status).to.equal(200);
    const untrusted = await probe('/login', address, { password });
    expect(untrusted.status).to.equal(503);
    expect(untrusted.body.message).to.match(/cannot be reached: .*certificate/);
  });

  it('a server that is gone is not live', async function () {
    const port = await freePort();
    const gone = await probe('/handshake', `mysql://127.0.0.1:${port}`, { password });
    expect(gone.status).to.equal(503);
    expect(gone.body.message).to.contain(`the MySQL server at 127.0.0.1:${port} cannot be reached`);
  });

  it('an address of another scheme is a 400 that does not repeat it', async function () {
    const r = await probe('/handshake', 'https://root:hunter22@db.example.com', { password });
    expect(r.status).to.equal(400);
    expect(r.body.message).to.equal('the Connector address must be a mysql:// URL, not https');
  });

  it('my.cnf: the real client logs in as {namespace}/{name} with the token, over TLS verified with the CA', async function () {
    const mycnf = join(dir, 'my.cnf');
    await writeFile(mycnf, renderMyCnf(token, '127.0.0.1', dir));
    await writeFile(join(dir, 'ca.crt'), db.caCertPem ?? '');
    // Not recorded for the leak check: it prints the file, token included, by design.
    const defaults = await ManagedProcess.run('/usr/bin/mariadb', [
      `--defaults-file=${mycnf}`,
      '--print-defaults',
    ]);
    expect(defaults.stdout).to.contain('--host=127.0.0.1 --port=3306 --user=team-a/db');
    expect(defaults.stdout).to.contain(
      `--default-auth=mysql_clear_password --ssl-ca=${dir}/ca.crt --loose-ssl-verify-server-cert`,
    );
    // The file's port is the proxy's 3306; the test server has its own.
    const r = await mariadb([
      `--defaults-file=${mycnf}`,
      `--port=${db.port}`,
      '--batch',
      '--skip-column-names',
      '-e',
      "SELECT CURRENT_USER(); SHOW SESSION STATUS LIKE 'Ssl_version'",
    ]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^team-a\/db@%\nSsl_version\tTLSv1\.[23]\n$/);
  });

  it('my.cnf: a server certificate from another CA is refused', async function () {
    const other = await createCA('not-the-proxy-ca');
    const otherDir = await mkdtemp(join(tmpdir(), 'connectors-mycnf-'));
    await writeFile(join(otherDir, 'my.cnf'), renderMyCnf(token, '127.0.0.1', otherDir));
    await writeFile(join(otherDir, 'ca.crt'), other.certPem);
    const r = await mariadb([
      `--defaults-file=${join(otherDir, 'my.cnf')}`,
      `--port=${db.port}`,
      '-e',
      'SELECT 1',
    ]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/ERROR 2026 .*TLS\/SSL error/);
  });

  it('my.cnf: no TLS, no login; and the token goes out with the cleartext plugin', async function () {
    // A MySQL-protocol server (mysql2's) that offers no TLS, and records what the client answers.
    const answers: { user: string; token: string }[] = [];
    const server = createServer((conn: Connection) => {
      conn.on('error', () => undefined);
      conn.serverHandshake({
        protocolVersion: 10,
        serverVersion: '10.11-fake',
        connectionId: 1,
        statusFlags: 2,
        characterSet: 8,
        capabilityFlags: 0xffffff & ~0x800, // everything but CLIENT_SSL
        authCallback: (
          params: { user: string; authToken: Buffer },
          done: (err: null, ok?: unknown) => void,
        ) => {
          answers.push({ user: params.user, token: params.authToken.toString('utf8').replace(/\0$/, '') });
          done(null);
        },
      });
    });
    // mysql2's typings know listen(port) only; its Server passes host and callback on to net.Server.
    const listening = server as unknown as { listen(port: number, host: string, done: () => void): void };
    const port = await freePort();
    await new Promise<void>((resolve) => {
      listening.listen(port, '127.0.0.1', resolve);
    });
    try {
      const mycnf = join(dir, 'my.cnf');
      const refused = await mariadb([`--defaults-file=${mycnf}`, `--port=${port}`, '-e', 'SELECT 1']);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(/ERROR 2026 .*SSL/);
      expect(answers).to.deep.equal([]);
      // Only to see the plugin's answer: TLS switched off on the command line.
      await mariadb([
        `--defaults-file=${mycnf}`,
        `--port=${port}`,
        '--skip-ssl',
        '--skip-ssl-verify-server-cert',
        '-e',
        'SELECT 1',
      ]);
      expect(answers).to.deep.equal([{ user: 'team-a/db', token }]);
    } finally {
      server.close(() => undefined);
    }
  });
});
