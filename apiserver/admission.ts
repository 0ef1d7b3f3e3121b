// Admission for Connectors, served to kube-apiserver as two webhooks:
// - validating (manifests/apiserver/validatingwebhook.yaml): the rules that need the Connector's
//   ConnectorClass. Rules that need only the Connector itself (http(s) addresses, unique names, an
//   extension differing from spec.address) are CEL rules in the CRD; the checks are repeated here so
//   a CRD from an older install cannot let them through.
// - mutating (manifests/apiserver/mutatingwebhook.yaml): stamps the state it accepted
//   (registry/admitted.ts), so that the status controller sends a credential only for a state
//   admission accepted.
// Both check the author's authority: whoever creates a Connector, or changes where it sends its
// credential (address, address extensions, class) or which credential (auth.secretRef,
// caCertSecretRef), must be allowed to `get` each Secret it references. Otherwise writing a
// Connector would be reading its Secret: point it at your own listener and let /proxy or the status
// controller's auth probe deliver the credential there. Updates that change none of those fields
// (labels, params, status) are not re-checked.
//
// The class rules are a pure function of the AdmissionReview and the informer's view of the
// classes. The authority check asks kube-apiserver, with a SubjectAccessReview for the request's
// userInfo (the authorizer's short cache absorbs repeated writes); any error denies. A Connector
// whose class is not (yet) known is allowed with a warning, as the status controller reports it
// (ConnectorClassReady=False, ConnectorClassNotFound): classes and Connectors are often applied
// together, and the informer may see the class a moment later.
//
// The endpoint sits before authentication (kube-apiserver presents no credential to webhooks unless
// configured to). Only a connection with a client certificate issued by the cluster's client or
// front-proxy CA may send a body of up to maxAdmissionReviewBytes; anyone else gets a small limit,
// a deadline and a cap on concurrent bodies (apiserver/app.ts), so that unauthenticated callers
// cannot hold the server's memory.

import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { isDeepStrictEqual } from 'node:util';
import { admittedAnnotation, admittedStamp, admittedState } from '../registry/admitted.js';
import type { ConnectorLister } from '../registry/store.js';
import { crdGroup, type ConnectorClass } from '../registry/types.js';
import type { AuthenticationConfig } from './authconfig.js';
import type { UserInfo } from '../kube/tokenreview.js';
import type { Authorizer } from '../kube/authz.js';
import { badRequest } from '../machinery/status.js';

/** Where the server answers validating AdmissionReviews for Connectors (POST, JSON). */
export const admissionPath = '/admission/connectors';

/** Where the server answers mutating AdmissionReviews for Connectors: the admitted-state stamp. */
export const mutationPath = '/admission/connectors/admit';

/**
 * The largest AdmissionReview accepted from kube-apiserver (a client certificate of the cluster's
 * CAs): object and oldObject of up to 3 MiB each, plus the envelope.
 */
export const maxAdmissionReviewBytes = 8 * 1024 * 1024;

/**
 * How much an unauthenticated caller may send, for how long, and how many at once.
 *
 * A Connector's review is a few KiB: a shipped-class Connector with address extension, both Secret
 * references, labels, kubectl's last-applied annotation, managedFields and six status conditions is
 * about 3 KiB of JSON, so an UPDATE (object and oldObject) about 7 KiB. 256 KiB is over thirty times
 * that, and at most 16 such bodies (4 MiB) are held at once. What exceeds it (annotations near
 * kube-apiserver's 256 KiB cap, huge params) needs kube-apiserver to present a client certificate
 * to the webhook (AdmissionConfiguration kubeConfigFile; see the README). kube-apiserver sends the
 * whole body at once; a 429 carries Retry-After, which client-go's REST client (kube-apiserver's
 * webhook client) honours with a retry within the webhook timeout.
 */
export interface AdmissionBodyLimits {
  /** Bytes from a caller without a cluster client certificate. */
  untrustedBytes: number;
  /** Bodies from such callers read or answered at the same time; more get a 429. */
  untrustedConcurrency: number;
  /** The whole body must arrive within this, from anyone. */
  deadlineMs: number;
}

export const defaultAdmissionBodyLimits: AdmissionBodyLimits = {
  untrustedBytes: 256 * 1024,
  untrustedConcurrency: 16,
  deadlineMs: 10_000,
};

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

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objects(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function quoted(v: unknown): string {
  return v === undefined ? 'null' : JSON.stringify(v);
}

function quotedList(values: readonly string[]): string {
  return values.map((v) => quoted(v)).join(', ');
}

/** The value of a ParamSpec's `default`, where null and "" count as no default. */
function hasDefault(spec: JsonObject): boolean {
  return spec.default !== undefined && spec.default !== null && spec.default !== '';
}

/** A usable tool address: http(s), with a host. */
export function isHttpUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}

/** Two addresses that name the same place: equal as written, or once parsed (`https://a` = `https://a/`). */
function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

// ---- the rules ---------------------------------------------------------------------------------

const required = (field: string, detail: string): FieldProblem => ({
  reason: 'FieldValueRequired',
  field,
  message: `Required value: ${detail}`,
});

const notSupported = (field: string, value: unknown, detail: string): FieldProblem => ({
  reason: 'FieldValueNotSupported',
  field,
  message: `Unsupported value: ${quoted(value)}: ${detail}`,
});

const duplicate = (field: string, value: unknown): FieldProblem => ({
  reason: 'FieldValueDuplicate',
  field,
  message: `Duplicate value: ${quoted(value)}`,
});

const invalid = (field: string, value: unknown, detail: string): FieldProblem => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${quoted(value)}: ${detail}`,
});

/** What a ConnectorClass declares, read from its (schema-validated, but still untyped) spec. */
interface ClassDeclarations {
  name: string;
  authTypes: { name: string; optional: boolean; secretType: string }[];
  addressExtensions: JsonObject[];
  params: JsonObject[];
  /** authProbes[].params names, by auth type name. */
  authProbeParams: Map<string, string[]>;
}

function declarations(cls: ConnectorClass): ClassDeclarations {
  const spec: JsonObject = isObject(cls.spec) ? cls.spec : {};
  const auth = isObject(spec.auth) ? spec.auth : {};
  const authProbeParams = new Map<string, string[]>();
  for (const probe of objects(spec.authProbes)) {
    const names = objects(probe.params)
      .map((p) => str(p.name))
      .filter(Boolean);
    authProbeParams.set(str(probe.authName), names);
  }
  return {
    name: cls.metadata?.name ?? '',
    authTypes: objects(auth.types).map((t) => ({
      name: str(t.name),
      optional: t.optional === true,
      secretType: str(t.secretType),
    })),
    addressExtensions: objects(spec.addressExtensions).filter((e) => str(e.name) !== ''),
    params: objects(spec.params).filter((p) => str(p.name) !== ''),
    authProbeParams,
  };
}

/** Named values (addressExtensions, params, auth.params) with their index and duplicates reported. */
function namedEntries(
  list: unknown,
  field: string,
  problems: FieldProblem[],
): { index: number; name: string; value: unknown }[] {
  const seen = new Set<string>();
  const out: { index: number; name: string; value: unknown }[] = [];
  (Array.isArray(list) ? list : []).forEach((item: unknown, index) => {
    const entry = isObject(item) ? item : {};
    const name = str(entry.name);
    if (seen.has(name)) {
      problems.push(duplicate(`${field}[${index}].name`, name));
      return;
    }
    seen.add(name);
    out.push({ index, name, value: entry.value });
  });
  return out;
}

const classRef = (c: ClassDeclarations): string => `ConnectorClass ${quoted(c.name)}`;

function checkAddressExtensions(
  spec: JsonObject,
  cls: ClassDeclarations | undefined,
  problems: FieldProblem[],
): void {
  const field = 'spec.addressExtensions';
  const address = str(spec.address);
  const given = namedEntries(spec.addressExtensions, field, problems);
  for (const { index, value } of given) {
    const at = `${field}[${index}].value`;
    if (!isHttpUrl(value)) problems.push(invalid(at, value, 'must be an http:// or https:// URL'));
    else if (address && sameAddress(value as string, address))
      problems.push(
        invalid(at, value, 'must differ from spec.address; an address extension names another address'),
      );
  }
  if (!cls) return;
  const declared = cls.addressExtensions.map((e) => str(e.name));
  for (const { index, name } of given) {
    if (declared.includes(name)) continue;
    problems.push(
      notSupported(
        `${field}[${index}].name`,
        name,
        declared.length
          ? `not an address extension of ${classRef(cls)}; supported values: ${quotedList(declared)}`
          : `${classRef(cls)} declares no address extensions; remove it`,
      ),
    );
  }
  for (const ext of cls.addressExtensions) {
    const name = str(ext.name);
    if (hasDefault(ext) || given.some((g) => g.name === name)) continue;
    problems.push(
      required(
        field,
        `${classRef(cls)} requires the address extension ${quoted(name)} (it has no default); ` +
          `add {name: ${name}, value: <http(s) URL>}`,
      ),
    );
  }
}

/** The JSON type name of a value as a ParamSpec `type` says it: string, array or object. */
function paramType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  return isObject(v) ? 'object' : typeof v;
}

function checkParams(spec: JsonObject, cls: ClassDeclarations | undefined, problems: FieldProblem[]): void {
  const field = 'spec.params';
  const given = namedEntries(spec.params, field, problems);
  if (!cls) return;
  const declared = cls.params.map((p) => str(p.name));
  for (const { index, name, value } of given) {
    const decl = cls.params.find((p) => str(p.name) === name);
    if (!decl) {
      problems.push(
        notSupported(
          `${field}[${index}].name`,
          name,
          declared.length
            ? `not a param of ${classRef(cls)}; supported values: ${quotedList(declared)}`
            : `${classRef(cls)} declares no params; remove it`,
        ),
      );
      continue;
    }
    const type = str(decl.type) || 'string';
    const at = `${field}[${index}].value`;
    if (paramType(value) !== type) {
      problems.push({
        reason: 'FieldValueTypeInvalid',
        field: at,
        message: `Invalid value: ${quoted(value)}: ${classRef(cls)} declares the param ${quoted(name)} of type ${type}`,
      });
      continue;
    }
    const allowed = Array.isArray(decl.enum)
      ? decl.enum.filter((e): e is string => typeof e === 'string')
      : [];
    if (type === 'string' && allowed.length && !allowed.includes(value as string))
      problems.push(notSupported(at, value, `supported values: ${quotedList(allowed)}`));
  }
}

function checkAuth(
  spec: JsonObject,
  namespace: string,
  cls: ClassDeclarations | undefined,
  problems: FieldProblem[],
  warnings: string[],
): void {
  const auth = isObject(spec.auth) ? spec.auth : {};
  const secretRef = isObject(auth.secretRef) ? auth.secretRef : undefined;
  const secretNamespace = str(secretRef?.namespace);
  if (secretNamespace && namespace && secretNamespace !== namespace) {
    problems.push(
      invalid(
        'spec.auth.secretRef.namespace',
        secretNamespace,
        `the Secret must be in the Connector's namespace; omit namespace or set it to ${quoted(namespace)}`,
      ),
    );
  }
  const given = namedEntries(auth.params, 'spec.auth.params', problems);
  if (!cls) return;

  const names = cls.authTypes.map((t) => t.name);
  const name = str(auth.name);
  if (!name) {
    // No auth at all is anonymous use, which works when the class has an optional auth type; a
    // Secret or params without an auth type, or no auth for a class that demands credentials, never do.
    const anonymous = cls.authTypes.some((t) => t.optional);
    if (names.length && (!anonymous || str(secretRef?.name) || given.length))
      problems.push(
        required('spec.auth.name', `choose one of the auth types of ${classRef(cls)}: ${quotedList(names)}`),
      );
    return;
  }
  const type = cls.authTypes.find((t) => t.name === name);
  if (!type) {
    problems.push(
      notSupported(
        'spec.auth.name',
        name,
        names.length
          ? `not an auth type of ${classRef(cls)}; supported values: ${quotedList(names)}`
          : `${classRef(cls)} declares no auth types; remove spec.auth`,
      ),
    );
    return;
  }

  if (!str(secretRef?.name) && !type.optional) {
    const kind = type.secretType ? ` of type ${quoted(type.secretType)}` : '';
    problems.push(
      required(
        secretRef ? 'spec.auth.secretRef.name' : 'spec.auth.secretRef',
        `auth type ${quoted(name)} of ${classRef(cls)} is not optional; ` +
          `name the Secret${kind} that holds its credentials, in namespace ${quoted(namespace)}`,
      ),
    );
  }

  const probeParams = cls.authProbeParams.get(name) ?? [];
  const missing = probeParams.filter((p) => !given.some((g) => g.name === p));
  if (missing.length) {
    problems.push(
      required(
        'spec.auth.params',
        `the auth probe of auth type ${quoted(name)} of ${classRef(cls)} needs ${quotedList(missing)}; ` +
          `add ${missing.map((m) => `{name: ${m}, value: …}`).join(', ')}`,
      ),
    );
  }
  for (const { index, name: param } of given) {
    if (!probeParams.includes(param))
      warnings.push(
        `spec.auth.params[${index}]: ${quoted(param)} is not used by the auth probe of auth type ` +
          `${quoted(name)} of ${classRef(cls)}` +
          (probeParams.length ? ` (it reads ${quotedList(probeParams)})` : ''),
      );
  }
}

export interface ConnectorVerdict {
  problems: FieldProblem[];
  warnings: string[];
}

/**
 * Checks one Connector against its class. `cls` undefined means the class was not found: only the
 * rules that need no class apply, and a warning says so.
 */
export function validateConnector(
  connector: unknown,
  namespace: string,
  cls: ConnectorClass | undefined,
): ConnectorVerdict {
  const problems: FieldProblem[] = [];
  const warnings: string[] = [];
  const spec = isObject(connector) && isObject(connector.spec) ? connector.spec : {};
  const decl = cls ? declarations(cls) : undefined;
  checkAddressExtensions(spec, decl, problems);
  checkParams(spec, decl, problems);
  checkAuth(spec, namespace, decl, problems, warnings);
  if (!cls) {
    const className = str(spec.connectorClassName);
    warnings.push(
      `ConnectorClass ${quoted(className)} not found: spec.auth, spec.params and spec.addressExtensions ` +
        `were not checked against it; the Connector reports ConnectorClassReady=False (ConnectorClassNotFound) ` +
        `until the class is installed`,
    );
  }
  return { problems, warnings };
}

// ---- the author's authority over the Secrets ---------------------------------------------------

/** A Secret a Connector references, with the field that references it. */
export interface SecretReference {
  field: string;
  namespace: string;
  name: string;
}

/** The Secrets a Connector sends or trusts: spec.auth.secretRef and spec.caCertSecretRef. */
export function secretReferences(connector: unknown, namespace: string): SecretReference[] {
  const spec = isObject(connector) && isObject(connector.spec) ? connector.spec : {};
  const auth = isObject(spec.auth) ? spec.auth : {};
  const out: SecretReference[] = [];
  if (isObject(auth.secretRef) && str(auth.secretRef.name)) {
    out.push({
      field: 'spec.auth.secretRef',
      namespace: str(auth.secretRef.namespace) || namespace,
      name: str(auth.secretRef.name),
    });
  }
  if (isObject(spec.caCertSecretRef) && str(spec.caCertSecretRef.name)) {
    out.push({ field: 'spec.caCertSecretRef', namespace, name: str(spec.caCertSecretRef.name) });
  }
  return out;
}

/** The request attributes of `get` on one Secret, as kube-apiserver would authorize it. */
function secretGet(ref: SecretReference): Parameters<Authorizer['authorize']>[1] {
  return {
    path: `/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`,
    query: '',
    isResourceRequest: true,
    verb: 'get',
    pathVerb: '',
    apiGroup: '',
    apiVersion: 'v1',
    namespace: ref.namespace,
    resource: 'secrets',
    name: ref.name,
    subresource: '',
    rest: [],
  };
}

/**
 * One problem per referenced Secret the user may not `get`, in kube-apiserver's words. The message
 * never carries the authorizer's error text: a SubjectAccessReview that fails is a "no".
 */
async function authorityProblems(
  user: UserInfo | undefined,
  connector: unknown,
  namespace: string,
  authorizer: Authorizer,
): Promise<FieldProblem[]> {
  const refs = secretReferences(connector, namespace);
  if (!refs.length) return [];
  if (!user?.username) {
    return refs.map((ref) => ({
      reason: 'FieldValueForbidden',
      field: ref.field,
      message: `Forbidden: the AdmissionReview names no user, so nobody may reference Secret ${quoted(ref.name)}`,
    }));
  }
  const allowed = await Promise.all(
    refs.map(async (ref) => {
      try {
        return (await authorizer.authorize(user, secretGet(ref))).allowed;
      } catch {
        return false;
      }
    }),
  );
  return refs
    .filter((_, i) => !allowed[i])
    .map((ref) => ({
      reason: 'FieldValueForbidden',
      field: ref.field,
      message:
        `Forbidden: User ${quoted(user.username)} cannot get resource "secrets" in API group "" in the ` +
        `namespace ${quoted(ref.namespace)}, so may not reference Secret ${quoted(ref.name)}`,
    }));
}

// ---- AdmissionReview in, AdmissionReview out -------------------------------------------------------

function denial(name: string, problems: FieldProblem[]): DenialStatus {
  const errors = problems.map((p) => `${p.field}: ${p.message}`);
  const list = errors.length === 1 ? (errors[0] ?? '') : `[${errors.join(', ')}]`;
  return {
    status: 'Failure',
    code: 422,
    reason: 'Invalid',
    message: `Connector.${crdGroup} ${quoted(name)} is invalid: ${list}`,
    details: { name, group: crdGroup, kind: 'Connector', causes: problems },
  };
}

function forbiddenDenial(name: string, problems: FieldProblem[]): DenialStatus {
  const errors = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return {
    status: 'Failure',
    code: 403,
    reason: 'Forbidden',
    message:
      `connectors.${crdGroup} ${quoted(name)} is forbidden: ${errors}. Whoever creates a Connector or ` +
      `changes its address, address extensions, class or Secret references must be allowed to get each ` +
      `Secret it references`,
    details: { name, group: crdGroup, kind: 'connectors', causes: problems },
  };
}

function respond(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: admissionApiVersion, kind: 'AdmissionReview', response };
}

/** What both webhooks read from a review of a Connector CREATE or UPDATE. */
interface ConnectorWrite {
  request: AdmissionRequest;
  namespace: string;
  name: string;
  /**
   * Whether the author's authority is checked: on CREATE, and on an UPDATE that changes where the
   * credential goes or which credential it is (registry/admitted.ts names those fields).
   */
  changesAuthority: boolean;
  state: string;
}

/**
 * The write a review is about, or the response for a review that is none of the webhook's business
 * (another resource, a subresource, DELETE and CONNECT).
 */
function connectorWrite(
  review: AdmissionReview,
  webhook: string,
): { write: ConnectorWrite } | { answer: AdmissionReview } {
  const request = review.request;
  if (!request) throw badRequest('AdmissionReview.request is missing');
  const res = request.resource;
  if (res?.group !== crdGroup || res.resource !== 'connectors' || request.subResource) {
    const what = res ? `${res.resource}${res.group ? `.${res.group}` : ''}` : 'an unknown resource';
    const sub = request.subResource ? `/${request.subResource}` : '';
    return {
      answer: respond({
        uid: request.uid,
        allowed: true,
        warnings: [`${webhook} checks connectors.${crdGroup} only; ${what}${sub} was not checked`],
      }),
    };
  }
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE')
    return { answer: respond({ uid: request.uid, allowed: true }) };
  const namespace = request.namespace ?? '';
  const meta = isObject(request.object) && isObject(request.object.metadata) ? request.object.metadata : {};
  const state = admittedState(request.object, namespace);
  return {
    write: {
      request,
      namespace,
      name: request.name || str(meta.name) || str(meta.generateName),
      changesAuthority:
        request.operation === 'CREATE' || admittedState(request.oldObject, namespace) !== state,
      state,
    },
  };
}

/** The verdict of the validating webhook on one AdmissionReview; anything but a Connector write is allowed. */
export async function reviewConnector(
  review: AdmissionReview,
  lister: ConnectorLister,
  authorizer: Authorizer,
): Promise<AdmissionReview> {
  const triage = connectorWrite(review, 'validate.connectors.alauda.io');
  if ('answer' in triage) return triage.answer;
  const write = triage.write;
  const { request, namespace, name } = write;
  const uid = request.uid;
  const object = request.object;

  if (write.changesAuthority) {
    const forbidden = await authorityProblems(request.userInfo, object, namespace, authorizer);
    if (forbidden.length) return respond({ uid, allowed: false, status: forbiddenDenial(name, forbidden) });
  }

  const spec = isObject(object) && isObject(object.spec) ? object.spec : {};
  const className = str(spec.connectorClassName);
  const cls = className ? lister.connectorClass(className) : undefined;
  const { problems, warnings } = validateConnector(object, namespace, cls);
  const allow = (w: string[]): AdmissionReview =>
    respond({ uid, allowed: true, ...(w.length ? { warnings: w } : {}) });
  if (!problems.length) return allow(warnings);

  // An UPDATE that leaves spec alone (labels, annotations, finalizers) is never refused, so a
  // Connector that a class change made invalid can still be relabelled and deleted.
  const old = request.oldObject;
  if (
    request.operation === 'UPDATE' &&
    isObject(old) &&
    isObject(object) &&
    isDeepStrictEqual(old.spec, object.spec)
  ) {
    return allow([
      ...warnings,
      ...problems.map(
        (p) => `spec unchanged, so allowed, but invalid for its class: ${p.field}: ${p.message}`,
      ),
    ]);
  }
  return respond({
    uid,
    allowed: false,
    status: denial(name, problems),
    ...(warnings.length ? { warnings } : {}),
  });
}

/** JSON Patch path segment escaping (RFC 6901). */
const pointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON Patch that makes the object's stamp `stamp` ('' removes it), or [] when it already is. */
function stampPatch(object: unknown, stamp: string): object[] {
  if (admittedStamp(object) === stamp) return [];
  const meta = isObject(object) && isObject(object.metadata) ? object.metadata : {};
  const path = `/metadata/annotations/${pointer(admittedAnnotation)}`;
  if (!stamp) return [{ op: 'remove', path }];
  return isObject(meta.annotations)
    ? [{ op: 'add', path, value: stamp }]
    : [{ op: 'add', path: '/metadata/annotations', value: { [admittedAnnotation]: stamp } }];
}

/**
 * The verdict of the mutating webhook: refuses an author who may not read the Secrets, as the
 * validating webhook does, and stamps the state it accepted. Whatever stamp the caller sent is
 * overwritten, so only this webhook can stamp.
 */
export async function admitConnector(
  review: AdmissionReview,
  authorizer: Authorizer,
): Promise<AdmissionReview> {
  const triage = connectorWrite(review, 'admit.connectors.alauda.io');
  if ('answer' in triage) return triage.answer;
  const write = triage.write;
  const { request, namespace, name, state } = write;
  const object = request.object;
  const answer = (stamp: string, warnings: string[] = []): AdmissionReview => {
    const patch = stampPatch(object, stamp);
    return respond({
      uid: request.uid,
      allowed: true,
      ...(patch.length
        ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
        : {}),
      ...(warnings.length ? { warnings } : {}),
    });
  };

  if (write.changesAuthority) {
    const forbidden = await authorityProblems(request.userInfo, object, namespace, authorizer);
    if (forbidden.length)
      return respond({ uid: request.uid, allowed: false, status: forbiddenDenial(name, forbidden) });
    return answer(state);
  }
  // An UPDATE that leaves the credential's destination alone keeps the stamp it had.
  if (admittedStamp(request.oldObject) === state) return answer(state);
  // Never admitted in this state (written before the webhook was registered, or while it was not):
  // such an update is not refused, but it admits the state only if its author may read the Secrets.
  const forbidden = await authorityProblems(request.userInfo, object, namespace, authorizer);
  if (!forbidden.length) return answer(state);
  return answer('', [
    `not admitted: ${forbidden.map((p) => `${p.field}: ${p.message}`).join('; ')}; the status controller ` +
      `does not probe this Connector until a user who may get its Secrets updates it`,
  ]);
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

/** An endpoint's handler: a parsed body in, the AdmissionReview response out. */
export type AdmissionHandler = (body: unknown) => Promise<object>;

/**
 * The handlers of both webhooks, by path. They throw StatusError (400) for a body that is not an
 * AdmissionReview.
 */
export function admissionHandlers(
  lister: ConnectorLister,
  authorizer: Authorizer,
): Map<string, AdmissionHandler> {
  return new Map<string, AdmissionHandler>([
    [admissionPath, (body) => reviewConnector(parseAdmissionReview(body), lister, authorizer)],
    [mutationPath, (body) => admitConnector(parseAdmissionReview(body), authorizer)],
  ]);
}

/**
 * Whether the connection presents a client certificate that the cluster's client CA or front-proxy
 * CA issued: the only callers that may send a full-size AdmissionReview. The TLS layer verified the
 * chain against the CAs the server trusts; this checks that the chain ends at one of the cluster's
 * CAs as published now (not Node's default roots, which verify client certificates before the
 * cluster's CAs are known).
 */
export function clusterClientCertificate(socket: Socket, cfg: AuthenticationConfig | null): boolean {
  const tls = socket as Partial<TLSSocket>;
  if (!cfg || tls.authorized !== true || typeof tls.getPeerCertificate !== 'function') return false;
  const trusted = new Set([...cfg.clientCAs, ...(cfg.requestHeader?.cas ?? [])].map((c) => c.fingerprint256));
  let cert: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
  for (let depth = 0; depth < 10; depth++) {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Node's types promise a certificate, but it is empty without one and undefined past an unknown issuer
    if (!cert?.fingerprint256) return false;
    if (trusted.has(cert.fingerprint256)) return true;
    if (cert.issuerCertificate === cert) return false; // a root that is not one of ours
    cert = cert.issuerCertificate;
  }
  return false;
}
