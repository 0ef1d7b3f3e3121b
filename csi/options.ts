// Options → validated Config for the CSI driver. Flags (and the CSI_ENDPOINT and NODE_NAME
// variables the DaemonSet sets) are read once at startup; every invalid option is reported
// together, each with the fix.

import {
  ConfigError,
  parseNamespacedName,
  readFlags,
  type Flags,
  type FlagSpec,
} from '../machinery/flags.js';
import type { LogLevel } from '../machinery/log.js';
import type { MediumKind } from './medium.js';

export type TokenSourceKind = 'kubelet' | 'request';

export interface Config {
  /** Absolute path of the unix socket kubelet and the registrar call. */
  socketPath: string;
  nodeId: string;
  kubeconfig: string | undefined;
  tokenSource: TokenSourceKind;
  tokenAudience: string;
  proxyCaConfigMap: { namespace: string; name: string };
  medium: MediumKind;
  tmpfsSize: string;
  multiConnector: boolean;
  noProxy: string;
  authenticationCacheMs: number;
  authorizationCacheMs: number;
  operationTimeoutMs: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
  /**
   * Self-registration with kubelet: the plugin registration directory as mounted here, and the CSI
   * socket's path as kubelet sees it on the host. Absent: another process registers the driver.
   */
  registration: { dir: string; kubeletEndpoint: string } | undefined;
  /** Port of /healthz (0: none). */
  healthPort: number;
}

export const usage = `Usage: node dist/csi/main.js [flags]

The connectors-csi node plugin: mounts inline ephemeral volumes (driver: connectors-csi) holding a
ConnectorClass's configuration files and the pod's short-lived ServiceAccount token, so that a
tool's own client goes through the Connectors Proxy. Runs on every node (DaemonSet), privileged.

  --endpoint=unix:///csi/csi.sock     the driver's socket (default: $CSI_ENDPOINT)
  --node-id=NAME                      this node's name (default: $NODE_NAME)
  --kubeconfig=PATH                   kubeconfig for kube-apiserver (default: $KUBECONFIG or in-cluster)
  --token-source=kubelet              kubelet: the pod-bound token kubelet passes (the CSIDriver's
                                      tokenRequests); request: mint it with TokenRequest, honouring
                                      token.expiration (needs create on serviceaccounts/token)
  --token-audience=connectors-proxy   the token's audience: the one the Connectors Proxy accepts
                                      (its --authentication-token-audiences)
  --proxy-ca-configmap=NS/NAME        where the Connectors Proxy publishes its CA certificate
                                      (default connectors-system/connectors-proxy-ca)
  --volume-medium=tmpfs               tmpfs (a tmpfs per volume; needs CAP_SYS_ADMIN) or directory
                                      (plain directories, tokens on disk: development only)
  --tmpfs-size=4m                     size of each volume's tmpfs
  --enable-multi-connector=false      allow several Connectors in one volume
  --no-proxy=localhost,127.0.0.1      the no_proxy value written to .env
  --authentication-cache-ttl=10s      how long TokenReview answers are reused
  --authorization-cache-ttl=10s       how long SubjectAccessReview answers are reused
  --operation-timeout=60s             how long a publish or unpublish may take before kubelet is told
                                      to retry (kubelet itself gives up after 2m)
  --shutdown-grace-period=10s         how long running calls may finish after SIGTERM
  --plugin-registration-dir=DIR       register with kubelet by serving its plugin registration API in
                                      DIR (kubelet's <root-dir>/plugins_registry, mounted); needs
                                      --kubelet-registration-path. Unset: no registration (another
                                      process, e.g. node-driver-registrar, does it)
  --kubelet-registration-path=PATH    the CSI socket's path as kubelet sees it on the node, e.g.
                                      /var/lib/kubelet/plugins/connectors-csi/csi.sock
  --health-port=0                     port of /healthz (calls the driver's own Probe); 0: none
  --log-level=info                    debug, info, warn or error
  --help                              this text
`;

const flags = {
  endpoint: { type: 'string' },
  'node-id': { type: 'string' },
  kubeconfig: { type: 'string' },
  'token-source': { type: 'string', default: 'kubelet' },
  'token-audience': { type: 'string', default: 'connectors-proxy' },
  'proxy-ca-configmap': { type: 'string', default: 'connectors-system/connectors-proxy-ca' },
  'volume-medium': { type: 'string', default: 'tmpfs' },
  'tmpfs-size': { type: 'string', default: '4m' },
  'enable-multi-connector': { type: 'string', default: 'false' },
  'no-proxy': { type: 'string', default: 'localhost,127.0.0.1' },
  'authentication-cache-ttl': { type: 'string', default: '10s' },
  'authorization-cache-ttl': { type: 'string', default: '10s' },
  'operation-timeout': { type: 'string', default: '60s' },
  'shutdown-grace-period': { type: 'string', default: '10s' },
  'log-level': { type: 'string', default: 'info' },
  'plugin-registration-dir': { type: 'string' },
  'kubelet-registration-path': { type: 'string' },
  'health-port': { type: 'string', default: '0' },
} satisfies FlagSpec;

function oneOf<T extends string>(f: Flags, flag: string, allowed: readonly T[]): T {
  const value = f.str(flag);
  if (!(allowed as readonly string[]).includes(value)) {
    f.problems.push(`--${flag}=${value} must be ${allowed.join(' or ')}`);
  }
  return value as T;
}

/** The socket path of a CSI endpoint: unix:///abs/path (the spec's form) or an absolute path. */
function socketPath(f: Flags, endpoint: string): string {
  const path = endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint;
  if (!path.startsWith('/')) {
    f.problems.push(`--endpoint=${endpoint} must be unix:///<absolute path>, e.g. unix:///csi/csi.sock`);
  } else if (Buffer.byteLength(path) > 107) {
    f.problems.push(`--endpoint=${endpoint}: a unix socket path has at most 107 bytes`);
  }
  return path;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const f = readFlags(argv, flags, usage);
  const endpoint = f.str('endpoint') || env.CSI_ENDPOINT || '';
  if (!endpoint) f.problems.push('--endpoint (or $CSI_ENDPOINT) is required, e.g. unix:///csi/csi.sock');
  const nodeId = f.str('node-id') || env.NODE_NAME || '';
  if (!nodeId) {
    f.problems.push('--node-id (or $NODE_NAME, from the downward API spec.nodeName) is required');
  }
  const audience = f.str('token-audience').trim();
  if (!audience) f.problems.push('--token-audience must not be empty');
  if (!f.str('proxy-ca-configmap')) f.problems.push('--proxy-ca-configmap must name a ConfigMap as NS/NAME');
  const registrationDir = f.str('plugin-registration-dir');
  const kubeletEndpoint = f.str('kubelet-registration-path');
  if (registrationDir && !kubeletEndpoint) {
    f.problems.push(
      '--plugin-registration-dir needs --kubelet-registration-path: the CSI socket as kubelet sees it, ' +
        'e.g. /var/lib/kubelet/plugins/connectors-csi/csi.sock',
    );
  }
  if (kubeletEndpoint && !registrationDir) {
    f.problems.push('--kubelet-registration-path is only used with --plugin-registration-dir; set both');
  }
  for (const [flag, value] of [
    ['plugin-registration-dir', registrationDir],
    ['kubelet-registration-path', kubeletEndpoint],
  ] as const) {
    if (value && !value.startsWith('/')) f.problems.push(`--${flag}=${value} must be an absolute path`);
  }
  const healthPort = Number(f.str('health-port'));
  if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535) {
    f.problems.push(`--health-port=${f.str('health-port')} must be a port number, or 0 for none`);
  }
  const tmpfsSize = f.str('tmpfs-size');
  if (!/^\d+[kmg]?$/.test(tmpfsSize)) f.problems.push(`--tmpfs-size=${tmpfsSize} must be a size such as 4m`);
  const config: Config = {
    socketPath: endpoint ? socketPath(f, endpoint) : '',
    nodeId,
    kubeconfig: f.str('kubeconfig') || undefined,
    tokenSource: oneOf(f, 'token-source', ['kubelet', 'request'] as const),
    tokenAudience: audience,
    proxyCaConfigMap: parseNamespacedName(f, 'proxy-ca-configmap') ?? { namespace: '', name: '' },
    medium: oneOf(f, 'volume-medium', ['tmpfs', 'directory'] as const),
    tmpfsSize,
    multiConnector: oneOf(f, 'enable-multi-connector', ['true', 'false'] as const) === 'true',
    noProxy: f.str('no-proxy'),
    authenticationCacheMs: f.duration('authentication-cache-ttl'),
    authorizationCacheMs: f.duration('authorization-cache-ttl'),
    operationTimeoutMs: f.duration('operation-timeout'),
    shutdownGraceMs: f.duration('shutdown-grace-period'),
    logLevel: f.logLevel('log-level'),
    registration: registrationDir && kubeletEndpoint ? { dir: registrationDir, kubeletEndpoint } : undefined,
    healthPort,
  };
  if (f.problems.length > 0) throw new ConfigError(f.problems, usage);
  return config;
}
