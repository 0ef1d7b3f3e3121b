// Entry point of the status controller:
//   node dist/controller/main.js [--kubeconfig=…] [--probe-interval=60s] [--leader-elect=true] …

import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { startController } from './controller.js';
import { parseConfig } from './options.js';

runKubeEntryPoint('connectors-controller', (argv) => parseConfig(argv), startController);
