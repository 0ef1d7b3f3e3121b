// A real container registry for tests: Debian's docker-registry (CNCF Distribution 2.8) on
// 127.0.0.1 over plain HTTP, with filesystem storage in a temp dir that stop() removes, behind one
// of the two auth schemes registries use in practice:
//
//   htpasswd  Basic auth against a bcrypt htpasswd file (the registry accepts nothing else).
//   token     The Docker token flow: the registry answers 401 with `Bearer realm=…,service=…,
//             scope=…`; the client trades Basic credentials for a JWT at the realm, a token server
//             that lives in this module, and retries with `Authorization: Bearer <jwt>`.
//
// `push` and `tagsList` are a minimal client of the Distribution API (no Docker, no skopeo), so a
// test can put an image there and read back what the registry itself says.
//
// Needs the Debian packages docker-registry and apache2-utils (htpasswd); see .ci/run.
import { createHash, createPrivateKey, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Agent, request, type Dispatcher } from 'undici';
import { createCA, issueCert } from '../pki.js';
import { freePort, ManagedProcess, registerExitCleanup } from '../process.js';
import { findBinary } from './gitserver.js';

const START_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;
const TOKEN_TTL_S = 300;
const SERVICE = 'test-registry';
const ISSUER = 'test-issuer';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Every token the token servers of this process issued, so a test can check that none leaks. */
export const issuedRegistryTokens: string[] = [];
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface RegistryOptions {
  auth: 'htpasswd' | 'token';
  username: string;
  password: string;
  /** Parent directory for the registry's fresh temp dir (default: the OS temp dir). */
  dir?: string;
  /** Where the registry's log goes, named after the temp dir, so it outlives stop() (default: the temp dir). */
  logDir?: string;
  /**
   * The address the registry and its token server listen on and name in their URLs (default
   * 127.0.0.1; a cluster's bridge address for pods to reach).
   */
  host?: string;
}

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface Registry {
  /** http://<host>:<port> (127.0.0.1 unless `host` says otherwise), no trailing slash. */
  readonly url: string;
  /** <host>:<port>, for image references (`docker://${host}/repo:tag`). */
  readonly host: string;
  readonly port: number;
  readonly auth: 'htpasswd' | 'token';
  /** Token mode: the realm, http://<host>:<port>/token. */
  readonly tokenUrl?: string;
  /** Token mode: the `service` (and JWT audience) the registry expects: 'test-registry'. */
  readonly service?: string;
  readonly username: string;
  /** The temp dir holding config, storage and (without `logDir`) the log; removed by stop(). */
  readonly dir: string;
  /** The registry's log (its access log included). */
  readonly logFile: string;
  /** Milliseconds from the call to startRegistry to the registry answering /v2/. */
  readonly startMs: number;
  /** docker-registry's pid (the token server runs inside this Node process). */
  readonly pid: number | undefined;
  /**
   * Pushes a tiny single-layer OCI image (a random file in a gzipped tar, and its config) as
   * `repo:tag` and returns the manifest digest. Each push makes a new layer, so a new digest.
   * `creds` overrides the registry's own credentials (for testing refusals).
   */
  push(repo: string, tag: string, creds?: RegistryCredentials): Promise<string>;
  /** The registry's own answer to GET /v2/<repo>/tags/list, authenticated. */
  tagsList(repo: string, creds?: RegistryCredentials): Promise<string[]>;
  /**
   * Replaces the password. htpasswd mode: rewrites the file, which docker-registry 2.8 re-reads
   * when its modification time changes (checked per request), so there is no restart; resolves
   * once the registry accepts the new password. Token mode: the token server checks the new one.
   */
  setPassword(password: string): Promise<void>;
  /** Stops the registry and the token server and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** An HTTP answer the client did not expect; `status` 401 means the credentials were refused. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Starts docker-registry (and, in token mode, its token server) and waits until /v2/ answers. */
export async function startRegistry(opts: RegistryOptions): Promise<Registry> {
  const t0 = performance.now();
  const binary = findBinary('docker-registry', 'docker-registry');
  const htpasswd = opts.auth === 'htpasswd' ? findBinary('htpasswd', 'apache2-utils') : undefined;

  const parent = resolve(opts.dir ?? tmpdir());
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'connectors-registry-'));
  const unregisterCleanup = registerExitCleanup(() => {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  const creds: RegistryCredentials = { username: opts.username, password: opts.password };
  const listenHost = opts.host ?? '127.0.0.1';
  let tokenServer: TokenServer | undefined;
  let proc: ManagedProcess | undefined;
  const agent = new Agent({ keepAliveTimeout: 1_000 });
  try {
    let auth: Record<string, unknown>;
    const htpasswdFile = join(dir, 'htpasswd');
    if (htpasswd !== undefined) {
      await writeHtpasswd(htpasswd, htpasswdFile, creds);
      auth = { htpasswd: { realm: SERVICE, path: htpasswdFile } };
    } else {
      // The registry trusts tokens whose x5c chain ends in a certificate of rootcertbundle.
      const ca = await createCA('connectors-test-registry-token-ca');
      // No extended key usage: Go's chain verification then accepts the leaf for any purpose.
      const signer = await issueCert(ca, { commonName: 'connectors-test-registry-token-signer' });
      const bundle = join(dir, 'token-ca.crt');
      await writeFile(bundle, ca.certPem);
      tokenServer = await startTokenServer(signer, () => creds, listenHost);
      auth = { token: { realm: tokenServer.url, service: SERVICE, issuer: ISSUER, rootcertbundle: bundle } };
    }

    const port = await freePort();
    const url = `http://${listenHost}:${port}`;
    // JSON is YAML, and spares us quoting rules.
    const config = {
      version: '0.1',
      log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
      storage: {
        filesystem: { rootdirectory: join(dir, 'storage') },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: `${listenHost}:${port}`, secret: randomBytes(16).toString('hex') },
      auth,
    };
    const configFile = join(dir, 'config.yml');
    await writeFile(configFile, JSON.stringify(config, null, 2));
    if (opts.logDir !== undefined) await mkdir(opts.logDir, { recursive: true });
    const logFile =
      opts.logDir === undefined ? join(dir, 'registry.log') : join(opts.logDir, `${basename(dir)}.log`);
    // A minimal environment: docker-registry lets REGISTRY_* variables override its config.
    proc = ManagedProcess.start({
      name: 'docker-registry',
      binary,
      args: ['serve', configFile],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir },
      cwd: dir,
      logFile,
    });
    const registryProc = proc;
    await registryProc.waitUntil(
      async () => {
        const res = await request(`${url}/v2/`, { dispatcher: agent, signal: AbortSignal.timeout(2_000) });
        await res.body.dump();
        return res.statusCode === 401; // the auth challenge: up, and auth is on
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 20, what: `docker-registry ${url}/v2/` },
    );

    return new LocalRegistry({
      url,
      port,
      auth: opts.auth,
      tokenServer,
      creds,
      dir,
      logFile,
      startMs: performance.now() - t0,
      htpasswd,
      htpasswdFile,
      proc: registryProc,
      agent,
      unregisterCleanup,
    });
  } catch (error) {
    await proc?.stop(STOP_GRACE_MS);
    await tokenServer?.close();
    await agent.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    unregisterCleanup();
    throw error;
  }
}

interface RegistryState {
  url: string;
  port: number;
  auth: 'htpasswd' | 'token';
  tokenServer: TokenServer | undefined;
  /** Shared with the token server, which reads the current password from it. */
  creds: RegistryCredentials;
  dir: string;
  logFile: string;
  startMs: number;
  htpasswd: string | undefined;
  htpasswdFile: string;
  proc: ManagedProcess;
  agent: Agent;
  unregisterCleanup: () => void;
}

class LocalRegistry implements Registry {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly auth: 'htpasswd' | 'token';
  readonly tokenUrl?: string;
  readonly service?: string;
  readonly username: string;
  readonly dir: string;
  readonly logFile: string;
  readonly startMs: number;
  readonly pid: number | undefined;
  private readonly client: DistributionClient;
  private stopping: Promise<void> | undefined;

  constructor(private readonly state: RegistryState) {
    this.url = state.url;
    this.host = new URL(state.url).host;
    this.port = state.port;
    this.auth = state.auth;
    if (state.tokenServer) {
      this.tokenUrl = state.tokenServer.url;
      this.service = SERVICE;
    }
    this.username = state.creds.username;
    this.dir = state.dir;
    this.logFile = state.logFile;
    this.startMs = state.startMs;
    this.pid = state.proc.pid;
    this.client = new DistributionClient(state.url, state.agent);
  }

  async push(repo: string, tag: string, creds?: RegistryCredentials): Promise<string> {
    const c = creds ?? this.state.creds;
    const scope = `repository:${repo}:pull,push`;
    const content = randomBytes(64);
    const layer = gzipSync(tarOneFile('random.bin', content));
    const imageConfig = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: '2024-01-01T00:00:00Z',
        config: {},
        rootfs: { type: 'layers', diff_ids: [digestOf(tarOneFile('random.bin', content))] },
        history: [{ created: '2024-01-01T00:00:00Z', created_by: 'hack/tools/registry.ts' }],
      }),
    );
    for (const blob of [layer, imageConfig]) await this.uploadBlob(repo, blob, scope, c);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: digestOf(imageConfig), size: imageConfig.length },
        layers: [{ mediaType: OCI_LAYER, digest: digestOf(layer), size: layer.length }],
      }),
    );
    const res = await this.client.send(
      'PUT',
      `/v2/${repo}/manifests/${encodeURIComponent(tag)}`,
      { scope, creds: c, body: manifest, headers: { 'content-type': OCI_MANIFEST } },
      [201],
    );
    return header(res.headers, 'docker-content-digest') ?? digestOf(manifest);
  }

  async tagsList(repo: string, creds?: RegistryCredentials): Promise<string[]> {
    const res = await this.client.send(
      'GET',
      `/v2/${repo}/tags/list`,
      { scope: `repository:${repo}:pull`, creds: creds ?? this.state.creds },
      [200],
    );
    const body = JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  async setPassword(password: string): Promise<void> {
    const next = { username: this.state.creds.username, password };
    if (this.state.htpasswd !== undefined) {
      await writeHtpasswd(this.state.htpasswd, this.state.htpasswdFile, next);
    }
    this.state.creds.password = password;
    this.client.forget();
    if (this.state.htpasswd === undefined) return;
    // The registry notices the new file on the next request (it compares the file's mtime);
    // confirm rather than assume, so a test never races a stale file.
    const basic = `Basic ${Buffer.from(`${next.username}:${password}`).toString('base64')}`;
    await this.state.proc.waitUntil(
      async () => {
        const res = await request(`${this.url}/v2/`, {
          headers: { authorization: basic },
          dispatcher: this.state.agent,
          signal: AbortSignal.timeout(2_000),
        });
        await res.body.dump();
        return res.statusCode === 200;
      },
      { timeoutMs: 5_000, what: 'docker-registry to accept the new htpasswd password' },
    );
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.state.proc.stop(STOP_GRACE_MS);
      await this.state.tokenServer?.close();
      await this.state.agent.close();
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      this.state.unregisterCleanup();
    })();
    return this.stopping;
  }

  /** POST /v2/<repo>/blobs/uploads/, then PUT <Location>&digest=… with the whole blob. */
  private async uploadBlob(
    repo: string,
    blob: Buffer,
    scope: string,
    creds: RegistryCredentials,
  ): Promise<void> {
    const started = await this.client.send('POST', `/v2/${repo}/blobs/uploads/`, { scope, creds }, [202]);
    const location = header(started.headers, 'location');
    if (location === undefined)
      throw new Error(`POST /v2/${repo}/blobs/uploads/ answered 202 without Location`);
    const target = new URL(location, this.url); // absolute in 2.8, relative with http.relativeurls
    target.searchParams.set('digest', digestOf(blob));
    await this.client.send(
      'PUT',
      `${target.pathname}${target.search}`,
      { scope, creds, body: blob, headers: { 'content-type': 'application/octet-stream' } },
      [201],
    );
  }
}

// --- the Distribution API client -----------------------------------------------------------------

interface SendOptions {
  scope: string;
  creds: RegistryCredentials;
  body?: Buffer;
  headers?: Record<string, string>;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Sends a request, and on a 401 answers the challenge the way docker and skopeo do: Basic
 * credentials for `Basic`, a token from the realm for `Bearer`; then retries once. The
 * Authorization that worked is kept per scope and credentials, so a push costs one token.
 */
class DistributionClient {
  private readonly authorizations = new Map<string, string>();

  constructor(
    private readonly base: string,
    private readonly dispatcher: Dispatcher,
  ) {}

  forget(): void {
    this.authorizations.clear();
  }

  async send(
    method: Dispatcher.HttpMethod,
    path: string,
    opts: SendOptions,
    expect: number[],
  ): Promise<Answer> {
    const key = `${opts.scope}\n${opts.creds.username}\n${opts.creds.password}`;
    let authorization = this.authorizations.get(key);
    let res = await this.once(method, `${this.base}${path}`, opts, authorization);
    if (res.status === 401) {
      authorization = await this.authorize(header(res.headers, 'www-authenticate'), opts);
      res = await this.once(method, `${this.base}${path}`, opts, authorization);
      if (res.status !== 401) this.authorizations.set(key, authorization);
    }
    if (!expect.includes(res.status)) {
      throw new RegistryError(
        `${method} ${path}: HTTP ${res.status} (want ${expect.join(' or ')}): ${res.body.toString('utf8').slice(0, 500)}`,
        res.status,
      );
    }
    return res;
  }

  private async once(
    method: Dispatcher.HttpMethod,
    url: string,
    opts: SendOptions,
    authorization: string | undefined,
  ): Promise<Answer> {
    const res = await request(url, {
      method,
      headers: { ...opts.headers, ...(authorization ? { authorization } : {}) },
      ...(opts.body ? { body: opts.body } : {}),
      dispatcher: this.dispatcher,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
  }

  private async authorize(challenge: string | undefined, opts: SendOptions): Promise<string> {
    const basic = `Basic ${Buffer.from(`${opts.creds.username}:${opts.creds.password}`).toString('base64')}`;
    const scheme = challenge?.split(' ', 1)[0]?.toLowerCase();
    if (scheme === 'basic') return basic;
    if (scheme !== 'bearer' || challenge === undefined) {
      throw new RegistryError(`401 with an unsupported challenge: ${challenge ?? '(none)'}`, 401);
    }
    const params = new Map([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    const realm = params.get('realm');
    if (realm === undefined) throw new RegistryError(`Bearer challenge without realm: ${challenge}`, 401);
    const tokenUrl = new URL(realm);
    const service = params.get('service');
    if (service !== undefined) tokenUrl.searchParams.set('service', service);
    tokenUrl.searchParams.set('scope', params.get('scope') ?? opts.scope);
    const res = await request(tokenUrl, {
      headers: { authorization: basic },
      dispatcher: this.dispatcher,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      throw new RegistryError(
        `token endpoint ${realm}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`,
        res.statusCode,
      );
    }
    const body = JSON.parse(text) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (token === undefined) throw new Error(`token endpoint ${realm} answered without a token: ${text}`);
    return `Bearer ${token}`;
  }
}

// --- the token server ------------------------------------------------------------------------------

interface TokenServer {
  url: string;
  close(): Promise<void>;
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/**
 * GET /token?service=…&scope=repository:<name>:pull,push (scope repeatable, or space-separated)
 * with Basic credentials → {token, access_token, expires_in, issued_at}; 401 for anything but the
 * current credentials. Grants every requested action: authorization is not what these tests probe.
 */
async function startTokenServer(
  signer: { certPem: string; keyPem: string },
  creds: () => RegistryCredentials,
  host: string,
): Promise<TokenServer> {
  const key = createPrivateKey(signer.keyPem);
  const x5c = [pemToDer(signer.certPem).toString('base64')];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (req.method !== 'GET' || url.pathname !== '/token') {
      sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'GET /token only' }] });
      return;
    }
    const current = creds();
    const expected = `Basic ${Buffer.from(`${current.username}:${current.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.setHeader('www-authenticate', `Basic realm="${SERVICE} token server"`);
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'wrong or missing credentials' }] });
      return;
    }
    const access = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .map(parseScope)
      .filter((a): a is Access => a !== undefined);
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(key, x5c, {
      iss: ISSUER,
      sub: current.username,
      aud: url.searchParams.get('service') ?? SERVICE,
      exp: now + TOKEN_TTL_S,
      nbf: now - 10, // a little slack for clock skew
      iat: now,
      jti: randomUUID(),
      access,
    });
    issuedRegistryTokens.push(token);
    sendJson(res, 200, {
      token,
      access_token: token,
      expires_in: TOKEN_TTL_S,
      issued_at: new Date(now * 1000).toISOString(),
    });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/token`,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => {
          resolveClose();
        });
        server.closeAllConnections();
      }),
  };
}

/** 'repository:org/app:pull,push' → {type, name, actions}; the name may itself hold colons. */
function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((a) => a !== '');
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

/** A compact JWS, ES256: the signature is r‖s (IEEE P1363), not DER, as JWA requires. */
function signJwt(key: KeyObject, x5c: string[], claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ typ: 'JWT', alg: 'ES256', x5c })}.${encode(claims)}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// --- helpers -----------------------------------------------------------------------------------------

/** Rewrites the htpasswd file atomically with a bcrypt hash (-B), the only kind the registry takes. */
async function writeHtpasswd(htpasswd: string, file: string, creds: RegistryCredentials): Promise<void> {
  const result = await ManagedProcess.run(htpasswd, ['-B', '-b', '-n', creds.username, creds.password], {
    timeoutMs: 10_000,
  });
  if (result.code !== 0)
    throw new Error(`htpasswd failed (exit ${String(result.code)}): ${result.stderr.trim()}`);
  const next = `${file}.next`;
  await writeFile(next, result.stdout);
  await rename(next, file);
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function pemToDer(pem: string): Buffer {
  const body = pem.replace(/-----(BEGIN|END) [^-]+-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** A POSIX ustar archive holding one regular file: enough for a layer any tool can unpack. */
function tarOneFile(name: string, content: Buffer): Buffer {
  const block = 512;
  const head = Buffer.alloc(block);
  const field = (offset: number, length: number, value: string): void => {
    head.write(value.slice(0, length), offset, length, 'ascii');
  };
  const octal = (value: number, length: number): string => `${value.toString(8).padStart(length - 1, '0')}\0`;
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(Math.floor(Date.UTC(2024, 0, 1) / 1000), 12));
  field(148, 8, '        '); // the checksum counts its own field as spaces
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of head) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((block - (content.length % block)) % block);
  return Buffer.concat([head, content, padding, Buffer.alloc(2 * block)]);
}
