// Entry point of the status controller:
//   node dist/controller/main.js [--kubeconfig=…] [--probe-interval=60s] [--leader-elect=true] …

import { KubeConfig } from '@kubernetes/client-node';
import { runEntryPoint } from '../apiserver/machinery/lifecycle.js';
import { startController } from './controller.js';
import { parseConfig } from './options.js';

runEntryPoint(
  'connectors-controller',
  (argv) => parseConfig(argv),
  (config, log) => {
    const kc = new KubeConfig();
    if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
    else kc.loadFromDefault();
    return startController(config, kc, log);
  },
);
