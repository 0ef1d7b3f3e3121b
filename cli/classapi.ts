// The APIs a Connector's class declares, read as tables: `branches` and `tags` (the git, GitLab,
// GitHub and OCI classes declare them) and `api` for any declared path. Each is a GET of
// …/connectors/{name}/{path}?{query} through the API server, which checks RBAC on the
// subresource (the path's first segment) and calls the tool or the class API backend with the
// Connector's credential. The answer's `items` (or the answer, when it is a list) become a table
// with a column per scalar field; -o json|yaml print the answer as it came.

import { keyValues, UsageError, type Args } from './args.js';
import { queryOf, subresourcePath } from './api.js';
import { outputFlag, outputFormat, type Command, type Context } from './command.js';
import { write } from './io.js';
import { itemsTable, table, toJson, toYaml } from './print.js';

const formats = ['json', 'yaml'];

const paramFlag = {
  name: 'param',
  kind: 'list',
  value: 'NAME=VALUE',
  help: 'A query parameter the API declares (repeat it for more, or for a list).',
} as const;

async function callApi(
  ctx: Context,
  args: Args,
  name: string,
  path: string,
  query: [string, string][],
): Promise<number> {
  const output = outputFormat(args, formats);
  const { client, namespace } = ctx.cluster();
  const [bare, given = ''] = path.split(/\?(.*)/s, 2);
  const extra = queryOf(query).slice(1);
  const search = [given, extra].filter((q) => q !== '').join('&');
  const full = subresourcePath(namespace, name, `${bare ?? ''}${search ? `?${search}` : ''}`);
  const answer = await ctx.waiting(
    `Calling ${bare ?? ''} of ${namespace}/${name}…`,
    client.get<unknown>(full),
  );
  if (output === 'json' || output === 'yaml') {
    await write(ctx.io.stdout, output === 'json' ? toJson(answer) : toYaml(answer));
    return 0;
  }
  const shown = itemsTable(answer);
  if (!shown) {
    await write(ctx.io.stdout, toYaml(answer));
    return 0;
  }
  if (shown.rows.length === 0) {
    await write(ctx.io.stderr, 'No resources found.\n');
    return 0;
  }
  await write(ctx.io.stdout, table(shown.headers, shown.rows));
  const total = (answer as { listMeta?: { totalItems?: unknown } }).listMeta?.totalItems;
  if (typeof total === 'number' && total > shown.rows.length) {
    await write(
      ctx.io.stderr,
      `${shown.rows.length} of ${total} items: --param page=N (and --param itemsPerPage=N) for the others\n`,
    );
  }
  return 0;
}

function refs(kind: 'branches' | 'tags'): Command {
  return {
    name: kind,
    summary: `List the ${kind} of a repository through a Connector (its class's /${kind} API)`,
    description: `
List the ${kind} of a repository on the Connector's tool, through the class API /${kind} that the
git, gitlab and github classes declare${kind === 'tags' ? ' (the oci class too: the tags of an image repository)' : ''}.
The Connector's credential is used by the server; you need RBAC verb get on connectors/${kind}
(group subresources.connectors.alauda.io), which the view, edit and admin roles include.`,
    usage: `NAME --repository REPOSITORY [--search TEXT] [options]`,
    examples: `
# The ${kind} of org/app.git on the Git server of Connector demo-git
kubectl connectors ${kind} demo-git --repository org/app.git

# Only those whose name contains "release", as JSON
kubectl connectors ${kind} demo-git --repository org/app.git --search release -o json

# The second page of 50
kubectl connectors ${kind} demo-git --repository org/app.git --param page=2 --param itemsPerPage=50`,
    flags: [
      {
        name: 'repository',
        kind: 'string',
        value: 'REPOSITORY',
        default: '',
        help: "The repository, as its path under the Connector's address (e.g. org/app.git; for oci, team/app).",
      },
      {
        name: 'search',
        kind: 'string',
        value: 'TEXT',
        default: '',
        help: `Only ${kind} whose name contains TEXT.`,
      },
      paramFlag,
      outputFlag(formats),
    ],
    async run(ctx, args) {
      const [name, ...extra] = args.positionals;
      if (name === undefined || extra.length > 0) throw new UsageError(`give one Connector NAME`);
      const repository = args.str('repository');
      if (repository === '') throw new UsageError('--repository is required');
      const query: [string, string][] = [['repository', repository]];
      if (args.str('search') !== '') query.push(['search', args.str('search')]);
      return callApi(ctx, args, name, kind, [...query, ...keyValues(args.list('param'), '--param')]);
    },
  };
}

export const branches = refs('branches');
export const tags = refs('tags');

export const api: Command = {
  name: 'api',
  summary: "Call any API a Connector's class declares (GET), shown as a table",
  description: `
GET one of the paths a Connector's class declares in spec.api.openapi (see the APIS column of
"kubectl connectors get -o wide"), with query parameters from --param (or in PATH). A list answer
is shown as a table; -o json|yaml print the answer as it came. RBAC: verb get on
connectors/<the path's first segment> (group subresources.connectors.alauda.io).`,
  usage: 'NAME PATH [--param NAME=VALUE]... [options]',
  examples: `
# The refs of a repository, by its clone URL (the git class's /git/gitrefs)
kubectl connectors api demo-git /git/gitrefs --param repositoryUrl=https://git.example.com/org/app.git

# The same query written into the path, as JSON
kubectl connectors api demo-git '/branches?repository=org/app.git' -o json`,
  flags: [paramFlag, outputFlag(formats)],
  async run(ctx, args) {
    const [name, path, ...extra] = args.positionals;
    if (name === undefined || path === undefined || extra.length > 0) {
      throw new UsageError('give a Connector NAME and a PATH its class declares');
    }
    return callApi(ctx, args, name, path.replace(/^\/+/, ''), keyValues(args.list('param'), '--param'));
  },
};
