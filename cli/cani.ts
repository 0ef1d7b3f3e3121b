// `kubectl connectors can-i VERB SUBRESOURCE [NAME]`: asks the API server, as yourself, the
// question it asks for every call to a Connector: may this user do VERB on connectors/SUBRESOURCE
// of group subresources.connectors.alauda.io (a SelfSubjectAccessReview, the review kubectl auth
// can-i sends). `-` asks about the Connector object itself (group connectors.alauda.io). An HTTP
// method stands for the verb our server checks for it (machinery/verbs.ts, the one table).

import { UsageError } from './args.js';
import type { Command } from './command.js';
import { write } from './io.js';
import { allowedMethods, resourceVerbs, verbForMethod } from '../machinery/verbs.js';
import { crdGroup, subresourceGroup } from '../registry/types.js';

interface SelfSubjectAccessReview {
  status?: { allowed?: boolean; reason?: string; evaluationError?: string };
}

/** The verb to review for VERB, which may be an HTTP method in capitals. */
export function reviewVerb(verb: string): string {
  if (/^[A-Z]+$/.test(verb)) {
    const mapped = verbForMethod(verb);
    if (!mapped) {
      throw new UsageError(`${verb} is never served to a tool (only ${allowedMethods}): no verb allows it`);
    }
    return mapped;
  }
  if (verb !== '*' && !(resourceVerbs as readonly string[]).includes(verb)) {
    throw new UsageError(
      `unknown verb "${verb}": one of ${resourceVerbs.join(', ')}, or an HTTP method (GET, POST, …)`,
    );
  }
  return verb;
}

/** The review's resource attributes for SUBRESOURCE: a path's first segment, or the Connector itself. */
export function reviewResource(subresource: string): { group: string; subresource: string } {
  const first = subresource.split('/').filter((s) => s !== '')[0];
  return subresource === '-' || subresource === '' || first === undefined
    ? { group: crdGroup, subresource: '' }
    : { group: subresourceGroup, subresource: first };
}

export const canI: Command = {
  name: 'can-i',
  summary: 'Check whether RBAC lets you use a subresource of a Connector',
  description: `
Ask the API server whether you may do VERB on the subresource SUBRESOURCE of a Connector (of any
Connector in the namespace without NAME): the SelfSubjectAccessReview "kubectl auth can-i" sends,
for resource connectors, subresource SUBRESOURCE, group subresources.connectors.alauda.io, which is
the check the API server and our server make on every call. SUBRESOURCE may be a path
(git/gitrefs: the check is on its first segment, git), or - for the Connector object itself
(group connectors.alauda.io).

VERB is an RBAC verb (get, create, update, patch, delete, list, watch) or an HTTP method, which
stands for the verb our server checks for that method: GET and HEAD get, POST create, PUT update,
PATCH patch, DELETE delete; other methods are never sent to a tool. Prints yes or no (with the
reason the server gives); the exit code is 0 for yes and 1 for no.`,
  usage: 'VERB SUBRESOURCE [NAME] [options]',
  examples: `
# May I send POST requests to the tool of demo-tool?
kubectl connectors can-i create proxy demo-tool

# The same, by method
kubectl connectors can-i POST proxy demo-tool

# May I list branches through demo-git?
kubectl connectors can-i get branches demo-git

# May I resolve ResourceInterfaces for demo-git?
kubectl connectors can-i get resourceinterfaces demo-git

# May I read the Connector itself?
kubectl connectors can-i get - demo-git`,
  flags: [
    {
      name: 'quiet',
      short: 'q',
      kind: 'bool',
      default: false,
      help: 'Print nothing; only the exit code says.',
    },
  ],
  async run(ctx, args) {
    const [verbArg, subArg, name = '', ...extra] = args.positionals;
    if (verbArg === undefined || subArg === undefined || extra.length > 0) {
      throw new UsageError('give VERB SUBRESOURCE and at most one NAME');
    }
    const verb = reviewVerb(verbArg);
    const { group, subresource } = reviewResource(subArg);
    const { client, namespace } = ctx.cluster();
    const review = await ctx.waiting(
      'Asking the API server…',
      client.post<SelfSubjectAccessReview>('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { namespace, verb, group, resource: 'connectors', subresource, name } },
      }),
    );
    const allowed = review.status?.allowed === true;
    if (!args.bool('quiet')) {
      const why = [review.status?.reason, review.status?.evaluationError].filter(
        (s) => s !== undefined && s !== '',
      );
      await write(ctx.io.stdout, allowed ? 'yes\n' : `no${why.map((w) => ` - ${w ?? ''}`).join('')}\n`);
    }
    return allowed ? 0 : 1;
  },
};
