// What crosses between the server's thread and the sandbox's worker thread: JSON-shaped data only
// (structured clone), never a function or a handle into the VM.

/** A value JSON can represent: what expressions receive as context and return as results. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Why an expression has no value: `syntax` (it does not parse), `runtime` (it threw, including a
 * stack overflow), `timeout` and `memory` (it exceeded the call's bounds), `result` (its value is
 * not JSON, or too large), `busy` (too many evaluations were already waiting: answer 429/503).
 */
export type FailureKind = 'syntax' | 'runtime' | 'timeout' | 'memory' | 'result' | 'busy';

export type Outcome = { ok: true; value: JsonValue } | { ok: false; error: string; kind: FailureKind };

/**
 * Bounds of one evaluate() call: the whole batch of sources shares them. `timeoutMs` counts the
 * sandbox thread's CPU time (vm.ts); whatever happens, the call is answered within timeoutMs + 1 s
 * of wall-clock time (index.ts). `memoryBytes` is QuickJS's heap limit.
 */
export interface SandboxLimits {
  timeoutMs: number;
  memoryBytes: number;
}

/** One evaluate() call, as the worker receives it; `context` is JSON text, parsed inside the VM. */
export interface EvaluateRequest {
  id: number;
  sources: readonly string[];
  context: string;
}

/** The worker starts with the sandbox's limits as its workerData. */
export type WorkerData = SandboxLimits;

/** The worker's first message (its engine is loaded), then one answer per request. */
export type WorkerMessage = { ready: true } | { id: number; outcomes: Outcome[] };
