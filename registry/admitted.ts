// Which state of a Connector admission accepted. Whoever sets where a Connector sends its credential
// (address, address extensions, class) or which credential it sends (its Secret references) must be
// allowed to read those Secrets; the Connectors admission webhook checks that for every create and
// for every update that changes one of these fields, and stamps the state it accepted in an
// annotation. The status controller sends a credential only for a Connector whose stamp matches its
// current state, so a state that admission never accepted (written while the webhook was not
// registered, or before it existed) is not probed with the credential.
//
// The stamp is a digest of public fields, so anyone could compute it; it cannot be forged all the
// same, because every create and update passes the mutating webhook (failurePolicy: Fail), which
// overwrites it. The status subresource cannot change metadata.

import { createHash } from 'node:crypto';
import { crdGroup } from './types.js';

/** The annotation holding the digest of the state admission accepted. */
export const admittedAnnotation = `${crdGroup}/admitted`;

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/**
 * The digest of what decides where a Connector's credential goes and which credential it is: its
 * namespace (Secret references resolve there), class, address, address extensions and Secret
 * references, each Secret reference with its namespace made explicit. The name is left out: a
 * Connector created with generateName has none yet when the mutating webhook sees it.
 */
export function admittedState(connector: unknown, namespace: string): string {
  const spec = isObject(connector) && isObject(connector.spec) ? connector.spec : {};
  const auth = isObject(spec.auth) ? spec.auth : {};
  const secretRef = isObject(auth.secretRef) ? auth.secretRef : undefined;
  const caRef = isObject(spec.caCertSecretRef) ? spec.caCertSecretRef : undefined;
  const extensions = (Array.isArray(spec.addressExtensions) ? spec.addressExtensions : []).map(
    (e: unknown) => (isObject(e) ? [str(e.name), JSON.stringify(e.value ?? null)] : null),
  );
  const canonical = JSON.stringify([
    'v1',
    namespace,
    str(spec.connectorClassName),
    str(spec.address),
    extensions,
    secretRef ? [str(secretRef.namespace) || namespace, str(secretRef.name)] : null,
    caRef ? [namespace, str(caRef.name)] : null,
  ]);
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
}

/** The stamp an object carries, or '' when it has none. */
export function admittedStamp(connector: unknown): string {
  const meta = isObject(connector) && isObject(connector.metadata) ? connector.metadata : {};
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  return str(annotations[admittedAnnotation]);
}

/** Whether admission accepted the Connector in exactly its current state. */
export function isAdmitted(connector: unknown): boolean {
  const meta = isObject(connector) && isObject(connector.metadata) ? connector.metadata : {};
  const stamp = admittedStamp(connector);
  return stamp !== '' && stamp === admittedState(connector, str(meta.namespace));
}
