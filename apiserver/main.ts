// Entry point of the aggregated API server.

import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { parseConfig } from './options.js';
import { startServer } from './server.js';

runKubeEntryPoint('connectors-apiserver', (argv) => parseConfig(argv), startServer);
