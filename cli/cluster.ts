// The cluster a command talks to, chosen as kubectl chooses it: --kubeconfig, else $KUBECONFIG
// (several files merged), else ~/.kube/config, else in-cluster; the current context or --context;
// the namespace from -n, else the context's, else `default`. Exec credential plugins may talk to
// the user at the terminal, as kubectl lets them.

import type { FlagDef } from './args.js';
import type { Args } from './args.js';
import type { Where } from './errors.js';
import { KubeClient } from '../kube/client.js';
import { loadClusterAccess } from '../kube/config.js';

export const globalFlags: FlagDef[] = [
  {
    name: 'kubeconfig',
    kind: 'string',
    value: 'PATH',
    default: '',
    help: 'Path to the kubeconfig file to use.',
  },
  {
    name: 'context',
    kind: 'string',
    value: 'CONTEXT',
    default: '',
    help: 'The name of the kubeconfig context to use.',
  },
  {
    name: 'namespace',
    short: 'n',
    kind: 'string',
    value: 'NAMESPACE',
    default: '',
    help: "If present, the namespace scope for this request (else the context's, else default).",
  },
];

export interface Cluster {
  client: KubeClient;
  namespace: string;
  where: Where;
}

export function openCluster(args: Args, env: NodeJS.ProcessEnv): Cluster {
  const access = loadClusterAccess({
    kubeconfig: args.str('kubeconfig') || undefined,
    context: args.str('context') || undefined,
    env,
    ...(env['HOME'] ? { home: env['HOME'] } : {}),
    userAtTerminal: true,
  });
  return {
    client: new KubeClient(access, { userAgent: 'kubectl-connectors', connections: 4 }),
    namespace: args.str('namespace') || access.namespace || 'default',
    where: { server: access.server, source: access.source, context: access.context },
  };
}
