// Entry point of the Connectors Proxy:
//   node dist/connproxy/main.js --port=8080 [--proxy-ca-cert-file=… --proxy-ca-key-file=…] …

import { tuneHeapForStreaming } from '../machinery/heap.js';
import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { startProxy } from './server.js';
import { parseConfig } from './options.js';

tuneHeapForStreaming();
runKubeEntryPoint('connectors-proxy', parseConfig, startProxy);
