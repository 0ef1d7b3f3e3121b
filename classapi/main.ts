// Entry point of the class API backend:
//   node dist/classapi/main.js --port=8443 --tls-cert-file=… --tls-private-key-file=… \
//     --client-ca-file=… --allowed-client-names=… [--upstream-response-timeout=20s …]

import { runEntryPoint } from '../machinery/lifecycle.js';
import { parseConfig } from './options.js';
import { startBackend } from './server.js';

runEntryPoint('connectors-classapi', parseConfig, startBackend);
