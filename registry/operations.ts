// The operation matcher: a ConnectorClass's `spec.api.openapi` compiled into what the server needs
// per request: which declared operation a method + path is, where it goes (`x-provider-type`,
// `x-openapi-address`), and a validator for its query parameters. Compiled once per class object;
// informers replace the object on every update, so a new resourceVersion compiles anew.

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { OpenAPIV3 } from 'openapi-types';
import { verbForMethod } from '../machinery/verbs.js';
import type { ConnectorClass } from './types.js';

export type ProviderType = 'api' | 'proxy';

export interface Operation {
  /** The declared path template, e.g. `/projects/{id}/repository/branches`. */
  template: string;
  method: string;
  operationId: string;
  provider: ProviderType;
  /** `x-openapi-address`: '' (the Connector's address), an address-extension name, or a URL. */
  address: string;
  /** Null when the query is valid, else a message naming the parameter. */
  checkQuery(query: string): string | null;
}

export type MatchResult =
  | { kind: 'operation'; operation: Operation }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-declared' };

export interface ClassApi {
  /** First path segments declared (`/branches` → 'branches', `/git/gitrefs` → 'git'), with their verbs. */
  subresources: ReadonlyMap<string, ReadonlySet<string>>;
  /** Matches raw path segments (still percent-encoded), e.g. ['branches'] or ['projects', '12', 'branches']. */
  match(method: string, segments: readonly string[]): MatchResult;
}

// The OpenAPI operations that can be served: those whose method has a verb in the one method→verb
// table. A declared `options` or `trace` operation is never served (any such method is a 405).
const httpMethods = ['get', 'put', 'post', 'delete', 'patch', 'head'] as const;

interface CompiledPath {
  template: string;
  /** Literal segments, or null for a `{param}` segment. */
  parts: (string | null)[];
  operations: Map<string, Operation>;
}

const ajv = new Ajv({ coerceTypes: 'array', allErrors: false, strict: false, useDefaults: false });

function decodeOrRaw(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

type ParamObject = OpenAPIV3.ParameterObject;

function resolveParameter(
  doc: OpenAPIV3.Document,
  p: OpenAPIV3.ReferenceObject | ParamObject,
): ParamObject | null {
  if (!('$ref' in p)) return p;
  const prefix = '#/components/parameters/';
  if (!p.$ref.startsWith(prefix)) return null;
  const target = doc.components?.parameters?.[p.$ref.slice(prefix.length)];
  return target && !('$ref' in target) ? target : null;
}

function explain(error: ErrorObject | undefined): string {
  if (!error) return 'the query is invalid';
  if (error.keyword === 'required') {
    return `query parameter "${(error.params as { missingProperty: string }).missingProperty}" is required`;
  }
  const name = error.instancePath.split('/')[1] ?? '';
  return `query parameter "${decodeURIComponent(name)}" ${error.message ?? 'is invalid'}`;
}

function queryValidator(parameters: ParamObject[]): (query: string) => string | null {
  const inQuery = parameters.filter((p) => p.in === 'query');
  if (inQuery.length === 0) return () => null;
  const properties: Record<string, object> = {};
  const arrays = new Set<string>();
  for (const p of inQuery) {
    const schema = p.schema && !('$ref' in p.schema) ? (p.schema as object) : {};
    properties[p.name] = schema;
    if ((schema as { type?: string }).type === 'array') arrays.add(p.name);
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile({
      type: 'object',
      properties,
      required: inQuery.filter((p) => p.required).map((p) => p.name),
    });
  } catch (err) {
    const message = `the class declares an invalid schema for its query parameters (${(err as Error).message})`;
    return () => message;
  }
  return (query) => {
    const values: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(query)) {
      if (!(k in properties)) continue;
      if (arrays.has(k)) ((values[k] ??= []) as string[]).push(v);
      else values[k] ??= v;
    }
    return validate(values) ? null : explain(validate.errors?.[0]);
  };
}

function compile(doc: OpenAPIV3.Document): ClassApi {
  const paths: CompiledPath[] = [];
  const subresources = new Map<string, Set<string>>();
  for (const [template, item] of Object.entries(doc.paths)) {
    if (!item || !template.startsWith('/')) continue;
    const parts = template
      .slice(1)
      .split('/')
      .map((s) => (/^\{[^}]+\}$/.test(s) ? null : s));
    const first = parts[0];
    // `proxy` is the server's own subresource; a class cannot take it over.
    if (typeof first !== 'string' || first === '' || first === 'proxy') continue;
    const shared = item.parameters ?? [];
    const operations = new Map<string, Operation>();
    for (const method of httpMethods) {
      const op = item[method] as (OpenAPIV3.OperationObject & Record<string, unknown>) | undefined;
      if (!op) continue;
      const params = [...shared, ...(op.parameters ?? [])]
        .map((p) => resolveParameter(doc, p))
        .filter((p): p is ParamObject => p !== null);
      const provider: ProviderType = op['x-provider-type'] === 'api' ? 'api' : 'proxy';
      const address = typeof op['x-openapi-address'] === 'string' ? op['x-openapi-address'] : '';
      operations.set(method.toUpperCase(), {
        template,
        method: method.toUpperCase(),
        operationId: op.operationId ?? '',
        provider,
        address,
        checkQuery: queryValidator(params),
      });
      const verb = verbForMethod(method.toUpperCase());
      if (verb) {
        let verbs = subresources.get(first);
        if (!verbs) subresources.set(first, (verbs = new Set()));
        verbs.add(verb);
      }
    }
    if (operations.size > 0) paths.push({ template, parts, operations });
  }
  // Literal segments win over parameters, left to right: `/projects/starred` before `/projects/{id}`.
  paths.sort((a, b) => {
    for (let i = 0; i < Math.min(a.parts.length, b.parts.length); i++) {
      const la = a.parts[i] !== null;
      const lb = b.parts[i] !== null;
      if (la !== lb) return la ? -1 : 1;
    }
    return 0;
  });

  return {
    subresources,
    match(method, segments) {
      const decoded = segments.map(decodeOrRaw);
      // A trailing slash does not make another operation.
      if (decoded.length > 1 && decoded[decoded.length - 1] === '') decoded.pop();
      // HEAD is served by the GET operation (both are `get`), as upstream does.
      const wanted = method === 'HEAD' ? 'GET' : method;
      let allowed: string[] | null = null;
      for (const p of paths) {
        if (p.parts.length !== decoded.length) continue;
        if (!p.parts.every((lit, i) => lit === null || lit === decoded[i])) continue;
        const operation = p.operations.get(wanted);
        if (operation) return { kind: 'operation', operation };
        allowed ??= [...p.operations.keys()];
      }
      if (allowed) return { kind: 'method-not-allowed', allowed };
      return { kind: 'not-declared' };
    },
  };
}

const compiled = new WeakMap<ConnectorClass, ClassApi>();
const empty: ClassApi = { subresources: new Map(), match: () => ({ kind: 'not-declared' }) };

/** The compiled API of a class (an empty one when it declares none or its document is unusable). */
export function classApi(cls: ConnectorClass): ClassApi {
  let api = compiled.get(cls);
  if (!api) {
    const doc = cls.spec?.api?.openapi as OpenAPIV3.Document | undefined;
    api = doc && typeof doc.paths === 'object' ? compile(doc) : empty;
    compiled.set(cls, api);
  }
  return api;
}
