// Where kube-apiserver is, how to trust it and who we are to it, read the way client-node's
// KubeConfig.loadFromFile() and loadFromDefault() read it: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, else in-cluster (the ServiceAccount token and CA), else http://localhost:8080.
// The lean reading covers what a server meets in practice (tokens, token files, client
// certificates, CAs, in-cluster) without client-node, whose import alone costs ~76 MB of RSS. A
// user it cannot serve (exec, auth-provider, username/password, impersonation) or several
// $KUBECONFIG files fall back to client-node's own KubeConfig for the credentials of each request,
// so no setup that worked before breaks; only then is client-node loaded.

import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { load as loadYaml } from 'js-yaml';

export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

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

export interface Credentials {
  /** The same object for as long as it is unchanged, so a client keeps its connections. */
  tls: TlsOptions;
  /** Authorization (and Impersonate-*) headers for one request. */
  headers: Readonly<Record<string, string>>;
}

export interface ClusterAccess {
  /** kube-apiserver's base URL, without a trailing slash. */
  server: string;
  /** An HTTP(S) proxy to reach it through (the cluster's proxy-url). */
  proxyUrl?: string;
  /** Where this came from, for log lines (a path or "in-cluster"; never a credential). */
  source: string;
  /** Set when the lean reading could not serve this user and client-node provides the credentials. */
  fallbackReason?: string;
  credentials(): Credentials | Promise<Credentials>;
  /**
   * client-node's KubeConfig for the same cluster and user, for the controller's and the CSI
   * driver's writes: loads client-node (~76 MB) on first call.
   */
  clientNodeConfig(): Promise<KubeConfig>;
}

/** A kubeconfig that cannot be used; the message names the file and the field. */
export class KubeConfigError extends Error {
  readonly code = 'KubeConfigError';
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

export interface LoadOptions {
  /** --kubeconfig: wins over everything else. */
  kubeconfig?: string | undefined;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Where the ServiceAccount's token and ca.crt are mounted (tests point elsewhere). */
  serviceAccountDir?: string;
}

export type AccessSource =
  | { kind: 'file'; path: string }
  /** Several $KUBECONFIG files, merged by client-node: the lean reading does not merge. */
  | { kind: 'files'; paths: string[] }
  | { kind: 'in-cluster'; server: string; dir: string }
  /** Nothing configured: client-node's last resort, anonymous plain HTTP to localhost:8080. */
  | { kind: 'none' };

/** Which configuration applies, in client-node's loadFromDefault() order. */
export function accessSource(opts: LoadOptions = {}): AccessSource {
  if (opts.kubeconfig) return { kind: 'file', path: opts.kubeconfig };
  const env = opts.env ?? process.env;
  const files = (env['KUBECONFIG'] ?? '').split(delimiter).filter((f) => f !== '');
  if (files.length > 1) return { kind: 'files', paths: files };
  if (files[0] !== undefined) return { kind: 'file', path: files[0] };
  const home = opts.home ?? homedir();
  const config = join(home, '.kube', 'config');
  if (home && existsSync(config)) return { kind: 'file', path: config };
  const dir = opts.serviceAccountDir ?? serviceAccountDir;
  if (existsSync(join(dir, 'token'))) {
    const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
    const port = env['KUBERNETES_SERVICE_PORT'] ?? '';
    if (!host || !port) {
      throw new KubeConfigError(
        `a ServiceAccount token is mounted at ${dir} but KUBERNETES_SERVICE_HOST/PORT are not set; give --kubeconfig`,
      );
    }
    // As client-node: the well-known plain-HTTP ports mean plain HTTP.
    const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
    return { kind: 'in-cluster', server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`, dir };
  }
  return { kind: 'none' };
}

/** Reads the cluster access that `opts` selects; client-node is loaded only for a fallback user. */
export async function loadClusterAccess(opts: LoadOptions = {}): Promise<ClusterAccess> {
  const source = accessSource(opts);
  const clientNodeConfig = memo(() => loadClientNodeConfig(source));
  switch (source.kind) {
    case 'file': {
      const parsed = parseKubeconfig(readConfigFile(source.path), source.path);
      if (parsed.kind === 'fallback') return fallbackAccess(source.path, parsed.reason, clientNodeConfig);
      return { ...parsed.access, clientNodeConfig };
    }
    case 'files':
      return fallbackAccess(
        source.paths.join(delimiter),
        'KUBECONFIG names several files, which only client-node merges',
        clientNodeConfig,
      );
    case 'in-cluster': {
      const ca = readSecretFile(join(source.dir, 'ca.crt'), 'the in-cluster CA');
      const tokenFile = join(source.dir, 'token');
      const token = new TokenFile(tokenFile, readSecretFile(tokenFile, 'the ServiceAccount token'));
      const tls: TlsOptions = { ca, rejectUnauthorized: true };
      return {
        server: source.server,
        source: 'in-cluster',
        credentials: async () => ({ tls, headers: bearer(await token.current()) }),
        clientNodeConfig,
      };
    }
    case 'none': {
      const none: Credentials = { tls: { rejectUnauthorized: true }, headers: {} };
      return {
        server: 'http://localhost:8080',
        source: 'default',
        credentials: () => none,
        clientNodeConfig,
      };
    }
  }
}

/** Lean access from explicit fields (tests, and anything that knows its cluster already). */
export function staticAccess(
  server: string,
  opts: { tls?: Partial<TlsOptions>; token?: string; proxyUrl?: string } = {},
): ClusterAccess {
  const credentials: Credentials = {
    tls: { rejectUnauthorized: true, ...opts.tls },
    headers: opts.token ? bearer(opts.token) : {},
  };
  return {
    server: server.replace(/\/$/, ''),
    ...(opts.proxyUrl ? { proxyUrl: opts.proxyUrl } : {}),
    source: server,
    credentials: () => credentials,
    clientNodeConfig: () => Promise.reject(new Error('static cluster access has no client-node KubeConfig')),
  };
}

// --- kubeconfig files ----------------------------------------------------------------------------

type Fields = Record<string, unknown>;

export type ParsedKubeconfig =
  { kind: 'lean'; access: Omit<ClusterAccess, 'clientNodeConfig'> } | { kind: 'fallback'; reason: string };

/** What the lean reading does not do, by kubeconfig user field; client-node does each of them. */
const fallbackUserFields: Record<string, string> = {
  exec: 'an exec credential plugin',
  'auth-provider': 'an auth-provider',
  username: 'username/password',
  password: 'username/password',
  as: 'impersonation',
  'as-uid': 'impersonation',
  'as-groups': 'impersonation',
  'as-user-extra': 'impersonation',
};

function fields(value: unknown): Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The entry named `name` of a kubeconfig list (clusters, users, contexts), its inner object. */
function entry(doc: Fields, list: string, inner: string, name: string): Fields | undefined {
  const items = doc[list];
  if (!Array.isArray(items)) return undefined;
  const found = items.map(fields).find((item) => item['name'] === name);
  return found ? fields(found[inner]) : undefined;
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeConfigError(
      `cannot read kubeconfig ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

function readSecretFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KubeConfigError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

/**
 * The current context's cluster and user from a kubeconfig's text. File paths in it are relative
 * to `path`'s directory. Files it names are read now, so a wrong path fails at startup.
 */
export function parseKubeconfig(text: string, path: string): ParsedKubeconfig {
  let doc: Fields;
  try {
    doc = fields(loadYaml(text));
  } catch (err) {
    throw new KubeConfigError(
      `kubeconfig ${path} is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`,
    );
  }
  const bad = (what: string): KubeConfigError => new KubeConfigError(`kubeconfig ${path}: ${what}`);
  const contextName = str(doc['current-context']);
  if (!contextName) throw bad('current-context is not set');
  const context = entry(doc, 'contexts', 'context', contextName);
  if (!context) throw bad(`current-context "${contextName}" names no context`);
  const clusterName = str(context['cluster']);
  const cluster = clusterName ? entry(doc, 'clusters', 'cluster', clusterName) : undefined;
  if (!cluster) throw bad(`context "${contextName}" names no cluster`);
  const userName = str(context['user']);
  const user = (userName && entry(doc, 'users', 'user', userName)) || {};

  for (const [field, what] of Object.entries(fallbackUserFields)) {
    if (user[field] !== undefined && user[field] !== null) {
      return { kind: 'fallback', reason: `user "${userName ?? ''}" uses ${what}` };
    }
  }

  const server = str(cluster['server'])?.replace(/\/$/, '');
  if (!server || !/^https?:\/\//.test(server)) throw bad(`cluster "${clusterName}" has no http(s) server`);
  const proxyUrl = str(cluster['proxy-url']);
  if (proxyUrl && !/^https?:\/\//.test(proxyUrl)) {
    throw bad(
      `cluster "${clusterName}": only http(s) proxy-url is supported, not ${proxyUrl.split(':')[0] ?? ''}`,
    );
  }

  const base = dirname(path);
  const resolvePath = (file: string): string => (isAbsolute(file) ? file : join(base, file));
  /** `<field>-data` (base64) or `<field>` (a file), as kubeconfig spells them. */
  const material = (from: Fields, field: string, what: string): Buffer | undefined => {
    const data = str(from[`${field}-data`]);
    if (data) return Buffer.from(data, 'base64');
    const file = str(from[field]);
    if (!file) return undefined;
    try {
      return readSecretFile(resolvePath(file), what);
    } catch (err) {
      throw bad((err as Error).message);
    }
  };

  const tls: TlsOptions = { rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true };
  const ca = material(cluster, 'certificate-authority', 'the cluster CA');
  if (ca) tls.ca = ca;
  const servername = str(cluster['tls-server-name']);
  if (servername) tls.servername = servername;
  const cert = material(user, 'client-certificate', 'the client certificate');
  const key = material(user, 'client-key', 'the client key');
  if (!cert !== !key) throw bad(`user "${userName ?? ''}" needs both a client certificate and its key`);
  if (cert && key) Object.assign(tls, { cert, key });

  // client-go's tokenFile; client-node spells it token-file. A token given inline wins, as in client-go.
  let credentials: () => Credentials | Promise<Credentials>;
  const token = str(user['token']);
  const tokenFileName = str(user['tokenFile']) ?? str(user['token-file']);
  if (token) {
    const fixed: Credentials = { tls, headers: bearer(token) };
    credentials = () => fixed;
  } else if (tokenFileName) {
    const file = resolvePath(tokenFileName);
    let first: Buffer;
    try {
      first = readSecretFile(file, 'the token file');
    } catch (err) {
      throw bad((err as Error).message);
    }
    const source = new TokenFile(file, first);
    credentials = async () => ({ tls, headers: bearer(await source.current()) });
  } else {
    const fixed: Credentials = { tls, headers: {} };
    credentials = () => fixed;
  }
  return { kind: 'lean', access: { server, ...(proxyUrl ? { proxyUrl } : {}), source: path, credentials } };
}

function bearer(token: string): Record<string, string> {
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

// --- client-node ---------------------------------------------------------------------------------

function memo<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

/** client-node's KubeConfig for `source`, exactly as client-node itself would read it. */
async function loadClientNodeConfig(source: AccessSource): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  switch (source.kind) {
    case 'file':
      kc.loadFromFile(source.path);
      break;
    case 'files':
      // loadFromDefault()'s merge, on the files chosen here.
      for (const [i, path] of source.paths.entries()) {
        if (i === 0) {
          kc.loadFromFile(path);
          continue;
        }
        const more = new KubeConfig();
        more.loadFromFile(path);
        kc.mergeConfig(more);
      }
      break;
    case 'in-cluster':
    case 'none':
      kc.loadFromDefault();
      break;
  }
  return kc;
}

function sameMaterial(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return a === b;
}

/** Credentials from client-node for each request (it caches exec and OIDC tokens itself). */
async function fallbackAccess(
  source: string,
  reason: string,
  clientNodeConfig: () => Promise<KubeConfig>,
): Promise<ClusterAccess> {
  const kc = await clientNodeConfig();
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError(`kubeconfig ${source}: no current cluster`);
  let tls: TlsOptions | undefined;
  const credentials = async (): Promise<Credentials> => {
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const next: TlsOptions = { rejectUnauthorized: opts.rejectUnauthorized ?? true };
    for (const k of ['ca', 'cert', 'key'] as const) {
      const v = opts[k] as string | Buffer | undefined;
      if (v !== undefined) next[k] = v;
    }
    if (opts.servername) next.servername = opts.servername;
    // Keep the previous object while nothing changed (an exec plugin may rotate the certificate).
    const keys = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'] as const;
    if (!tls || !keys.every((k) => sameMaterial(tls?.[k], next[k]))) tls = next;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (typeof v === 'string' || typeof v === 'number') headers[k.toLowerCase()] = String(v);
    }
    if (opts.auth) headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return { tls, headers };
  };
  return {
    server: cluster.server.replace(/\/$/, ''),
    ...(cluster.proxyUrl ? { proxyUrl: cluster.proxyUrl } : {}),
    source,
    fallbackReason: reason,
    credentials,
    clientNodeConfig,
  };
}
