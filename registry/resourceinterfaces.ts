// connectors/{name}/resourceinterfaces[/{ri}]: the ResourceInterfaces a Connector supports, and one
// of them resolved for the Connector with the caller's params. Upstream resolves ResourceInterfaces
// only in its web UI; here every client (kubectl, the kubectl-connectors plugin, SDKs, a pipeline
// defined in Git) gets the same answer from the server.
//
// Shape: a GET on a Connector subresource, params in the query (`?repository=org/app.git&revision=main`,
// an array param by repeating its key, an object param as a JSON object). Resolving changes nothing,
// so it is a read: RBAC verb `get`, cacheable, and `kubectl get --raw` does it. The answer is a
// ResolvedResourceInterface whose attributes carry the pipeline param names they map to and whose
// workspaces are ready-to-paste Tekton WorkspaceBindings.
//
// Expressions (`{…}` strings in attributes[].expression and anywhere in workspaces[].value) run in
// the bounded sandbox of expression/ over `params` and `connector`; a failing, slow or greedy one
// is a 422 naming the field, and never affects anything else the server does.

import type { UserInfo } from '../kube/tokenreview.js';
import type { Authorizer } from '../kube/authz.js';
import type { KubeClient } from '../kube/client.js';
import { Informer } from '../kube/informer.js';
import type { Logger } from '../machinery/log.js';
import {
  badRequest,
  forbidden,
  methodNotAllowed,
  notFound,
  pathNotFound,
  tooManyRequests,
  unprocessable,
  type StatusDetails,
} from '../machinery/status.js';
import { connectorAccess } from './access.js';
import {
  classSupports,
  riCategoryLabel,
  type AttributeSpec,
  type ParamSpec,
  type ResourceInterface,
} from './resourceinterface.js';
import type { ConnectorLister } from './store.js';
import type { ServeResult, Subresource, SubresourceRequest } from './subresource.js';
import {
  crdGroup,
  crdVersion,
  isConnectorRef,
  dnsSubdomain,
  subresourceGroup,
  subresourceVersion,
  type Connector,
} from './types.js';

export type EvaluationOutcome =
  | { ok: true; value: unknown }
  | { ok: false; error: string; kind: 'syntax' | 'runtime' | 'timeout' | 'memory' | 'result' | 'busy' };

/** The sandbox (expression/): each source is the text inside `{…}`, run over `context`. */
export interface ExpressionEvaluator {
  evaluate(
    sources: readonly string[],
    context: Readonly<Record<string, unknown>>,
  ): Promise<EvaluationOutcome[]>;
}

export interface ResourceInterfaceLister {
  resourceInterface(name: string): ResourceInterface | undefined;
  resourceInterfaces(): readonly ResourceInterface[];
}

export interface ResourceInterfaceDeps {
  lister: ConnectorLister;
  resourceInterfaces: ResourceInterfaceLister;
  evaluator: ExpressionEvaluator;
  /** Also `get` on the Connector: what a resolution reveals (its address, names) is the Connector's. */
  authorizer: Authorizer;
  /** `{expr}` → 'expr'; anything else (a literal) → null. */
  expressionSource: (text: string) => string | null;
}

const apiVersion = `${subresourceGroup}/${subresourceVersion}`;
const riResource = { group: crdGroup, resource: 'resourceinterfaces' };

/** The Connector as expressions see it: what `kubectl get connector -o yaml` shows, minus bookkeeping. */
function connectorView(c: Connector): Record<string, unknown> {
  const m = c.metadata ?? {};
  const annotations = { ...(m.annotations ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  return {
    apiVersion: c.apiVersion ?? `${crdGroup}/v1alpha1`,
    kind: c.kind ?? 'Connector',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      labels: m.labels ?? {},
      annotations,
      creationTimestamp: m.creationTimestamp,
    },
    spec: c.spec ?? {},
    status: (c as { status?: unknown }).status ?? {},
  };
}

function summary(ri: ResourceInterface): Record<string, unknown> {
  const spec = ri.spec ?? {};
  const ann = ri.metadata?.annotations ?? {};
  return {
    name: ri.metadata?.name ?? '',
    category: ri.metadata?.labels?.[riCategoryLabel] ?? '',
    ...(ann['cpaas.io/display-name'] ? { displayName: ann['cpaas.io/display-name'] } : {}),
    ...(ann['cpaas.io/description'] ? { description: ann['cpaas.io/description'] } : {}),
    params: spec.params ?? [],
    attributes: (spec.attributes ?? []).map((a) => ({
      name: a.name,
      type: a.type ?? 'string',
      ...(a.parameterize ? { parameterize: a.parameterize } : {}),
    })),
    workspaces: (spec.workspaces ?? []).map((w) => ({
      name: w.name,
      ...(w.description ? { description: w.description } : {}),
      ...(w.workspaceMapping ? { workspaceMapping: w.workspaceMapping } : {}),
    })),
  };
}

type Cause = NonNullable<StatusDetails['causes']>[number];

/** The caller's params, checked against the declared ones, with defaults applied. */
export function readParams(
  declared: readonly ParamSpec[],
  query: string,
): { values: Record<string, unknown>; causes: Cause[] } {
  const given = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(query)) {
    let all = given.get(k);
    if (!all) given.set(k, (all = []));
    all.push(v);
  }
  const causes: Cause[] = [];
  const byName = new Map(declared.map((p) => [p.name, p]));
  const names = declared.map((p) => p.name).join(', ') || 'none';
  for (const k of given.keys()) {
    if (!byName.has(k)) {
      causes.push({
        reason: 'FieldValueNotSupported',
        field: k,
        message: `unknown param "${k}"; this ResourceInterface takes: ${names}`,
      });
    }
  }
  const values: Record<string, unknown> = {};
  for (const p of declared) {
    const type = p.type ?? 'string';
    const raw = given.get(p.name);
    if (!raw) {
      if (p.default === undefined) {
        causes.push({
          reason: 'FieldValueRequired',
          field: p.name,
          message: `param "${p.name}" is required (${type}${p.description ? `: ${p.description}` : ''})`,
        });
      } else values[p.name] = p.default;
      continue;
    }
    if (type === 'array') {
      values[p.name] = raw;
      continue;
    }
    if (raw.length > 1) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: p.name,
        message: `param "${p.name}" is a ${type} but was given ${raw.length} times`,
      });
      continue;
    }
    const text = raw[0] ?? '';
    if (type === 'object') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: p.name,
          message: `param "${p.name}" is an object: give a JSON object, e.g. ${p.name}={"key":"value"}`,
        });
      } else values[p.name] = parsed;
      continue;
    }
    if (p.enum?.length && !p.enum.includes(text)) {
      causes.push({
        reason: 'FieldValueNotSupported',
        field: p.name,
        message: `param "${p.name}" must be one of: ${p.enum.join(', ')}`,
      });
      continue;
    }
    values[p.name] = text;
  }
  return { values, causes };
}

/** An expression's place in the ResourceInterface, for messages, and where its value goes. */
interface Slot {
  field: string;
  source: string;
  set: (value: unknown) => void;
}

/**
 * Why an expression reading `connector.status` may fail on a Connector the controller has not
 * reconciled yet (no status, or no proxy address): said in the message, so that the caller retries
 * instead of suspecting the ResourceInterface.
 */
function statusHint(source: string, error: string, connector: Connector): string {
  if (!error.startsWith('TypeError') || !source.includes('connector.status')) return '';
  const status = (connector as { status?: { proxy?: { httpAddress?: { url?: string } } } }).status;
  if (status?.proxy?.httpAddress?.url) return '';
  return (
    ' (the expression reads connector.status, which the Connectors controller writes: this Connector has ' +
    (status ? 'no status.proxy.httpAddress.url yet' : 'no status yet') +
    '; retry once `kubectl get connector` shows it Ready)'
  );
}

/** A string a Kubernetes field of type string can hold: strings, and numbers and booleans as text. */
function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function attributeValue(a: AttributeSpec, v: unknown): unknown {
  const type = a.type ?? 'string';
  if (type === 'array') {
    if (!Array.isArray(v)) return undefined;
    const items = v.map(asText);
    return items.every((s) => s !== undefined) ? items : undefined;
  }
  if (type === 'object') {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      const s = asText(x);
      if (s === undefined) return undefined;
      out[k] = s;
    }
    return out;
  }
  return asText(v);
}

/**
 * A deep copy of a workspace value, with a slot for every expression string in it that writes the
 * evaluated text in the string's place.
 */
function workspaceCopy(
  value: Readonly<Record<string, unknown>>,
  field: string,
  source: (text: string) => string | null,
  slots: Slot[],
): Record<string, unknown> {
  const copy = (v: unknown, at: string, put: (x: unknown) => void): unknown => {
    if (typeof v === 'string') {
      const src = source(v);
      if (src !== null) {
        slots.push({
          field: at,
          source: src,
          set: (x) => {
            const text = asText(x);
            if (text === undefined) {
              throw new Error(`evaluated to ${describe(x)}; a WorkspaceBinding field holds text`);
            }
            put(text);
          },
        });
      }
      return v;
    }
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      v.forEach((x, i) => {
        out.push(copy(x, `${at}[${i}]`, (y) => (out[i] = y)));
      });
      return out;
    }
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const key = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
        out[k] = copy(x, `${at}${key}`, (y) => (out[k] = y));
      }
      return out;
    }
    return v;
  };
  return copy(value, field, () => undefined) as Record<string, unknown>;
}

export function resourceInterfacesSubresource(deps: ResourceInterfaceDeps): Subresource {
  const list = (connector: Connector, className: string): Record<string, unknown> => {
    const cls = deps.lister.connectorClass(className);
    const items = cls
      ? deps.resourceInterfaces
          .resourceInterfaces()
          .filter((ri) => classSupports(cls, ri.metadata?.name ?? ''))
          .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
          .map(summary)
      : [];
    return {
      apiVersion,
      kind: 'ConnectorResourceInterfaceList',
      metadata: {},
      connector: ref(connector, className),
      items,
    };
  };

  const resolve = async (
    connector: Connector,
    className: string,
    name: string,
    query: string,
  ): Promise<Record<string, unknown>> => {
    const ns = connector.metadata?.namespace ?? '';
    const who = `Connector ${ns}/${connector.metadata?.name ?? ''}`;
    const ri = deps.resourceInterfaces.resourceInterface(name);
    if (!ri) throw notFound(riResource, name, 'no such ResourceInterface is installed');
    const cls = deps.lister.connectorClass(className);
    if (!cls || !classSupports(cls, name)) {
      throw notFound(
        riResource,
        name,
        `ConnectorClass "${className}" of ${who} does not support it (it lacks the label ` +
          `resourceinterface.connectors.cpaas.io/${name}: "true"); ` +
          `GET …/connectors/${connector.metadata?.name ?? ''}/resourceinterfaces lists the ones it supports`,
      );
    }
    const spec = ri.spec ?? {};
    const params = readParams(spec.params ?? [], query);
    if (params.causes.length > 0) {
      throw badRequest(
        `ResourceInterface "${name}" cannot be resolved for ${who}: ` +
          params.causes.map((c) => c.message).join('; '),
        { name, group: crdGroup, kind: 'resourceinterfaces', causes: params.causes },
      );
    }

    const slots: Slot[] = [];
    const attributes = (spec.attributes ?? []).map((a, i) => {
      const field = `spec.attributes[${i}]`;
      const param = a.parameterize?.disable ? undefined : (a.parameterize?.name ?? a.name);
      const out: Record<string, unknown> = { name: a.name, type: a.type ?? 'string' };
      const set = (v: unknown): void => {
        const value = attributeValue(a, v);
        if (value === undefined) {
          throw new Error(`evaluated to ${describe(v)}, not the attribute's type ${a.type ?? 'string'}`);
        }
        out.value = value;
      };
      const src = a.expression === undefined ? null : deps.expressionSource(a.expression);
      if (src !== null) slots.push({ field: `${field}.expression`, source: src, set });
      else if (a.expression !== undefined) set(a.expression);
      else if (a.default !== undefined) set(a.default);
      else
        throw unprocessable(
          `ResourceInterface "${name}": ${field} (${a.name}) has neither an expression nor a default`,
        );
      if (param !== undefined) out.param = param;
      return out;
    });
    const workspaces = (spec.workspaces ?? []).map((w, i) => {
      const workspace = w.workspaceMapping?.name || w.name;
      const value = workspaceCopy(w.value ?? {}, `spec.workspaces[${i}].value`, deps.expressionSource, slots);
      return { name: w.name, workspace, value };
    });

    const context = { params: params.values, connector: connectorView(connector) };
    const outcomes =
      slots.length > 0
        ? await deps.evaluator.evaluate(
            slots.map((s) => s.source),
            context,
          )
        : [];
    const causes: Cause[] = [];
    slots.forEach((slot, i) => {
      const o = outcomes[i];
      if (!o) return;
      if (!o.ok) {
        if (o.kind === 'busy')
          throw tooManyRequests(`too many ResourceInterfaces are being resolved at once; retry shortly`, 1);
        const hint = statusHint(slot.source, o.error, connector);
        causes.push({
          reason: 'FieldValueInvalid',
          field: slot.field,
          message: `${o.error}${hint}`,
        });
        return;
      }
      try {
        slot.set(o.value);
      } catch (err) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: slot.field,
          message: (err as Error).message,
        });
      }
    });
    if (causes.length > 0) {
      throw unprocessable(
        `ResourceInterface "${name}" cannot be resolved for ${who}: ` +
          causes.map((c) => `${c.field}: ${c.message}`).join('; '),
        { name, group: crdGroup, kind: 'resourceinterfaces', causes },
      );
    }

    return {
      apiVersion,
      kind: 'ResolvedResourceInterface',
      metadata: { name },
      connector: ref(connector, className),
      resourceInterface: { name, category: ri.metadata?.labels?.[riCategoryLabel] ?? '' },
      params: (spec.params ?? []).map((p) => ({ name: p.name, value: params.values[p.name] })),
      attributes,
      workspaces: workspaces.map((w) => ({
        name: w.name,
        workspace: w.workspace,
        binding: { name: w.workspace, ...w.value },
      })),
    };
  };

  return {
    name: 'resourceinterfaces',
    kind: 'ConnectorResourceInterfaces',
    verbs: ['get'],
    async serve({ info, req, res, user }: SubresourceRequest): Promise<ServeResult> {
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        throw methodNotAllowed(
          `${method} is not served on connectors/resourceinterfaces: resolving is a GET`,
        );
      }
      const refInfo = { namespace: info.namespace, name: info.name };
      if (!isConnectorRef(refInfo.namespace, refInfo.name)) throw pathNotFound();
      await requireGetConnector(deps.authorizer, user, refInfo);
      const connector = deps.lister.connector(info.namespace, info.name);
      if (!connector) throw notFound({ group: crdGroup, resource: 'connectors' }, info.name);
      const className = connector.spec?.connectorClassName ?? '';
      const rest = info.rest.length === 1 && info.rest[0] === '' ? [] : info.rest;
      let body: Record<string, unknown>;
      if (rest.length === 0) body = list(connector, className);
      else if (rest.length === 1) {
        const name = decodeSegment(rest[0] ?? '');
        if (!dnsSubdomain.test(name)) throw badRequest(`"${name}" is not a ResourceInterface name`);
        body = await resolve(connector, className, name, info.query);
      } else {
        throw pathNotFound(
          'the path is …/connectors/<name>/resourceinterfaces or …/connectors/<name>/resourceinterfaces/<resourceinterface>',
        );
      }
      const text = JSON.stringify(body);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
        'cache-control': 'no-cache, private',
      });
      res.end(method === 'HEAD' ? undefined : text);
      return { status: 200, connectorClass: className };
    },
  };
}

function ref(connector: Connector, className: string): Record<string, string> {
  return {
    namespace: connector.metadata?.namespace ?? '',
    name: connector.metadata?.name ?? '',
    connectorClassName: className,
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badRequest('the ResourceInterface name in the path is not valid percent-encoding');
  }
}

async function requireGetConnector(
  authorizer: Authorizer,
  user: UserInfo,
  refInfo: { namespace: string; name: string },
): Promise<void> {
  const check = connectorAccess(refInfo, '', 'get');
  const decision = await authorizer.authorize(user, check);
  if (!decision.allowed) {
    throw forbidden(
      { group: crdGroup, resource: 'connectors' },
      refInfo.name,
      `${decision.reason}; resolving a ResourceInterface for a Connector reveals the Connector, so it needs get on it`,
    );
  }
}

/** The cluster's ResourceInterfaces, from an informer (the request path never lists them). */
export function resourceInterfaceInformer(
  client: KubeClient,
  log: Logger,
): {
  lister: ResourceInterfaceLister;
  readonly hasSynced: boolean;
  start(): void;
  stop(): Promise<void>;
} {
  const informer = new Informer<ResourceInterface>({
    what: 'resourceinterfaces',
    client,
    path: `/apis/${crdGroup}/${crdVersion}/resourceinterfaces`,
    log,
  });
  return {
    lister: {
      resourceInterface: (name) => informer.get(name),
      resourceInterfaces: () => informer.list(),
    },
    get hasSynced() {
      return informer.hasSynced;
    },
    start: () => {
      informer.start();
    },
    stop: () => informer.stop(),
  };
}
