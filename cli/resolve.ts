// `kubectl connectors resolve NAME [RI]`: a ResourceInterface resolved by the server for a
// Connector, printed as the params and workspaces to paste into a PipelineRun; without RI, the
// ResourceInterfaces the Connector's class supports.

import { keyValues, UsageError } from './args.js';
import { outputFlag, outputFormat, type Command } from './command.js';
import { write } from './io.js';
import { table, toJson, toYaml } from './print.js';
import {
  listResourceInterfaces,
  resolveResourceInterface,
  type ResolvedResourceInterface,
  type ResourceInterfaceSummary,
} from './resourceinterfaces.js';

const formats = ['json', 'yaml'];

/** The part of a PipelineRun's spec a resolved ResourceInterface fills, with a comment saying whence. */
export function pipelineRunSnippet(r: ResolvedResourceInterface): string {
  const params = r.attributes.flatMap((a) =>
    a.param === undefined ? [] : [{ name: a.param, value: a.value }],
  );
  const workspaces = r.workspaces.map((w) => w.binding);
  return (
    `# ResourceInterface ${r.resourceInterface.name} (${r.resourceInterface.category}) resolved for Connector ` +
    `${r.connector.namespace}/${r.connector.name}: params and workspaces of a PipelineRun's spec\n` +
    toYaml({ ...(params.length ? { params } : {}), ...(workspaces.length ? { workspaces } : {}) })
  );
}

/** The list of ResourceInterfaces as a table; `?` marks a param with a default. */
export function resourceInterfaceRows(items: readonly ResourceInterfaceSummary[]): string[][] {
  return items.map((ri) => [
    ri.name,
    ri.category,
    (ri.params ?? []).map((p) => (p.default === undefined ? p.name : `${p.name}?`)).join(',') || '<none>',
    (ri.attributes ?? []).map((a) => a.name).join(',') || '<none>',
    (ri.workspaces ?? []).map((w) => w.name).join(',') || '<none>',
  ]);
}

export const resolve: Command = {
  name: 'resolve',
  summary: 'Resolve a ResourceInterface for a Connector into PipelineRun params and workspaces',
  description: `
Resolve the ResourceInterface RI for a Connector with your params: the server computes its
attributes and workspaces from the Connector, and this prints the params (each attribute that fills
a Pipeline param) and workspaces (Tekton WorkspaceBindings, usually a connectors-csi volume) to
paste into a PipelineRun's spec. -o json|yaml print the whole ResolvedResourceInterface.

Without RI, list the ResourceInterfaces the Connector's class supports, with their params (a ? marks
one with a default), attributes and workspaces.

A list param takes --param once per item. RBAC: verb get on connectors/resourceinterfaces (group
subresources.connectors.alauda.io) and on the Connector; the view, edit and admin roles include both.`,
  usage: 'NAME [RI] [--param NAME=VALUE]... [options]',
  examples: `
# Which ResourceInterfaces can demo-git resolve?
kubectl connectors resolve demo-git

# The params and workspaces of a PipelineRun that clones org/app.git at main
kubectl connectors resolve demo-git gitcoderepository --param repository=org/app.git --param revision=main

# A list param: one --param per item; the whole answer as JSON
kubectl connectors resolve demo-registry ociartifact --param repository=team/app --param tags=1.0 --param tags=latest -o json`,
  flags: [
    {
      name: 'param',
      kind: 'list',
      value: 'NAME=VALUE',
      help: "A param of the ResourceInterface (repeat it for a list's items).",
    },
    outputFlag(formats),
  ],
  async run(ctx, args) {
    const output = outputFormat(args, formats);
    const [name, ri, ...extra] = args.positionals;
    if (name === undefined || extra.length > 0)
      throw new UsageError('give a Connector NAME and at most one RI');
    const params = keyValues(args.list('param'), '--param');
    const { namespace } = ctx.cluster();
    if (ri === undefined) {
      if (params.length > 0) throw new UsageError('--param needs a ResourceInterface to resolve: NAME RI');
      const list = await listResourceInterfaces(ctx, namespace, name);
      if (output !== '') {
        await write(ctx.io.stdout, output === 'json' ? toJson(list) : toYaml(list));
        return 0;
      }
      const items = list.items ?? [];
      if (items.length === 0) {
        await write(ctx.io.stderr, `Connector ${namespace}/${name} supports no ResourceInterface.\n`);
        return 0;
      }
      await write(
        ctx.io.stdout,
        table(['NAME', 'CATEGORY', 'PARAMS', 'ATTRIBUTES', 'WORKSPACES'], resourceInterfaceRows(items)),
      );
      return 0;
    }
    const resolved = await resolveResourceInterface(
      ctx,
      { namespace, connector: name, resourceInterface: ri },
      params,
      (param) => `--param ${param}=VALUE`,
    );
    const text =
      output === 'json'
        ? toJson(resolved)
        : output === 'yaml'
          ? toYaml(resolved)
          : pipelineRunSnippet(resolved);
    await write(ctx.io.stdout, text);
    return 0;
  },
};
