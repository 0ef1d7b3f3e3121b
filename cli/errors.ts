// Failures worded as kubectl words them: a Status from the server as `Error from server (Reason):
// message`, anything else as `error: …`; a server that cannot be reached names its address, where
// that address came from, and what to check.

import { KubeApiError } from '../kube/client.js';
import { KubeConfigError } from '../kube/credentials.js';

/** A failure the plugin words itself. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** Which kube-apiserver a command talked to, and where that came from. */
export interface Where {
  server: string;
  /** The kubeconfig file(s), or "in-cluster". */
  source: string;
  context?: string | undefined;
}

/** [what happened, what to check] for the errors a connection fails with. */
const connectionFailures: Record<string, [string, string]> = {
  ECONNREFUSED: ['connection refused', 'is the cluster running, and is this its address?'],
  ENOTFOUND: ['no such host', "check the cluster's server address in the kubeconfig, and DNS"],
  EAI_AGAIN: ['the host name could not be resolved now', 'check DNS and the network'],
  EHOSTUNREACH: ['no route to the host', 'check the network (VPN, proxy-url)'],
  ENETUNREACH: ['the network is unreachable', 'check the network (VPN, proxy-url)'],
  ETIMEDOUT: ['the connection timed out', 'check the network, a firewall, or proxy-url'],
  UND_ERR_CONNECT_TIMEOUT: ['the connection timed out', 'check the network, a firewall, or proxy-url'],
  ECONNRESET: ['the connection was reset', 'check that the address is the API server, not another service'],
  UND_ERR_SOCKET: [
    'the connection was closed',
    'check that the address is the API server, not another service',
  ],
  UND_ERR_HEADERS_TIMEOUT: ['no answer in time', 'the server or a tool behind it is slow; try again'],
  UND_ERR_BODY_TIMEOUT: ['the answer stalled', 'the server or a tool behind it is slow; try again'],
  EPROTO: ['no TLS at that address', 'is the server address http:// rather than https://?'],
  ERR_SSL_WRONG_VERSION_NUMBER: [
    'no TLS at that address',
    'is the server address http:// rather than https://?',
  ],
  CERT_HAS_EXPIRED: ["the server's certificate has expired", "renew it, or check the cluster's address"],
  ERR_TLS_CERT_ALTNAME_INVALID: [
    "the server's certificate is not for this host name",
    "check the server address, or the cluster's tls-server-name",
  ],
};

const untrusted = [
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
];

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: { code?: unknown }[] } | null;
  for (const code of [e?.code, e?.cause?.code, e?.errors?.[0]?.code])
    if (typeof code === 'string') return code;
  return undefined;
}

function connectionFailure(code: string): [string, string] | undefined {
  if (untrusted.includes(code)) {
    return [
      `its certificate is not signed by a CA the kubeconfig trusts (${code})`,
      "check the cluster's certificate-authority(-data) in the kubeconfig",
    ];
  }
  return connectionFailures[code];
}

function whereText(where: Where): string {
  return where.context ? `context "${where.context}" of ${where.source}` : where.source;
}

/** What stderr says about `err`, ending in a newline. */
export function errorText(err: unknown, where?: Where): string {
  if (err instanceof KubeApiError) {
    const body = err.body;
    if (err.status === 401)
      return `error: You must be logged in to the server (${body?.message ?? 'Unauthorized'})\n`;
    if (body?.message) {
      return body.reason
        ? `Error from server (${body.reason}): ${body.message}\n`
        : `Error from server: ${body.message}\n`;
    }
    if (err.reason === 'InvalidResponse') return `error: ${err.message}\n`;
    return `error: the server responded with the status code ${err.status} but did not return more information\n`;
  }
  if (err instanceof CliError || err instanceof KubeConfigError) return `error: ${err.message}\n`;
  const code = errorCode(err);
  const failure = code === undefined ? undefined : connectionFailure(code);
  if (failure && where) {
    return `error: cannot talk to the Kubernetes API server at ${where.server} (${whereText(where)}): ${failure[0]}; ${failure[1]}\n`;
  }
  return `error: ${err instanceof Error ? err.message : String(err)}\n`;
}
