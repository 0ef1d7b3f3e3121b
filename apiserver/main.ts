// Entry point of the aggregated API server.

import { tuneHeapForStreaming } from '../machinery/heap.js';
import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { parseConfig } from './options.js';
import { startServer } from './server.js';

tuneHeapForStreaming();
runKubeEntryPoint('connectors-apiserver', (argv) => parseConfig(argv), startServer);
