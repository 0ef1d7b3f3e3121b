// Who may open a session, and to where, asked of the custom-proxy kit's gate (kit/gate.ts). The
// login's user names the Connector (`<namespace>/<connector>`), its password is the caller's
// ServiceAccount token:
//   1. TokenReview with the proxy's audiences: the caller;
//   2. RBAC, before anything about the Connector is told: `get` on the Connector and `create` on
//      its connectors/proxy (a session may write, and RBAC cannot tell its reads from its writes);
//   3. the Connector, of a class this proxy serves (--connector-classes);
//   4. its server and credential.
//
// The Connector's address is `mysql://host[:port][?tls=true]` (port 3306 by default). The proxy
// speaks TLS to the server when the address says tls=true or the Connector names a CA bundle
// (spec.caCertSecretRef: the server's certificate is verified against it, host name included);
// with tls=true alone, against the system's CAs. Otherwise the server connection is plain TCP,
// for a server inside the cluster's network. The credential is the Connector's
// kubernetes.io/basic-auth Secret (username, password).

import type { Gate } from '../kit/index.js';
import { StatusError } from '../machinery/status.js';
import { isConnectorRef, type ConnectorRef } from '../registry/types.js';
import { accessDenied, unavailable } from './errors.js';
import type { Admission } from './session.js';
import type { ServerTarget } from './upstream.js';

export interface MysqlGateDeps {
  /** The kit's gate (kit/index.ts openGate): TokenReview, RBAC, the Connector of a served class. */
  gate: Pick<Gate, 'authenticate' | 'authorize' | 'find' | 'material'>;
  /** Whether the Connector informers have synced. */
  ready: () => boolean;
}

export interface MysqlAddress {
  host: string;
  port: number;
  tls: boolean;
}

/** Parses `mysql://host[:port][?tls=true|false]`; the message never repeats the address. */
export function parseMysqlAddress(raw: string): MysqlAddress | string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'the address is not an absolute URL';
  }
  if (url.protocol !== 'mysql:') return `the address must use mysql://, not ${url.protocol}//`;
  if (url.username || url.password) return 'the address must not contain user information; use the Secret';
  if (!url.hostname) return 'the address names no host';
  if (url.pathname !== '' && url.pathname !== '/') return 'the address must have no path (mysql://host:port)';
  const tls = url.searchParams.get('tls');
  if (
    [...url.searchParams.keys()].some((k) => k !== 'tls') ||
    (tls !== null && !['true', 'false'].includes(tls))
  ) {
    return 'the address may have only ?tls=true or ?tls=false as its query';
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 3306,
    tls: tls === 'true',
  };
}

/** `<namespace>/<connector>`, or undefined. */
export function parseUser(user: string): ConnectorRef | undefined {
  const m = /^([^/]+)\/([^/]+)$/.exec(user);
  if (!m?.[1] || !m[2] || !isConnectorRef(m[1], m[2])) return undefined;
  return { namespace: m[1], name: m[2] };
}

const basicAuth = 'kubernetes.io/basic-auth';

/** The kit's gate, asked in the order above, with the answers a MySQL client reads. */
export class MysqlGate {
  constructor(private readonly deps: MysqlGateDeps) {}

  /** Throws a Refusal or a StatusError (refusalOf turns it into the client's error). */
  async admit(user: string, token: string): Promise<Admission> {
    const ref = parseUser(user);
    if (!ref) {
      throw accessDenied(
        'connector_refused',
        `Access denied for user '${user.slice(0, 300)}': the user must be <namespace>/<connector>, the Connector to reach`,
      );
    }
    const { gate } = this.deps;
    let caller;
    try {
      caller = await gate.authenticate(token);
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 401)) throw err;
      throw accessDenied(
        'unauthenticated',
        `Access denied for user '${user}': the password must be a valid ServiceAccount token ` +
          '(this one is unknown, expired or for another audience); read the current token again',
      );
    }
    await gate.authorize(caller, ref, 'create');
    if (!this.deps.ready()) {
      throw unavailable('the proxy has not loaded the Connectors yet; try again');
    }
    const found = gate.find(ref);
    const who = `Connector ${ref.namespace}/${ref.name}`;
    const address = parseMysqlAddress(found.connector.spec?.address ?? '');
    if (typeof address === 'string') throw accessDenied('connector_refused', `${who}: ${address}`);
    const { secret, ca } = await gate.material(found);
    if (!secret || secret.type !== basicAuth) {
      throw accessDenied('connector_refused', `${who} needs a ${basicAuth} Secret (spec.auth.secretRef)`);
    }
    const field = (key: string): string => secret.data[key]?.toString('utf8') ?? '';
    const target: ServerTarget = {
      host: address.host,
      port: address.port,
      tls: address.tls || ca !== undefined ? { ca } : undefined,
      username: field('username'),
      password: field('password'),
    };
    return { caller: caller.username, target };
  }
}
