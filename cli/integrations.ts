// A Tekton Pipeline's integrations (the published annotation integrations.tekton.dev/integrations)
// turned into a PipelineRun: which Connector and ResourceInterface each integration uses and with
// which params (planIntegrations, before anything is asked of the server), then, once the server
// resolved each one, the PipelineRun with their attributes as params and their workspaces as
// bindings (buildPipelineRun). Everything missing is reported at once, each with the flag to pass.

import { load } from 'js-yaml';
import { CliError } from './errors.js';
import { paramPairs, type ParamValue, type ResolvedResourceInterface } from './resourceinterfaces.js';

export const integrationsAnnotation = 'integrations.tekton.dev/integrations';

export interface Integration {
  name: string;
  interface: { apiVersion?: string; name?: string; category?: string };
  connectorRef?: { name?: string; namespace?: string; setAtRuntime?: boolean };
  attributes?: { name: string; param?: string }[];
  workspaces?: { name: string; workspace?: string }[];
  params?: { name: string; value?: ParamValue; setAtRuntime?: boolean }[];
}

export interface Pipeline {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    params?: { name: string; type?: string; default?: unknown }[];
    workspaces?: { name: string; optional?: boolean }[];
  };
}

type Fields = Record<string, unknown>;

const isFields = (v: unknown): v is Fields => v !== null && typeof v === 'object' && !Array.isArray(v);

function named(list: unknown, where: string): Fields[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new CliError(`${where} must be a list`);
  return list.map((item, i) => {
    if (!isFields(item) || typeof item['name'] !== 'string' || item['name'] === '') {
      throw new CliError(`${where}[${i}] needs a name`);
    }
    return item;
  });
}

const optionalString = (v: unknown, where: string): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new CliError(`${where} must be a string`);
  return v;
};

function paramValue(v: unknown, where: string): ParamValue | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || isFields(v)) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(String);
  throw new CliError(`${where} must be a string, a list or an object`);
}

/** The integrations of a Pipeline's annotation (a YAML list), each checked for the fields used here. */
export function parseIntegrations(pipeline: Pipeline): Integration[] {
  const pipelineName = pipeline.metadata?.name ?? '';
  const text = pipeline.metadata?.annotations?.[integrationsAnnotation];
  const where = `the annotation ${integrationsAnnotation} of Pipeline ${pipelineName}`;
  if (text === undefined)
    throw new CliError(`Pipeline ${pipelineName} has no annotation ${integrationsAnnotation}`);
  let doc: unknown;
  try {
    doc = load(text);
  } catch (err) {
    throw new CliError(`${where} is not YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  const seen = new Set<string>();
  return named(doc, where).map((item) => {
    const name = item['name'] as string;
    const at = `${where}: integration "${name}"`;
    if (seen.has(name)) throw new CliError(`${at} is there twice`);
    seen.add(name);
    const iface = item['interface'];
    if (!isFields(iface)) throw new CliError(`${at} needs an interface (a name or a category)`);
    const riName = optionalString(iface['name'], `${at} interface.name`);
    const category = optionalString(iface['category'], `${at} interface.category`);
    if (!riName && !category) throw new CliError(`${at} needs interface.name or interface.category`);
    const ref = item['connectorRef'];
    if (ref !== undefined && ref !== null && !isFields(ref))
      throw new CliError(`${at} connectorRef must be an object`);
    const refName = isFields(ref) ? optionalString(ref['name'], `${at} connectorRef.name`) : undefined;
    const refNamespace = isFields(ref)
      ? optionalString(ref['namespace'], `${at} connectorRef.namespace`)
      : undefined;
    return {
      name,
      interface: { ...(riName ? { name: riName } : {}), ...(category ? { category } : {}) },
      connectorRef: {
        ...(refName ? { name: refName } : {}),
        ...(refNamespace ? { namespace: refNamespace } : {}),
      },
      attributes: named(item['attributes'], `${at} attributes`).map((a) => {
        const param = optionalString(a['param'], `${at} attributes.${String(a['name'])}.param`);
        return { name: a['name'] as string, ...(param ? { param } : {}) };
      }),
      workspaces: named(item['workspaces'], `${at} workspaces`).map((w) => {
        const workspace = optionalString(w['workspace'], `${at} workspaces.${String(w['name'])}.workspace`);
        return { name: w['name'] as string, ...(workspace ? { workspace } : {}) };
      }),
      params: named(item['params'], `${at} params`).map((p) => {
        const value = paramValue(p['value'], `${at} params.${String(p['name'])}.value`);
        return {
          name: p['name'] as string,
          ...(value === undefined ? {} : { value }),
          setAtRuntime: p['setAtRuntime'] === true,
        };
      }),
    };
  });
}

/** What the command line gave: --connector INTEGRATION=[NS/]NAME, --param KEY=VALUE. */
export interface RunInputs {
  namespace: string;
  connectors: readonly (readonly [string, string])[];
  params: readonly (readonly [string, string])[];
}

export interface IntegrationPlan {
  integration: Integration;
  connector: { namespace: string; name: string };
  /** Query pairs of the ResourceInterface's params. */
  params: [string, string][];
}

export interface Plan {
  integrations: IntegrationPlan[];
  /** Pipeline params given with --param NAME=VALUE (no integration's). */
  pipelineParams: Map<string, string[]>;
}

/**
 * Which Connector each integration uses (--connector, else its connectorRef), with which params
 * (the annotation's values, then --param INTEGRATION.NAME=VALUE, which replace them); the rest of
 * --param are the Pipeline's own params. Every problem is reported at once.
 */
export function planIntegrations(
  pipeline: Pipeline,
  integrations: readonly Integration[],
  inputs: RunInputs,
): Plan {
  const problems: string[] = [];
  const byName = new Map(integrations.map((i) => [i.name, i]));
  const names = integrations.map((i) => i.name).join(', ');
  const chosen = new Map<string, { namespace: string; name: string }>();
  for (const [integration, ref] of inputs.connectors) {
    if (!byName.has(integration)) {
      problems.push(
        `--connector ${integration}=${ref}: the Pipeline has no integration "${integration}" (it has: ${names})`,
      );
      continue;
    }
    const [ns, name] = ref.includes('/') ? ref.split('/', 2) : [inputs.namespace, ref];
    if (!ns || !name) problems.push(`--connector ${integration}=${ref}: write NAME or NAMESPACE/NAME`);
    else chosen.set(integration, { namespace: ns, name });
  }
  const integrationParams = new Map<string, Map<string, string[]>>();
  const pipelineParams = new Map<string, string[]>();
  const declared = new Set((pipeline.spec?.params ?? []).map((p) => p.name));
  for (const [key, value] of inputs.params) {
    const dot = key.indexOf('.');
    const integration = dot > 0 ? key.slice(0, dot) : '';
    if (byName.has(integration)) {
      const params = integrationParams.get(integration) ?? new Map<string, string[]>();
      const name = key.slice(dot + 1);
      params.set(name, [...(params.get(name) ?? []), value]);
      integrationParams.set(integration, params);
    } else if (declared.has(key)) {
      pipelineParams.set(key, [...(pipelineParams.get(key) ?? []), value]);
    } else {
      problems.push(
        `--param ${key}=${value}: the Pipeline has no param "${key}", and "${integration || key}" is none of its integrations (${names})`,
      );
    }
  }
  const plans = integrations.flatMap((integration): IntegrationPlan[] => {
    const ref = integration.connectorRef;
    const connector =
      chosen.get(integration.name) ??
      (ref?.name ? { namespace: ref.namespace ?? inputs.namespace, name: ref.name } : undefined);
    if (!connector) {
      problems.push(
        `integration "${integration.name}" needs a Connector: pass --connector ${integration.name}=NAME (or NAMESPACE/NAME)`,
      );
    }
    const given = integrationParams.get(integration.name) ?? new Map<string, string[]>();
    const params: [string, string][] = [];
    for (const p of integration.params ?? []) {
      if (given.has(p.name)) continue;
      if (p.value !== undefined) params.push(...paramPairs(p.name, p.value));
      else if (p.setAtRuntime) {
        problems.push(
          `integration "${integration.name}" needs the param "${p.name}": pass --param ${integration.name}.${p.name}=VALUE`,
        );
      }
    }
    for (const [name, values] of given) for (const v of values) params.push([name, v]);
    return connector ? [{ integration, connector, params }] : [];
  });
  if (problems.length > 0) throw new CliError(problems.join('\n'));
  return { integrations: plans, pipelineParams };
}

export interface PipelineRunOptions {
  namespace: string;
  name?: string;
  generateName?: string;
}

interface RunParam {
  name: string;
  value: ParamValue;
}

/** The PipelineRun params one resolved integration fills. */
function integrationParams(
  pipeline: Pipeline,
  integration: Integration,
  resolved: ResolvedResourceInterface,
): RunParam[] {
  const listed = integration.attributes ?? [];
  if (listed.length === 0) {
    const declared = new Set((pipeline.spec?.params ?? []).map((p) => p.name));
    return resolved.attributes.flatMap((a) =>
      a.param !== undefined && declared.has(a.param) ? [{ name: a.param, value: a.value }] : [],
    );
  }
  return listed.map((a) => {
    const attribute = resolved.attributes.find((r) => r.name === a.name);
    if (!attribute) {
      throw new CliError(
        `integration "${integration.name}" maps the attribute "${a.name}", which ResourceInterface ${resolved.resourceInterface.name} does not have (it has: ${resolved.attributes.map((r) => r.name).join(', ')})`,
      );
    }
    return { name: a.param ?? attribute.param ?? a.name, value: attribute.value };
  });
}

/** The PipelineRun workspaces one resolved integration binds. */
function integrationWorkspaces(
  pipeline: Pipeline,
  integration: Integration,
  resolved: ResolvedResourceInterface,
): Record<string, unknown>[] {
  const listed = integration.workspaces ?? [];
  if (listed.length === 0) {
    const declared = new Set((pipeline.spec?.workspaces ?? []).map((w) => w.name));
    return resolved.workspaces.flatMap((w) =>
      declared.has(w.workspace) ? [{ ...w.binding, name: w.workspace }] : [],
    );
  }
  return listed.map((w) => {
    const workspace = resolved.workspaces.find((r) => r.name === w.name);
    if (!workspace) {
      throw new CliError(
        `integration "${integration.name}" maps the workspace "${w.name}", which ResourceInterface ${resolved.resourceInterface.name} does not have (it has: ${resolved.workspaces.map((r) => r.name).join(', ')})`,
      );
    }
    return { ...workspace.binding, name: w.workspace ?? workspace.workspace };
  });
}

/**
 * The PipelineRun: pipelineRef by the Pipeline's name, the params the integrations fill and those
 * given with --param, and the integrations' workspaces. A required Pipeline param left unset is an
 * error naming the flag; a required workspace left unbound is a warning (bind it yourself).
 */
export function buildPipelineRun(
  pipeline: Pipeline,
  plan: Plan,
  resolved: readonly ResolvedResourceInterface[],
  opts: PipelineRunOptions,
): { pipelineRun: Record<string, unknown>; warnings: string[] } {
  const pipelineName = pipeline.metadata?.name ?? '';
  const params: RunParam[] = [];
  const setBy = new Map<string, string>();
  const problems: string[] = [];
  plan.integrations.forEach((p, i) => {
    const r = resolved[i];
    if (!r) return;
    for (const param of integrationParams(pipeline, p.integration, r)) {
      const other = setBy.get(param.name);
      if (other !== undefined) {
        problems.push(
          `the Pipeline param "${param.name}" is filled by integrations "${other}" and "${p.integration.name}"`,
        );
        continue;
      }
      setBy.set(param.name, p.integration.name);
      params.push(param);
    }
  });
  for (const spec of pipeline.spec?.params ?? []) {
    const given = plan.pipelineParams.get(spec.name);
    if (given !== undefined) {
      const by = setBy.get(spec.name);
      if (by !== undefined) {
        problems.push(`--param ${spec.name}: integration "${by}" fills it; drop the flag`);
        continue;
      }
      if (spec.type === 'array') params.push({ name: spec.name, value: given });
      else if (given.length > 1)
        problems.push(`--param ${spec.name} is given ${given.length} times; the param is no array`);
      else if (spec.type === 'object') {
        try {
          params.push({ name: spec.name, value: JSON.parse(given[0] ?? '') as Record<string, unknown> });
        } catch {
          problems.push(`--param ${spec.name}: the param is an object: write it as JSON`);
        }
      } else params.push({ name: spec.name, value: given[0] ?? '' });
    } else if (spec.default === undefined && !setBy.has(spec.name)) {
      problems.push(`the Pipeline param "${spec.name}" has no default: pass --param ${spec.name}=VALUE`);
    }
  }
  if (problems.length > 0) throw new CliError(problems.join('\n'));

  const workspaces = plan.integrations.flatMap((p, i) => {
    const r = resolved[i];
    return r ? integrationWorkspaces(pipeline, p.integration, r) : [];
  });
  const bound = new Set(workspaces.map((w) => w['name']));
  const warnings = (pipeline.spec?.workspaces ?? [])
    .filter((w) => w.optional !== true && !bound.has(w.name))
    .map(
      (w) =>
        `the Pipeline's workspace "${w.name}" is bound by no integration: add its binding before you create the PipelineRun`,
    );
  const pipelineRun = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: {
      ...(opts.name ? { name: opts.name } : { generateName: opts.generateName ?? `${pipelineName}-` }),
      namespace: opts.namespace,
    },
    spec: {
      pipelineRef: { name: pipelineName },
      ...(params.length ? { params } : {}),
      ...(workspaces.length ? { workspaces } : {}),
    },
  };
  return { pipelineRun, warnings };
}
