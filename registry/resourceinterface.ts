// The ResourceInterface object (connectors.alauda.io/v1alpha1, cluster-scoped) as the server reads
// it; the CRD in manifests/base/crds/ holds the full published schema. A ConnectorClass supports a
// ResourceInterface when it carries the label `resourceinterface.connectors.cpaas.io/<name>: "true"`.

import type { KubeObject } from '../kube/objects.js';
import type { ConnectorClass } from './types.js';

export const riLabelPrefix = 'resourceinterface.connectors.cpaas.io/';
export const riCategoryLabel = `${riLabelPrefix}category`;

export type ParamType = 'string' | 'array' | 'object';

export interface ParamSpec {
  name: string;
  type?: ParamType;
  description?: string;
  default?: unknown;
  enum?: string[];
  properties?: Record<string, { type?: string }>;
}

export interface AttributeSpec extends ParamSpec {
  expression?: string;
  parameterize?: { name?: string; disable?: boolean };
  dependsOn?: string[];
}

export interface WorkspaceSpec {
  name: string;
  description?: string;
  workspaceMapping?: { name?: string };
  value?: Record<string, unknown>;
}

export interface ResourceInterfaceSpec {
  params?: ParamSpec[];
  attributes?: AttributeSpec[];
  workspaces?: WorkspaceSpec[];
  configurations?: { multipleMergeConnectors?: { enabled?: boolean; description?: string } };
}

export interface ResourceInterface extends KubeObject {
  spec?: ResourceInterfaceSpec;
}

/** Whether the class declares support for the ResourceInterface named `name`. */
export function classSupports(cls: ConnectorClass, name: string): boolean {
  return cls.metadata?.labels?.[`${riLabelPrefix}${name}`] === 'true';
}
