// Options → validated Config. Flags are read once at startup; every invalid option is reported
// together, each with the fix.

import {
  builtinProxyServiceFlag,
  builtinProxyServiceUsage,
  ConfigError,
  readBuiltinProxyServices,
  readFlags,
  readServingLimits,
  readToolCallerConfig,
  serviceUrlOverrides,
  servingLimitFlags,
  takeRepeatable,
  toolCallerFlags,
  toolCallerUsage,
  type FlagSpec,
  type Flags,
  type ServingLimits,
  type ToolCallerConfig,
} from '../machinery/flags.js';
import { clientTlsFlags, readClientTlsFiles, type ClientTlsFiles } from '../machinery/certificates.js';

export interface Config extends ToolCallerConfig {
  bindAddress: string;
  securePort: number;
  /** Serving certificate and key files, re-read whenever they change. */
  tlsCertFile: string;
  tlsKeyFile: string;
  /** TLS towards class API backends (CA trusted besides the system's, client certificate). */
  classApiTls: ClientTlsFiles;
  kubeconfig: string | undefined;
  /** The server's own namespace (POD_NAMESPACE), where class API Services without one are looked up. */
  namespace: string;
  limits: ServingLimits;
  /** `namespace/name` of the built-in Connectors Proxy's Services: other class proxies are custom. */
  builtinProxyServices: Set<string>;
  /** `namespace/service` → base URL of a custom proxy, instead of https://{service}.{namespace}.svc. */
  proxyUrlOverrides: Map<string, string>;
  /** Bounds of one ResourceInterface resolution's expressions (expression/). */
  expressions: { timeoutMs: number; memoryBytes: number };
}

// 1,000 concurrent streams (the benchmark's burst of simultaneous downloads) fit in the read budget with room for kube-apiserver's own
// discovery and OpenAPI calls; 2,000 streams at once stay well inside the Deployment's 512 MiB.
const limits = servingLimitFlags({ readOnly: 1500, mutating: 500 });

export const usage = `Usage: node dist/apiserver/main.js [flags]

  --secure-port=10250                 HTTPS port (0 picks a free one and logs it)
  --bind-address=0.0.0.0              address to listen on
  --tls-cert-file=PATH                serving certificate (PEM); SAN <service>.<namespace>.svc;
                                      re-read when it changes
  --tls-private-key-file=PATH         its private key (PEM)
  --classapi-ca-file=PATH             CA certificates (PEM) trusted for class API backends (https
                                      only: Secret data is never sent in clear), besides the system's
  --classapi-client-cert-file=PATH    client certificate (PEM) presented to class API backends
  --classapi-client-key-file=PATH     its private key (PEM)
  --kubeconfig=PATH                   kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --expression-timeout=100ms          CPU time all expressions of one ResourceInterface resolution
                                      may take (then 422); they run in a worker thread, never on
                                      the request path's
  --expression-memory-limit=32Mi      memory the expressions of one resolution may allocate
${builtinProxyServiceUsage}  --proxy-url-override=NS/SVC=URL     reach the custom proxy Service NS/SVC of a class at this https
                                      URL instead of https://SVC.NS.svc (repeatable)
${toolCallerUsage}${limits.usage}  --help                              this text
`;

const flags = {
  'secure-port': { type: 'string', default: '10250' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  ...clientTlsFlags('classapi'),
  kubeconfig: { type: 'string' },
  'expression-timeout': { type: 'string', default: '100ms' },
  'expression-memory-limit': { type: 'string', default: '32Mi' },
  ...toolCallerFlags,
  ...limits.flags,
} satisfies FlagSpec;

/** --expression-timeout: at most a minute (expression/ validLimits); parseDuration gives whole ms. */
function expressionTimeout(f: Flags): number {
  const ms = f.duration('expression-timeout');
  if (ms > 60_000) {
    f.problems.push(`--expression-timeout=${f.str('expression-timeout')} must be from 1ms to 1m, e.g. 100ms`);
  }
  return ms;
}

/** --expression-memory-limit: a Kubernetes binary quantity (Ki, Mi, Gi) from 1Mi to 512Mi. */
function memoryLimit(f: Flags): number {
  const v = f.str('expression-memory-limit');
  const m = /^(\d+)(Ki|Mi|Gi)$/.exec(v);
  const bytes = m ? Number(m[1]) * { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] as 'Ki' | 'Mi' | 'Gi'] : 0;
  if (bytes < 1024 ** 2 || bytes > 512 * 1024 ** 2) {
    f.problems.push(`--expression-memory-limit=${v} must be a quantity from 1Mi to 512Mi, e.g. 32Mi`);
  }
  return bytes;
}

const proxyUrlOverrideFlag = 'proxy-url-override';

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  // The repeatable flags are collected first; readFlags keeps only the last of a repeated flag.
  const { values, rest } = takeRepeatable(argv, [builtinProxyServiceFlag, proxyUrlOverrideFlag]);
  const f = readFlags(rest, flags, usage);
  const namespace = env.POD_NAMESPACE ?? 'connectors-system';
  // Read once here only so that a wrong path is reported with the other problems; the server
  // reads (and re-reads) the files itself.
  const pemFile = (k: string): string => {
    if (f.file(k) === undefined) f.problems.push(`--${k} is required: the server serves HTTPS only`);
    return f.str(k);
  };
  const config: Config = {
    bindAddress: f.str('bind-address'),
    securePort: f.port('secure-port'),
    tlsCertFile: pemFile('tls-cert-file'),
    tlsKeyFile: pemFile('tls-private-key-file'),
    classApiTls: readClientTlsFiles(f, 'classapi'),
    kubeconfig: f.str('kubeconfig') || undefined,
    ...readToolCallerConfig(f),
    namespace,
    builtinProxyServices: readBuiltinProxyServices(f, values.get(builtinProxyServiceFlag) ?? [], namespace),
    // Identities travel to a custom proxy over mutual TLS only.
    proxyUrlOverrides: serviceUrlOverrides(f, proxyUrlOverrideFlag, values.get(proxyUrlOverrideFlag) ?? [], [
      'https',
    ]),
    limits: readServingLimits(f),
    expressions: { timeoutMs: expressionTimeout(f), memoryBytes: memoryLimit(f) },
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
