// The echo tool (hack/tools/echo-tool.ts: /bytes/{n}, /sink) as a process of its own, so that in
// the streaming rows the tool does not share an event loop with the client measuring it:
//   BENCH_TOOL_USER=… BENCH_TOOL_PASSWORD=… node dist/bench/echo-tool-main.js <port> [<cert.pem> <key.pem>]
// With a certificate and key it serves HTTPS.

import { readFileSync } from 'node:fs';
import { startEchoTool } from '../hack/tools/echo-tool.js';

const [port, certFile, keyFile] = process.argv.slice(2);
await startEchoTool({
  port: Number(port),
  username: process.env.BENCH_TOOL_USER,
  password: process.env.BENCH_TOOL_PASSWORD,
  ...(certFile && keyFile
    ? { tls: { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') } }
    : {}),
});
