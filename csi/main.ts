// Entry point of the connectors-csi node plugin:
//   CSI_ENDPOINT=unix:///csi/csi.sock NODE_NAME=node-1 node dist/csi/main.js [flags]

import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { startDriver } from './driver.js';
import { parseConfig } from './options.js';

runKubeEntryPoint('connectors-csi', (argv) => parseConfig(argv), startDriver);
