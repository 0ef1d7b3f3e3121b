// The JavaScript expression sandbox of ResourceInterfaces: `{connector.spec.address + '/' +
// params.repository}`, `{params.tags.map(tag => url(connector.spec.address).host + ':' + tag)}`,
// `{connector.spec.address.replace(/\/+$/, '')}`, `{JSON.stringify({…: params.x || ''})}`.
//
// Measured (Node 24, 2 cores, idle): the first call costs 170 ms (worker start, engine load,
// warm-up; 0.3-1.3 s under load average 7-11), a warm call with the four GitCodeRepository
// expressions 0.6 ms median (p90 1.8 ms), and the worker adds 30-33 MiB of RSS on first use, 45
// after 300 calls, 90 after an expression fills the 32 MiB limit (its WebAssembly memory, capped at
// 64 MiB, never shrinks).
//
// Why QuickJS compiled to WebAssembly. The published expressions are real JavaScript: arrow
// functions, regex literals, String/Array/JSON methods, `||`, and the docs promise "other
// JavaScript syntaxes"; jsep or an evaluator of our own would be a second, partial JavaScript whose
// semantics drift from the browser sandbox upstream uses. node:vm runs code in V8 on the host's
// heap, with no memory limit, and is no security boundary (Node's documentation says so;
// `this.constructor.constructor('return process')()` is the classic escape). QuickJS in
// WebAssembly has a heap of its own, a memory limit, an interrupt deadline, and sees nothing of the
// host unless handed it: its globals are ECMAScript's built-ins (no std/os modules, no console, no
// timers, no module loader), plus url(x) (vm.ts).
//
// Why a worker thread. An expression that runs to its deadline would hold the server's event loop
// for that long, and every proxied stream with it. Worse, QuickJS's interrupt handler runs between
// bytecodes, but a native built-in looping over an array-like of length 2**53
// (`Array.prototype.indexOf.call({length: 2**53}, 1)`) never yields to it. In a worker both stall
// only the worker, which is terminated deadline + grace after the call was sent and replaced for
// the next call. One worker serves calls in order; a bounded queue answers `busy` beyond it.

import { Worker } from 'node:worker_threads';
import type {
  EvaluateRequest,
  JsonValue,
  Outcome,
  SandboxLimits,
  WorkerData,
  WorkerMessage,
} from './protocol.js';

export type { FailureKind, JsonValue, Outcome, SandboxLimits } from './protocol.js';

export const defaultLimits: Readonly<SandboxLimits> = { timeoutMs: 100, memoryBytes: 32 * 1024 * 1024 };

/** Calls waiting behind the one in the worker; more are answered `busy` at once. */
export const maxWaiting = 64;
/**
 * How long past its deadline a call may go unanswered before its worker is presumed stuck in a
 * native loop. Generous: the deadline counts the worker's CPU time (vm.ts), and on a busy node a
 * thread's wall-clock time runs ahead of it; only a worker stuck in native code should miss this.
 */
const hangGraceMs = 1000;

interface Job {
  sources: readonly string[];
  context: string;
  resolve(outcomes: Outcome[]): void;
  reject(error: Error): void;
}

interface InFlight {
  job: Job;
  id: number;
  timer: NodeJS.Timeout;
}

export interface SandboxOptions {
  /** The worker's script, for tests (a stand-in that crashes). */
  workerUrl?: URL;
}

function validLimits(limits: Partial<SandboxLimits>): SandboxLimits {
  const { timeoutMs, memoryBytes } = { ...defaultLimits, ...limits };
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
    throw new RangeError(
      `expression sandbox: timeoutMs must be a whole number from 1 to 60000, not ${timeoutMs}`,
    );
  }
  if (!Number.isInteger(memoryBytes) || memoryBytes < 2 ** 20 || memoryBytes > 2 ** 29) {
    throw new RangeError(
      `expression sandbox: memoryBytes must be a whole number from 1 MiB to 512 MiB, not ${memoryBytes}`,
    );
  }
  return { timeoutMs, memoryBytes };
}

export class ExpressionSandbox {
  readonly limits: Readonly<SandboxLimits>;
  readonly #workerUrl: URL;
  #worker: Worker | undefined;
  #ready = false;
  #inFlight: InFlight | undefined;
  readonly #waiting: Job[] = [];
  readonly #stopping = new Set<Promise<number>>();
  #nextId = 1;
  #closed = false;

  constructor(limits: Partial<SandboxLimits> = {}, options: SandboxOptions = {}) {
    this.limits = validLimits(limits);
    this.#workerUrl = options.workerUrl ?? new URL('./worker.js', import.meta.url);
  }

  /**
   * Evaluates each source (the expression text WITHOUT the surrounding braces) over `context`
   * (JSON data: each key becomes a global, e.g. params, connector). One Outcome per source, in
   * order. Rejects only when the sandbox itself fails (closed, or its worker died).
   */
  evaluate(sources: readonly string[], context: Readonly<Record<string, JsonValue>>): Promise<Outcome[]> {
    if (this.#closed) return Promise.reject(new Error('the expression sandbox is closed'));
    if (sources.length === 0) return Promise.resolve([]);
    if (this.#waiting.length >= maxWaiting) {
      const busy: Outcome = {
        ok: false,
        kind: 'busy',
        error: `the expression sandbox is busy: ${maxWaiting} evaluations are already waiting`,
      };
      return Promise.resolve(sources.map(() => busy));
    }
    const contextJson = JSON.stringify(context);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ sources: [...sources], context: contextJson, resolve, reject });
      this.#pump();
    });
  }

  /** Stops the worker; calls still waiting or running are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    const error = new Error('the expression sandbox is closed');
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    if (inFlight) {
      clearTimeout(inFlight.timer);
      inFlight.job.reject(error);
    }
    for (const job of this.#waiting.splice(0)) job.reject(error);
    if (this.#worker) this.#stop(this.#worker);
    await Promise.all(this.#stopping);
  }

  /** Sends the next waiting call when the worker is free, starting a worker if there is none. */
  #pump(): void {
    if (this.#closed) return;
    const next = this.#inFlight === undefined ? this.#waiting[0] : undefined;
    if (next !== undefined) {
      const worker = this.#worker ?? this.#start();
      if (this.#ready) {
        this.#waiting.shift();
        const id = this.#nextId++;
        const timer = setTimeout(() => {
          this.#hung(worker, id);
        }, this.limits.timeoutMs + hangGraceMs);
        this.#inFlight = { job: next, id, timer };
        const request: EvaluateRequest = { id, sources: next.sources, context: next.context };
        worker.postMessage(request);
      }
    }
    // An idle worker does not keep the process alive; one with work does, until it answers.
    if (this.#inFlight === undefined && this.#waiting.length === 0) this.#worker?.unref();
    else this.#worker?.ref();
  }

  #start(): Worker {
    const workerData: WorkerData = { ...this.limits };
    const worker = new Worker(this.#workerUrl, {
      name: 'expression-sandbox',
      workerData,
      // Nothing of the server's environment or flags: the thread needs none of it.
      env: {},
      argv: [],
      execArgv: [],
      // A deep native stack, so QuickJS's own stack bound (vm.ts) always trips first; a small heap,
      // since values live in the WebAssembly memory, and only JSON crosses.
      resourceLimits: { stackSizeMb: 16, maxOldGenerationSizeMb: 64 },
    });
    this.#worker = worker;
    this.#ready = false;
    let failure: string | undefined;
    worker.on('message', (message: WorkerMessage) => {
      if (this.#worker !== worker) return;
      if ('ready' in message) {
        this.#ready = true;
      } else {
        const inFlight = this.#inFlight;
        if (inFlight?.id !== message.id) return;
        clearTimeout(inFlight.timer);
        this.#inFlight = undefined;
        inFlight.job.resolve(message.outcomes);
      }
      this.#pump();
    });
    worker.on('error', (error: unknown) => {
      failure = error instanceof Error ? error.message : String(error);
    });
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      const error = new Error(
        `the expression sandbox's worker stopped${failure === undefined ? ` with exit code ${code}` : `: ${failure}`}`,
      );
      const inFlight = this.#inFlight;
      this.#inFlight = undefined;
      if (inFlight) {
        clearTimeout(inFlight.timer);
        inFlight.job.reject(error);
      }
      // A worker that never became ready would fail the same way for every call: fail them all
      // rather than start one worker after another; the next call tries afresh.
      if (!this.#ready) for (const job of this.#waiting.splice(0)) job.reject(error);
      this.#pump();
    });
    return worker;
  }

  /** The call did not come back in time: its worker is stuck in native code. Replace it. */
  #hung(worker: Worker, id: number): void {
    const inFlight = this.#inFlight;
    if (this.#worker !== worker || inFlight?.id !== id) return;
    this.#inFlight = undefined;
    this.#stop(worker);
    const timedOut: Outcome = {
      ok: false,
      kind: 'timeout',
      error: `exceeded the time limit of ${this.limits.timeoutMs} ms`,
    };
    inFlight.job.resolve(inFlight.job.sources.map(() => timedOut));
    this.#pump();
  }

  #stop(worker: Worker): void {
    if (this.#worker === worker) this.#worker = undefined;
    const stopping = worker.terminate();
    this.#stopping.add(stopping);
    void stopping.finally(() => this.#stopping.delete(stopping));
  }
}

/**
 * Whether a ResourceInterface string is an expression: `{expr}` → 'expr' (the text between the
 * braces), anything else → null (a literal). The trimmed text must start with { and end with }.
 */
export function expressionSource(text: string): string | null {
  const trimmed = text.trim();
  return trimmed.length >= 2 && trimmed.startsWith('{') && trimmed.endsWith('}')
    ? trimmed.slice(1, -1)
    : null;
}
