// A real MariaDB server for tests: Debian's mariadbd on a fresh datadir in a temp dir, listening on
// 127.0.0.1 (or `host`, e.g. the cluster bridge's address) on a free port (and a Unix socket, for
// root's administration), optionally with TLS from a fresh CA (`caCertPem`; the certificate names localhost and 127.0.0.1). stop() ends it and removes
// the temp dir; it is a ManagedProcess, so it never outlives this Node process. With `logDir` its
// output goes there (the harness's log directory, which the leak check reads).
//
//   const db = await startMariaDb({ tls: true, logDir });
//   await db.sql("CREATE USER 'app'@'%' IDENTIFIED BY 's3cret'");
//   // mysql://127.0.0.1:${db.port}
//   await db.stop();
//
// Needs the Debian packages mariadb-server and mariadb-client (hack/test-tools.sh).
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createCA, issueCert } from '../pki.js';
import { freePort, ManagedProcess, registerExitCleanup } from '../process.js';

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
/** Debian's MariaDB client (also installed as `mysql`). */
export const mariadbClient = '/usr/bin/mariadb';
const START_TIMEOUT_MS = 60_000;

export interface MariaDbServer {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** With `tls`: the CA of the server's certificate. */
  readonly caCertPem: string | undefined;
  /** The server's error log (connections refused, warnings). */
  errorLog(): Promise<string>;
  /** Runs SQL as root over the Unix socket; resolves with the tab-separated output. */
  sql(statements: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startMariaDb(
  opts: { tls?: boolean; logDir?: string; host?: string } = {},
): Promise<MariaDbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'connectors-mariadb-'));
  const unregister = registerExitCleanup(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const datadir = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  const errorLog = join(opts.logDir ?? dir, `${basename(dir)}.err`);
  // mariadbd refuses to run as root unless told to.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  let server: ManagedProcess | undefined;
  try {
    const install = await ManagedProcess.run(
      INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
        ...asRoot,
      ],
      { timeoutMs: START_TIMEOUT_MS },
    );
    if (install.code !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr}${install.stdout}`);

    let caCertPem: string | undefined;
    const tlsArgs: string[] = [];
    if (opts.tls) {
      const ca = await createCA('connectors-test-mariadb-ca');
      const cert = await issueCert(ca, {
        commonName: 'localhost',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        server: true,
      });
      await writeFile(join(dir, 'ca.crt'), ca.certPem);
      await writeFile(join(dir, 'tls.crt'), cert.certPem);
      await writeFile(join(dir, 'tls.key'), cert.keyPem, { mode: 0o600 });
      caCertPem = ca.certPem;
      tlsArgs.push(
        `--ssl-ca=${join(dir, 'ca.crt')}`,
        `--ssl-cert=${join(dir, 'tls.crt')}`,
        `--ssl-key=${join(dir, 'tls.key')}`,
      );
    }

    const host = opts.host ?? '127.0.0.1';
    const port = await freePort();
    server = ManagedProcess.start({
      name: 'mariadbd',
      binary: MARIADBD,
      args: [
        '--no-defaults',
        `--datadir=${datadir}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mariadbd.pid')}`,
        `--port=${port}`,
        `--bind-address=${host}`,
        `--log-error=${errorLog}`,
        '--skip-name-resolve',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--max-connections=50',
        ...tlsArgs,
        ...asRoot,
      ],
      logFile: join(opts.logDir ?? dir, `${basename(dir)}.out`),
    });
    const sql = async (statements: string): Promise<string> => {
      const r = await ManagedProcess.run(
        mariadbClient,
        ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names'],
        { input: statements, timeoutMs: 30_000 },
      );
      if (r.code !== 0) throw new Error(`mariadb: ${r.stderr.trim()}`);
      return r.stdout;
    };
    await server.waitUntil(async () => (await sql('SELECT 1')).trim() === '1', {
      timeoutMs: START_TIMEOUT_MS,
      what: 'mariadbd ready for connections',
      intervalMs: 200,
    });
    const running = server;
    return {
      host,
      port,
      dir,
      caCertPem,
      errorLog: () => readFile(errorLog, 'utf8').catch(() => ''),
      sql,
      async stop() {
        await running.stop(10_000);
        await rm(dir, { recursive: true, force: true });
        unregister();
      },
    };
  } catch (err) {
    await server?.stop(5_000);
    await rm(dir, { recursive: true, force: true });
    unregister();
    throw err;
  }
}
