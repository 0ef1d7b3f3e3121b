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
import { connectorCa, connectorSecretMaterial, resolveConnector } from '../registry/resolve.js';
import type { SecretCache, SecretMaterial } from '../registry/secrets.js';
import type { ConnectorLister } from '../registry/store.js';
import type { Connector, ConnectorClass, ConnectorRef } from '../registry/types.js';

/** A Connector this proxy serves, with what its protocol logic needs to reach the tool. */
export interface ResolvedTool {
  ref: ConnectorRef;
  connector: Connector;
  connectorClass: ConnectorClass;
  className: string;
  /** spec.address, parsed (origin and path prefix). */
  address: ToolAddress;
  /** The Secret spec.auth.secretRef names (type and decoded data), or null when it names none. */
  secret: Omit<SecretMaterial, 'found'> | null;
  /** The CA bundle spec.caCertSecretRef names (PEM), or undefined. */
  ca: string | undefined;
}

export interface GateDeps {
  callers: CallerChecks;
  lister: ConnectorLister;
  secrets: SecretCache;
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
   * The Connector, its class, Secret and CA; 404 for an unknown one, 400 for one of a class this
   * proxy does not serve or with a Secret that cannot be used.
   */
  async resolve(ref: ConnectorRef): Promise<ResolvedTool> {
    const resolved = resolveConnector(this.deps.lister, ref.namespace, ref.name);
    if (!this.deps.classes.has(resolved.className)) {
      throw badRequest(
        `Connector ${ref.namespace}/${ref.name} is of class ${resolved.className}, which this proxy does not serve`,
      );
    }
    const [material, ca] = await Promise.all([
      connectorSecretMaterial(this.deps.secrets, resolved.connector),
      connectorCa(this.deps.secrets, resolved.connector),
    ]);
    return {
      ref,
      ...resolved,
      secret: material && { type: material.type, data: material.data },
      ca,
    };
  }
}
