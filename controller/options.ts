// Options → validated Config for the status controller. Flags are read once at startup; every
// invalid option is reported together, each with the fix.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { clientTlsFlags, readClientTlsFiles, type ClientTlsFiles } from '../machinery/certificates.js';
import {
  ConfigError,
  readFlags,
  serviceUrlOverrides,
  takeRepeatable,
  type FlagSpec,
} from '../machinery/flags.js';
import type { LogLevel } from '../machinery/log.js';

export interface Config {
  kubeconfig: string | undefined;
  /** The controller's namespace: its Lease, and the Services class refs name without a namespace. */
  namespace: string;
  leaderElect: boolean;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  secretPollIntervalMs: number;
  workers: number;
  /** `namespace/service` → base URL. */
  serviceUrlOverrides: Map<string, string>;
  /** TLS towards class API backends, for API reachability and API probes (as the API server's). */
  classApiTls: ClientTlsFiles;
  bindAddress: string;
  healthPort: number;
  logLevel: LogLevel;
}

export const usage = `Usage: node dist/controller/main.js [flags]

Keeps the status of every Connector and ConnectorClass true to the world: class found, Secret
present and of the right type, the class's liveness and auth probes against the tool, resolved
addresses, Ready. One replica works at a time (leader election); the others stand by.

  --kubeconfig=PATH                    kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --namespace=NAME                     own namespace: the Lease, and class Service refs without one
                                       (default: $POD_NAMESPACE or connectors-system)
  --leader-elect=true                  elect a leader through the Lease connectors-controller; false
                                       only for a single replica
  --leader-elect-lease-duration=15s    how long a stopped leader's Lease blocks a successor
  --leader-elect-renew-deadline=10s    the leader steps down when it could not renew for this long
  --leader-elect-retry-period=2s       how often the Lease is renewed or tried
  --leader-elect-identity=NAME         this replica's name in the Lease (default: hostname_random)
  --probe-interval=60s                 how often each Connector is probed (and each class checked)
  --probe-timeout=10s                  the longest one probe may take, redirects included (at
                                       most --probe-interval)
  --secret-poll-interval=5s            how often referenced Secrets are checked for changes
  --workers=8                          objects reconciled in parallel
  --service-url-override=NS/SVC=URL    resolve the Service NS/SVC of a class ref to URL (repeatable)
  --classapi-ca-file=PATH              CA certificates (PEM) trusted for class API backends, besides
                                       the system's (API reachability and API probes)
  --classapi-client-cert-file=PATH     client certificate (PEM) presented to class API backends
  --classapi-client-key-file=PATH      its private key (PEM)
  --bind-address=0.0.0.0               address of /healthz, /readyz and /metrics
  --health-port=8081                   their port (0 picks a free one and logs it)
  --log-level=info                     debug, info, warn or error
  --help                               this text
`;

const flags = {
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  'leader-elect': { type: 'string', default: 'true' },
  'leader-elect-lease-duration': { type: 'string', default: '15s' },
  'leader-elect-renew-deadline': { type: 'string', default: '10s' },
  'leader-elect-retry-period': { type: 'string', default: '2s' },
  'leader-elect-identity': { type: 'string' },
  'probe-interval': { type: 'string', default: '60s' },
  'probe-timeout': { type: 'string', default: '10s' },
  'secret-poll-interval': { type: 'string', default: '5s' },
  workers: { type: 'string', default: '8' },
  'bind-address': { type: 'string', default: '0.0.0.0' },
  'health-port': { type: 'string', default: '8081' },
  'log-level': { type: 'string', default: 'info' },
  ...clientTlsFlags('classapi'),
} satisfies FlagSpec;

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  // The one repeatable flag is collected first; readFlags keeps only the last of a repeated flag.
  const { values, rest } = takeRepeatable(argv, ['service-url-override']);
  const f = readFlags(rest, flags, usage);

  const leaderElect = f.str('leader-elect');
  if (leaderElect !== 'true' && leaderElect !== 'false') {
    f.problems.push(`--leader-elect=${leaderElect} must be true or false`);
  }
  const workers = Number(f.str('workers'));
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    f.problems.push(`--workers=${f.str('workers')} must be a whole number from 1 to 256`);
  }
  const config: Config = {
    kubeconfig: f.str('kubeconfig') || undefined,
    namespace: f.str('namespace') || env.POD_NAMESPACE || 'connectors-system',
    leaderElect: leaderElect !== 'false',
    leaseName: 'connectors-controller',
    identity: f.str('leader-elect-identity') || `${hostname()}_${randomBytes(4).toString('hex')}`,
    leaseDurationMs: f.duration('leader-elect-lease-duration'),
    renewDeadlineMs: f.duration('leader-elect-renew-deadline'),
    retryPeriodMs: f.duration('leader-elect-retry-period'),
    probeIntervalMs: f.duration('probe-interval'),
    probeTimeoutMs: f.duration('probe-timeout'),
    secretPollIntervalMs: f.duration('secret-poll-interval'),
    workers,
    serviceUrlOverrides: serviceUrlOverrides(
      f,
      'service-url-override',
      values.get('service-url-override') ?? [],
      ['http', 'https'],
    ),
    classApiTls: readClientTlsFiles(f, 'classapi'),
    bindAddress: f.str('bind-address'),
    healthPort: f.port('health-port'),
    logLevel: f.logLevel('log-level'),
  };
  if (config.leaseDurationMs && config.renewDeadlineMs && config.renewDeadlineMs >= config.leaseDurationMs) {
    f.problems.push('--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration');
  }
  if (config.renewDeadlineMs && config.retryPeriodMs && config.retryPeriodMs >= config.renewDeadlineMs) {
    f.problems.push('--leader-elect-retry-period must be shorter than --leader-elect-renew-deadline');
  }
  // A probe never outlasts its period: with --probe-interval=2s a hanging tool costs 2 s, not 10.
  config.probeTimeoutMs = Math.min(config.probeTimeoutMs, config.probeIntervalMs);
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
