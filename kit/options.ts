// Options → validated Config of a custom Connectors Proxy made with the kit. Every custom proxy
// takes the same flags (those of every process that calls tools for authenticated callers, from
// machinery/flags.ts, plus its two listeners, its trust in the API server and the classes it
// serves); flags are read once at startup and every invalid option is reported together.

import {
  ConfigError,
  readFlags,
  readServingLimits,
  readToolCallerConfig,
  servingLimitFlags,
  toolCallerFlags,
  toolCallerUsage,
  type FlagSpec,
  type Flags,
  type ServingLimits,
  type ToolCallerConfig,
} from '../machinery/flags.js';

export interface KitConfig extends ToolCallerConfig {
  bindAddress: string;
  /** Plain HTTP, for pods (reverse mode, a ServiceAccount token). */
  port: number;
  /** HTTPS with client certificates, for the Connectors API server. */
  securePort: number;
  tlsCertFile: string;
  tlsKeyFile: string;
  /** CA certificates (PEM) the API server's client certificate must chain to. */
  clientCaFile: string;
  /** Names (subject CN, DNS or URI SAN) of the client certificates whose X-Remote-* are believed. */
  allowedClientNames: string[];
  /** The ConnectorClasses this proxy serves; a Connector of any other is refused. */
  connectorClasses: string[];
  kubeconfig: string | undefined;
  /** Extra CAs (PEM) trusted for tools, on top of the system's. */
  upstreamCaPem: string | undefined;
  limits: ServingLimits;
}

const limits = servingLimitFlags({ readOnly: 400, mutating: 200 });

export function kitUsage(name: string, entry: string, about: string): string {
  return `Usage: node ${entry} [flags]

${name}: ${about}
A custom Connectors Proxy (made with the Connectors kit, kit/): pods reach a Connector through it as
if it were the tool (Host c-<name>.<namespace>, or the path /namespaces/<namespace>/connectors/<name>/)
with a ServiceAccount token; the Connectors API server reaches it over mutual TLS with the caller's
identity in X-Remote-*. Every caller is authorized by SubjectAccessReview (get on the Connector, the
method's verb on connectors/proxy).

  --connector-classes=A,B             the ConnectorClasses served (required); a Connector of another
                                      class is refused (400)
  --port=8080                         HTTP port for pods (0 picks a free one and logs it)
  --secure-port=8443                  HTTPS port for the Connectors API server (0 picks a free one)
  --bind-address=0.0.0.0              address to listen on
  --tls-cert-file=PATH                serving certificate of the HTTPS port (PEM), e.g. for
                                      <service>.<namespace>.svc; re-read when it changes
  --tls-private-key-file=PATH         its private key (PEM)
  --client-ca-file=PATH               CA certificates (PEM) the API server's client certificate must
                                      chain to (its --classapi-client-cert-file); re-read when it changes
  --allowed-client-names=A,B          subject CN, DNS or URI SANs of the client certificates whose
                                      X-Remote-* headers are believed, e.g.
                                      system:serviceaccount:connectors-system:connectors-apiserver
  --kubeconfig=PATH                   kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --upstream-ca-file=PATH             extra CA certificates (PEM) trusted for tools, besides the system's
${toolCallerUsage}${limits.usage}  --help                              this text
`;
}

export const kitFlags = {
  'connector-classes': { type: 'string', default: '' },
  port: { type: 'string', default: '8080' },
  'secure-port': { type: 'string', default: '8443' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  'client-ca-file': { type: 'string' },
  'allowed-client-names': { type: 'string', default: '' },
  kubeconfig: { type: 'string' },
  'upstream-ca-file': { type: 'string' },
  ...toolCallerFlags,
  ...limits.flags,
} satisfies FlagSpec;

function names(f: Flags, flag: string): string[] {
  return f
    .str(flag)
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
}

/** Reads the kit's flags from `argv`; a ConfigError lists every problem with `usage`. */
export function parseKitConfig(argv: string[], usage: string): KitConfig {
  const f = readFlags(argv, kitFlags, usage);
  const required = (k: string, why: string): string => {
    if (f.file(k) === undefined) f.problems.push(`--${k} is required: ${why}`);
    return f.str(k);
  };
  const connectorClasses = names(f, 'connector-classes');
  if (connectorClasses.length === 0) {
    f.problems.push(
      '--connector-classes is required: name the ConnectorClasses whose Connectors this proxy serves',
    );
  }
  const allowedClientNames = names(f, 'allowed-client-names');
  if (allowedClientNames.length === 0) {
    f.problems.push(
      '--allowed-client-names is required: name the client certificate of the Connectors API server ' +
        '(its subject CN or a SAN), e.g. system:serviceaccount:connectors-system:connectors-apiserver',
    );
  }
  const upstreamCaPem = f.file('upstream-ca-file');
  if (
    upstreamCaPem !== undefined &&
    upstreamCaPem !== '' &&
    !upstreamCaPem.includes('-----BEGIN CERTIFICATE-----')
  ) {
    f.problems.push(`--upstream-ca-file=${f.str('upstream-ca-file')} holds no PEM certificate`);
  }
  const bindAddress = f.str('bind-address');
  if (bindAddress === '') f.problems.push('--bind-address must not be empty; use 0.0.0.0 for all');
  const config: KitConfig = {
    bindAddress,
    port: f.port('port'),
    securePort: f.port('secure-port'),
    tlsCertFile: required('tls-cert-file', 'the API server reaches the proxy over HTTPS only'),
    tlsKeyFile: required('tls-private-key-file', 'the key of --tls-cert-file'),
    clientCaFile: required('client-ca-file', "the CA that issued the API server's client certificate"),
    allowedClientNames,
    connectorClasses,
    kubeconfig: f.str('kubeconfig') || undefined,
    upstreamCaPem: upstreamCaPem || undefined,
    ...readToolCallerConfig(f),
    limits: readServingLimits(f),
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
