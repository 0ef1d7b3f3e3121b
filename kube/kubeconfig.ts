// Kubeconfig files as kubectl reads them. Several files ($KUBECONFIG) are merged the way kubectl
// merges them: the first file to set current-context, or a cluster, user or context of a given
// name, wins (the whole entry), and the relative paths in an entry are relative to the file it came
// from. The current context (or the one kubectl's --context names) gives the cluster (server, CA,
// TLS server name, proxy-url), a default namespace, and the user, who is: a client certificate; a token, inline or from a file (read again as it rotates);
// username/password (Basic); or an exec credential plugin (kube/exec.ts); optionally impersonating
// someone (as, as-uid, as-groups, as-user-extra → Impersonate-* headers). As in kubectl, a token,
// username/password or client certificate in the kubeconfig wins over exec. Files it names are
// read now, so a wrong path fails at startup.

import { readFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, sep } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import {
  bearer,
  KubeConfigError,
  readSecretFile,
  TokenFile,
  type ClusterAccess,
  type Credentials,
  type TlsOptions,
} from './credentials.js';
import { ExecPlugin, execApiVersions, type ExecConfig, type ExecResult } from './exec.js';

type Fields = Record<string, unknown>;

/** A named cluster, user or context, and the file it came from (its relative paths' base). */
interface Entry {
  file: string;
  fields: Fields;
}

/** One kubeconfig file, or several merged. */
export interface Kubeconfig {
  /** The file, or the files joined as $KUBECONFIG joins them: for messages. */
  source: string;
  currentContext: string | undefined;
  clusters: ReadonlyMap<string, Entry>;
  users: ReadonlyMap<string, Entry>;
  contexts: ReadonlyMap<string, Entry>;
}

const lists = [
  ['clusters', 'cluster'],
  ['users', 'user'],
  ['contexts', 'context'],
] as const;

function fields(value: unknown): Fields {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Fields) : {};
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function parseYaml(text: string, path: string): Fields {
  try {
    return fields(loadYaml(text));
  } catch (err) {
    throw new KubeConfigError(
      `kubeconfig ${path} is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`,
    );
  }
}

/** Merges parsed files in $KUBECONFIG order: the first to set a name, or current-context, wins. */
export function mergeKubeconfigs(files: readonly { path: string; doc: Fields }[]): Kubeconfig {
  const merged = {
    source: files.map((f) => f.path).join(delimiter),
    currentContext: undefined as string | undefined,
    clusters: new Map<string, Entry>(),
    users: new Map<string, Entry>(),
    contexts: new Map<string, Entry>(),
  };
  for (const { path, doc } of files) {
    merged.currentContext ??= str(doc['current-context']);
    for (const [list, inner] of lists) {
      const items = doc[list];
      if (!Array.isArray(items)) continue;
      for (const item of items.map(fields)) {
        const name = str(item['name']);
        if (name !== undefined && !merged[list].has(name)) {
          merged[list].set(name, { file: path, fields: fields(item[inner]) });
        }
      }
    }
  }
  return merged;
}

/**
 * Reads and merges kubeconfig files. One file must exist; of several, kubectl skips those that do
 * not, and so does this, as long as one does.
 */
export function readKubeconfigs(paths: readonly string[]): Kubeconfig {
  const files: { path: string; doc: Fields }[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      if (paths.length > 1 && code === 'ENOENT') continue;
      throw new KubeConfigError(`cannot read kubeconfig ${path}: ${code}`);
    }
    files.push({ path, doc: parseYaml(text, path) });
  }
  if (files.length === 0) {
    throw new KubeConfigError(`none of the KUBECONFIG files exists: ${paths.join(', ')}`);
  }
  return mergeKubeconfigs(files);
}

/** The access of one kubeconfig's text (read from `path`, which relative paths are relative to). */
export function parseKubeconfig(text: string, path: string): ClusterAccess {
  return kubeconfigAccess(mergeKubeconfigs([{ path, doc: parseYaml(text, path) }]));
}

export interface AccessOptions {
  /** kubectl's --context: this context instead of the current-context. */
  context?: string | undefined;
  /**
   * A user runs this process at a terminal (a command-line tool, not a server): exec plugins talk
   * to them as kubectl lets them (kube/exec.ts ExecConfig.user).
   */
  userAtTerminal?: boolean | undefined;
}

/** The cluster and user of the current context, or of the one `opts.context` names. */
export function kubeconfigAccess(config: Kubeconfig, opts: AccessOptions = {}): ClusterAccess {
  const bad = (what: string, file = config.source): KubeConfigError =>
    new KubeConfigError(`kubeconfig ${file}: ${what}`);
  let contextName = opts.context;
  if (contextName !== undefined && !config.contexts.has(contextName)) {
    const known = [...config.contexts.keys()];
    throw bad(
      `has no context "${contextName}" (${known.length ? `its contexts: ${known.join(', ')}` : 'it has none'})`,
    );
  }
  contextName ??= config.currentContext;
  if (!contextName) throw bad('current-context is not set');
  const context = config.contexts.get(contextName);
  if (!context) throw bad(`current-context "${contextName}" names no context`);
  const namespace = str(context.fields['namespace']);
  const clusterName = str(context.fields['cluster']);
  const clusterEntry = clusterName ? config.clusters.get(clusterName) : undefined;
  if (!clusterEntry) throw bad(`context "${contextName}" names no cluster`, context.file);
  const cluster = clusterEntry.fields;
  const clusterBad = (what: string): KubeConfigError =>
    bad(`cluster "${clusterName ?? ''}"${what}`, clusterEntry.file);

  const server = str(cluster['server'])?.replace(/\/$/, '');
  if (!server || !/^https?:\/\//.test(server)) throw clusterBad(' has no http(s) server');
  const proxyUrl = str(cluster['proxy-url']);
  if (proxyUrl && !/^https?:\/\//.test(proxyUrl)) {
    throw clusterBad(`: only http(s) proxy-url is supported, not ${proxyUrl.split(':')[0] ?? ''}`);
  }
  const tls: TlsOptions = { rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true };
  const ca = material(clusterEntry, 'certificate-authority', 'the cluster CA', (what) =>
    clusterBad(`: ${what}`),
  );
  if (ca) tls.ca = ca;
  const servername = str(cluster['tls-server-name']);
  if (servername) tls.servername = servername;

  const userName = str(context.fields['user']);
  const user = userName ? config.users.get(userName) : undefined;
  const who = user
    ? userCredentials(
        user,
        tls,
        opts.userAtTerminal === true,
        (what) => bad(`user "${userName ?? ''}" ${what}`, user.file),
        () => ({
          server,
          ...(servername ? { 'tls-server-name': servername } : {}),
          ...(tls.rejectUnauthorized ? {} : { 'insecure-skip-tls-verify': true }),
          ...(ca ? { 'certificate-authority-data': ca.toString('base64') } : {}),
          ...(proxyUrl ? { 'proxy-url': proxyUrl } : {}),
          ...execClusterConfig(cluster),
        }),
      )
    : anonymous(tls);
  return {
    server,
    ...(proxyUrl ? { proxyUrl } : {}),
    source: config.source,
    context: contextName,
    ...(namespace ? { namespace } : {}),
    ...who,
  };
}

type Who = Pick<ClusterAccess, 'credentials' | 'rejected'>;

function anonymous(tls: TlsOptions): Who {
  const fixed: Credentials = { tls, headers: {} };
  return { credentials: () => fixed };
}

/** `<field>-data` (base64) or `<field>` (a file relative to the entry's kubeconfig). */
function material(
  entry: Entry,
  field: string,
  what: string,
  bad: (what: string) => KubeConfigError,
): Buffer | undefined {
  const data = str(entry.fields[`${field}-data`]);
  if (data) return Buffer.from(data, 'base64');
  const file = str(entry.fields[field]);
  if (!file) return undefined;
  try {
    return readSecretFile(relativeTo(entry, file), what);
  } catch (err) {
    throw bad((err as Error).message);
  }
}

function relativeTo(entry: Entry, file: string): string {
  return isAbsolute(file) ? file : join(dirname(entry.file), file);
}

/** The cluster's extension for exec plugins, passed on as ExecCredential.spec.cluster.config. */
function execClusterConfig(cluster: Fields): { config?: unknown } {
  const extensions = Array.isArray(cluster['extensions']) ? cluster['extensions'].map(fields) : [];
  const found = extensions.find((e) => e['name'] === 'client.authentication.k8s.io/exec');
  return found?.['extension'] === undefined ? {} : { config: found['extension'] };
}

function userCredentials(
  user: Entry,
  clusterTls: TlsOptions,
  userAtTerminal: boolean,
  bad: (what: string) => KubeConfigError,
  clusterInfo: () => Record<string, unknown>,
): Who {
  const u = user.fields;
  const provider = fields(u['auth-provider']);
  if (u['auth-provider'] !== undefined && u['auth-provider'] !== null) {
    throw bad(
      `uses auth-provider "${str(provider['name']) ?? ''}", which kubectl no longer supports (since 1.26): ` +
        'use the exec credential plugin that replaced it (e.g. kubelogin for OIDC, gke-gcloud-auth-plugin, kubelogin for Azure)',
    );
  }
  const tls: TlsOptions = { ...clusterTls };
  const cert = material(user, 'client-certificate', 'the client certificate', bad);
  const key = material(user, 'client-key', 'the client key', bad);
  if (!cert !== !key) throw bad('needs both a client certificate and its key');
  if (cert && key) Object.assign(tls, { cert, key });

  const impersonate = impersonation(u, bad);
  // client-go's tokenFile; some clients spell it token-file. A token given inline wins, as in client-go.
  const token = str(u['token']);
  const tokenFileName = str(u['tokenFile']) ?? str(u['token-file']);
  const username = str(u['username']);
  if (username === undefined && str(u['password']) !== undefined) throw bad('has a password but no username');
  if (username !== undefined && (token || tokenFileName)) {
    throw bad('has both a token and username/password; give one');
  }
  const fixed = (headers: Record<string, string>): Who => {
    const creds: Credentials = { tls, headers: { ...headers, ...impersonate } };
    return { credentials: () => creds };
  };
  if (token) return fixed(bearer(token));
  if (tokenFileName) {
    const path = relativeTo(user, tokenFileName);
    let first: Buffer;
    try {
      first = readSecretFile(path, 'the token file');
    } catch (err) {
      throw bad((err as Error).message);
    }
    const file = new TokenFile(path, first);
    return {
      credentials: async () => ({ tls, headers: { ...bearer(await file.current()), ...impersonate } }),
    };
  }
  if (username !== undefined) {
    const basic = Buffer.from(`${username}:${typeof u['password'] === 'string' ? u['password'] : ''}`);
    return fixed({ authorization: `Basic ${basic.toString('base64')}` });
  }
  if (u['exec'] !== undefined && u['exec'] !== null && !cert) {
    return execCredentials(execConfig(user, userAtTerminal, bad, clusterInfo), tls, impersonate);
  }
  return fixed({});
}

function execConfig(
  user: Entry,
  userAtTerminal: boolean,
  bad: (what: string) => KubeConfigError,
  clusterInfo: () => Record<string, unknown>,
): ExecConfig {
  const exec = fields(user.fields['exec']);
  // As kubectl: interactive when stdin is a terminal, unless the plugin says it never needs one.
  const interactive = userAtTerminal && process.stdin.isTTY && exec['interactiveMode'] !== 'Never';
  const command = str(exec['command']);
  if (!command) throw bad('has an exec plugin without a command');
  const apiVersion = str(exec['apiVersion']) ?? '';
  if (!execApiVersions.includes(apiVersion)) {
    throw bad(
      `asks its exec plugin for apiVersion "${apiVersion}": use one of ${execApiVersions.join(', ')}`,
    );
  }
  if (exec['interactiveMode'] === 'Always' && !interactive) {
    throw bad(
      userAtTerminal
        ? 'has an exec plugin that needs a terminal (interactiveMode: Always), and stdin is none'
        : 'has an exec plugin that needs a terminal (interactiveMode: Always), which a server has not',
    );
  }
  const env: Record<string, string> = {};
  for (const e of Array.isArray(exec['env']) ? exec['env'].map(fields) : []) {
    const name = str(e['name']);
    if (name) env[name] = typeof e['value'] === 'string' ? e['value'] : '';
  }
  const installHint = str(exec['installHint']);
  return {
    // As kubectl: a command with a path separator is a file relative to the kubeconfig; a bare
    // name is looked up in $PATH.
    command: command.includes(sep) ? relativeTo(user, command) : command,
    args: strings(exec['args']),
    env,
    apiVersion,
    ...(installHint ? { installHint } : {}),
    ...(exec['provideClusterInfo'] === true ? { cluster: clusterInfo() } : {}),
    ...(userAtTerminal ? { user: { interactive } } : {}),
  };
}

/** The plugin's token and client certificate; the same Credentials object until it runs again. */
function execCredentials(
  config: ExecConfig,
  clusterTls: TlsOptions,
  impersonate: Record<string, string | string[]>,
): Who {
  const plugin = new ExecPlugin(config);
  const built = new WeakMap<ExecResult, Credentials>();
  const source = new WeakMap<Credentials, ExecResult>();
  let tls = clusterTls;
  return {
    credentials: async () => {
      const result = await plugin.current();
      let creds = built.get(result);
      if (!creds) {
        // A new TLS object only when the certificate changed: a client keeps its connections.
        if (!result.cert || !result.key) tls = clusterTls;
        else if (tls.cert !== result.cert || tls.key !== result.key) {
          tls = { ...clusterTls, cert: result.cert, key: result.key };
        }
        creds = { tls, headers: { ...(result.token ? bearer(result.token) : {}), ...impersonate } };
        built.set(result, creds);
        source.set(creds, result);
      }
      return creds;
    },
    rejected: (used) => {
      const result = source.get(used);
      if (result) plugin.invalidate(result);
      return true;
    },
  };
}

/** Impersonate-* headers, as kubectl --as, --as-uid, --as-group and the user's extra send them. */
function impersonation(u: Fields, bad: (what: string) => KubeConfigError): Record<string, string | string[]> {
  const as = str(u['as']);
  const uid = str(u['as-uid']);
  const groups = strings(u['as-groups']);
  const extra = Object.entries(fields(u['as-user-extra']));
  if (!as && (uid || groups.length > 0 || extra.length > 0)) {
    throw bad('sets as-uid, as-groups or as-user-extra without as: impersonation names a user first');
  }
  if (!as) return {};
  const headers: Record<string, string | string[]> = { 'impersonate-user': as };
  if (uid) headers['impersonate-uid'] = uid;
  if (groups.length > 0) headers['impersonate-group'] = groups;
  for (const [key, values] of extra) {
    headers[`impersonate-extra-${headerKeyEscape(key)}`] = strings(values);
  }
  return headers;
}

/** A header name may hold only token characters: anything else, and '%', is %-encoded (as client-go). */
function headerKeyEscape(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&'*+\-.^_`|~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
