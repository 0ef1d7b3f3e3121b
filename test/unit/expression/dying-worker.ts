// A stand-in for expression/worker.ts that speaks its protocol but dies on demand, so the tests can
// show the sandbox surviving a worker that crashes (a real crash of the QuickJS worker would take a
// bug in the engine). Each source answers with itself; the source `exit` ends the thread with code
// 3, the source `throw` throws out of it.

import { parentPort } from 'node:worker_threads';
import type { EvaluateRequest, WorkerMessage } from '../../../expression/protocol.js';

const port = parentPort!;
port.on('message', (request: EvaluateRequest) => {
  if (request.sources[0] === 'exit') process.exit(3);
  if (request.sources[0] === 'throw') throw new Error('the stand-in worker failed');
  const answer: WorkerMessage = {
    id: request.id,
    outcomes: request.sources.map((value) => ({ ok: true, value })),
  };
  port.postMessage(answer);
});
const ready: WorkerMessage = { ready: true };
port.postMessage(ready);
