// Validating admission for Connectors: the rules that need the Connector's ConnectorClass, served to
// kube-apiserver as a webhook (manifests/apiserver/validatingwebhook.yaml). Rules that need only the
// Connector itself (http(s) addresses, unique names, an extension differing from spec.address) are
// CEL rules in the CRD; the checks are repeated here so a CRD from an older install cannot let them
// through.
//
// A verdict is a pure function of the AdmissionReview and the informer's view of the classes: no
// side effects and no call to kube-apiserver, so it answers from memory and can be called without
// credentials. A Connector whose class is not (yet) known is allowed with a warning, as the
// status controller reports it (ConnectorClassReady=False, ConnectorClassNotFound): classes and
// Connectors are often applied together, and the informer may see the class a moment later.

import type { IncomingMessage } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { ConnectorLister } from '../registry/store.js';
import { crdGroup, type ConnectorClass } from '../registry/types.js';
import { badRequest, StatusError } from './machinery/status.js';

/** Where the server answers AdmissionReviews for Connectors (POST, JSON). */
export const admissionPath = '/admission/connectors';

/** The largest AdmissionReview accepted: object and oldObject of up to 3 MiB each, plus the envelope. */
export const maxAdmissionReviewBytes = 8 * 1024 * 1024;

const admissionApiVersion = 'admission.k8s.io/v1';

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** admission.k8s.io/v1 AdmissionRequest: the fields this webhook reads. */
export interface AdmissionRequest {
  uid: string;
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
    | 'FieldValueTypeInvalid';
  field: string;
  message: string;
}

/** The metav1.Status of a denial: 422 Invalid with one cause per problem, like kube-apiserver's own. */
export interface DenialStatus {
  status: 'Failure';
  code: 422;
  reason: 'Invalid';
  message: string;
  details: { name: string; group: string; kind: string; causes: FieldProblem[] };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: DenialStatus;
  warnings?: string[];
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

function respond(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: admissionApiVersion, kind: 'AdmissionReview', response };
}

/** The verdict on one AdmissionReview of a Connector CREATE or UPDATE; anything else is allowed. */
export function reviewConnector(review: AdmissionReview, lister: ConnectorLister): AdmissionReview {
  const request = review.request;
  if (!request) throw badRequest('AdmissionReview.request is missing');
  const uid = request.uid;
  const allow = (warnings: string[] = []): AdmissionReview =>
    respond({ uid, allowed: true, ...(warnings.length ? { warnings } : {}) });

  const res = request.resource;
  if (res?.group !== crdGroup || res.resource !== 'connectors' || request.subResource) {
    const what = res ? `${res.resource}${res.group ? `.${res.group}` : ''}` : 'an unknown resource';
    const sub = request.subResource ? `/${request.subResource}` : '';
    return allow([
      `validate.connectors.alauda.io checks connectors.${crdGroup} only; ${what}${sub} was not checked`,
    ]);
  }
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allow();

  const object = request.object;
  const spec = isObject(object) && isObject(object.spec) ? object.spec : {};
  const className = str(spec.connectorClassName);
  const cls = className ? lister.connectorClass(className) : undefined;
  const namespace = request.namespace ?? '';
  const { problems, warnings } = validateConnector(object, namespace, cls);
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
  const meta = isObject(object) && isObject(object.metadata) ? object.metadata : {};
  const name = request.name || str(meta.name) || str(meta.generateName);
  return respond({
    uid,
    allowed: false,
    status: denial(name, problems),
    ...(warnings.length ? { warnings } : {}),
  });
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
  return {
    apiVersion: admissionApiVersion,
    kind: 'AdmissionReview',
    request: {
      uid: request.uid,
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

/**
 * The webhook endpoint's handler: a parsed AdmissionReview in, the AdmissionReview response out.
 * Throws StatusError (400) for a body that is not an AdmissionReview.
 */
export function admissionHandler(lister: ConnectorLister): (body: unknown) => object {
  return (body) => reviewConnector(parseAdmissionReview(body), lister);
}

/** Reads a JSON request body of at most `limit` bytes (413 beyond it, 400 if it is not JSON). */
export async function readJsonBody(req: IncomingMessage, limit = maxAdmissionReviewBytes): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw badRequest('the request body is not valid JSON');
  }
}

function tooLarge(limit: number): StatusError {
  return new StatusError(413, 'RequestEntityTooLarge', `the request body exceeds ${limit} bytes`);
}
