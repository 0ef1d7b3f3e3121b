// Entry point of the Connectors Proxy:
//   node dist/connproxy/main.js --port=8080 [--proxy-ca-cert-file=… --proxy-ca-key-file=…] …

import { KubeConfig } from '@kubernetes/client-node';
import { runEntryPoint } from '../apiserver/machinery/lifecycle.js';
import { parseConfig } from './options.js';
import { startProxy } from './server.js';

runEntryPoint('connectors-proxy', parseConfig, (config, log) => {
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return startProxy(config, kc, log);
});
