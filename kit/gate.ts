// The three questions every custom proxy asks, whatever its protocol: who is this (a ServiceAccount
// token, by TokenReview with the configured audiences), may they (SubjectAccessReview: `get` on the
// Connector and the verb on its connectors/proxy), and what is the Connector (its class, which must
// be one this proxy serves, its Secret and CA, read by name through the shared caches). A protocol
// proxy (MySQL, say) calls these three itself; runHttpProxy (http.ts) calls them for each request.

import type { CallerChecks } from '../kube/callers.js';
import type { UserInfo } from '../kube/tokenreview.js';
import { badRequest } from '../machinery/status.js';
import type { MethodVerb } from '../machinery/verbs.js';
import type { ToolAddress } from '../proxy/target.js';
import { connectorChecks } from '../registry/access.js';
import { unauthenticated } from '../registry/proxyexchange.js';
import {
  connectorAddress,
  connectorCa,
  connectorSecretMaterial,
  findConnector,
  type ResolvedConnector,
} from '../registry/resolve.js';
import type { SecretCache, SecretMaterial } from '../registry/secrets.js';
import type { ConnectorLister } from '../registry/store.js';
import type { ConnectorRef } from '../registry/types.js';

/** A Connector this proxy serves and its class, whatever the scheme of its address. */
export type FoundConnector = Omit<ResolvedConnector, 'address'> & { ref: ConnectorRef };

/** What a Connector's protocol logic needs besides its address: its Secret and CA. */
export interface ToolMaterial {
  /** The Secret spec.auth.secretRef names (type and decoded data), or null when it names none. */
  secret: Omit<SecretMaterial, 'found'> | null;
  /** The CA bundle spec.caCertSecretRef names (PEM), or undefined. */
  ca: string | undefined;
}

/** A Connector this proxy serves, with what an HTTP proxy needs to reach the tool. */
export interface ResolvedTool extends FoundConnector, ToolMaterial {
  /** spec.address, parsed (origin and path prefix). */
  address: ToolAddress;
}

export interface GateDeps {
  callers: CallerChecks;
  lister: ConnectorLister;
  secrets: Pick<SecretCache, 'material' | 'caBundle'>;
  /** --connector-classes. */
  classes: ReadonlySet<string>;
}

export class Gate {
  constructor(private readonly deps: GateDeps) {}

  /** The user of a ServiceAccount token; a 401 Status for an invalid or expired one, 503 if unchecked. */
  async authenticate(token: string): Promise<UserInfo> {
    const user = await this.deps.callers.identify(token);
    if (!user) throw unauthenticated('the token is invalid or expired');
    return user;
  }

  /**
   * A 403 Status unless `user` may `get` the Connector and do `verb` on its `subresource` (proxy,
   * or the class API the API server checked). A session that may write (a database connection)
   * asks for `create`: RBAC cannot tell its reads from its writes.
   */
  async authorize(user: UserInfo, ref: ConnectorRef, verb: MethodVerb, subresource = 'proxy'): Promise<void> {
    await this.deps.callers.authorize(user, connectorChecks([ref], verb, subresource));
  }

  /**
   * The Connector and its class; 404 for an unknown one, 400 for one of a class this proxy does not
   * serve. Any address scheme: a protocol proxy reads spec.address itself.
   */
  find(ref: ConnectorRef): FoundConnector {
    const found = findConnector(this.deps.lister, ref.namespace, ref.name);
    if (!this.deps.classes.has(found.className)) {
      throw badRequest(
        `Connector ${ref.namespace}/${ref.name} is of class ${found.className}, which this proxy does not serve`,
      );
    }
    return { ref, ...found };
  }

  /** The Connector's Secret and CA, read by name; 400 (503 when forbidden) if they cannot be had. */
  async material(found: Pick<FoundConnector, 'connector'>): Promise<ToolMaterial> {
    const [material, ca] = await Promise.all([
      connectorSecretMaterial(this.deps.secrets, found.connector),
      connectorCa(this.deps.secrets, found.connector),
    ]);
    return { secret: material && { type: material.type, data: material.data }, ca };
  }

  /** An HTTP tool's Connector: find(), its parsed address (400 if not http/https) and material(). */
  async resolve(ref: ConnectorRef): Promise<ResolvedTool> {
    const found = this.find(ref);
    const address = connectorAddress(found.connector);
    return { ...found, address, ...(await this.material(found)) };
  }
}
