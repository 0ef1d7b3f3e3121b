// Where kube-apiserver is, how to trust it and who we are to it, in the order every Kubernetes
// client library looks: --kubeconfig, else $KUBECONFIG (several files merged as kubectl merges
// them), else ~/.kube/config, else in-cluster (the ServiceAccount token and CA), else
// http://localhost:8080. What a kubeconfig may say is read in kube/kubeconfig.ts.

import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  bearer,
  KubeConfigError,
  readSecretFile,
  TokenFile,
  type ClusterAccess,
  type Credentials,
  type TlsOptions,
} from './credentials.js';
import { kubeconfigAccess, readKubeconfigs } from './kubeconfig.js';

export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadOptions {
  /** --kubeconfig: wins over everything else. */
  kubeconfig?: string | undefined;
  /** --context: this context of the kubeconfig instead of its current-context. */
  context?: string | undefined;
  /** A user runs this at a terminal: exec plugins may talk to them (kube/kubeconfig.ts AccessOptions). */
  userAtTerminal?: boolean | undefined;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Where the ServiceAccount's token and ca.crt are mounted (tests point elsewhere). */
  serviceAccountDir?: string;
}

export type AccessSource =
  | { kind: 'file'; path: string }
  /** Several $KUBECONFIG files, merged. */
  | { kind: 'files'; paths: string[] }
  | { kind: 'in-cluster'; server: string; dir: string }
  /** Nothing configured: the libraries' last resort, anonymous plain HTTP to localhost:8080. */
  | { kind: 'none' };

/** Which configuration applies. */
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
    // As the JavaScript client library does: the well-known plain-HTTP ports mean plain HTTP.
    const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
    return { kind: 'in-cluster', server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`, dir };
  }
  return { kind: 'none' };
}

/** Reads the cluster access that `opts` selects; files it names are read now. */
export function loadClusterAccess(opts: LoadOptions = {}): ClusterAccess {
  const source = accessSource(opts);
  if (opts.context !== undefined && source.kind !== 'file' && source.kind !== 'files') {
    throw new KubeConfigError(
      `context "${opts.context}" is given, but there is no kubeconfig (no --kubeconfig, $KUBECONFIG or ~/.kube/config)`,
    );
  }
  switch (source.kind) {
    case 'file':
      return kubeconfigAccess(readKubeconfigs([source.path]), opts);
    case 'files':
      return kubeconfigAccess(readKubeconfigs(source.paths), opts);
    case 'in-cluster': {
      const ca = readSecretFile(join(source.dir, 'ca.crt'), 'the in-cluster CA');
      const tokenFile = join(source.dir, 'token');
      const token = new TokenFile(tokenFile, readSecretFile(tokenFile, 'the ServiceAccount token'));
      const tls: TlsOptions = { ca, rejectUnauthorized: true };
      const namespace = existsSync(join(source.dir, 'namespace'))
        ? readSecretFile(join(source.dir, 'namespace'), 'the ServiceAccount namespace')
            .toString('utf8')
            .trim()
        : '';
      return {
        server: source.server,
        source: 'in-cluster',
        ...(namespace ? { namespace } : {}),
        credentials: async () => ({ tls, headers: bearer(await token.current()) }),
      };
    }
    case 'none': {
      const none: Credentials = { tls: { rejectUnauthorized: true }, headers: {} };
      return { server: 'http://localhost:8080', source: 'default', credentials: () => none };
    }
  }
}

/** Access from explicit fields (tests, and anything that knows its cluster already). */
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
  };
}
