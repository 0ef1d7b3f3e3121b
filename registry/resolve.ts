// From a request's namespace and name to the Connector, its class and its credential, with the
// Status errors a user can act on when any of them is missing.

import { badRequest, notFound, serviceUnavailable } from '../machinery/status.js';
import { ProxyError } from '../proxy/errors.js';
import { parseToolAddress, type ToolAddress } from '../proxy/target.js';
import type { SecretLookup, SecretSource } from './secrets.js';
import type { ConnectorLister } from './store.js';
import { credentialSchemeAnnotation, crdGroup, type Connector, type ConnectorClass } from './types.js';

export interface ResolvedConnector {
  connector: Connector;
  connectorClass: ConnectorClass;
  className: string;
  address: ToolAddress;
}

// Informer objects are replaced on every update, so a parsed address can hang off the object.
const addressCache = new WeakMap<Connector, ToolAddress>();
// Likewise the credential scheme its class's auth type names, recorded as the Connector is resolved,
// for connectorSecret.
const schemeOf = new WeakMap<Connector, string>();

export function resolveConnector(
  lister: ConnectorLister,
  namespace: string,
  name: string,
): ResolvedConnector {
  const connector = lister.connector(namespace, name);
  if (!connector) throw notFound({ group: crdGroup, resource: 'connectors' }, name);
  const className = connector.spec?.connectorClassName ?? '';
  const connectorClass = className ? lister.connectorClass(className) : undefined;
  if (!connectorClass) {
    throw notFound(
      { group: crdGroup, resource: 'connectorclasses' },
      className,
      `Connector ${namespace}/${name} names a ConnectorClass that is not installed`,
    );
  }
  let address = addressCache.get(connector);
  if (!address) {
    const raw = connector.spec?.address;
    if (!raw) throw badRequest(`Connector ${namespace}/${name} has no spec.address`);
    try {
      address = parseToolAddress(raw);
    } catch (err) {
      throw badRequest(`Connector ${namespace}/${name}: ${(err as ProxyError).message}`);
    }
    addressCache.set(connector, address);
  }
  const authName = connector.spec?.auth?.name;
  const authType = connectorClass.spec?.auth?.types?.find((t) => t.name === authName);
  schemeOf.set(connector, authType?.annotations?.[credentialSchemeAnnotation]?.trim() ?? '');
  return { connector, connectorClass, className, address };
}

export type ConnectorSecret = Extract<SecretLookup, { found: true }>;

/**
 * The Secret of the Connector, or null when it has none (an optional auth type). The credential is
 * sent the way the Connector's auth type says (its credential-scheme annotation) when the Connector
 * came from resolveConnector, which reads its class; otherwise the Secret type's own way.
 */
export async function connectorSecret(
  secrets: SecretSource,
  connector: Connector,
): Promise<ConnectorSecret | null> {
  const namespace = connector.metadata?.namespace ?? '';
  const who = `Connector ${namespace}/${connector.metadata?.name ?? ''}`;
  const ref = connector.spec?.auth?.secretRef;
  if (!ref?.name) return null;
  if (ref.namespace && ref.namespace !== namespace) {
    throw badRequest(`${who}: spec.auth.secretRef must name a Secret in namespace ${namespace}`);
  }
  const found = await secrets.credential(namespace, ref.name, schemeOf.get(connector) ?? '');
  if (found.found) return found;
  if (found.reason === 'Forbidden') throw serviceUnavailable(`${who}: ${found.message}`);
  throw badRequest(`${who}: ${found.message}`);
}

/** The extra CA bundle of the Connector (spec.caCertSecretRef), or undefined when it names none. */
export async function connectorCa(secrets: SecretSource, connector: Connector): Promise<string | undefined> {
  const ref = connector.spec?.caCertSecretRef?.name;
  if (!ref) return undefined;
  const namespace = connector.metadata?.namespace ?? '';
  const found = await secrets.caBundle(namespace, ref);
  if (found.found) return found.pem;
  throw badRequest(
    `Connector ${namespace}/${connector.metadata?.name ?? ''}: spec.caCertSecretRef: ${found.message}`,
  );
}
