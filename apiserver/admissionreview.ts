// The AdmissionReview wire format (admission.k8s.io/v1), as kube-apiserver sends and reads it: what
// a review carries, a parsed request body checked to be one (400 for anything else), the envelope of
// a response, and the defensive reading of the JSON inside, whose objects arrive as whatever the
// caller sent.

import type { UserInfo } from '../kube/tokenreview.js';
import { badRequest } from '../machinery/status.js';

const admissionApiVersion = 'admission.k8s.io/v1';

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** admission.k8s.io/v1 AdmissionRequest: the fields this webhook reads. */
export interface AdmissionRequest {
  uid: string;
  /** Who is writing, as kube-apiserver authenticated them. */
  userInfo?: UserInfo;
  resource?: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation?: string;
  object?: unknown;
  oldObject?: unknown;
}

/** One reason of a denial, as metav1.StatusCause (kubectl prints `<field>: <message>`). */
export interface FieldProblem {
  reason:
    | 'FieldValueRequired'
    | 'FieldValueNotSupported'
    | 'FieldValueDuplicate'
    | 'FieldValueInvalid'
    | 'FieldValueTypeInvalid'
    | 'FieldValueForbidden';
  field: string;
  message: string;
}

/**
 * The metav1.Status of a denial, like kube-apiserver's own: 422 Invalid for what the class cannot
 * serve, 403 Forbidden for an author who may not read the Secrets; one cause per problem.
 */
export interface DenialStatus {
  status: 'Failure';
  code: 422 | 403;
  reason: 'Invalid' | 'Forbidden';
  message: string;
  details: { name: string; group: string; kind: string; causes: FieldProblem[] };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: DenialStatus;
  warnings?: string[];
  patchType?: 'JSONPatch';
  /** base64 of a JSON Patch (RFC 6902). */
  patch?: string;
}

export interface AdmissionReview {
  apiVersion: typeof admissionApiVersion;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

// ---- reading JSON defensively: objects arrive as whatever the caller sent --------------------------

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function objects(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function quoted(v: unknown): string {
  return v === undefined ? 'null' : JSON.stringify(v);
}

export function quotedList(values: readonly string[]): string {
  return values.map((v) => quoted(v)).join(', ');
}

/** A review carrying `response`. */
export function respond(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: admissionApiVersion, kind: 'AdmissionReview', response };
}

/** Reads userInfo as kube-apiserver sends it (authentication.k8s.io/v1 UserInfo). */
function userInfo(v: unknown): UserInfo | undefined {
  if (!isObject(v) || !str(v.username)) return undefined;
  const extra: Record<string, string[]> = {};
  if (isObject(v.extra)) {
    for (const [k, values] of Object.entries(v.extra))
      extra[k] = (Array.isArray(values) ? values : []).filter((x): x is string => typeof x === 'string');
  }
  return {
    username: str(v.username),
    groups: (Array.isArray(v.groups) ? v.groups : []).filter((g): g is string => typeof g === 'string'),
    extra,
    ...(str(v.uid) ? { uid: str(v.uid) } : {}),
  };
}

/** Checks that a parsed request body is an admission.k8s.io/v1 AdmissionReview with a request. */
export function parseAdmissionReview(body: unknown): AdmissionReview {
  if (!isObject(body)) throw badRequest('expected an AdmissionReview JSON object');
  if (body.apiVersion !== admissionApiVersion || body.kind !== 'AdmissionReview') {
    throw badRequest(
      `expected apiVersion ${admissionApiVersion}, kind AdmissionReview; ` +
        `got ${quoted(body.apiVersion)}, ${quoted(body.kind)} (the webhook declares admissionReviewVersions [v1])`,
    );
  }
  const request = body.request;
  if (!isObject(request) || typeof request.uid !== 'string' || !request.uid)
    throw badRequest('AdmissionReview.request.uid is missing');
  const resource = isObject(request.resource)
    ? {
        group: str(request.resource.group),
        version: str(request.resource.version),
        resource: str(request.resource.resource),
      }
    : undefined;
  const user = userInfo(request.userInfo);
  return {
    apiVersion: admissionApiVersion,
    kind: 'AdmissionReview',
    request: {
      uid: request.uid,
      ...(user ? { userInfo: user } : {}),
      ...(resource ? { resource } : {}),
      subResource: str(request.subResource),
      name: str(request.name),
      namespace: str(request.namespace),
      operation: str(request.operation),
      object: request.object,
      oldObject: request.oldObject,
    },
  };
}
