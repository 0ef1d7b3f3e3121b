// Options → validated Config for the MySQL Connectors Proxy; every invalid option reported together.

import {
  callerCheckFlags,
  callerCheckUsage,
  ConfigError,
  readCallerCheckConfig,
  readFlags,
  shutdownDelayFlag,
  shutdownDelayUsage,
  type CallerCheckConfig,
  type FlagSpec,
} from '../machinery/flags.js';
import type { LogLevel } from '../machinery/log.js';

export interface Config extends CallerCheckConfig {
  bindAddress: string;
  mysqlPort: number;
  healthPort: number;
  kubeconfig: string | undefined;
  proxyCa: { certPem: string; keyPem: string };
  /** Names the proxy's certificate may be for; the first when the client asks for no other. */
  serverNames: string[];
  connectorClasses: string[];
  loginTimeoutMs: number;
  upstreamConnectMs: number;
  shutdownGraceMs: number;
  shutdownDelayMs: number;
  logLevel: LogLevel;
}

export const usage = `Usage: node dist/mysqlproxy/main.js --proxy-ca-cert-file=PATH --proxy-ca-key-file=PATH [flags]

The MySQL Connectors Proxy: a MySQL or MariaDB client logs in with the user
<namespace>/<connector> and its ServiceAccount token as the password (mysql_clear_password, over
TLS only); the proxy reviews the token, checks RBAC (get on the Connector, create on its
connectors/proxy), logs into the Connector's server with the Connector's credential and relays the
session.

  --mysql-port=3306                   MySQL port (0 picks a free one and logs it)
  --health-port=8081                  port of /healthz, /livez, /readyz and /metrics (plain HTTP)
  --bind-address=0.0.0.0              address of both
  --kubeconfig=PATH                   kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --proxy-ca-cert-file=PATH           the proxy CA certificate (PEM), which clients trust, and
  --proxy-ca-key-file=PATH            its key: the proxy's certificates are minted from it
  --server-names=NAME,…               names the proxy's certificate is for: the name the client asks
                                      for (SNI) when it is one of these or c-<name>.<namespace>.svc
                                      [.cluster.local]; without SNI (MariaDB's and MySQL's clients)
                                      these and every served Connector's c-<name> addresses
                                      (default connectors-mysql-proxy.connectors-system.svc)
  --connector-classes=mysql           the classes whose Connectors this proxy serves
  --login-timeout=10s                 time for a client to log in (TLS included)
  --upstream-connect-timeout=10s      time to connect and log into a Connector's server
${callerCheckUsage}  --shutdown-grace-period=30s         how long sessions may go on after SIGTERM (then they are closed)
${shutdownDelayUsage}  --log-level=info                    debug, info, warn or error
  --help                              this text
`;

const flags = {
  'mysql-port': { type: 'string', default: '3306' },
  'health-port': { type: 'string', default: '8081' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  kubeconfig: { type: 'string' },
  'proxy-ca-cert-file': { type: 'string' },
  'proxy-ca-key-file': { type: 'string' },
  'server-names': { type: 'string', default: 'connectors-mysql-proxy.connectors-system.svc' },
  'connector-classes': { type: 'string', default: 'mysql' },
  'login-timeout': { type: 'string', default: '10s' },
  'upstream-connect-timeout': { type: 'string', default: '10s' },
  ...callerCheckFlags,
  'shutdown-grace-period': { type: 'string', default: '30s' },
  ...shutdownDelayFlag,
  'log-level': { type: 'string', default: 'info' },
} satisfies FlagSpec;

const dnsName = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function parseConfig(argv: string[]): Config {
  const f = readFlags(argv, flags, usage);
  const list = (flag: string): string[] =>
    f
      .str(flag)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const caCert = f.file('proxy-ca-cert-file');
  const caKey = f.file('proxy-ca-key-file');
  if (caCert === undefined || caKey === undefined) {
    f.problems.push(
      '--proxy-ca-cert-file and --proxy-ca-key-file are required: clients verify the proxy with that CA',
    );
  }
  const serverNames = list('server-names');
  if (serverNames.length === 0) f.problems.push('--server-names must name at least one DNS name');
  for (const name of serverNames) {
    if (!dnsName.test(name)) f.problems.push(`--server-names: "${name}" is not a lower-case DNS name`);
  }
  const connectorClasses = list('connector-classes');
  if (connectorClasses.length === 0) f.problems.push('--connector-classes must name at least one class');
  const bindAddress = f.str('bind-address');
  if (bindAddress === '') f.problems.push('--bind-address must not be empty; use 0.0.0.0 for all');
  const config: Config = {
    bindAddress,
    mysqlPort: f.port('mysql-port'),
    healthPort: f.port('health-port'),
    kubeconfig: f.str('kubeconfig') || undefined,
    proxyCa: { certPem: caCert ?? '', keyPem: caKey ?? '' },
    serverNames,
    connectorClasses,
    loginTimeoutMs: f.duration('login-timeout'),
    upstreamConnectMs: f.duration('upstream-connect-timeout'),
    ...readCallerCheckConfig(f),
    shutdownGraceMs: f.duration('shutdown-grace-period'),
    shutdownDelayMs: f.durationOrZero('shutdown-delay-duration'),
    logLevel: f.logLevel('log-level'),
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
