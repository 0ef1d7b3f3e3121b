// Options → validated Config for the Connectors Proxy. Flags are read once at startup; every
// invalid option is reported together, each with the fix.

import {
  builtinProxyServiceFlag,
  builtinProxyServiceUsage,
  ConfigError,
  readBuiltinProxyServices,
  parseNamespacedName,
  readFlags,
  readServingLimits,
  readToolCallerConfig,
  servingLimitFlags,
  takeRepeatable,
  toolCallerFlags,
  toolCallerUsage,
  type FlagSpec,
  type Flags,
  type ServingLimits,
  type ToolCallerConfig,
} from '../machinery/flags.js';
import { parseAllowEntry, parseCidr, type AllowEntry, type Cidr } from './destinations.js';

export type OtherHosts = 'tunnel' | 'refuse';

export interface Config extends ToolCallerConfig {
  bindAddress: string;
  port: number;
  kubeconfig: string | undefined;
  /** PEM of the CA that signs intercepted hosts' certificates; both absent: generate one. */
  proxyCa: { certPem: string; keyPem: string } | undefined;
  /** Where to write the CA certificate (PEM) once it is known, or undefined. */
  proxyCaOut: string | undefined;
  /** Where to publish the proxy CA certificate, or undefined. */
  publishCa: { namespace: string; name: string } | undefined;
  /** Extra CAs (PEM) trusted for tools, on top of the system's. */
  upstreamCaPem: string | undefined;
  otherHosts: OtherHosts;
  /** With tunnel: destinations reopened despite the refused ranges. */
  allowHosts: AllowEntry[];
  /** With tunnel: the cluster's Service ranges, refused. */
  serviceClusterIpRanges: Cidr[];
  /** With tunnel: the cluster's Pod ranges, refused. */
  clusterCidrs: Cidr[];
  /** The proxy's own namespace (POD_NAMESPACE). */
  namespace: string;
  /** `namespace/name` of the built-in proxy's Services: Connectors of classes naming another are refused. */
  builtinProxyServices: Set<string>;
  /** Most upstream connection pools (one per tool or host origin) kept at once. */
  maxUpstreamPools: number;
  limits: ServingLimits;
}

// As the API server's: 1,000 concurrent streams (the benchmark's burst) fit, with room to spare.
const limits = servingLimitFlags({ readOnly: 1500, mutating: 500 });

export const usage = `Usage: node dist/connproxy/main.js [flags]

The Connectors Proxy: workloads reach a Connector's tool through it with only a ServiceAccount
token, as if it were the tool (reverse mode: Host c-<name>.<namespace>, or the path prefix
/namespaces/<namespace>/connectors/<name>/, or /v2/namespaces/<namespace>/connectors/<name>/ for
OCI clients) or as http_proxy/https_proxy (forward mode: Proxy-Authorization Basic with
"<namespace>/<name>[,…]" as username and the token as password). Plain HTTP; it runs behind the
Service connectors-proxy.

  --port=8080                         HTTP port (0 picks a free one and logs it)
  --bind-address=0.0.0.0              address to listen on
  --kubeconfig=PATH                   kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --proxy-ca-cert-file=PATH           CA certificate (PEM) for intercepted HTTPS in forward mode;
  --proxy-ca-key-file=PATH            and its key. Neither: a CA is generated at startup (one per
                                      replica, so give one in production)
  --proxy-ca-out=PATH                 write the CA certificate (PEM) here at startup
  --publish-ca-configmap=NS/NAME      publish the CA certificate (key ca.crt) in this ConfigMap
  --upstream-ca-file=PATH             extra CA certificates (PEM) trusted for tools, besides the system's
  --other-hosts=refuse                forward mode, hosts that are no listed Connector's address:
                                      refuse (403), or tunnel (forwarded without credentials, to
                                      any address but those refused below)
  --service-cluster-ip-range=CIDR,…   with tunnel: the cluster's Service ranges, refused
  --cluster-cidr=CIDR,…               with tunnel: the cluster's Pod ranges, refused
  --allow-hosts=CIDR[:PORT],…         with tunnel: reopen these addresses ([v6]:PORT for one port of
                                      an IPv6 address). Refused otherwise: loopback, link-local,
                                      unspecified, cloud metadata, kube-apiserver, this proxy's own
                                      addresses and the two ranges above; names are resolved and
                                      every address they resolve to is checked
  --max-upstream-pools=256            most connection pools kept (one per tool or host origin); the
                                      least recently used one is closed past it, and any pool
                                      unused for a minute
${builtinProxyServiceUsage}${toolCallerUsage}${limits.usage}  --help                              this text
`;

const flags = {
  port: { type: 'string', default: '8080' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  kubeconfig: { type: 'string' },
  'proxy-ca-cert-file': { type: 'string' },
  'proxy-ca-key-file': { type: 'string' },
  'proxy-ca-out': { type: 'string' },
  'publish-ca-configmap': { type: 'string' },
  'upstream-ca-file': { type: 'string' },
  'other-hosts': { type: 'string', default: 'refuse' },
  'allow-hosts': { type: 'string', default: '' },
  'service-cluster-ip-range': { type: 'string', default: '' },
  'cluster-cidr': { type: 'string', default: '' },
  'max-upstream-pools': { type: 'string', default: '256' },
  ...toolCallerFlags,
  ...limits.flags,
} satisfies FlagSpec;

const pemCertificate = /-----BEGIN CERTIFICATE-----/;

/** A comma-separated list flag, each item parsed; a problem per item that does not parse. */
function list<T>(f: Flags, flag: string, parse: (item: string) => T | null, expected: string): T[] {
  return f
    .str(flag)
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .flatMap((item) => {
      const parsed = parse(item);
      if (parsed === null) f.problems.push(`--${flag}: "${item}" is not ${expected}`);
      return parsed === null ? [] : [parsed];
    });
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  // The repeatable flag is collected first; readFlags keeps only the last of a repeated flag.
  const { values, rest } = takeRepeatable(argv, [builtinProxyServiceFlag]);
  const f = readFlags(rest, flags, usage);
  const namespace = env.POD_NAMESPACE ?? 'connectors-system';
  const caCert = f.file('proxy-ca-cert-file');
  const caKey = f.file('proxy-ca-key-file');
  if ((caCert === undefined) !== (caKey === undefined)) {
    f.problems.push(
      '--proxy-ca-cert-file and --proxy-ca-key-file go together: give both, or neither to generate a CA',
    );
  }
  const upstreamCaPem = f.file('upstream-ca-file');
  if (upstreamCaPem !== undefined && upstreamCaPem !== '' && !pemCertificate.test(upstreamCaPem)) {
    f.problems.push(`--upstream-ca-file=${f.str('upstream-ca-file')} holds no PEM certificate`);
  }
  const otherHosts = f.str('other-hosts');
  if (otherHosts !== 'tunnel' && otherHosts !== 'refuse') {
    f.problems.push(`--other-hosts=${otherHosts} must be tunnel or refuse`);
  }
  const allowHosts = list(
    f,
    'allow-hosts',
    parseAllowEntry,
    'an IP address or CIDR (IPv4 in IPv4 form), optionally with :PORT ([IPv6]:PORT)',
  );
  if (allowHosts.length > 0 && otherHosts !== 'tunnel') {
    f.problems.push('--allow-hosts opens destinations of tunnels only: give --other-hosts=tunnel too');
  }
  const cidr = 'a CIDR such as 10.96.0.0/12 or fd00:10:96::/112 (IPv4 in IPv4 form)';
  const serviceClusterIpRanges = list(f, 'service-cluster-ip-range', parseCidr, cidr);
  const clusterCidrs = list(f, 'cluster-cidr', parseCidr, cidr);
  const maxPools = f.str('max-upstream-pools');
  const maxUpstreamPools = /^\d{1,6}$/.test(maxPools) ? Number(maxPools) : 0;
  if (maxUpstreamPools < 1) {
    f.problems.push(`--max-upstream-pools=${maxPools} must be a whole number from 1 to 999999`);
  }
  const bindAddress = f.str('bind-address');
  if (bindAddress === '') f.problems.push('--bind-address must not be empty; use 0.0.0.0 for all');

  const config: Config = {
    bindAddress,
    port: f.port('port'),
    kubeconfig: f.str('kubeconfig') || undefined,
    proxyCa: caCert !== undefined && caKey !== undefined ? { certPem: caCert, keyPem: caKey } : undefined,
    proxyCaOut: f.str('proxy-ca-out') || undefined,
    publishCa: parseNamespacedName(f, 'publish-ca-configmap'),
    upstreamCaPem: upstreamCaPem || undefined,
    otherHosts: otherHosts as OtherHosts,
    allowHosts,
    serviceClusterIpRanges,
    clusterCidrs,
    maxUpstreamPools,
    namespace,
    builtinProxyServices: readBuiltinProxyServices(f, values.get(builtinProxyServiceFlag) ?? [], namespace),
    ...readToolCallerConfig(f),
    limits: readServingLimits(f),
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
