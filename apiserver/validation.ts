// The class rules of the validating webhook (admission.ts): whether a Connector can work with its
// ConnectorClass (address extensions, params, auth type, Secret and auth probe params), as a pure
// function of the Connector and the class. Each problem is a metav1.StatusCause naming the field,
// what is wrong and what would be right; what would work but looks unintended is a warning. Without
// the class only the rules that need none apply (they repeat the CRD's CEL rules, so that a CRD from
// an older install cannot let them through).

import type { ConnectorClass } from '../registry/types.js';
import {
  isObject,
  objects,
  quoted,
  quotedList,
  str,
  type FieldProblem,
  type JsonObject,
} from './admissionreview.js';

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

/**
 * The annotation of a class's `spec.address` naming the URL schemes its Connectors' addresses use,
 * comma-separated (e.g. `mysql`); without it, http and https. The CRD's rule admits only the schemes
 * of the shipped classes (http, https, mysql); this one says which of them a class takes.
 */
export const addressSchemesAnnotation = 'connectors.cpaas.io/address-schemes';

const httpSchemes = ['http', 'https'];

/** Two addresses that name the same place: equal as written, or once parsed (`https://a` = `https://a/`). */
function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
}

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
  /** The URL schemes of the class's addresses, lower-case. */
  addressSchemes: string[];
  addressExtensions: JsonObject[];
  params: JsonObject[];
  /** authProbes[].params names, by auth type name. */
  authProbeParams: Map<string, string[]>;
}

function declarations(cls: ConnectorClass): ClassDeclarations {
  const spec: JsonObject = isObject(cls.spec) ? cls.spec : {};
  const auth = isObject(spec.auth) ? spec.auth : {};
  const address = isObject(spec.address) ? spec.address : {};
  const annotations = isObject(address.annotations) ? address.annotations : {};
  const schemes = str(annotations[addressSchemesAnnotation])
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
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
    addressSchemes: schemes.length ? schemes : httpSchemes,
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

/**
 * spec.address against the schemes its class takes. An http(s) address of a class without the
 * annotation is left to the CRD's rule, as before; an address of another scheme must also name a
 * host and carry no user information (the credential belongs in the Secret).
 */
function checkAddress(spec: JsonObject, cls: ClassDeclarations | undefined, problems: FieldProblem[]): void {
  const address = spec.address;
  if (!cls || typeof address !== 'string' || address === '') return;
  // The value is not repeated when it holds user information: that may be a credential.
  const userinfo = /^[^/?#]*:\/\/[^/?#]*@/.test(address);
  const problem = (detail: string): FieldProblem =>
    userinfo
      ? { reason: 'FieldValueInvalid', field: 'spec.address', message: `Invalid value: ${detail}` }
      : invalid('spec.address', address, detail);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(address)?.[1]?.toLowerCase() ?? '';
  const schemes = cls.addressSchemes;
  if (!schemes.includes(scheme)) {
    problems.push(problem(`${classRef(cls)} takes ${schemes.map((s) => `${s}://`).join(' or ')} addresses`));
    return;
  }
  if (httpSchemes.includes(scheme)) return;
  if (userinfo) {
    problems.push(problem('must not contain user information; put the credential in the Secret'));
    return;
  }
  let url: URL | undefined;
  try {
    url = new URL(address);
  } catch {
    url = undefined;
  }
  if (!url?.hostname) problems.push(problem(`must be a ${scheme}://host[:port] URL`));
}

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
  checkAddress(spec, decl, problems);
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
