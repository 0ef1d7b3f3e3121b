// Child processes for the local control plane (etcd, kube-apiserver, kubectl). Two promises this
// module keeps: a child that dies during startup fails the wait at once with its last log lines
// (instead of a 90 s timeout), and no child outlives this Node process, whether it exits normally,
// is interrupted, or crashes.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const TAIL_LINES = 20;
const DEFAULT_STOP_GRACE_MS = 10_000;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (spawn 'error'). */
  error?: Error;
}

export interface StartOptions {
  /** Short name used in messages, e.g. 'etcd'. */
  name: string;
  binary: string;
  args: string[];
  /** Replaces the environment; default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
}

export interface WaitOptions {
  timeoutMs: number;
  /** What is being waited for, e.g. 'etcd /health'; used in error messages. */
  what: string;
  intervalMs?: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Default 60 s; then the process is killed and `timedOut` is true. */
  timeoutMs?: number;
  /** Used in messages; default: the binary's file name. */
  name?: string;
}

export interface RunResult {
  /** Exit code; null if the process ended by a signal (including our timeout kill). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

// --- registry: kill children when this process goes away ---------------------------------------

const running = new Set<ManagedProcess>();
const exitCleanups = new Set<() => void>();
let hooksInstalled = false;
let gracefulStop: ((signal: NodeJS.Signals) => Promise<void>) | undefined;
let gracefulStopRunning = false;

/**
 * Makes the first SIGINT, SIGTERM or SIGHUP run `stop` (e.g. a cluster's orderly teardown) before
 * the usual kill-everything-and-die; a second signal meanwhile does the usual at once. For a CLI
 * that owns long-running children: without it, Ctrl-C kills them all with SIGKILL.
 */
export function stopGracefullyOnSignal(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  installHooks();
  gracefulStop = stop;
}

/**
 * Registers a synchronous cleanup (e.g. removing a temp dir) that runs when this process exits
 * without the owner having cleaned up. Runs after every child got SIGKILL. Returns an unregister
 * function for the normal path.
 */
export function registerExitCleanup(fn: () => void): () => void {
  installHooks();
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** Kills every still-running child at once, synchronously: the only thing possible in 'exit'. */
function killAllNow(): void {
  for (const p of running) p.killNow();
  running.clear();
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      // Best effort: we are exiting and have nobody to report to.
    }
  }
  exitCleanups.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const die = (): void => {
      killAllNow();
      // Having a listener disables Node's default "terminate on signal", so remove ours and
      // re-raise: the process then dies as it would have (exit status 128+n), unless someone else
      // (a test runner, say) also listens and has its own plan.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    const onSignal = (): void => {
      if (gracefulStop === undefined || gracefulStopRunning) {
        die();
        return;
      }
      gracefulStopRunning = true;
      gracefulStop(signal).then(die, (error: unknown) => {
        process.stderr.write(`stopping after ${signal} failed: ${errorMessage(error)}\n`);
        die();
      });
    };
    process.on(signal, onSignal);
  }
  // The monitor variant observes without changing Node's behaviour. Kill only when the exception
  // is really fatal: mocha, for one, installs an 'uncaughtException' handler, records the failure
  // and carries on, and killing the suite's control plane then would fail every later test too.
  process.on('uncaughtExceptionMonitor', () => {
    if (process.listenerCount('uncaughtException') === 0) killAllNow();
  });
}

// --- ManagedProcess ------------------------------------------------------------------------------

export class ManagedProcess {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly logFile: string | undefined;
  readonly pid: number | undefined;
  /** Resolves when the process has exited (or failed to start); never rejects. */
  readonly exited: Promise<ExitInfo>;

  private readonly child: ChildProcess;
  private exitInfo: ExitInfo | undefined;
  private stopping: Promise<ExitInfo> | undefined;

  private constructor(name: string, binary: string, args: string[], child: ChildProcess, logFile?: string) {
    this.name = name;
    this.binary = binary;
    this.args = args;
    this.logFile = logFile;
    this.child = child;
    this.pid = child.pid;
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        running.delete(this);
        resolve(this.exitInfo);
      });
      // 'error' without 'exit' happens when spawn itself fails (EACCES, ENOENT on a dangling
      // interpreter, ...); after a successful spawn 'exit' always follows.
      child.once('error', (error) => {
        if (child.pid !== undefined) return;
        this.exitInfo = { code: null, signal: null, error };
        running.delete(this);
        resolve(this.exitInfo);
      });
    });
    if (child.pid !== undefined) running.add(this);
  }

  /**
   * Starts a long-running binary whose output goes to `logFile`. Throws at once, naming the path,
   * if the binary is missing or not executable.
   */
  static start(opts: StartOptions): ManagedProcess {
    assertExecutable(opts.binary);
    installHooks();
    // The child writes straight into the file: nothing is lost if we die first, and there is no
    // pipe that a chatty kube-apiserver could fill up while nobody reads it.
    const fd = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(opts.binary, opts.args, {
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    // A forgotten stop() must not keep the test run alive forever; the 'exit' hook kills the
    // child when this process ends.
    child.unref();
    return new ManagedProcess(opts.name, opts.binary, opts.args, child, opts.logFile);
  }

  /**
   * Runs a binary to completion, capturing its output. Never throws for a non-zero exit or a
   * timeout; only for a missing binary.
   */
  static async run(binary: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    assertExecutable(binary);
    installHooks();
    const child = spawn(binary, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: 'pipe' });
    // 'exit' can fire before the last output chunks arrive; 'close' means the pipes are drained.
    const closed = new Promise<void>((resolve) =>
      child.once('close', () => {
        resolve();
      }),
    );
    const proc = new ManagedProcess(opts.name ?? basename(binary), binary, args, child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // EPIPE when the child exits before reading its stdin is not our failure; the exit code says it.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');

    // An object, not a `let`: TypeScript cannot see the callback assign it and would narrow it to false.
    const state = { timedOut: false };
    const timer = setTimeout(() => {
      state.timedOut = true;
      void proc.stop(2_000);
    }, opts.timeoutMs ?? 60_000);
    const info = await proc.exited;
    clearTimeout(timer);
    // Capped, because a grandchild that inherited the pipes (an exec credential plugin left
    // running) would otherwise hold them open indefinitely.
    const drainCap = cancellableDelay(2_000);
    await Promise.race([closed, drainCap.promise]);
    drainCap.cancel();

    let err = Buffer.concat(stderr).toString('utf8');
    if (info.error) err += `\n${info.error.message}`;
    if (state.timedOut) err += `\n${proc.name} timed out after ${opts.timeoutMs ?? 60_000} ms and was killed`;
    return {
      code: info.code,
      signal: info.signal,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: err,
      timedOut: state.timedOut,
    };
  }

  /** Whether the process is still running. */
  get isRunning(): boolean {
    return this.exitInfo === undefined;
  }

  get exitStatus(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /**
   * Polls `check` until it returns true. Fails at once if the process exits meanwhile, and after
   * `timeoutMs` otherwise; both errors carry the last log lines. A check that throws counts as
   * "not yet" (the server is typically not listening yet); its last error is reported on timeout.
   */
  async waitUntil(check: () => Promise<boolean>, opts: WaitOptions): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    const interval = opts.intervalMs ?? 100;
    let lastError: unknown;
    for (;;) {
      if (this.exitInfo) throw new Error(this.describeEarlyExit(opts.what, this.exitInfo));
      // Race against exit and the deadline so that a check which hangs (a request to a process
      // that died mid-handshake) cannot hold the wait past either.
      const deadlineTimer = cancellableDelay(deadline - Date.now());
      const outcome = await Promise.race([
        check().then(
          (ok) => ({ kind: 'checked' as const, ok }),
          (error: unknown) => ({ kind: 'failed' as const, error }),
        ),
        this.exited.then((info) => ({ kind: 'exited' as const, info })),
        deadlineTimer.promise.then(() => ({ kind: 'timeout' as const })),
      ]);
      // Cleared, or a succeeded wait would keep the event loop alive until the old deadline.
      deadlineTimer.cancel();
      if (outcome.kind === 'exited') throw new Error(this.describeEarlyExit(opts.what, outcome.info));
      if (outcome.kind === 'checked' && outcome.ok) return;
      if (outcome.kind === 'failed') lastError = outcome.error;
      if (Date.now() >= deadline) {
        const cause = lastError === undefined ? '' : ` Last check error: ${errorMessage(lastError)}.`;
        throw new Error(
          `Timed out after ${opts.timeoutMs} ms waiting for ${opts.what} (${this.name} is still running, ` +
            `pid ${this.pid ?? '?'}).${cause}${this.logSummary()}`,
        );
      }
      await sleep(Math.min(interval, Math.max(deadline - Date.now(), 0)));
    }
  }

  /**
   * SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Safe to call
   * repeatedly and concurrently.
   */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.stopping ??= (async () => {
      // The child was unref'd at start; while we wait for it, it must hold the event loop open
      // itself. A ref'd kill timer is not enough: once it has fired, nothing else may be left, and
      // Node would exit (code 13, unsettled top-level await) before seeing the child go.
      this.child.ref();
      this.signal('SIGTERM');
      const killTimer = setTimeout(() => {
        this.signal('SIGKILL');
      }, graceMs);
      const info = await this.exited;
      clearTimeout(killTimer);
      return info;
    })();
    return this.stopping;
  }

  /** SIGKILL without waiting; for the exit hook. */
  killNow(): void {
    this.signal('SIGKILL');
  }

  /** The last `lines` lines of the log file ('' if there is none yet). */
  tail(lines = TAIL_LINES): string {
    if (this.logFile === undefined) return '';
    let text: string;
    try {
      // The logs of a short test run are small; reading only the end is not worth the code.
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.exitInfo) return;
    try {
      this.child.kill(signal);
    } catch {
      // ESRCH: it exited between our check and the kill; 'exit' is on its way.
    }
  }

  private describeEarlyExit(what: string, info: ExitInfo): string {
    const how = info.error
      ? `could not be started: ${info.error.message}`
      : info.signal
        ? `was killed by ${info.signal}`
        : `exited with code ${info.code ?? '?'}`;
    return `${this.name} ${how} while waiting for ${what}.${this.logSummary()}${portHint(this.tail())}`;
  }

  private logSummary(): string {
    if (this.logFile === undefined) return '';
    const tail = this.tail();
    return tail === ''
      ? ` Log ${this.logFile} is empty.`
      : `\n--- last ${TAIL_LINES} lines of ${this.logFile} ---\n${tail}\n---`;
  }
}

// --- helpers ---------------------------------------------------------------------------------------

/** Throws a clear error unless `path` is an executable regular file. */
export function assertExecutable(path: string): void {
  const hint =
    'Run hack/build-k8s.sh to build the pinned etcd/kube-apiserver/kubectl, or set KUBEBUILDER_ASSETS ' +
    'to a directory that holds them.';
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new Error(`Binary not found: ${path}. ${hint}`);
  }
  if (!isFile) throw new Error(`Binary path is not a file: ${path}. ${hint}`);
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new Error(`Binary is not executable: ${path} (chmod +x it). ${hint}`);
  }
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1. The binaries want a number on their command
 * line, so there is a small window in which another process may take it; the early-exit error of
 * waitUntil names the port if that happens.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => {
        if (port === undefined) reject(new Error('could not read the port of a 127.0.0.1:0 listener'));
        else resolve(port);
      });
    });
  });
}

const handedOut = new Set<number>();

/**
 * A TCP port below the ephemeral range (Linux: 32768 and up) that was free a moment ago on
 * 127.0.0.1 (and on `host`, if given). Listeners that must keep their port across restarts, or
 * that a harness starts many of, take these: an ephemeral port can be taken at any moment by some
 * process's outgoing connection. Never hands out the same port twice in one process.
 */
export async function freeLowPort(host?: string): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    if (handedOut.has(port)) continue;
    const hosts = host === undefined || host === '127.0.0.1' ? ['127.0.0.1'] : ['127.0.0.1', host];
    if ((await Promise.all(hosts.map((h) => canListen(port, h)))).every(Boolean)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('found no free TCP port between 20000 and 32767 in 200 tries');
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, host, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** Turns Go's "bind: address already in use" into the port number and how to find its holder. */
function portHint(log: string): string {
  if (!log.includes('address already in use')) return '';
  const ports = [...log.matchAll(/:(\d{1,5}): bind: address already in use/g)].map((m) => m[1]);
  const unique = [...new Set(ports)];
  if (unique.length === 0) {
    return '\nSome port is already in use (see the log above); a leftover etcd or kube-apiserver from an earlier run?';
  }
  return unique
    .map(
      (port) =>
        `\nPort ${port ?? '?'} is already in use. Find the holder with \`ss -ltnp 'sport = :${port ?? '?'}'\` ` +
        `(or \`lsof -iTCP:${port ?? '?'} -sTCP:LISTEN\`) and stop it with \`kill <pid>\`; a leftover etcd or ` +
        'kube-apiserver from an earlier, killed run is the usual suspect.',
    )
    .join('');
}

/** A timer that can be cleared; a pending one would keep the event loop (and a test run) alive. */
function cancellableDelay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(ms, 0));
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
    },
  };
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    // undici wraps the useful part ("connect ECONNREFUSED ...") in `cause`.
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
