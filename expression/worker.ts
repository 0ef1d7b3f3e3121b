// The sandbox's worker thread: loads the QuickJS WebAssembly module once, warms it up, says it is
// ready, then answers one request at a time (vm.ts). Whatever escapes vm.ts (a WebAssembly abort)
// is left uncaught on purpose: the thread dies with its possibly damaged module, and the server
// starts a fresh one (index.ts).

import { parentPort, workerData } from 'node:worker_threads';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSSyncVariant,
} from 'quickjs-emscripten-core';
import type { EvaluateRequest, WorkerData, WorkerMessage } from './protocol.js';
import { evaluateBatch } from './vm.js';

const port = parentPort;
if (port === null) throw new Error('expression/worker.js runs only as the expression sandbox worker thread');
const limits = workerData as WorkerData;

// V8's global; TypeScript declares it only in its DOM libraries.
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => unknown };

// QuickJS's limit counts what it allocates; the allocator beneath it fragments, and the module's
// memory grows in steps and never shrinks, so alone it lets the WebAssembly memory reach about
// three times the limit (measured: 101 MiB for 32). A memory of our own with a maximum makes the
// worker's footprint a bound: the build's initial 16 MiB (its static data and 5 MiB C stack) plus
// one and a half times the limit, past which an allocation fails inside QuickJS as "out of memory".
const page = 64 * 1024;
const initialBytes = 16 * 1024 * 1024;
const wasmMemory = new WebAssembly.Memory({
  initial: initialBytes / page,
  maximum: Math.ceil((initialBytes + 1.5 * limits.memoryBytes) / page),
});
// The release build with a separate .wasm file, read from node_modules. Its types describe the
// CommonJS build; Node loads the ES module build, whose default export is the variant.
const release = (await import('@jitl/quickjs-wasmfile-release-sync')) as unknown as {
  default: QuickJSSyncVariant;
};
const qjs = await newQuickJSWASMModuleFromVariant(newVariant(release.default, { wasmMemory }));

// V8 compiles WebAssembly lazily, function by function: the first evaluation would spend 100 ms
// and more compiling the engine, charged to its caller's deadline. Run the published expressions'
// shapes (concatenation, url() in an arrow function, a regex literal, JSON.stringify, a thrown
// error, a syntax error) before saying ready, so callers meet a compiled engine.
const warmUp: EvaluateRequest = {
  id: 0,
  sources: [
    "connector.spec.address + '/' + params.repository",
    "params.tags.map((tag) => url(connector.spec.address).host + '/' + params.repository + ':' + tag)",
    "connector.spec.address.replace(/\\/+$/, '') + '/repository/' + params.repository",
    "JSON.stringify({ settings: { mirror: params.mirror || '' } })",
    'params.missing.field',
    'params.repository +',
  ],
  context: JSON.stringify({
    params: { repository: 'org/app', tags: ['v1', 'v2'] },
    connector: {
      metadata: { name: 'warm-up', namespace: 'default' },
      spec: { address: 'https://example.com/' },
    },
  }),
};
for (let round = 0; round < 2; round++)
  evaluateBatch(qjs, { timeoutMs: 10_000, memoryBytes: limits.memoryBytes }, warmUp);

port.on('message', (request: EvaluateRequest) => {
  const answer: WorkerMessage = { id: request.id, outcomes: evaluateBatch(qjs, limits, request) };
  port.postMessage(answer);
});
const ready: WorkerMessage = { ready: true };
port.postMessage(ready);
