// Entry point of the MySQL Connectors Proxy:
//   node dist/mysqlproxy/main.js --proxy-ca-cert-file=… --proxy-ca-key-file=… [--mysql-port=3306] …

import { runKubeEntryPoint } from '../kube/entrypoint.js';
import { parseConfig } from './options.js';
import { startMysqlProxy } from './server.js';

runKubeEntryPoint('connectors-mysql-proxy', parseConfig, startMysqlProxy);
