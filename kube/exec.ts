// Exec credential plugins (a kubeconfig user's `exec`: aws, gke-gcloud-auth-plugin, kubelogin, …)
// run as kubectl runs them: the command with its args and env, KUBERNETES_EXEC_INFO describing the
// call (never interactive in a server, which has no terminal; a command-line tool hands the plugin
// its stderr, and its stdin when that is a terminal, as kubectl does), an ExecCredential of the configured
// apiVersion (client.authentication.k8s.io/v1 or v1beta1) read from its stdout. Its token and
// client certificate are kept until status.expirationTimestamp (without one, until kube-apiserver
// refuses them); then, or after a 401, the plugin runs again. Concurrent requests share one run.
// Neither its args nor its stderr appear in an error: either may hold a secret (a user at a terminal
// sees the stderr on their own, as with kubectl).

import { spawn } from 'node:child_process';
import { KubeConfigError } from './credentials.js';

export const execApiVersions: readonly string[] = [
  'client.authentication.k8s.io/v1',
  'client.authentication.k8s.io/v1beta1',
];

/** What an ExecCredential may be at most; plugins print a few KiB. */
const maxOutputBytes = 1024 * 1024;
const defaultTimeoutMs = 60_000;

export interface ExecConfig {
  /** A name looked up in $PATH, or a path (kubeconfig.ts resolves relative ones). */
  command: string;
  args: readonly string[];
  /** Added to this process's environment for the plugin. */
  env: Readonly<Record<string, string>>;
  apiVersion: string;
  /** Said when the command is not found (kubeconfig's installHint). */
  installHint?: string;
  /** ExecCredential.spec.cluster, when the kubeconfig sets provideClusterInfo. */
  cluster?: Readonly<Record<string, unknown>>;
  /**
   * Present when a user runs this process at a terminal: the plugin writes to their stderr (login
   * prompts, device codes, why it failed), and when `interactive` it reads their stdin too.
   */
  user?: { interactive: boolean };
}

/** What the plugin gave; the same object until it runs again. */
export interface ExecResult {
  token?: string;
  /** PEM. */
  cert?: string;
  key?: string;
  /** Milliseconds since the epoch; absent: good until kube-apiserver refuses it. */
  expiresAt?: number;
}

interface ExecCredentialStatus {
  token?: unknown;
  clientCertificateData?: unknown;
  clientKeyData?: unknown;
  expirationTimestamp?: unknown;
}

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export class ExecPlugin {
  private cached: ExecResult | undefined;
  private running: Promise<ExecResult> | undefined;

  constructor(
    private readonly config: ExecConfig,
    private readonly now: () => number = Date.now,
    private readonly timeoutMs = defaultTimeoutMs,
  ) {}

  /** The kept result while it has not expired, else the plugin's next answer. */
  current(): Promise<ExecResult> {
    const kept = this.cached;
    if (kept && (kept.expiresAt === undefined || this.now() < kept.expiresAt)) return Promise.resolve(kept);
    this.running ??= this.run().then(
      (result) => {
        this.cached = result;
        this.running = undefined;
        return result;
      },
      (err: unknown) => {
        this.running = undefined;
        throw err;
      },
    );
    return this.running;
  }

  /** kube-apiserver refused `used`: unless a newer result is kept already, the next call runs the plugin. */
  invalidate(used: ExecResult): void {
    if (this.cached === used) this.cached = undefined;
  }

  private fail(what: string): KubeConfigError {
    return new KubeConfigError(`the kubeconfig's exec plugin "${this.config.command}" ${what}`);
  }

  private run(): Promise<ExecResult> {
    const { command, args, env, apiVersion, cluster, user } = this.config;
    const interactive = user?.interactive === true;
    const info = {
      apiVersion,
      kind: 'ExecCredential',
      spec: { interactive, ...(cluster ? { cluster } : {}) },
    };
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => ExecResult): void => {
        if (settled) return;
        settled = true;
        try {
          resolve(outcome());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      const child = spawn(command, [...args], {
        env: { ...process.env, ...env, KUBERNETES_EXEC_INFO: JSON.stringify(info) },
        stdio: [interactive ? 'inherit' : 'ignore', 'pipe', user ? 'inherit' : 'ignore'],
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.timeoutMs);
      const chunks: Buffer[] = [];
      let size = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxOutputBytes) chunks.push(chunk);
        else child.kill('SIGKILL');
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        settle(() => {
          if (err.code === 'ENOENT') {
            throw this.fail(`was not found${this.config.installHint ? `: ${this.config.installHint}` : ''}`);
          }
          throw this.fail(`could not be started (${err.code ?? err.message})`);
        });
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        settle(() => {
          if (timedOut) throw this.fail(`did not finish within ${this.timeoutMs / 1000} s`);
          if (size > maxOutputBytes) throw this.fail(`printed more than ${maxOutputBytes} bytes`);
          if (signal) throw this.fail(`was killed by ${signal}`);
          if (code !== 0) throw this.fail(`exited with code ${String(code)}`);
          return this.parse(Buffer.concat(chunks).toString('utf8'));
        });
      });
    });
  }

  private parse(text: string): ExecResult {
    const { apiVersion } = this.config;
    let out: { apiVersion?: unknown; kind?: unknown; status?: ExecCredentialStatus | null };
    try {
      out = JSON.parse(text) as typeof out;
    } catch {
      throw this.fail(`printed no ExecCredential (not JSON)`);
    }
    if (out.kind !== 'ExecCredential' || out.apiVersion !== apiVersion) {
      throw this.fail(
        `printed ${String(out.kind)} of ${String(out.apiVersion)}, not the ExecCredential of ${apiVersion} the kubeconfig asks for`,
      );
    }
    const status = out.status ?? {};
    const token = nonEmpty(status.token);
    const cert = nonEmpty(status.clientCertificateData);
    const key = nonEmpty(status.clientKeyData);
    if (!cert !== !key) throw this.fail('gave a client certificate without its key, or a key alone');
    if (!token && !cert) throw this.fail('gave neither a token nor a client certificate');
    const result: ExecResult = {};
    if (token) result.token = token;
    if (cert && key) Object.assign(result, { cert, key });
    const expiry = nonEmpty(status.expirationTimestamp);
    if (expiry !== undefined) {
      const at = Date.parse(expiry);
      if (Number.isNaN(at)) throw this.fail(`gave an expirationTimestamp that is no time: ${expiry}`);
      result.expiresAt = at;
    }
    return result;
  }
}
