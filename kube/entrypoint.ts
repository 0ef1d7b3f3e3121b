// The life of an entry point that talks to kube-apiserver: runEntryPoint, with the cluster access
// read (--kubeconfig, else $KUBECONFIG, ~/.kube/config or in-cluster) and one lean client for the
// whole process, closed after the process's own shutdown.

import { runEntryPoint, type Stoppable } from '../machinery/lifecycle.js';
import type { LogLevel, Logger } from '../machinery/log.js';
import { KubeClient } from './client.js';
import { loadClusterAccess } from './config.js';

export function runKubeEntryPoint<C extends { logLevel: LogLevel; kubeconfig: string | undefined }>(
  component: string,
  parse: (argv: string[]) => C,
  start: (config: C, kube: KubeClient, log: Logger) => Promise<Stoppable>,
): void {
  runEntryPoint(component, parse, async (config, log) => {
    const access = loadClusterAccess({ kubeconfig: config.kubeconfig });
    const kube = new KubeClient(access, { userAgent: component });
    const running = await start(config, kube, log);
    return {
      shutdown: async () => {
        await running.shutdown();
        await kube.close();
      },
    };
  });
}
