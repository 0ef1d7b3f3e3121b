// A real MariaDB server for tests: Debian's mariadbd on a fresh data directory (mariadb-install-db),
// listening on 127.0.0.1 on a free port, with TLS (a certificate for localhost and 127.0.0.1 from a
// fresh CA, `caCertPem`) that clients may use or not, and real users with passwords. The
// administrator is root over the server's Unix socket. Everything lives in one temp dir that stop()
// removes; the server is a ManagedProcess, so it never outlives this Node process.
//
//   const db = await startMariaDb({ logDir });
//   await db.admin("CREATE USER app@'%' IDENTIFIED BY 'secret'");
//   await db.stop();
//
// Needs the Debian packages mariadb-server and mariadb-client (hack/test-tools.sh).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createCA, issueCert } from '../pki.js';
import { freePort, ManagedProcess } from '../process.js';

/** Debian's paths (mariadbd is in sbin, outside a user's PATH). */
export const mariadbClient = '/usr/bin/mariadb';
const installDb = '/usr/bin/mariadb-install-db';
const mariadbd = '/usr/sbin/mariadbd';

export interface MariaDb {
  host: string;
  port: number;
  /** The CA of the server's TLS certificate (for localhost and 127.0.0.1). */
  caCertPem: string;
  /** Runs SQL as root over the Unix socket; resolves with the output (tab-separated, no headers). */
  admin(sql: string): Promise<string>;
  stop(): Promise<void>;
}

const rootArgs = (): string[] => (process.getuid?.() === 0 ? ['--user=root'] : []);

export async function startMariaDb(opts: { logDir?: string } = {}): Promise<MariaDb> {
  const dir = await mkdtemp(join(tmpdir(), 'mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const logFile = join(opts.logDir ?? dir, `${basename(dir)}.log`);
  const installed = await ManagedProcess.run(
    installDb,
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
      ...rootArgs(),
    ],
    { timeoutMs: 60_000 },
  );
  if (installed.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed (${installed.code}): ${installed.stderr.slice(-2000)}`);
  }
  const ca = await createCA('mariadb-test-ca');
  const serving = await issueCert(ca, {
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    server: true,
  });
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await writeFile(join(dir, 'server.pem'), serving.certPem);
  await writeFile(join(dir, 'server.key'), serving.keyPem, { mode: 0o600 });
  const port = await freePort();
  const server = ManagedProcess.start({
    name: 'mariadbd',
    binary: mariadbd,
    args: [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--pid-file=${join(dir, 'mariadbd.pid')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
      `--ssl-ca=${join(dir, 'ca.pem')}`,
      `--ssl-cert=${join(dir, 'server.pem')}`,
      `--ssl-key=${join(dir, 'server.key')}`,
      ...rootArgs(),
    ],
    logFile,
  });
  const admin = async (sql: string): Promise<string> => {
    const r = await ManagedProcess.run(
      mariadbClient,
      ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '-e', sql],
      { timeoutMs: 30_000 },
    );
    if (r.code !== 0) throw new Error(`mariadb (root) failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };
  const stop = async (): Promise<void> => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await server.waitUntil(
      () =>
        admin('SELECT 1').then(
          () => true,
          () => false,
        ),
      { timeoutMs: 30_000, what: 'mariadbd accepting root over its socket' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: '127.0.0.1', port, caCertPem: ca.certPem, admin, stop };
}
