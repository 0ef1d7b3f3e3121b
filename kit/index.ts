// The Connectors kit: what a custom Connectors Proxy imports. An HTTP proxy is its protocol logic in
// `runHttpProxy({ name, entry, about, handle })` (http.ts; examples/signing-proxy is one). A proxy
// of another protocol (mysqlproxy/ is one) asks the three questions itself with a Gate:
// `authenticate(token)`, `authorize(user, ref, verb)` and `find(ref)` + `material(found)` (gate.ts),
// made by `openGate`. README "Writing a custom Connectors Proxy" is the contract.

import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import { CallerChecks } from '../kube/callers.js';
import type { KubeClient } from '../kube/client.js';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import type { ToolCallerConfig } from '../machinery/flags.js';
import type { Logger } from '../machinery/log.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import type { Connector } from '../registry/types.js';
import { Gate } from './gate.js';

export { Gate, type FoundConnector, type ResolvedTool, type ToolMaterial } from './gate.js';
export { callerIdentity, dropIdentityHeaders, type CallerIdentity } from './identity.js';
export { runHttpProxy, startHttpProxy, type HttpProxy, type ProxyContext } from './http.js';
export { kitFlags, kitUsage, parseKitConfig, type KitConfig } from './options.js';
export type { UserInfo } from '../kube/tokenreview.js';
export type { MethodVerb } from '../machinery/verbs.js';
export type { ConnectorRef } from '../registry/types.js';

/** What openGate gives a proxy of another protocol. */
export interface OpenGate {
  gate: Gate;
  /** Whether the Connector and ConnectorClass informers have synced. */
  ready: () => boolean;
  /** The Connectors of the classes this proxy serves (for the names of its certificate, say). */
  served: () => readonly Connector[];
  /** Stops the informers. */
  close: () => Promise<void>;
}

/** A Gate for a proxy of another protocol, with its informers started. */
export function openGate(
  config: Pick<
    ToolCallerConfig,
    'authenticationCacheMs' | 'authorizationCacheMs' | 'secretCacheMs' | 'tokenAudiences'
  > & {
    connectorClasses: readonly string[];
  },
  kube: KubeClient,
  log: Logger,
): OpenGate {
  const store = new ConnectorStore(kube, log);
  const classes = new Set(config.connectorClasses);
  const gate = new Gate({
    callers: new CallerChecks(
      new CachedTokenReviewer(kube, config.authenticationCacheMs, config.tokenAudiences),
      new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log),
    ),
    lister: store,
    secrets: new SecretCache(kube, config.secretCacheMs),
    classes,
  });
  store.start();
  return {
    gate,
    ready: () => store.hasSynced,
    served: () => store.connectorList().filter((c) => classes.has(c.spec?.connectorClassName ?? '')),
    close: () => store.stop(),
  };
}
