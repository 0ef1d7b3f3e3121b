// The shapes every Kubernetes object shares (apiVersion, kind, metadata), the built-in kinds our
// processes read or write, and where each lives (resourcePath), as the API serves them:
// every field optional, because a client reads what a server of any version sends.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** Where a resource's collection, or one object of it, is: the core group ('') or a named group. */
export interface ResourceRef {
  group?: string;
  version: string;
  /** The plural: secrets, leases, connectors. */
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** The REST path of `ref`, each name encoded. */
export function resourcePath(ref: ResourceRef): string {
  const seg = encodeURIComponent;
  return [
    ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`,
    ref.namespace === undefined ? '' : `/namespaces/${seg(ref.namespace)}`,
    `/${ref.resource}`,
    ref.name === undefined ? '' : `/${seg(ref.name)}`,
    ref.subresource === undefined ? '' : `/${ref.subresource}`,
  ].join('');
}

// --- the few built-in kinds the processes read or write, with the fields they use ---------------

export interface Secret extends KubeObject {
  type?: string;
  /** Base64 values, as the API serves them. */
  data?: Record<string, string>;
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    externalName?: string;
    ports?: { name?: string; port: number; protocol?: string }[];
  };
}

/** coordination.k8s.io/v1; times are MicroTime (RFC 3339 with microseconds). */
export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
}

/** core/v1 Event, as `kubectl describe` shows them. */
export interface Event extends KubeObject {
  involvedObject: ObjectReference;
  type?: 'Normal' | 'Warning';
  reason?: string;
  message?: string;
  source?: { component?: string };
  reportingComponent?: string;
  reportingInstance?: string;
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
}

/** authentication.k8s.io/v1 TokenRequest, the serviceaccounts/token subresource. */
export interface TokenRequest extends KubeObject {
  spec: {
    audiences: string[];
    expirationSeconds?: number;
    boundObjectRef?: { apiVersion: string; kind: string; name: string; uid?: string };
  };
  status?: { token?: string; expirationTimestamp?: string };
}
