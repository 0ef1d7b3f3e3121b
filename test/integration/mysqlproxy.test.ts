// The MySQL Connectors Proxy (dist/mysqlproxy/main.js) between real clients and a real server:
// Debian's mariadb-server with a user whose password no client ever sees, reached with
// ServiceAccount tokens through kube-apiserver's TokenReview and RBAC. The `mariadb` client is
// configured only by a my.cnf written as the CSI driver would (host, port, user, the token as the
// password, TLS verified against the proxy CA); mysql2 stands for an application in a pod. Every
// refusal gives the client a clear MySQL error and leaves no connection on the server; the leak
// check (fixture) scans the proxy's and the server's logs and what the clients printed.

import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { createConnection, type Connection } from 'mysql2/promise';
import { startMysqlProxy, type RunningMysqlProxy } from '../../hack/localsystem.js';
import { ManagedProcess } from '../../hack/process.js';
import { mariadbClient, startMariaDb, type MariaDbServer } from '../../hack/tools/mariadb.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  env,
  eventually,
  namespace,
  registerSecret,
  secretValue,
} from '../helpers/env.js';
import { recordMetrics, recordOutput } from '../helpers/leaks.js';

const className = 'mysql-it';

/** A Connector of the class this proxy serves (or `connectorClassName`), with a basic-auth Secret. */
function mysqlConnector(
  ns: string,
  name: string,
  address: string,
  secret: string,
  opts: { connectorClassName?: string; caSecret?: string } = {},
): object {
  return connector(ns, name, { connectorClassName: className, address, secret, ...opts });
}

/** RBAC on every Connector of `ns`: `get`, and `verbs` on connectors/proxy. */
function access(ns: string, sa: string, verbs: string[]): object[] {
  const name = `${sa}-mysql`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: ns },
      rules: [
        { apiGroups: ['connectors.alauda.io'], resources: ['connectors'], verbs: ['get'] },
        { apiGroups: ['subresources.connectors.alauda.io'], resources: ['connectors/proxy'], verbs },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    },
  ];
}

/**
 * A token of `sa` that expired a minute ago: a real one with its times moved back, signed again
 * with the control plane's ServiceAccount key (kube-apiserver will not issue one under 10 minutes).
 */
async function expiredToken(ns: string, sa: string): Promise<string> {
  const { cp } = env().sys;
  const [head = '', body = ''] = (await cp.createToken(ns, sa, { expirationSeconds: 600 })).split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const moved = { ...claims, iat: now - 700, nbf: now - 700, exp: now - 60 };
  const signed = `${head}.${Buffer.from(JSON.stringify(moved)).toString('base64url')}`;
  const key = createPrivateKey(readFileSync(cp.serviceAccountKeyFile));
  const alg = (JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg: string }).alg;
  const signature = sign('sha256', Buffer.from(signed), {
    key,
    ...(alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' as const } : {}),
  });
  return registerSecret('an expired ServiceAccount token', `${signed}.${signature.toString('base64url')}`);
}

describe('MySQL Connectors Proxy: mariadb and mysql2 clients through it to a real MariaDB', function () {
  this.timeout(120_000);
  let db: MariaDbServer;
  let proxy: RunningMysqlProxy;
  let ns: string;
  let dir: string;
  const dbPassword = secretValue('mysql-app-password');

  /** A my.cnf as the CSI driver renders it, with `extra` lines; returns its path. */
  async function myCnf(name: string, user: string, token: string, extra: string[] = []): Promise<string> {
    const path = join(dir, `${name}.cnf`);
    await writeFile(
      path,
      [
        '[client]',
        'host=localhost',
        // Only because the host is localhost, which the client would otherwise take for its socket.
        'protocol=TCP',
        `port=${proxy.port}`,
        `user=${user}`,
        `password=${token}`,
        `ssl-ca=${proxy.caFile}`,
        'ssl-verify-server-cert',
        ...extra,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return path;
  }

  async function mariadb(
    cnf: string,
    sql: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const r = await ManagedProcess.run(
      mariadbClient,
      [`--defaults-file=${cnf}`, '--batch', '--skip-column-names', '-e', sql],
      { timeoutMs: 30_000 },
    );
    recordOutput(`mariadb -e ${sql}`, r);
    return r;
  }

  /** The app user's connections on the server. */
  async function serverSessions(): Promise<number> {
    return Number(
      (await db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'")).trim(),
    );
  }

  async function nothingLeft(): Promise<void> {
    await eventually('no app connection on the server and no session in the proxy', async () => {
      const metrics = await (await fetch(`${proxy.healthUrl}/metrics`)).text();
      return (await serverSessions()) === 0 && /^connectors_mysqlproxy_sessions 0$/m.test(metrics);
    });
  }

  async function refused(cnfName: string, user: string, token: string, message: RegExp): Promise<void> {
    const r = await mariadb(await myCnf(cnfName, user, token), 'SELECT 1');
    expect(r.code, r.stdout).to.equal(1);
    expect(r.stderr).to.match(message);
    await nothingLeft();
  }

  before(async function () {
    const { sys } = env();
    dir = await mkdtemp(join(sys.cp.dir, 'mysql-'));
    db = await startMariaDb({ tls: true, logDir: sys.logDir });
    await db.sql(
      `CREATE DATABASE appdb; CREATE USER app@'%' IDENTIFIED BY '${dbPassword}'; GRANT ALL ON appdb.* TO app@'%';`,
    );
    proxy = await startMysqlProxy(sys.cp, {
      name: 'mysql-proxy-it',
      logDir: sys.logDir,
      extraArgs: [`--connector-classes=${className}`, '--authentication-cache-ttl=1s', '--login-timeout=5s'],
    });
    ns = await namespace('mysql');
    await apply([
      connectorClass(className),
      connectorClass('http-test'),
      basicAuthSecret(ns, 'db', 'app', dbPassword),
      basicAuthSecret(ns, 'wrong', 'app', 'not-the-password'),
      mysqlConnector(ns, 'db', `mysql://127.0.0.1:${db.port}`, 'db'),
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'db-ca', namespace: ns },
        stringData: { 'ca.crt': db.caCertPem },
      },
      mysqlConnector(ns, 'db-tls', `mysql://localhost:${db.port}`, 'db', { caSecret: 'db-ca' }),
      mysqlConnector(ns, 'wrong-password', `mysql://127.0.0.1:${db.port}`, 'wrong'),
      mysqlConnector(ns, 'unreachable', `mysql://127.0.0.1:1`, 'db'),
      mysqlConnector(ns, 'other-class', `mysql://127.0.0.1:${db.port}`, 'db', {
        connectorClassName: 'http-test',
      }),
      ...access(ns, 'app', ['create']),
      ...access(ns, 'reader', ['get']),
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: ns } },
    ]);
  });

  after(async function () {
    // Whatever before() got to start.
    const started = { proxy: proxy as RunningMysqlProxy | undefined, db: db as MariaDbServer | undefined };
    if (started.proxy) {
      recordMetrics(
        'mysql-proxy-it /metrics',
        await (await fetch(`${started.proxy.healthUrl}/metrics`)).text(),
      );
      await started.proxy.process.stop();
    }
    await started.db?.stop();
  });

  it('runs select 1 and a write/read round trip with the mariadb client and a my.cnf', async function () {
    const token = await env().sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    const cnf = await myCnf('app', `${ns}/db`, token);
    const r = await mariadb(
      cnf,
      "SELECT 1; CREATE TABLE appdb.t (v VARCHAR(20)); INSERT INTO appdb.t VALUES ('through-proxy'); SELECT v FROM appdb.t; SELECT CURRENT_USER();",
    );
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('1\nthrough-proxy\napp@%\n');
    await nothingLeft();
  });

  it('refuses a token without RBAC, and a get-only caller (a session may write)', async function () {
    const { cp } = env().sys;
    await refused(
      'nobody',
      `${ns}/db`,
      await cp.createToken(ns, 'nobody', { expirationSeconds: 600 }),
      /^ERROR 1045 \(28000\).*cannot get resource "connectors"/m,
    );
    await refused(
      'reader',
      `${ns}/db`,
      await cp.createToken(ns, 'reader', { expirationSeconds: 600 }),
      /^ERROR 1045 \(28000\).*cannot create resource "connectors\/proxy"/m,
    );
  });

  it('refuses an expired token and one that is no token', async function () {
    await refused(
      'expired',
      `${ns}/db`,
      await expiredToken(ns, 'app'),
      /^ERROR 1045 \(28000\).*valid ServiceAccount token/m,
    );
    await refused(
      'garbage',
      `${ns}/db`,
      secretValue('not-a-token'),
      /^ERROR 1045 \(28000\).*valid ServiceAccount token/m,
    );
  });

  it('refuses a wrong, unknown or other-class Connector and a malformed user', async function () {
    const token = await env().sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    await refused(
      'unknown',
      `${ns}/missing`,
      token,
      /^ERROR 1045 \(28000\).*connectors.* "missing" not found/m,
    );
    await refused(
      'class',
      `${ns}/other-class`,
      token,
      /^ERROR 1045 \(28000\): Connector .*\/other-class is of class http-test, which this proxy does not serve/m,
    );
    await refused('malformed', 'app', token, /^ERROR 1045 \(28000\).*must be <namespace>\/<connector>/m);
  });

  it('refuses a plain-text login before any password is read', async function () {
    const token = await env().sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    const cnf = join(dir, 'plain.cnf');
    await writeFile(
      cnf,
      [
        '[client]',
        'host=127.0.0.1',
        `port=${proxy.port}`,
        `user=${ns}/db`,
        `password=${token}`,
        'skip-ssl',
        '',
      ].join('\n'),
    );
    const r = await mariadb(cnf, 'SELECT 1');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(
      /^ERROR 3159 \(HY000\): Connections using insecure transport are prohibited.*connect with TLS/m,
    );
    await nothingLeft();
  });

  it("passes on the server's refusal of a wrong database password, and an unreachable server", async function () {
    const token = await env().sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    await refused(
      'wrongpw',
      `${ns}/wrong-password`,
      token,
      /^ERROR 1045 \(28000\): the Connector's MySQL server refused the login: Access denied for user 'app'/m,
    );
    await refused(
      'unreachable',
      `${ns}/unreachable`,
      token,
      /^ERROR 1429 \(HY000\): the Connector's MySQL server 127.0.0.1:1 cannot be reached \(ECONNREFUSED\)/m,
    );
  });

  it('works again with a new token, sent directly with the cleartext plugin, TLS to the server', async function () {
    const token = await env().sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    const cnf = await myCnf('again', `${ns}/db-tls`, token, ['default-auth=mysql_clear_password']);
    const r = await mariadb(
      cnf,
      "SELECT v FROM appdb.t; SELECT VARIABLE_VALUE <> '' FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'",
    );
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.equal('through-proxy\n1\n');
    await nothingLeft();
  });

  it('drains on SIGTERM: refuses new sessions, lets open ones run for the grace period, then closes them', async function () {
    const { sys } = env();
    const draining = await startMysqlProxy(sys.cp, {
      name: 'mysql-proxy-drain',
      logDir: sys.logDir,
      extraArgs: [`--connector-classes=${className}`, '--shutdown-grace-period=2s'],
    });
    const token = await sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    const options = {
      host: 'localhost',
      port: draining.port,
      user: `${ns}/db`,
      password: token,
      ssl: { ca: draining.caCertPem },
      enableCleartextPlugin: true,
    };
    const conn = await createConnection(options);
    const lost = new Promise<string>((resolve) => {
      conn.once('error', (err: { code?: string }) => {
        resolve(err.code ?? '');
      });
    });
    try {
      expect(await serverSessions()).to.equal(1);
      recordMetrics(
        'mysql-proxy-drain /metrics',
        await (await fetch(`${draining.healthUrl}/metrics`)).text(),
      );
      const stopped = draining.process.stop(30_000);
      await eventually('the listener to close', () =>
        createConnection(options).then(
          async (c) => {
            await c.end();
            return false;
          },
          (err: unknown) => (err as { code?: string }).code === 'ECONNREFUSED',
        ),
      );
      const [rows] = await conn.query('SELECT 1 AS one');
      expect(rows).to.deep.equal([{ one: 1 }]);
      expect(await lost).to.equal('PROTOCOL_CONNECTION_LOST');
      expect((await stopped).code).to.equal(0);
      await eventually('no app connection on the server', async () => (await serverSessions()) === 0);
    } finally {
      conn.destroy();
      await draining.process.stop();
    }
  });

  it('serves an application using mysql2, as in a pod', async function () {
    const token = await env().sys.cp.createToken(ns, 'app', { expirationSeconds: 600 });
    let conn: Connection | undefined;
    try {
      conn = await createConnection({
        host: 'localhost',
        port: proxy.port,
        user: `${ns}/db`,
        password: token,
        database: 'appdb',
        ssl: { ca: proxy.caCertPem, rejectUnauthorized: true, verifyIdentity: true },
        enableCleartextPlugin: true,
      });
      const [rows] = await conn.query('SELECT v, DATABASE() AS db FROM t');
      expect(rows).to.deep.equal([{ v: 'through-proxy', db: 'appdb' }]);
      await conn.execute('INSERT INTO t VALUES (?)', ['prepared']);
      const [counted] = await conn.execute('SELECT COUNT(*) AS n FROM t WHERE v = ?', ['prepared']);
      expect(counted).to.deep.equal([{ n: 1 }]);
    } finally {
      await conn?.end();
    }
    await nothingLeft();
  });
});
