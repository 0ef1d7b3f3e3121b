// `kubectl connectors pipelinerun (PIPELINE | -f FILE)`: reads a Tekton Pipeline carrying the
// published integrations annotation, has the server resolve each integration's ResourceInterface
// for its Connector, and prints the PipelineRun that runs the Pipeline with them.

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { loadAll } from 'js-yaml';
import { keyValues, UsageError } from './args.js';
import { outputFlag, outputFormat, type Command, type Context } from './command.js';
import { CliError } from './errors.js';
import {
  buildPipelineRun,
  integrationsAnnotation,
  parseIntegrations,
  planIntegrations,
  type IntegrationPlan,
  type Pipeline,
} from './integrations.js';
import { write } from './io.js';
import { toJson, toYaml } from './print.js';
import {
  listResourceInterfaces,
  resolveResourceInterface,
  type ResolvedResourceInterface,
} from './resourceinterfaces.js';
import { KubeApiError } from '../kube/client.js';
import { resourcePath } from '../kube/objects.js';

const formats = ['json', 'yaml'];

async function readStream(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The Pipeline of a file (YAML or JSON, maybe several documents): the one named, or the only one. */
export function pipelineOfText(text: string, file: string, name: string | undefined): Pipeline {
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (err) {
    throw new CliError(`${file} is not YAML or JSON: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  const pipelines = docs.filter(
    (d): d is Pipeline => d !== null && typeof d === 'object' && (d as Pipeline).kind === 'Pipeline',
  );
  const chosen = name === undefined ? pipelines : pipelines.filter((p) => p.metadata?.name === name);
  const [pipeline] = chosen;
  if (pipeline === undefined)
    throw new CliError(`${file} holds no Pipeline${name === undefined ? '' : ` named ${name}`}`);
  if (chosen.length > 1) {
    throw new CliError(
      `${file} holds several Pipelines (${chosen.map((p) => p.metadata?.name ?? '').join(', ')}): name one, e.g. kubectl connectors pipelinerun NAME -f ${file}`,
    );
  }
  if (!pipeline.metadata?.name) throw new CliError(`the Pipeline in ${file} has no metadata.name`);
  return pipeline;
}

async function readPipeline(
  ctx: Context,
  name: string | undefined,
  file: string,
  namespace: string,
): Promise<Pipeline> {
  if (file !== '') {
    const text =
      file === '-'
        ? await readStream(ctx.io.stdin)
        : await readFile(file, 'utf8').catch((err: unknown) => {
            throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
          });
    return pipelineOfText(text, file === '-' ? 'stdin' : file, name);
  }
  if (name === undefined) throw new UsageError('give a PIPELINE name, or the Pipeline as a file with -f');
  try {
    return await ctx.waiting(
      `Reading Pipeline ${namespace}/${name}…`,
      ctx
        .cluster()
        .client.get<Pipeline>(
          resourcePath({ group: 'tekton.dev', version: 'v1', resource: 'pipelines', namespace, name }),
        ),
    );
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404 && !err.body?.details?.name) {
      throw new CliError(
        'this cluster serves no tekton.dev/v1 Pipelines (is Tekton Pipelines installed?): give the Pipeline as a file with -f FILE',
      );
    }
    throw err;
  }
}

/** The ResourceInterface an integration names, or the one of its category the Connector's class supports. */
async function resourceInterfaceFor(ctx: Context, plan: IntegrationPlan): Promise<string> {
  const { interface: iface, name } = plan.integration;
  if (iface.name) return iface.name;
  const { namespace, name: connector } = plan.connector;
  const list = await listResourceInterfaces(ctx, namespace, connector);
  const items = list.items ?? [];
  const matching = items.filter((ri) => ri.category === iface.category);
  const [only] = matching;
  if (only === undefined || matching.length > 1) {
    const cls = list.connector?.connectorClassName ?? '?';
    throw new CliError(
      matching.length > 1
        ? `integration "${name}": Connector ${namespace}/${connector} (class ${cls}) supports several ResourceInterfaces of category ${iface.category ?? ''} (${matching.map((r) => r.name).join(', ')}): name one in the integration's interface.name`
        : `integration "${name}": Connector ${namespace}/${connector} (class ${cls}) supports no ResourceInterface of category ${iface.category ?? ''}` +
            ` (it supports: ${items.map((r) => `${r.name} (${r.category})`).join(', ') || 'none'}): pass --connector ${name}=NAME for a Connector that does`,
    );
  }
  return only.name;
}

export const pipelinerun: Command = {
  name: 'pipelinerun',
  summary: 'Print a PipelineRun for a Pipeline, its integrations resolved through Connectors',
  description: `
Read a Tekton Pipeline (from the cluster, tekton.dev/v1, or from a file with -f) that carries the
annotation ${integrationsAnnotation}, resolve each integration's ResourceInterface
for its Connector through the server, and print a PipelineRun (tekton.dev/v1) that runs it:
pipelineRef names the Pipeline (apply the Pipeline to the namespace first), params hold each
integration's attributes under the Pipeline param they fill, and workspaces bind each integration's
workspaces (usually connectors-csi volumes). The PipelineRun has a generateName: create it with
"kubectl create -f -", or give it a --name.

An integration's Connector is its connectorRef (namespace: the PipelineRun's) or
--connector INTEGRATION=[NAMESPACE/]NAME. Its interface names a ResourceInterface, or a category:
then the one of that category the Connector's class supports is used. Its params are the
annotation's values, replaced by --param INTEGRATION.PARAM=VALUE; other --param NAME=VALUE set the
Pipeline's own params (repeat a flag for a list). Anything missing is reported with the flag that
supplies it. Prints YAML, or JSON with -o json.`,
  usage:
    '(PIPELINE | -f FILE) [--connector INTEGRATION=[NS/]NAME]... [--param [INTEGRATION.]NAME=VALUE]... [--name NAME | --generate-name PREFIX] [options]',
  examples: `
# A PipelineRun for Pipeline build in the current namespace, with the Connectors its annotation names
kubectl connectors pipelinerun build

# From a file, choosing the Connector of integration "git" and the revision to build
kubectl connectors pipelinerun -f pipeline.yaml --connector git=demo-git --param git.revision=v1.2.0

# Straight into the cluster
kubectl connectors pipelinerun build | kubectl create -f -`,
  flags: [
    {
      name: 'filename',
      short: 'f',
      kind: 'string',
      value: 'FILE',
      default: '',
      help: 'Read the Pipeline from FILE (- for stdin), YAML or JSON.',
    },
    {
      name: 'connector',
      kind: 'list',
      value: 'INTEGRATION=[NS/]NAME',
      help: 'The Connector of an integration.',
    },
    {
      name: 'param',
      kind: 'list',
      value: '[INTEGRATION.]NAME=VALUE',
      help: "A param of an integration's ResourceInterface (INTEGRATION.NAME) or of the Pipeline (NAME).",
    },
    {
      name: 'name',
      kind: 'string',
      value: 'NAME',
      default: '',
      help: "The PipelineRun's name (default: a generateName).",
    },
    {
      name: 'generate-name',
      kind: 'string',
      value: 'PREFIX',
      default: '',
      help: "The PipelineRun's generateName (default: the Pipeline's name and -).",
    },
    outputFlag(formats),
  ],
  async run(ctx, args) {
    const output = outputFormat(args, formats);
    const [name, ...extra] = args.positionals;
    if (extra.length > 0) throw new UsageError('give one PIPELINE at most');
    if (args.str('name') !== '' && args.str('generate-name') !== '')
      throw new UsageError('give --name or --generate-name, not both');
    const namespace = ctx.cluster().namespace;
    const pipeline = await readPipeline(ctx, name, args.str('filename'), namespace);
    const integrations = parseIntegrations(pipeline);
    const plan = planIntegrations(pipeline, integrations, {
      namespace,
      connectors: keyValues(args.list('connector'), '--connector'),
      params: keyValues(args.list('param'), '--param'),
    });
    const resolved: ResolvedResourceInterface[] = [];
    for (const p of plan.integrations) {
      const ri = await resourceInterfaceFor(ctx, p);
      resolved.push(
        await resolveResourceInterface(
          ctx,
          { namespace: p.connector.namespace, connector: p.connector.name, resourceInterface: ri },
          p.params,
          (param) => `--param ${p.integration.name}.${param}=VALUE`,
        ),
      );
    }
    const { pipelineRun, warnings } = buildPipelineRun(pipeline, plan, resolved, {
      namespace,
      ...(args.str('name') ? { name: args.str('name') } : {}),
      ...(args.str('generate-name') ? { generateName: args.str('generate-name') } : {}),
    });
    for (const w of warnings) await write(ctx.io.stderr, `Warning: ${w}\n`);
    if (output === 'json') {
      await write(ctx.io.stdout, toJson(pipelineRun));
      return 0;
    }
    const lines = plan.integrations.map((p, i) => {
      const r = resolved[i];
      return `#   ${p.integration.name}: Connector ${p.connector.namespace}/${p.connector.name}, ResourceInterface ${r?.resourceInterface.name ?? ''}\n`;
    });
    await write(
      ctx.io.stdout,
      `# PipelineRun of Pipeline ${pipeline.metadata?.name ?? ''}; its integrations:\n${lines.join('')}${toYaml(pipelineRun)}`,
    );
    return 0;
  },
};
