// The echo tool (hack/tools/echo-tool.ts: /bytes/{n}, /sink) as a process of its own, so that in
// the streaming rows the tool does not share an event loop with the client measuring it:
//   BENCH_TOOL_USER=… BENCH_TOOL_PASSWORD=… node dist/bench/echo-tool-main.js <port>

import { startEchoTool } from '../hack/tools/echo-tool.js';

await startEchoTool({
  port: Number(process.argv[2]),
  username: process.env.BENCH_TOOL_USER,
  password: process.env.BENCH_TOOL_PASSWORD,
});
