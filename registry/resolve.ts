// From a request's namespace and name to the Connector, its class and its credential, with the
// Status errors a user can act on when any of them is missing.

import { badRequest, notFound, serviceUnavailable } from '../machinery/status.js';
import { ProxyError } from '../proxy/errors.js';
import { parseToolAddress, type ToolAddress } from '../proxy/target.js';
import type { SecretCache, SecretLookup, SecretMaterial, SecretSource } from './secrets.js';
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

/**
 * The Connector and its class, whatever its address's scheme (a proxy of a non-HTTP protocol parses
 * the address itself); resolveConnector for an HTTP tool.
 */
export function findConnector(
  lister: ConnectorLister,
  namespace: string,
  name: string,
): Omit<ResolvedConnector, 'address'> {
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
  return { connector, connectorClass, className };
}

/** The Connector's spec.address parsed as an HTTP(S) tool address (cached on the object); 400 otherwise. */
export function connectorAddress(connector: Connector): ToolAddress {
  let address = addressCache.get(connector);
  if (!address) {
    const who = `Connector ${connector.metadata?.namespace ?? ''}/${connector.metadata?.name ?? ''}`;
    const raw = connector.spec?.address;
    if (!raw) throw badRequest(`${who} has no spec.address`);
    try {
      address = parseToolAddress(raw);
    } catch (err) {
      throw badRequest(`${who}: ${(err as ProxyError).message}`);
    }
    addressCache.set(connector, address);
  }
  return address;
}

export function resolveConnector(
  lister: ConnectorLister,
  namespace: string,
  name: string,
): ResolvedConnector {
  const found = findConnector(lister, namespace, name);
  return { ...found, address: connectorAddress(found.connector) };
}

export type ConnectorSecret = Extract<SecretLookup, { found: true }>;

/**
 * The Secret a Connector's spec.auth.secretRef names, read with `read` (a credential strategy, or the
 * raw material for a custom proxy): null when it names none (an optional auth type), else the
 * Secret, or the Status that says why it cannot be had.
 */
async function connectorSecretWith<T extends { found: true }>(
  connector: Connector,
  read: (namespace: string, name: string) => Promise<T | Extract<SecretLookup, { found: false }>>,
): Promise<T | null> {
  const namespace = connector.metadata?.namespace ?? '';
  const who = `Connector ${namespace}/${connector.metadata?.name ?? ''}`;
  const ref = connector.spec?.auth?.secretRef;
  if (!ref?.name) return null;
  if (ref.namespace && ref.namespace !== namespace) {
    throw badRequest(`${who}: spec.auth.secretRef must name a Secret in namespace ${namespace}`);
  }
  const found = await read(namespace, ref.name);
  if (found.found) return found;
  if (found.reason === 'Forbidden') throw serviceUnavailable(`${who}: ${found.message}`);
  throw badRequest(`${who}: ${found.message}`);
}

/** The credential scheme the Connector's auth type names (its class's annotation), or ''. */
export function credentialScheme(connector: Connector, connectorClass: ConnectorClass): string {
  const authName = connector.spec?.auth?.name;
  const authType = connectorClass.spec?.auth?.types?.find((t) => t.name === authName);
  return authType?.annotations?.[credentialSchemeAnnotation]?.trim() ?? '';
}

/**
 * The Secret of the Connector with its credential strategy, or null when it has none: the
 * credential is sent the way the Connector's auth type says (its credential-scheme annotation),
 * otherwise the Secret type's own way.
 */
export function connectorSecret(
  secrets: SecretSource,
  target: Pick<ResolvedConnector, 'connector' | 'connectorClass'>,
): Promise<ConnectorSecret | null> {
  const scheme = credentialScheme(target.connector, target.connectorClass);
  return connectorSecretWith(target.connector, (ns, name) => secrets.credential(ns, name, scheme));
}

/** The Secret of the Connector as it is (type and decoded data), for a custom proxy; null when it has none. */
export function connectorSecretMaterial(
  secrets: Pick<SecretCache, 'material'>,
  connector: Connector,
): Promise<SecretMaterial | null> {
  return connectorSecretWith(connector, (ns, name) => secrets.material(ns, name));
}

/** The extra CA bundle of the Connector (spec.caCertSecretRef), or undefined when it names none. */
export async function connectorCa(
  secrets: Pick<SecretSource, 'caBundle'>,
  connector: Connector,
): Promise<string | undefined> {
  const ref = connector.spec?.caCertSecretRef?.name;
  if (!ref) return undefined;
  const namespace = connector.metadata?.namespace ?? '';
  const found = await secrets.caBundle(namespace, ref);
  if (found.found) return found.pem;
  throw badRequest(
    `Connector ${namespace}/${connector.metadata?.name ?? ''}: spec.caCertSecretRef: ${found.message}`,
  );
}
