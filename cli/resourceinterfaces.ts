// ResourceInterfaces as the server resolves them for a Connector (the wire shapes a client reads):
// …/connectors/{name}/resourceinterfaces lists those the Connector's class supports, and
// …/resourceinterfaces/{ri}?<param>=<value>… resolves one with the caller's params into attributes
// (with the Pipeline params they fill) and Tekton WorkspaceBindings.

import { queryOf, subresourcePath } from './api.js';
import type { Context } from './command.js';
import { CliError } from './errors.js';
import { KubeApiError } from '../kube/client.js';
import type { AttributeSpec, ParamSpec, WorkspaceSpec } from '../registry/resourceinterface.js';

export type ParamValue = string | string[] | Record<string, unknown>;

export interface ConnectorIdentity {
  namespace: string;
  name: string;
  connectorClassName: string;
}

export interface ResourceInterfaceSummary {
  name: string;
  category: string;
  displayName?: string;
  description?: string;
  params?: ParamSpec[];
  attributes?: Pick<AttributeSpec, 'name' | 'type' | 'parameterize'>[];
  workspaces?: Pick<WorkspaceSpec, 'name' | 'description' | 'workspaceMapping'>[];
}

export interface ConnectorResourceInterfaceList {
  connector?: ConnectorIdentity;
  items?: ResourceInterfaceSummary[];
}

export interface ResolvedResourceInterface {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  connector: ConnectorIdentity;
  resourceInterface: { name: string; category: string };
  params: { name: string; value: ParamValue }[];
  attributes: { name: string; type: string; value: ParamValue; param?: string }[];
  workspaces: { name: string; workspace: string; binding: Record<string, unknown> }[];
}

/** Query pairs for one param: an array repeats the name, an object is sent as JSON. */
export function paramPairs(name: string, value: ParamValue): [string, string][] {
  if (Array.isArray(value)) return value.map((v) => [name, v]);
  return [[name, typeof value === 'string' ? value : JSON.stringify(value)]];
}

export function listResourceInterfaces(
  ctx: Context,
  namespace: string,
  connector: string,
): Promise<ConnectorResourceInterfaceList> {
  return ctx.waiting(
    `Reading the ResourceInterfaces of ${namespace}/${connector}…`,
    ctx
      .cluster()
      .client.get<ConnectorResourceInterfaceList>(
        subresourcePath(namespace, connector, 'resourceinterfaces'),
      ),
  );
}

/**
 * Resolves `ri` for the Connector. A 400 naming params (details.causes[].field: missing, unknown
 * or mistyped) becomes the server's message and the flag to pass or check: `flag(param)` words it.
 */
export async function resolveResourceInterface(
  ctx: Context,
  target: { namespace: string; connector: string; resourceInterface: string },
  params: readonly (readonly [string, string])[],
  flag: (param: string) => string,
): Promise<ResolvedResourceInterface> {
  const { namespace, connector, resourceInterface } = target;
  const path = subresourcePath(
    namespace,
    connector,
    `resourceinterfaces/${encodeURIComponent(resourceInterface)}${queryOf(params)}`,
  );
  try {
    return await ctx.waiting(
      `Resolving ${resourceInterface} for ${namespace}/${connector}…`,
      ctx.cluster().client.get<ResolvedResourceInterface>(path),
    );
  } catch (err) {
    const causes = err instanceof KubeApiError && err.status === 400 ? (err.body?.details?.causes ?? []) : [];
    const hints = causes.flatMap((c) =>
      c.field ? [`  ${c.reason === 'FieldValueRequired' ? 'pass' : 'check'} ${flag(c.field)}`] : [],
    );
    if (hints.length === 0 || !(err instanceof KubeApiError)) throw err;
    throw new CliError(`${err.body?.message ?? err.message}\n${[...new Set(hints)].join('\n')}`);
  }
}
