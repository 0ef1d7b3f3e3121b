// The Connectors kit: what a custom Connectors Proxy imports. An HTTP proxy is its protocol logic in
// `runHttpProxy({ name, entry, about, handle })` (http.ts; examples/signing-proxy is one). A proxy
// of another protocol (MySQL, say) asks the three questions itself with a Gate: `authenticate(token)`,
// `authorize(user, ref, verb)` and `resolve(ref)` (gate.ts), made by `openGate`. README "Writing a
// custom Connectors Proxy" is the contract.

import { SubjectAccessReviewAuthorizer } from '../kube/authz.js';
import { CallerChecks } from '../kube/callers.js';
import type { KubeClient } from '../kube/client.js';
import { CachedTokenReviewer } from '../kube/tokenreview.js';
import type { ToolCallerConfig } from '../machinery/flags.js';
import type { Logger } from '../machinery/log.js';
import { SecretCache } from '../registry/secrets.js';
import { ConnectorStore } from '../registry/store.js';
import { Gate } from './gate.js';

export { Gate, type ResolvedTool } from './gate.js';
export { callerIdentity, dropIdentityHeaders, type CallerIdentity } from './identity.js';
export { runHttpProxy, startHttpProxy, type HttpProxy, type ProxyContext } from './http.js';
export { kitFlags, kitUsage, parseKitConfig, type KitConfig } from './options.js';
export type { UserInfo } from '../kube/tokenreview.js';
export type { MethodVerb } from '../machinery/verbs.js';
export type { ConnectorRef } from '../registry/types.js';

/**
 * A Gate for a proxy of another protocol, with its informers started; `ready()` says whether they
 * have synced, `close()` stops them.
 */
export function openGate(
  config: Pick<
    ToolCallerConfig,
    'authenticationCacheMs' | 'authorizationCacheMs' | 'secretCacheMs' | 'tokenAudiences'
  > & {
    connectorClasses: readonly string[];
  },
  kube: KubeClient,
  log: Logger,
): { gate: Gate; ready: () => boolean; close: () => Promise<void> } {
  const store = new ConnectorStore(kube, log);
  const gate = new Gate({
    callers: new CallerChecks(
      new CachedTokenReviewer(kube, config.authenticationCacheMs, config.tokenAudiences),
      new SubjectAccessReviewAuthorizer(kube, config.authorizationCacheMs, log),
    ),
    lister: store,
    secrets: new SecretCache(kube, config.secretCacheMs),
    classes: new Set(config.connectorClasses),
  });
  store.start();
  return { gate, ready: () => store.hasSynced, close: () => store.stop() };
}
