// The parts of the Connector and ConnectorClass objects (connectors.alauda.io/v1alpha1) that the
// server reads. The CRDs in manifests/ hold the full published schema.

import type { KubeObject } from '../kube/objects.js';

export const crdGroup = 'connectors.alauda.io';
export const crdVersion = 'v1alpha1';
export const subresourceGroup = 'subresources.connectors.alauda.io';
export const subresourceVersion = 'v1alpha1';

export interface ConnectorRef {
  namespace: string;
  name: string;
}

/** A namespace is an RFC 1123 label; a Connector name an RFC 1123 subdomain. */
export const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** An RFC 1123 subdomain: the names of Connectors and of cluster-scoped objects. */
export const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isConnectorRef(namespace: string, name: string): boolean {
  return dnsLabel.test(namespace) && dnsSubdomain.test(name);
}

export interface NamedValue {
  name: string;
  value?: unknown;
}

export interface ConnectorSpec {
  connectorClassName: string;
  address?: string;
  addressExtensions?: NamedValue[];
  params?: NamedValue[];
  auth?: {
    name?: string;
    secretRef?: { name?: string; namespace?: string };
    params?: NamedValue[];
  };
  caCertSecretRef?: { name?: string };
}

export interface Connector extends KubeObject {
  spec?: ConnectorSpec;
}

export interface AuthType {
  name: string;
  secretType?: string;
  optional?: boolean;
  annotations?: Record<string, string>;
}

/**
 * The auth type annotation naming how the Connectors Proxy sends the Secret (a credential scheme of
 * proxy/credentials, e.g. basic-username); absent: the Secret type's own way.
 */
export const credentialSchemeAnnotation = 'connectors.alauda.io/credential-scheme';

export interface ConnectorClassSpec {
  auth?: { types?: AuthType[] };
  api?: { ref?: Record<string, unknown>; uri?: string; openapi?: Record<string, unknown> };
  proxy?: Record<string, unknown>;
}

export interface ConnectorClass extends KubeObject {
  spec?: ConnectorClassSpec;
  status?: { api?: { address?: { url?: string } } };
}
