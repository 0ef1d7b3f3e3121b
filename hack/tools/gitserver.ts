// A real Git server for tests: nginx (Basic auth, optional TLS) in front of fcgiwrap running
// git-http-backend, i.e. Git's own smart HTTP protocol, the way many self-hosted Git servers are
// set up. Everything lives in one temp dir (config, htpasswd, sockets, logs unless `logDir` puts
// them elsewhere, repositories) that stop() removes; both processes are ManagedProcesses, so none
// outlives this Node process.
//
//   const git = await startGitServer({ username: 'alice', password: 's3cret' });
//   await git.createRepo('org/repo.git', { branches: ['main', 'dev'], tags: ['v1'] });
//   await git.lsRemote('org/repo.git', 'heads'); // [{ name: 'dev', commitID }, { name: 'main', … }]
//   await git.stop();
//
// Needs the Debian packages nginx, fcgiwrap, apache2-utils (htpasswd) and git (see .ci/run).
import { accessSync, constants as fsConstants, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { createCA, issueCert } from '../pki.js';
import { freePort, ManagedProcess, registerExitCleanup, type RunResult } from '../process.js';

const GIT_HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';
const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

/** Author and committer of every commit and tag createRepo makes: same spec, same commit IDs. */
const IDENTITY_ENV = {
  GIT_AUTHOR_NAME: 'Connectors Test',
  GIT_AUTHOR_EMAIL: 'test@connectors.invalid',
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'Connectors Test',
  GIT_COMMITTER_EMAIL: 'test@connectors.invalid',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

export interface GitServerOptions {
  /** Parent directory for the server's fresh temp dir (default: the OS temp dir). */
  dir?: string;
  username: string;
  password: string;
  /** Serve HTTPS with a certificate for `host` and localhost from a fresh CA (`caCertPem`). */
  tls?: boolean;
  /**
   * The IPv4 address nginx listens on (default 127.0.0.1), e.g. the single-node cluster's bridge
   * address, which its pods reach.
   */
  host?: string;
  /**
   * Where nginx's and fcgiwrap's logs go, named after the temp dir, so they outlive stop()
   * (default: the temp dir itself).
   */
  logDir?: string;
}

export interface RepoSpec {
  /** Each branch gets its own commit (on top of a shared root commit). The first one is HEAD. */
  branches: string[];
  /** Lightweight tags, each on a commit of its own. */
  tags: string[];
  /** Annotated tags, each on a commit of its own; ls-remote reports the peeled commit. */
  annotatedTags?: string[];
}

export interface GitRef {
  /** Short name: 'main', 'feature/x', 'v1.0'. */
  name: string;
  /** The commit; for an annotated tag the commit it points to (`^{}`), not the tag object. */
  commitID: string;
}

export interface GitServer {
  /** http(s)://<host>:<port>, no trailing slash; a repository is `${url}/${name}`. */
  readonly url: string;
  readonly port: number;
  /** GIT_PROJECT_ROOT: the directory holding the bare repositories. */
  readonly root: string;
  /** The temp dir holding everything (the logs too, without `logDir`); removed by stop(). */
  readonly dir: string;
  /** nginx's access log (one line per request, with the authenticated user). */
  readonly accessLog: string;
  /** With `tls`: the CA of the serving certificate. */
  readonly caCertPem?: string;
  readonly username: string;
  /**
   * An environment for running `git` against this server yourself: no system or global config,
   * no prompts (a missing credential fails instead of hanging), and the CA with `tls`.
   */
  readonly gitEnv: NodeJS.ProcessEnv;
  /** Milliseconds from the call to startGitServer to nginx answering. */
  readonly startMs: number;
  /** nginx's master and fcgiwrap (nginx's worker is the master's child). */
  readonly pids: readonly number[];
  /** Creates the bare repository `name` (e.g. 'org/repo.git') under `root`. */
  createRepo(name: string, spec: RepoSpec): Promise<void>;
  /** What real `git ls-remote` says over HTTP with the current credentials, sorted by name. */
  lsRemote(name: string, kind: 'heads' | 'tags'): Promise<GitRef[]>;
  /** Replaces the password; nginx reads the htpasswd file on every request, so no restart. */
  setPassword(password: string): Promise<void>;
  /** Stops nginx and fcgiwrap and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Starts nginx + fcgiwrap + git-http-backend on `host` (127.0.0.1) and waits until nginx answers. */
export async function startGitServer(opts: GitServerOptions): Promise<GitServer> {
  const t0 = performance.now();
  const host = opts.host ?? '127.0.0.1';
  const nginx = findBinary('nginx', 'nginx');
  const fcgiwrap = findBinary('fcgiwrap', 'fcgiwrap');
  const htpasswd = findBinary('htpasswd', 'apache2-utils');
  const git = findBinary('git', 'git');
  try {
    accessSync(GIT_HTTP_BACKEND, fsConstants.X_OK);
  } catch {
    throw new Error(`${GIT_HTTP_BACKEND} not found or not executable: install the Debian package git.`);
  }

  const parent = resolve(opts.dir ?? tmpdir());
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'connectors-git-'));
  // If this process dies before stop(), the process registry SIGKILLs nginx's master and
  // fcgiwrap, but not nginx's worker, which would live on as an orphan holding the port. Both are
  // started in `dir`, and so is every worker they fork, so the cwd finds them.
  const unregisterCleanup = registerExitCleanup(() => {
    killProcessesIn(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  const started: ManagedProcess[] = [];
  try {
    const root = join(dir, 'repos');
    const temp = join(dir, 'tmp');
    const home = join(dir, 'home');
    await Promise.all([root, temp, home].map((d) => mkdir(d, { recursive: true })));
    const htpasswdFile = join(dir, 'htpasswd');
    await writeHtpasswd(htpasswd, htpasswdFile, opts.username, opts.password);
    if (opts.logDir !== undefined) await mkdir(opts.logDir, { recursive: true });
    const logFile = (name: string): string =>
      opts.logDir === undefined ? join(dir, name) : join(opts.logDir, `${basename(dir)}-${name}`);

    let caCertPem: string | undefined;
    let caFile: string | undefined;
    let tlsFiles: { cert: string; key: string } | undefined;
    if (opts.tls) {
      const ca = await createCA('connectors-test-git-ca');
      const serving = await issueCert(ca, {
        commonName: host,
        ipAddresses: [...new Set([host, '127.0.0.1'])],
        dnsNames: ['localhost'],
        server: true,
      });
      caCertPem = ca.certPem;
      caFile = join(dir, 'ca.crt');
      tlsFiles = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
      await writeFile(caFile, ca.certPem);
      await writeFile(tlsFiles.cert, serving.certPem);
      await writeFile(tlsFiles.key, serving.keyPem, { mode: 0o600 });
    }

    // fcgiwrap runs git-http-backend per request with the FastCGI params as its environment. One
    // process, so requests are served one at a time: with -c N it forks N workers that a SIGTERM
    // to the parent leaves running as orphans.
    const socket = join(dir, 'fcgiwrap.sock');
    const fcgi = ManagedProcess.start({
      name: 'fcgiwrap',
      binary: fcgiwrap,
      args: ['-s', `unix:${socket}`],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home },
      cwd: dir,
      logFile: logFile('fcgiwrap.log'),
    });
    started.push(fcgi);
    await fcgi.waitUntil(() => exists(socket), {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 20,
      what: `fcgiwrap socket ${socket}`,
    });

    const port = await freePort();
    const scheme = tlsFiles ? 'https' : 'http';
    const url = `${scheme}://${host}:${port}`;
    const conf = join(dir, 'nginx.conf');
    const errorLog = logFile('nginx-error.log');
    const accessLog = logFile('access.log');
    await writeFile(
      conf,
      nginxConfig({
        dir,
        temp,
        host,
        port,
        errorLog,
        accessLog,
        htpasswdFile,
        socket,
        root,
        home,
        tls: tlsFiles,
      }),
    );
    // -e: the error log nginx uses before it has read the config (default /var/log/nginx/error.log).
    const server = ManagedProcess.start({
      name: 'nginx',
      binary: nginx,
      args: ['-p', `${dir}/`, '-c', conf, '-e', errorLog],
      cwd: dir,
      logFile: logFile('nginx.out'),
    });
    started.push(server);
    const agent = new Agent(caCertPem ? { connect: { ca: caCertPem } } : {});
    try {
      await server.waitUntil(
        async () => {
          const res = await request(`${url}/`, { dispatcher: agent, signal: AbortSignal.timeout(2_000) });
          await res.body.dump();
          return true; // any answer (a 401) means nginx is listening
        },
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 20, what: `nginx ${url}` },
      );
    } catch (error) {
      // The interesting lines are in nginx's own error log, not in its (empty) stdout.
      if (error instanceof Error) error.message += await tailOf(errorLog);
      throw error;
    } finally {
      await agent.close();
    }

    const gitEnv: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      ...(caFile ? { GIT_SSL_CAINFO: caFile } : {}),
    };
    return new LocalGitServer({
      url,
      port,
      root,
      dir,
      accessLog,
      caCertPem,
      username: opts.username,
      password: opts.password,
      gitEnv,
      startMs: performance.now() - t0,
      git,
      htpasswd,
      htpasswdFile,
      processes: [server, fcgi],
      unregisterCleanup,
    });
  } catch (error) {
    for (const p of started.reverse()) await p.stop(STOP_GRACE_MS);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    unregisterCleanup();
    throw error;
  }
}

interface ServerState {
  url: string;
  port: number;
  root: string;
  dir: string;
  accessLog: string;
  caCertPem: string | undefined;
  username: string;
  password: string;
  gitEnv: NodeJS.ProcessEnv;
  startMs: number;
  git: string;
  htpasswd: string;
  htpasswdFile: string;
  /** nginx first: it is the one holding connections. */
  processes: ManagedProcess[];
  unregisterCleanup: () => void;
}

class LocalGitServer implements GitServer {
  readonly url: string;
  readonly port: number;
  readonly root: string;
  readonly dir: string;
  readonly accessLog: string;
  readonly caCertPem?: string;
  readonly username: string;
  readonly gitEnv: NodeJS.ProcessEnv;
  readonly startMs: number;
  readonly pids: readonly number[];
  private password: string;
  private stopping: Promise<void> | undefined;

  constructor(private readonly state: ServerState) {
    this.url = state.url;
    this.port = state.port;
    this.root = state.root;
    this.dir = state.dir;
    this.accessLog = state.accessLog;
    if (state.caCertPem !== undefined) this.caCertPem = state.caCertPem;
    this.username = state.username;
    this.password = state.password;
    this.gitEnv = state.gitEnv;
    this.startMs = state.startMs;
    this.pids = state.processes.flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  }

  async createRepo(name: string, spec: RepoSpec): Promise<void> {
    const gitDir = this.repoPath(name);
    await mkdir(dirname(gitDir), { recursive: true });
    const head = spec.branches[0] ?? 'main';
    await this.git(['init', '--quiet', '--bare', `--initial-branch=${head}`, gitDir]);
    const g = (args: string[], input?: string): Promise<string> =>
      this.git(['--git-dir', gitDir, ...args], input);

    const commit = async (file: string, message: string, parent?: string): Promise<string> => {
      const blob = await g(['hash-object', '-w', '--stdin'], file);
      const tree = await g(['mktree'], `100644 blob ${blob}\tREADME.md\n`);
      return g(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message]);
    };
    const rootCommit = await commit(`# ${name}\n`, 'initial commit');
    for (const branch of spec.branches) {
      const id = await commit(`# ${name}\n\nbranch ${branch}\n`, `commit on branch ${branch}`, rootCommit);
      await g(['update-ref', `refs/heads/${branch}`, id]);
    }
    for (const tag of spec.tags) {
      const id = await commit(`# ${name}\n\ntag ${tag}\n`, `commit for tag ${tag}`, rootCommit);
      await g(['tag', tag, id]);
    }
    for (const tag of spec.annotatedTags ?? []) {
      const id = await commit(`# ${name}\n\nannotated tag ${tag}\n`, `commit for tag ${tag}`, rootCommit);
      await g(['tag', '-a', '-m', `annotated tag ${tag}`, tag, id]);
    }
  }

  async lsRemote(name: string, kind: 'heads' | 'tags'): Promise<GitRef[]> {
    const remote = new URL(`${this.url}/${name}`);
    remote.username = this.username; // the setters percent-encode
    remote.password = this.password;
    const out = await this.git(['ls-remote', `--${kind}`, remote.toString()]);
    const prefix = `refs/${kind}/`;
    const refs = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [commitID, ref] = line.split('\t');
      if (!commitID || !ref?.startsWith(prefix)) continue;
      const short = ref.slice(prefix.length);
      // `v1^{}` follows `v1` for an annotated tag: the peeled commit replaces the tag object.
      if (short.endsWith('^{}')) refs.set(short.slice(0, -3), commitID);
      else if (!refs.has(short)) refs.set(short, commitID);
    }
    return [...refs]
      .map(([refName, commitID]) => ({ name: refName, commitID }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async setPassword(password: string): Promise<void> {
    await writeHtpasswd(this.state.htpasswd, this.state.htpasswdFile, this.username, password);
    this.password = password;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const p of this.state.processes) await p.stop(STOP_GRACE_MS);
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      this.state.unregisterCleanup();
    })();
    return this.stopping;
  }

  private repoPath(name: string): string {
    const segments = name.split('/');
    if (isAbsolute(name) || segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new Error(
        `invalid repository name ${JSON.stringify(name)}: want a relative path like org/repo.git`,
      );
    }
    return join(this.root, ...segments);
  }

  /** Runs git, returning its trimmed stdout; throws with stderr on failure. */
  private async git(args: string[], input?: string): Promise<string> {
    const result: RunResult = await ManagedProcess.run(this.state.git, args, {
      env: { ...this.gitEnv, ...IDENTITY_ENV },
      timeoutMs: 30_000,
      ...(input !== undefined ? { input } : {}),
    });
    if (result.code !== 0) {
      throw new Error(`git ${args[0] ?? ''} failed (exit ${String(result.code)}): ${result.stderr.trim()}`);
    }
    return result.stdout.trim();
  }
}

interface NginxConfigInput {
  dir: string;
  temp: string;
  host: string;
  port: number;
  errorLog: string;
  accessLog: string;
  htpasswdFile: string;
  socket: string;
  root: string;
  home: string;
  tls: { cert: string; key: string } | undefined;
}

function nginxConfig(c: NginxConfigInput): string {
  const q = quote;
  const isRoot = process.getuid?.() === 0;
  return `# Generated by hack/tools/gitserver.ts
daemon off;
master_process on;
worker_processes 1;
error_log ${q(c.errorLog)} info;
pid ${q(join(c.dir, 'nginx.pid'))};
${
  // As root, nginx would run its worker as 'nobody', which can read neither the 0700 temp dir
  // nor the fcgiwrap socket. Unprivileged, the directive is ignored with a warning, so omit it.
  isRoot ? 'user root root;\n' : ''
}
events {
  worker_connections 256;
}

http {
  access_log ${q(c.accessLog)};
  default_type application/octet-stream;
  client_body_temp_path ${q(join(c.temp, 'client_body'))};
  fastcgi_temp_path ${q(join(c.temp, 'fastcgi'))};
  proxy_temp_path ${q(join(c.temp, 'proxy'))};
  uwsgi_temp_path ${q(join(c.temp, 'uwsgi'))};
  scgi_temp_path ${q(join(c.temp, 'scgi'))};
  # Pushes and fetches can be large; Git handles the streaming itself.
  client_max_body_size 0;
  fastcgi_read_timeout 300s;

  server {
    listen ${c.host}:${c.port}${c.tls ? ' ssl' : ''};
    server_name ${c.host} localhost;
${c.tls ? `    ssl_certificate ${q(c.tls.cert)};\n    ssl_certificate_key ${q(c.tls.key)};\n` : ''}
    location / {
      auth_basic "git";
      # Read on every request: setPassword() needs no reload.
      auth_basic_user_file ${q(c.htpasswdFile)};

      fastcgi_pass ${q(`unix:${c.socket}`)};
      fastcgi_param SCRIPT_FILENAME ${GIT_HTTP_BACKEND};
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param PATH_INFO $uri;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param HTTPS $https if_not_empty;
      fastcgi_param GIT_PROJECT_ROOT ${q(c.root)};
      fastcgi_param GIT_HTTP_EXPORT_ALL 1;
      fastcgi_param GIT_CONFIG_NOSYSTEM 1;
      fastcgi_param HOME ${q(c.home)};
    }
  }
}
`;
}

/** An nginx string literal. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (ch) => `\\${ch}`)}"`;
}

/** Rewrites the htpasswd file atomically (write, then rename), so nginx never reads half a file. */
async function writeHtpasswd(
  htpasswd: string,
  file: string,
  username: string,
  password: string,
): Promise<void> {
  // -m: APR1-MD5. nginx verifies crypt(3), {SHA}, {SSHA} and $apr1$ hashes, but not bcrypt (-B).
  const next = `${file}.next`;
  const result = await ManagedProcess.run(htpasswd, ['-b', '-c', '-m', next, username, password], {
    timeoutMs: 10_000,
  });
  if (result.code !== 0)
    throw new Error(`htpasswd failed (exit ${String(result.code)}): ${result.stderr.trim()}`);
  await rename(next, file);
}

/**
 * The absolute path of `name` on PATH (plus the sbin directories, where Debian puts nginx and
 * which an unprivileged PATH often lacks); a clear error naming the Debian package otherwise.
 */
export function findBinary(name: string, debianPackage: string): string {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (d === '') continue;
    const candidate = join(d, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found on PATH: install the Debian package ${debianPackage} (see .ci/run).`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function tailOf(file: string): Promise<string> {
  try {
    const text = (await readFile(file, 'utf8')).trimEnd();
    return text === ''
      ? ''
      : `\n--- last lines of ${file} ---\n${text.split('\n').slice(-20).join('\n')}\n---`;
  } catch {
    return '';
  }
}

/**
 * SIGKILLs every process whose working directory is `dir`, synchronously: for the exit hook, where
 * nothing asynchronous runs any more. Linux only (/proc); elsewhere it does nothing.
 */
function killProcessesIn(dir: string): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === dir) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already, or not ours to inspect.
    }
  }
}
