// Entry point of the aggregated API server.

import { KubeConfig } from '@kubernetes/client-node';
import { runEntryPoint } from './machinery/lifecycle.js';
import { parseConfig } from './options.js';
import { startServer } from './server.js';

runEntryPoint(
  'connectors-apiserver',
  (argv) => parseConfig(argv),
  (config, log) => {
    const kc = new KubeConfig();
    if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
    else kc.loadFromDefault();
    return startServer(config, kc, log);
  },
);
