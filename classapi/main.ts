// Entry point of the class API backend:
//   node dist/classapi/main.js --port=8080 --bind-address=0.0.0.0 [--upstream-response-timeout=20s …]

import { runEntryPoint } from '../apiserver/machinery/lifecycle.js';
import { parseConfig } from './options.js';
import { startBackend } from './server.js';

runEntryPoint('connectors-classapi', parseConfig, startBackend);
