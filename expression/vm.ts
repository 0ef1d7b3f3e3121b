// One evaluate() call inside QuickJS, in the worker thread (worker.ts). Each call gets a fresh
// runtime and context, so nothing an expression does outlives its call; all sources of the call
// share that context, its memory limit (QuickJS's allocator refuses past it: "out of memory") and
// one deadline (QuickJS's interrupt handler, polled by its interpreter, stops the code after it).
// The deadline counts the worker thread's CPU time: it bounds the expression's own work, and a busy
// node (other threads, other pods) cannot turn a legitimate expression into a timeout. The bound
// in wall-clock time is the server's: deadline + grace, then the worker is replaced (index.ts).
//
// No code of ours is ever built from data: the context enters as JSON text that the VM parses,
// and every source is compiled as written. What the host reads back goes through functions that
// a constant prelude captured before any expression ran (JSON.stringify, the error describer), so
// an expression that replaces JSON or Error.prototype fools only itself; whatever user code those
// functions reach (a getter, a toJSON) still runs inside the VM under the same bounds.
//
// Every QuickJS handle the host takes is disposed: freeing a runtime that still has a live object
// aborts the WebAssembly module (the worker then dies, and the server starts another).

import type {
  QuickJSContext,
  QuickJSHandle,
  QuickJSRuntime,
  QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import type { EvaluateRequest, FailureKind, JsonValue, Outcome, SandboxLimits } from './protocol.js';

/**
 * QuickJS's own stack bound. Its check measures the C stack in WebAssembly memory, while the
 * engine's frames also take the worker's native stack (16 MiB, index.ts): the parser takes about
 * 4-8 MiB of native stack for 256 KiB of its own, so a deeply nested expression ("((((…") meets
 * this bound, a clean "InternalError: stack overflow", long before the thread's.
 */
const maxStackBytes = 256 * 1024;
/** A value's JSON text, and the sum over one call: what may cross back to the server's thread. */
const maxResultChars = 1024 * 1024;
const maxTotalResultChars = 4 * maxResultChars;
/** Errors are the engine's name and message; a thrown string can be long. */
const maxErrorChars = 500;
/** url() parses on the host (below), outside the interrupt handler's reach: bounded by input. */
const maxUrlChars = 64 * 1024;

// Runs first in every context, before any expression: captures what the host relies on and
// returns [install, describe, serialize].
const prelude = `(() => {
  'use strict';
  const { parse, stringify } = JSON;
  const { defineProperty, keys } = Object;
  const toString = String;
  const InvalidUrl = TypeError;
  const global = globalThis;
  const install = (contextJson, parseUrl) => {
    const context = parse(contextJson);
    for (const name of keys(context)) {
      defineProperty(global, name, { value: context[name], writable: true, enumerable: true, configurable: true });
    }
    const url = function url(input) {
      const fields = parseUrl(toString(input));
      if (fields === undefined) throw new InvalidUrl('Invalid URL');
      return parse(fields);
    };
    defineProperty(global, 'url', { value: url, writable: true, enumerable: false, configurable: true });
  };
  const describe = (thrown) => {
    try {
      if ((typeof thrown === 'object' && thrown !== null) || typeof thrown === 'function') {
        const name = thrown.name;
        const message = thrown.message;
        if (typeof message !== 'string') return 'uncaught exception: a value that is not an Error';
        const kind = typeof name === 'string' && name !== '' ? name : 'Error';
        return message === '' ? kind : kind + ': ' + message;
      }
      return 'uncaught exception: ' + toString(thrown);
    } catch {
      return 'uncaught exception: a value that could not be described';
    }
  };
  const serialize = (value) => stringify(value);
  return [install, describe, serialize];
})()`;

/**
 * url(x) is a host function: WHATWG URL parsing (special schemes, IDNA, IPv4/IPv6 host forms,
 * percent-encoding sets, default ports) is large, and upstream evaluates these expressions in a
 * browser, whose URL is the WHATWG one, as Node's is; a parser of our own inside the VM would be
 * new code that drifts from both. The host side takes one string (capped) and returns one JSON
 * string of plain fields, so the VM receives no object of the host. The user name and password
 * are left out, of the fields and of href: an address's credentials never travel further.
 */
function urlFields(input: string): string | undefined {
  if (input.length > maxUrlChars || !URL.canParse(input)) return undefined;
  const url = new URL(input);
  url.username = '';
  url.password = '';
  const { href, protocol, host, hostname, port, pathname, search, hash, origin } = url;
  return JSON.stringify({ href, protocol, host, hostname, port, pathname, search, hash, origin });
}

const failed = (kind: FailureKind, error: string): Outcome => ({ ok: false, kind, error });

/** CPU time of this thread, in milliseconds. */
function cpuMs(): number {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
}

function trimmed(text: string): string {
  return text.length <= maxErrorChars ? text : `${text.slice(0, maxErrorChars - 1)}…`;
}

function whatIsNotJson(type: string): string {
  if (type === 'undefined') return 'undefined';
  if (type === 'function' || type === 'symbol') return `a ${type}`;
  return 'a value without a JSON form';
}

/** Evaluates `request.sources` in order, within `limits`; one Outcome each. */
export function evaluateBatch(
  qjs: QuickJSWASMModule,
  limits: SandboxLimits,
  request: EvaluateRequest,
): Outcome[] {
  const deadline = cpuMs() + limits.timeoutMs;
  let interrupted = false;
  const runtime = qjs.newRuntime({
    memoryLimitBytes: limits.memoryBytes,
    maxStackSizeBytes: maxStackBytes,
    interruptHandler: () => (interrupted ||= cpuMs() >= deadline),
  });
  try {
    const vm = runtime.newContext();
    try {
      return new Evaluation(runtime, vm, limits, request, deadline, () => interrupted).run();
    } finally {
      vm.dispose();
    }
  } finally {
    runtime.dispose();
  }
}

class Evaluation {
  readonly #timedOut: Outcome;
  readonly #outOfMemory: Outcome;
  #resultChars = 0;

  constructor(
    private readonly runtime: QuickJSRuntime,
    private readonly vm: QuickJSContext,
    limits: SandboxLimits,
    private readonly request: EvaluateRequest,
    private readonly deadline: number,
    private readonly interrupted: () => boolean,
  ) {
    this.#timedOut = failed('timeout', `exceeded the time limit of ${limits.timeoutMs} ms`);
    const mib = Number((limits.memoryBytes / (1024 * 1024)).toFixed(2));
    this.#outOfMemory = failed('memory', `exceeded the memory limit of ${mib} MiB`);
  }

  run(): Outcome[] {
    const helpers = this.vm.evalCode(prelude, 'sandbox', { type: 'global', strict: true });
    if (helpers.error) {
      helpers.error.dispose();
      // Our constant prelude fails only when the bounds are too small for the engine to start.
      const outcome = this.interrupted() ? this.#timedOut : this.#outOfMemory;
      return this.request.sources.map(() => outcome);
    }
    const install = this.vm.getProp(helpers.value, 0);
    const describe = this.vm.getProp(helpers.value, 1);
    const serialize = this.vm.getProp(helpers.value, 2);
    helpers.value.dispose();
    try {
      const unusable = this.#install(install, describe);
      return this.request.sources.map((source) => unusable ?? this.#evaluate(source, describe, serialize));
    } finally {
      install.dispose();
      describe.dispose();
      serialize.dispose();
    }
  }

  /** Defines the context's globals and url(); an Outcome for every source when that fails. */
  #install(install: QuickJSHandle, describe: QuickJSHandle): Outcome | undefined {
    const vm = this.vm;
    const context = vm.newString(this.request.context);
    const parseUrl = vm.newFunction('parseUrl', (...args) => {
      const input = args[0];
      if (input === undefined || vm.typeof(input) !== 'string') return vm.undefined;
      const fields = urlFields(vm.getString(input));
      return fields === undefined ? vm.undefined : vm.newString(fields);
    });
    try {
      const result = vm.callFunction(install, vm.undefined, context, parseUrl);
      if (result.error) return this.#failure(result.error, describe);
      result.value.dispose();
      return undefined;
    } finally {
      context.dispose();
      parseUrl.dispose();
    }
  }

  #evaluate(source: string, describe: QuickJSHandle, serialize: QuickJSHandle): Outcome {
    if (this.interrupted() || cpuMs() >= this.deadline) return this.#timedOut;
    // An expression, not a statement list: `{a: 1}` is an object, as in `return (…)`. The newline
    // lets a source end in a // comment.
    const code = `(${source}\n)`;
    // Compiling apart from running tells a syntax error from a SyntaxError the code throws later
    // (eval('('), JSON.parse), at the price of parsing a one-line expression twice.
    const compiled = this.vm.evalCode(code, 'expression', { type: 'global', compileOnly: true });
    if (compiled.error) {
      const failure = this.#failure(compiled.error, describe);
      return !failure.ok && failure.kind === 'runtime' ? { ...failure, kind: 'syntax' } : failure;
    }
    compiled.value.dispose();
    const evaluated = this.vm.evalCode(code, 'expression', { type: 'global' });
    if (evaluated.error) return this.#failure(evaluated.error, describe);
    const settled = this.#settle(evaluated.value, describe);
    return 'ok' in settled ? settled : this.#json(settled, describe, serialize);
  }

  /**
   * A Promise (`import('fs')` returns one) is settled by running the jobs it queued, under the
   * same deadline: its value, or its rejection as the expression's error.
   */
  #settle(value: QuickJSHandle, describe: QuickJSHandle): QuickJSHandle | Outcome {
    let state = this.vm.getPromiseState(value);
    if (state.type === 'fulfilled' && state.notAPromise) return value;
    if (state.type === 'pending') {
      const jobs = this.runtime.executePendingJobs();
      if (jobs.error) jobs.error.dispose();
      state = this.vm.getPromiseState(value);
    }
    value.dispose();
    if (state.type === 'fulfilled') return state.value;
    if (state.type === 'rejected') return this.#failure(state.error, describe);
    if (this.interrupted()) return this.#timedOut;
    return failed('result', 'the expression returned a Promise that did not settle');
  }

  /** The value as JSON (consumes the handle). */
  #json(value: QuickJSHandle, describe: QuickJSHandle, serialize: QuickJSHandle): Outcome {
    const vm = this.vm;
    try {
      const result = vm.callFunction(serialize, vm.undefined, value);
      if (result.error) {
        const failure = this.#failure(result.error, describe);
        return !failure.ok && failure.kind === 'runtime'
          ? failed('result', trimmed(`the value is not JSON: ${failure.error}`))
          : failure;
      }
      const text = result.value;
      try {
        if (vm.typeof(text) !== 'string') {
          return failed(
            'result',
            `the expression evaluated to ${whatIsNotJson(vm.typeof(value))}, which is not JSON`,
          );
        }
        const length = vm.getProp(text, 'length').consume((n) => vm.getNumber(n));
        if (length > maxResultChars) return failed('result', 'the value is larger than 1 MiB as JSON');
        if (this.#resultChars + length > maxTotalResultChars) {
          return failed('result', 'the values of this evaluation are larger than 4 MiB as JSON in total');
        }
        this.#resultChars += length;
        return { ok: true, value: JSON.parse(vm.getString(text)) as JsonValue };
      } finally {
        text.dispose();
      }
    } finally {
      value.dispose();
    }
  }

  /** What a thrown value means (consumes the handle): the deadline, the memory limit, or its text. */
  #failure(thrown: QuickJSHandle, describe: QuickJSHandle): Outcome {
    const vm = this.vm;
    try {
      if (this.interrupted()) return this.#timedOut;
      // QuickJS throws null when memory is too short even for its "out of memory" error (an
      // expression that throws null itself is reported the same way).
      if (vm.eq(thrown, vm.null)) return this.#outOfMemory;
      const described = vm.callFunction(describe, vm.undefined, thrown);
      let text: string | undefined;
      if (described.error) described.error.dispose();
      else text = described.value.consume((t) => (vm.typeof(t) === 'string' ? vm.getString(t) : undefined));
      if (this.interrupted()) return this.#timedOut;
      // describe() catches all it can: it fails only when memory is too short to run it at all.
      if (text === undefined || text === 'InternalError: out of memory') return this.#outOfMemory;
      return failed('runtime', trimmed(text));
    } finally {
      thrown.dispose();
    }
  }
}
