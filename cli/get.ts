// `kubectl connectors get [NAME]`: Connectors with their class, address and readiness, as
// `kubectl get connectors` shows them; `-o wide` adds what each one offers: the subresources its
// class declares (the first segment of each spec.api.openapi path, and proxy) and the
// ResourceInterfaces its class supports (labels resourceinterface.connectors.cpaas.io/<name>).

import { UsageError } from './args.js';
import { connectorClassesPath, connectorsPath } from './api.js';
import { outputFlag, outputFormat, type Command, type Context } from './command.js';
import { write } from './io.js';
import { age, table, toJson, toYaml } from './print.js';
import { KubeApiError } from '../kube/client.js';
import { riLabelPrefix } from '../registry/resourceinterface.js';
import type { Connector, ConnectorClass } from '../registry/types.js';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
}

type ConnectorView = Connector & { status?: { conditions?: Condition[] } };

interface List<T> {
  items?: T[];
}

/** The subresources a class declares: each spec.api.openapi path's first segment, then proxy. */
export function classApis(cls: ConnectorClass): string[] {
  const paths = cls.spec?.api?.openapi?.['paths'];
  const first = Object.keys(paths !== null && typeof paths === 'object' ? paths : {}).flatMap(
    (p) => p.split('/').filter((s) => s !== '')[0] ?? [],
  );
  return [...new Set([...first, 'proxy'])];
}

/** The ResourceInterfaces a class supports: its labels resourceinterface.connectors.cpaas.io/<name>: "true". */
export function classResourceInterfaces(cls: ConnectorClass): string[] {
  return Object.entries(cls.metadata?.labels ?? {})
    .filter(([k, v]) => k.startsWith(riLabelPrefix) && v === 'true')
    .map(([k]) => k.slice(riLabelPrefix.length))
    .sort();
}

const formats = ['json', 'yaml', 'wide', 'name'];

async function readClasses(ctx: Context): Promise<Map<string, ConnectorClass> | null> {
  try {
    const list = await ctx.cluster().client.get<List<ConnectorClass>>(connectorClassesPath());
    return new Map((list.items ?? []).map((c) => [c.metadata?.name ?? '', c]));
  } catch (err) {
    if (!(err instanceof KubeApiError) || err.status !== 403) throw err;
    await write(
      ctx.io.stderr,
      'Warning: you may not list ConnectorClasses: APIS and RESOURCEINTERFACES are unknown\n',
    );
    return null;
  }
}

export function connectorRows(
  connectors: readonly ConnectorView[],
  opts: { allNamespaces: boolean; classes?: Map<string, ConnectorClass> | null; now: number },
): { headers: string[]; rows: string[][] } {
  const wide = opts.classes !== undefined;
  const headers = [
    ...(opts.allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'CLASS',
    'ADDRESS',
    'READY',
    'REASON',
    'AGE',
    ...(wide ? ['APIS', 'RESOURCEINTERFACES'] : []),
  ];
  const rows = connectors.map((c) => {
    const ready = c.status?.conditions?.find((k) => k.type === 'Ready');
    const className = c.spec?.connectorClassName ?? '';
    const cls = opts.classes?.get(className);
    const offered = (list: (cls: ConnectorClass) => string[]): string =>
      opts.classes === null ? '<unknown>' : cls ? list(cls).join(',') || '<none>' : '<no class>';
    return [
      ...(opts.allNamespaces ? [c.metadata?.namespace ?? ''] : []),
      c.metadata?.name ?? '',
      className,
      c.spec?.address ?? '',
      ready?.status ?? '',
      ready?.reason ?? '',
      age(c.metadata?.creationTimestamp, opts.now),
      ...(wide ? [offered(classApis), offered(classResourceInterfaces)] : []),
    ];
  });
  return { headers, rows };
}

export const get: Command = {
  name: 'get',
  summary: 'Display Connectors with their status, and with -o wide the APIs they offer',
  description: `
Display the Connectors of a namespace (or of every namespace with -A): class, address, whether
the controller found them ready, and age, as "kubectl get connectors" shows them.

-o wide adds APIS, the subresources the Connector's class declares (each spec.api.openapi path's
first segment, such as branches, tags, git, and proxy, which every Connector has), and
RESOURCEINTERFACES, the ResourceInterfaces its class supports (see "kubectl connectors resolve").`,
  usage: '[NAME] [options]',
  examples: `
# List the Connectors of the current namespace
kubectl connectors get

# The APIs and ResourceInterfaces each offers
kubectl connectors get -o wide

# Every namespace
kubectl connectors get -A

# One Connector as YAML
kubectl connectors get demo-git -o yaml`,
  flags: [
    {
      name: 'all-namespaces',
      short: 'A',
      kind: 'bool',
      default: false,
      help: 'List the Connectors of every namespace; -n is ignored.',
    },
    outputFlag(formats),
  ],
  async run(ctx, args) {
    const output = outputFormat(args, formats);
    const all = args.bool('all-namespaces');
    const [name, ...extra] = args.positionals;
    if (extra.length > 0) throw new UsageError(`one NAME at most, got ${args.positionals.join(' ')}`);
    if (all && name !== undefined) {
      throw new UsageError('a resource cannot be retrieved by name across all namespaces');
    }
    const { client, namespace } = ctx.cluster();
    const answer =
      name === undefined
        ? await ctx.waiting(
            'Reading Connectors…',
            client.get<List<ConnectorView>>(connectorsPath(all ? undefined : namespace)),
          )
        : await ctx.waiting(
            `Reading ${namespace}/${name}…`,
            client.get<ConnectorView>(connectorsPath(namespace, name)),
          );
    if (output === 'json' || output === 'yaml') {
      await write(ctx.io.stdout, output === 'json' ? toJson(answer) : toYaml(answer));
      return 0;
    }
    const connectors =
      name === undefined ? ((answer as List<ConnectorView>).items ?? []) : [answer as ConnectorView];
    if (output === 'name') {
      await write(
        ctx.io.stdout,
        connectors.map((c) => `connector.connectors.alauda.io/${c.metadata?.name ?? ''}\n`).join(''),
      );
      return 0;
    }
    if (connectors.length === 0) {
      await write(
        ctx.io.stderr,
        all ? 'No resources found\n' : `No resources found in ${namespace} namespace.\n`,
      );
      return 0;
    }
    const classes = output === 'wide' ? await readClasses(ctx) : undefined;
    const { headers, rows } = connectorRows(connectors, {
      allNamespaces: all,
      now: ctx.io.now(),
      ...(classes === undefined ? {} : { classes }),
    });
    await write(ctx.io.stdout, table(headers, rows));
    return 0;
  },
};
