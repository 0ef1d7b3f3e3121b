// What a request to kube-apiserver carries: where it goes, the TLS options to trust the server and
// present a client certificate, and the headers that say who we are (Authorization, Impersonate-*).
// kube/config.ts decides where these come from; kube/client.ts asks for them on every request.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** How long a token file is trusted before it is read again (bound tokens rotate), as client-go. */
const tokenFileRefreshMs = 60_000;

export interface TlsOptions {
  /** Trusted roots; absent means Node's defaults. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
}

/** Header name → value; a list is sent as the header repeated (Impersonate-Group). */
export type CredentialHeaders = Readonly<Record<string, string | readonly string[]>>;

export interface Credentials {
  /** The same object for as long as it is unchanged, so a client keeps its connections. */
  tls: TlsOptions;
  /** Authorization (and Impersonate-*) headers for one request. */
  headers: CredentialHeaders;
}

export interface ClusterAccess {
  /** kube-apiserver's base URL, without a trailing slash. */
  server: string;
  /** An HTTP(S) proxy to reach it through (the cluster's proxy-url). */
  proxyUrl?: string;
  /** Where this came from, for log lines (a path or "in-cluster"; never a credential). */
  source: string;
  /** The kubeconfig context it is of, when it came from one. */
  context?: string;
  /** The namespace that context names (or the ServiceAccount's, in-cluster): a client's default. */
  namespace?: string;
  credentials(): Credentials | Promise<Credentials>;
  /**
   * kube-apiserver answered 401 to `used`. True when credentials() will now give fresh ones worth
   * one more try (an exec plugin is run again); absent or false when they would be the same.
   */
  rejected?(used: Credentials): boolean;
}

/** A kubeconfig (or in-cluster mount) that cannot be used; the message names the file and the field. */
export class KubeConfigError extends Error {
  readonly code = 'KubeConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

export function readSecretFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KubeConfigError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** A token file, read again once its copy is older than a minute (kubelet rotates bound tokens). */
export class TokenFile {
  private token: string;
  private readAt: number;
  private reading: Promise<string> | undefined;

  constructor(
    private readonly path: string,
    first: Buffer,
    private readonly refreshMs = tokenFileRefreshMs,
    private readonly now: () => number = Date.now,
  ) {
    this.token = first.toString('utf8').trim();
    this.readAt = this.now();
  }

  current(): Promise<string> {
    if (this.now() - this.readAt < this.refreshMs) return Promise.resolve(this.token);
    this.reading ??= readFile(this.path, 'utf8').then(
      (text) => {
        this.token = text.trim();
        this.readAt = this.now();
        this.reading = undefined;
        return this.token;
      },
      () => {
        // Mid-rotation the file may be briefly absent: keep the last token, try again next time.
        this.reading = undefined;
        return this.token;
      },
    );
    return this.reading;
  }
}
