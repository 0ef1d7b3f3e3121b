// Certificates and keys read from files, and reloaded when the files change, as kube-apiserver's
// dynamic certificates are: cert-manager renews a serving certificate long before it expires, and
// a listener that read it once would serve the old one until it expired and broke every client.
//
// Kubernetes mounts a Secret as a directory whose entries are symlinks into `..data`, itself a
// symlink that the kubelet swaps atomically; the files themselves never change, so the directory is
// watched and every event re-reads all the files. fs.watch can miss events (some file systems send
// none), so the files are also re-read periodically. A new set that does not load (unreadable, not
// PEM, a key that does not match its certificate) is logged and the one in use is kept.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { FlagSpec, Flags } from './flags.js';
import type { Logger } from './log.js';
import { StatusError } from './status.js';

/** A certificate (PEM, leaf first, then any intermediates) and its private key (PEM). */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

const pemCertificates = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Checks that `keyPem` is the private key of the first certificate in `certPem`; throws why not. */
export function checkKeyPair(pair: KeyPair): X509Certificate {
  const first = pair.certPem.match(pemCertificates)?.[0];
  if (!first) throw new Error('the certificate file holds no PEM certificate');
  const cert = new X509Certificate(first);
  let key;
  try {
    key = createPrivateKey(pair.keyPem);
  } catch {
    // Never the library's message: it may quote the key file.
    throw new Error('the key file holds no PEM private key');
  }
  if (!cert.checkPrivateKey(key)) throw new Error('the private key does not belong to the certificate');
  return cert;
}

/** Checks that `pem` holds at least one certificate; returns it unchanged. */
export function checkCaBundle(pem: string): string {
  const blocks = pem.match(pemCertificates) ?? [];
  if (blocks.length === 0) throw new Error('the file holds no PEM certificate');
  for (const block of blocks) new X509Certificate(block);
  return pem;
}

export interface WatchedFilesOptions<T> {
  /** What the files are, for the log ("serving certificate"). */
  what: string;
  files: readonly string[];
  /** Turns the files' contents (in `files` order) into the value; throws when they are unusable. */
  parse: (contents: string[]) => T;
  /** Fields describing a loaded value for the log (never key material). */
  describe?: (value: T) => Record<string, unknown>;
  log: Logger;
  /** The periodic re-read, in case a change sends no event. */
  recheckMs?: number;
}

/** Files whose parsed content follows the files; `current` is always the last set that loaded. */
export class WatchedFiles<T> {
  private value: T;
  private loaded: string;
  /** The contents that last failed to load, so that they are reported once. */
  private failed: string | undefined;
  private readonly listeners: ((value: T) => void)[] = [];
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;

  /** Reads the files once; throws (naming the files) when they cannot be used at all. */
  constructor(private readonly opts: WatchedFilesOptions<T>) {
    const contents = this.read();
    try {
      this.value = opts.parse(contents);
    } catch (err) {
      throw new Error(`${opts.what} (${opts.files.join(', ')}): ${(err as Error).message}`);
    }
    this.loaded = contents.join('\0');
  }

  get current(): T {
    return this.value;
  }

  /** Called with each new value, after `current` has changed. */
  onChange(listener: (value: T) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    for (const dir of new Set(this.opts.files.map((f) => dirname(f)))) {
      try {
        const watcher = watch(dir, () => {
          this.scheduleReload();
        });
        watcher.on('error', (err) => {
          this.opts.log.warn(`cannot watch the ${this.opts.what}; re-reading it periodically only`, {
            dir,
            error: err,
          });
        });
        watcher.unref(); // a watcher alone does not keep the process running
        this.watchers.push(watcher);
      } catch (err) {
        this.opts.log.warn(`cannot watch the ${this.opts.what}; re-reading it periodically only`, {
          dir,
          error: err,
        });
      }
    }
    this.timer = setInterval(() => {
      this.reload();
    }, this.opts.recheckMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    for (const w of this.watchers.splice(0)) w.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  /**
   * Re-reads the files now. A change usually comes as several events (one per file, or the
   * kubelet's renames), so events are gathered for a moment first: the certificate written before
   * its key would otherwise be tried, and refused, with the old key.
   */
  private scheduleReload(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.reload();
    }, 100);
    this.debounce.unref();
  }

  private reload(): void {
    let contents: string[];
    try {
      contents = this.read();
    } catch (err) {
      this.refuse(undefined, err);
      return;
    }
    const joined = contents.join('\0');
    if (joined === this.loaded || joined === this.failed) return;
    let value: T;
    try {
      value = this.opts.parse(contents);
    } catch (err) {
      this.refuse(joined, err);
      return;
    }
    this.value = value;
    this.loaded = joined;
    this.failed = undefined;
    this.opts.log.info(`${this.opts.what} reloaded`, {
      files: this.opts.files,
      ...this.opts.describe?.(value),
    });
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (err) {
        this.opts.log.error(`cannot apply the new ${this.opts.what}`, { error: err });
      }
    }
  }

  private refuse(contents: string | undefined, err: unknown): void {
    this.failed = contents;
    this.opts.log.error(`cannot load the ${this.opts.what}; keeping the one in use`, {
      files: this.opts.files,
      error: err instanceof Error ? err.message : String(err),
    });
  }

  private read(): string[] {
    return this.opts.files.map((file) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (err) {
        throw new Error(`${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    });
  }
}

/** A certificate and key from files, reloaded when they change. */
export function watchedKeyPair(
  what: string,
  certFile: string,
  keyFile: string,
  log: Logger,
): WatchedFiles<KeyPair> {
  return new WatchedFiles({
    what,
    files: [certFile, keyFile],
    parse: ([certPem = '', keyPem = '']) => {
      const pair = { certPem, keyPem };
      checkKeyPair(pair);
      return pair;
    },
    describe: (pair) => {
      const cert = checkKeyPair(pair);
      return {
        serial: cert.serialNumber,
        fingerprint: cert.fingerprint256,
        notAfter: cert.validToDate.toISOString(),
      };
    },
    log,
  });
}

/** CA certificates (PEM) from a file, reloaded when it changes. */
export function watchedCaBundle(what: string, file: string, log: Logger): WatchedFiles<string> {
  return new WatchedFiles({
    what,
    files: [file],
    parse: ([pem = '']) => checkCaBundle(pem),
    log,
  });
}

/** TLS material a client presents and trusts (PEM). */
export interface ClientTls {
  /** Trusted in addition to the system's roots. */
  ca?: string;
  /** A client certificate and its key. */
  cert?: string;
  key?: string;
}

/**
 * Client TLS material from files (each optional), reloaded when they change: `current` is a new
 * object after every change, so a holder can tell new material by identity.
 */
export class WatchedClientTls {
  private readonly ca: WatchedFiles<string> | undefined;
  private readonly pair: WatchedFiles<KeyPair> | undefined;
  private value: ClientTls;

  constructor(what: string, files: ClientTlsFiles, log: Logger) {
    this.ca = files.caFile ? watchedCaBundle(`${what} CA`, files.caFile, log) : undefined;
    this.pair = files.client
      ? watchedKeyPair(`${what} client certificate`, files.client.certFile, files.client.keyFile, log)
      : undefined;
    this.value = this.build();
    for (const w of [this.ca, this.pair]) {
      w?.onChange(() => {
        this.value = this.build();
      });
    }
  }

  get current(): ClientTls {
    return this.value;
  }

  start(): void {
    this.ca?.start();
    this.pair?.start();
  }

  stop(): void {
    this.ca?.stop();
    this.pair?.stop();
  }

  private build(): ClientTls {
    return {
      ...(this.ca ? { ca: this.ca.current } : {}),
      ...(this.pair ? { cert: this.pair.current.certPem, key: this.pair.current.keyPem } : {}),
    };
  }
}

/** Files of client TLS material, as WatchedClientTls reads them. */
export interface ClientTlsFiles {
  caFile: string | undefined;
  client: { certFile: string; keyFile: string } | undefined;
}

/** The flags `--<prefix>-ca-file`, `--<prefix>-client-cert-file`, `--<prefix>-client-key-file`. */
export function clientTlsFlags(prefix: string): FlagSpec {
  return {
    [`${prefix}-ca-file`]: { type: 'string' },
    [`${prefix}-client-cert-file`]: { type: 'string' },
    [`${prefix}-client-key-file`]: { type: 'string' },
  };
}

/** Reads the flags of clientTlsFlags(prefix): each file must be readable, cert and key go together. */
export function readClientTlsFiles(f: Flags, prefix: string): ClientTlsFiles {
  const optionalFile = (k: string): string | undefined => (f.file(k) === undefined ? undefined : f.str(k));
  const certFile = optionalFile(`${prefix}-client-cert-file`);
  const keyFile = optionalFile(`${prefix}-client-key-file`);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    f.problems.push(
      `--${prefix}-client-cert-file and --${prefix}-client-key-file go together: give both, or neither`,
    );
  }
  return {
    caFile: optionalFile(`${prefix}-ca-file`),
    client: certFile && keyFile ? { certFile, keyFile } : undefined,
  };
}

/** The names a certificate stands for: its subject CN, DNS and URI SANs. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) names.push(line.slice(3));
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const m = /^(?:DNS|URI):(.+)$/.exec(entry);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

/**
 * The names of the client certificate a request's TLS handshake verified (against the server's
 * `ca`), or null when there is none: a plain connection, no certificate, or one that did not verify.
 */
export function verifiedClientNames(req: IncomingMessage): string[] | null {
  const socket = req.socket as Partial<TLSSocket>;
  const cert = socket.authorized === true ? socket.getPeerX509Certificate?.() : undefined;
  return cert ? certificateNames(cert) : null;
}

/**
 * An HTTPS server's certificate and the CA its callers' client certificates must chain to, from
 * files reloaded when they change; each change applies to the server's new handshakes.
 */
export class MutualTlsFiles {
  private readonly servingCert: WatchedFiles<KeyPair>;
  private readonly clientCa: WatchedFiles<string>;

  constructor(files: { certFile: string; keyFile: string; clientCaFile: string }, log: Logger) {
    this.servingCert = watchedKeyPair('serving certificate', files.certFile, files.keyFile, log);
    this.clientCa = watchedCaBundle('client CA', files.clientCaFile, log);
  }

  /** The server's TLS options now. */
  context(): SecureContextOptions {
    return {
      cert: this.servingCert.current.certPem,
      key: this.servingCert.current.keyPem,
      ca: this.clientCa.current,
    };
  }

  /** Watches the files, applying each change to `server`. */
  start(server: { setSecureContext(options: SecureContextOptions): void }): void {
    for (const files of [this.servingCert, this.clientCa]) {
      files.onChange(() => {
        server.setSecureContext(this.context());
      });
      files.start();
    }
  }

  stop(): void {
    this.servingCert.stop();
    this.clientCa.stop();
  }
}

/**
 * The 403 for a verified client certificate none of whose `names` is `allowed` (--allowed-client-names),
 * saying what it is not (`notOne`, e.g. "one the class API backend serves") and what to do instead;
 * null when one is.
 */
export function unlistedClient(
  names: readonly string[],
  allowed: ReadonlySet<string>,
  notOne: string,
  instead: string,
): StatusError | null {
  if (names.some((n) => allowed.has(n))) return null;
  return new StatusError(
    403,
    'Forbidden',
    `the client certificate "${names[0] ?? ''}" is not ${notOne} (--allowed-client-names); ${instead}`,
  );
}
