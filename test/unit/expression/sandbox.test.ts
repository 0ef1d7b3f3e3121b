// The expression sandbox (expression/) as the server uses it: hostile expressions (endless loops,
// huge allocations, deep recursion, reaching for process, require, globalThis, modules or the
// network) come back as a clear Outcome of the right kind, the server's event loop keeps turning
// meanwhile, and the next evaluation works; a worker stuck in native code or crashed is replaced;
// the queue is bounded. Kinds are asserted, never wall-clock times.

import { expect } from 'chai';
import {
  ExpressionSandbox,
  expressionSource,
  maxWaiting,
  type JsonValue,
  type Outcome,
} from '../../../expression/index.js';

const context = {
  params: { repository: 'org/app', tags: ['v1', 'v2'] },
  connector: { metadata: { name: 'github', namespace: 'team-a' }, spec: { address: 'https://github.com' } },
};

/** Evaluates while a 5 ms interval counts how often the server's event loop turned meanwhile. */
async function evaluateCountingTicks(
  sandbox: ExpressionSandbox,
  sources: string[],
): Promise<{ outcomes: Outcome[]; ticks: number }> {
  let ticks = 0;
  const interval = setInterval(() => ticks++, 5);
  try {
    return { outcomes: await sandbox.evaluate(sources, context), ticks };
  } finally {
    clearInterval(interval);
  }
}

async function one(sandbox: ExpressionSandbox, source: string): Promise<Outcome> {
  const [outcome] = await sandbox.evaluate([source], context);
  return outcome!;
}

function kindOf(outcome: Outcome): string {
  return outcome.ok ? 'ok' : outcome.kind;
}

// The VM's global object, all of it: ECMAScript's built-ins (InternalError is QuickJS's own error
// class), the context's keys and url(). Nothing of Node, of a browser or of QuickJS's std/os.
const ecmascriptGlobals = [
  'AggregateError', 'Array', 'ArrayBuffer', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'Boolean',
  'DataView', 'Date', 'Error', 'EvalError', 'FinalizationRegistry', 'Float16Array', 'Float32Array',
  'Float64Array', 'Function', 'Infinity', 'Int16Array', 'Int32Array', 'Int8Array', 'InternalError',
  'Iterator', 'JSON', 'Map', 'Math', 'NaN', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError',
  'ReferenceError', 'Reflect', 'RegExp', 'Set', 'SharedArrayBuffer', 'String', 'Symbol', 'SyntaxError',
  'TypeError', 'URIError', 'Uint16Array', 'Uint32Array', 'Uint8Array', 'Uint8ClampedArray', 'WeakMap',
  'WeakRef', 'WeakSet', 'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape',
  'eval', 'globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'undefined', 'unescape',
]; // prettier-ignore

describe('expression: hostile expressions', function () {
  this.timeout(60_000);
  // A 250 ms deadline for the time bound (legitimate calls take milliseconds, but a loaded test
  // machine must not turn one into a timeout); a generous one where the memory or stack bound must
  // be the one that trips. Memory is the default 32 MiB throughout.
  const sandbox = new ExpressionSandbox({ timeoutMs: 250 });
  const roomy = new ExpressionSandbox({ timeoutMs: 10_000 });
  after(() => Promise.all([sandbox.close(), roomy.close()]));

  it('the default bounds are 100 ms and 32 MiB', async function () {
    const defaults = new ExpressionSandbox();
    try {
      expect(defaults.limits).to.deep.equal({ timeoutMs: 100, memoryBytes: 32 * 1024 * 1024 });
      expect(await one(defaults, '(() => { for (;;) {} })()')).to.deep.equal({
        ok: false,
        kind: 'timeout',
        error: 'exceeded the time limit of 100 ms',
      });
    } finally {
      await defaults.close();
    }
  });

  it('an endless loop times out while the event loop keeps turning, and the next call works', async function () {
    const { outcomes, ticks } = await evaluateCountingTicks(sandbox, ['(() => { while (true) {} })()']);
    expect(outcomes).to.deep.equal([
      { ok: false, kind: 'timeout', error: 'exceeded the time limit of 250 ms' },
    ]);
    expect(ticks, 'event loop ticks during the evaluation').to.be.greaterThan(0);
    expect(await one(sandbox, "connector.spec.address + '/' + params.repository")).to.deep.equal({
      ok: true,
      value: 'https://github.com/org/app',
    });
  });

  it('one deadline covers the whole call: sources after the one that used it up time out too', async function () {
    const outcomes = await sandbox.evaluate(['1', '(() => { for (;;) {} })()', '2'], context);
    expect(outcomes.map(kindOf)).to.deep.equal(['ok', 'timeout', 'timeout']);
  });

  it('a huge string is refused by the memory limit', async function () {
    expect(await one(roomy, "'x'.repeat(1e9)")).to.deep.equal({
      ok: false,
      kind: 'memory',
      error: 'exceeded the memory limit of 32 MiB',
    });
  });

  it('growing arrays are refused by the memory limit, and the next call works', async function () {
    const growing =
      '(() => { const a = [[0]]; for (;;) a.push(a[a.length - 1].concat(a[a.length - 1])); })()';
    expect(kindOf(await one(roomy, growing))).to.equal('memory');
    expect(await one(roomy, 'params.tags.length')).to.deep.equal({ ok: true, value: 2 });
  });

  it('the memory limit is the configured one', async function () {
    const small = new ExpressionSandbox({ memoryBytes: 8 * 1024 * 1024, timeoutMs: 10_000 });
    try {
      expect(await one(small, "'x'.repeat(16 * 1024 * 1024)")).to.deep.equal({
        ok: false,
        kind: 'memory',
        error: 'exceeded the memory limit of 8 MiB',
      });
      expect(await one(small, "'x'.repeat(1024 * 1024).length")).to.deep.equal({
        ok: true,
        value: 1024 * 1024,
      });
    } finally {
      await small.close();
    }
  });

  it('deep recursion is a stack overflow error, not a crash', async function () {
    expect(await one(roomy, '(function f() { return f(); })()')).to.deep.equal({
      ok: false,
      kind: 'runtime',
      error: 'InternalError: stack overflow',
    });
    // Recursion through native built-ins, and the parser's own recursion, meet the same bound.
    for (const source of [
      '(function f() { [1, 2].sort(f); })()',
      '(function f() { JSON.stringify({ toJSON: f }); })()',
      '(() => { let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; return JSON.stringify(o).length; })()',
    ]) {
      expect(await one(roomy, source), source).to.deep.equal({
        ok: false,
        kind: 'runtime',
        error: 'InternalError: stack overflow',
      });
    }
    // The parsers (JavaScript's, RegExp's) report their own recursion as a SyntaxError; in a
    // source itself, that is a syntax failure.
    for (const source of [
      "eval('('.repeat(1e5) + '1' + ')'.repeat(1e5))",
      "new RegExp('(?:'.repeat(1e5) + ')'.repeat(1e5))",
    ]) {
      expect(await one(roomy, source), source).to.deep.equal({
        ok: false,
        kind: 'runtime',
        error: 'SyntaxError: stack overflow',
      });
    }
    expect(await one(roomy, `${'('.repeat(1e5)}1${')'.repeat(1e5)}`)).to.deep.equal({
      ok: false,
      kind: 'syntax',
      error: 'SyntaxError: stack overflow',
    });
    expect(await one(roomy, '1 + 1')).to.deep.equal({ ok: true, value: 2 });
  });

  it('process, require, modules, timers and the network are not there', async function () {
    const unreachable: [string, string][] = [
      ['process.exit(1)', "ReferenceError: 'process' is not defined"],
      ["require('child_process')", "ReferenceError: 'require' is not defined"],
      ["fetch('http://169.254.169.254/')", "ReferenceError: 'fetch' is not defined"],
      ['new XMLHttpRequest()', "ReferenceError: 'XMLHttpRequest' is not defined"],
      ["this.constructor.constructor('return process')()", "ReferenceError: 'process' is not defined"],
      ["import('fs')", "ReferenceError: could not load module 'fs'"],
      ["import('node:child_process')", "ReferenceError: could not load module 'node:child_process'"],
      ['setTimeout(() => 1, 0)', "ReferenceError: 'setTimeout' is not defined"],
      ["console.log('x')", "ReferenceError: 'console' is not defined"],
    ];
    for (const [source, error] of unreachable) {
      expect(await one(sandbox, source), source).to.deep.equal({ ok: false, kind: 'runtime', error });
    }
    const absent = [
      'process', 'require', 'module', 'exports', 'global', 'Buffer', 'fetch', 'XMLHttpRequest', 'WebSocket',
      'WebAssembly', 'console', 'setTimeout', 'setInterval', 'queueMicrotask', 'structuredClone',
      'postMessage', 'importScripts', 'std', 'os', 'print', 'scriptArgs', 'Deno', 'Bun',
    ]; // prettier-ignore
    expect(
      await one(
        sandbox,
        `${JSON.stringify(absent)}.filter((name) => typeof globalThis[name] !== 'undefined')`,
      ),
    ).to.deep.equal({
      ok: true,
      value: [],
    });
  });

  it("Function('return this')() is the VM's own global, holding ECMAScript's built-ins and the context only", async function () {
    const [same, names] = await sandbox.evaluate(
      [
        "Function('return this')() === globalThis",
        "Object.getOwnPropertyNames(Function('return this')()).sort()",
      ],
      context,
    );
    expect(same).to.deep.equal({ ok: true, value: true });
    expect(names).to.deep.equal({
      ok: true,
      value: [...ecmascriptGlobals, 'connector', 'params', 'url'].sort(),
    });
  });

  it('nothing persists from one call to the next: prototypes, globals', async function () {
    const [polluted, seen] = await sandbox.evaluate(
      ["Object.prototype.polluted = 'yes'", '({}).polluted'],
      context,
    );
    expect(polluted).to.deep.equal({ ok: true, value: 'yes' });
    expect(seen, 'within one call the context is shared').to.deep.equal({ ok: true, value: 'yes' });
    await one(sandbox, 'globalThis.leaked = 1');
    expect(
      await one(sandbox, '[typeof ({}).polluted, typeof leaked, typeof Object.prototype.polluted]'),
    ).to.deep.equal({
      ok: true,
      value: ['undefined', 'undefined', 'undefined'],
    });
    expect((Object.prototype as Record<string, unknown>).polluted, 'the host is untouched').to.equal(
      undefined,
    );
  });

  it('replacing JSON or Error in one source fools only that code: results still come back', async function () {
    const outcomes = await sandbox.evaluate(
      [
        "(JSON.stringify = () => '{broken', JSON.parse = null, Error.prototype.toString = null, 1)",
        '({ a: [1, "b"] })',
        'params.missing.x',
      ],
      context,
    );
    expect(outcomes).to.deep.equal([
      { ok: true, value: 1 },
      { ok: true, value: { a: [1, 'b'] } },
      { ok: false, kind: 'runtime', error: "TypeError: cannot read property 'x' of undefined" },
    ]);
  });

  it('context values are data, never code', async function () {
    // An own "__proto__" key, as JSON.parse makes one from a request: data in the VM too.
    const hostile = JSON.parse(
      '{"params": {"repository": "\'); process.exit(1); (\'", "__proto__": {"polluted": true}}}',
    ) as Record<string, JsonValue>;
    const outcomes = await sandbox.evaluate(
      ['params.repository', 'typeof ({}).polluted', 'typeof params.polluted', 'params.__proto__'],
      hostile,
    );
    expect(outcomes).to.deep.equal([
      { ok: true, value: "'); process.exit(1); ('" },
      { ok: true, value: 'undefined' },
      { ok: true, value: 'undefined' },
      { ok: true, value: { polluted: true } },
    ]);
  });

  it('a worker stuck in a native loop that ignores the deadline is replaced, the server unaffected', async function () {
    // Array.prototype.indexOf over an array-like of length 2**53 - 1 is one native call that never
    // reaches QuickJS's interrupt check: only terminating the thread stops it.
    const { outcomes, ticks } = await evaluateCountingTicks(sandbox, [
      'Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1)',
      '1',
    ]);
    expect(outcomes).to.deep.equal([
      { ok: false, kind: 'timeout', error: 'exceeded the time limit of 250 ms' },
      { ok: false, kind: 'timeout', error: 'exceeded the time limit of 250 ms' },
    ]);
    expect(ticks, 'event loop ticks during the evaluation').to.be.greaterThan(0);
    expect(await one(sandbox, 'params.tags.map((tag) => tag.toUpperCase())')).to.deep.equal({
      ok: true,
      value: ['V1', 'V2'],
    });
  });
});

describe('expression: results and errors', function () {
  this.timeout(30_000);
  // Values and messages, not bounds: a deadline no busy test machine can reach.
  const sandbox = new ExpressionSandbox({ timeoutMs: 10_000 });
  after(() => sandbox.close());

  const table: [string, Outcome][] = [
    ['params.tags', { ok: true, value: ['v1', 'v2'] }],
    ['({ a: 1, b: null, c: [true] })', { ok: true, value: { a: 1, b: null, c: [true] } }],
    ['`${params.repository}@${connector.metadata.namespace}`', { ok: true, value: 'org/app@team-a' }],
    ['Promise.resolve(params.tags[0])', { ok: true, value: 'v1' }],
    [
      'undefined',
      { ok: false, kind: 'result', error: 'the expression evaluated to undefined, which is not JSON' },
    ],
    [
      '(tag) => tag',
      { ok: false, kind: 'result', error: 'the expression evaluated to a function, which is not JSON' },
    ],
    [
      "Symbol('s')",
      { ok: false, kind: 'result', error: 'the expression evaluated to a symbol, which is not JSON' },
    ],
    [
      '(() => { const o = {}; o.o = o; return o; })()',
      { ok: false, kind: 'result', error: 'the value is not JSON: TypeError: circular reference' },
    ],
    [
      '10n',
      {
        ok: false,
        kind: 'result',
        error: 'the value is not JSON: TypeError: Do not know how to serialize a BigInt',
      },
    ],
    [
      'new Promise(() => {})',
      { ok: false, kind: 'result', error: 'the expression returned a Promise that did not settle' },
    ],
    [
      "'x'.repeat(2 * 1024 * 1024)",
      { ok: false, kind: 'result', error: 'the value is larger than 1 MiB as JSON' },
    ],
    [
      'params.repository +',
      { ok: false, kind: 'syntax', error: "SyntaxError: unexpected token in expression: ')'" },
    ],
    ['params.repository; process', { ok: false, kind: 'syntax', error: "SyntaxError: expecting ')'" }],
    ["eval('(')", { ok: false, kind: 'runtime', error: "SyntaxError: unexpected token in expression: ''" }],
    ['params.repository // a source may end in a comment', { ok: true, value: 'org/app' }],
    [
      'params.missing.x',
      { ok: false, kind: 'runtime', error: "TypeError: cannot read property 'x' of undefined" },
    ],
    [
      "(() => { throw new RangeError('no such tag'); })()",
      { ok: false, kind: 'runtime', error: 'RangeError: no such tag' },
    ],
    ["(() => { throw 'plain'; })()", { ok: false, kind: 'runtime', error: 'uncaught exception: plain' }],
    [
      '(() => { throw { code: 1 }; })()',
      { ok: false, kind: 'runtime', error: 'uncaught exception: a value that is not an Error' },
    ],
    [
      '(() => { throw { get message() { throw 1; } }; })()',
      { ok: false, kind: 'runtime', error: 'uncaught exception: a value that could not be described' },
    ],
    [
      "Promise.reject(new TypeError('rejected'))",
      { ok: false, kind: 'runtime', error: 'TypeError: rejected' },
    ],
    // QuickJS throws null when memory is too short even for its error object: null means memory.
    [
      '(() => { throw null; })()',
      { ok: false, kind: 'memory', error: 'exceeded the memory limit of 32 MiB' },
    ],
  ];
  for (const [source, expected] of table) {
    it(source, async function () {
      expect(await one(sandbox, source)).to.deep.equal(expected);
    });
  }

  it('a long error message is cut, not passed through whole', async function () {
    const outcome = await one(sandbox, "(() => { throw new Error('x'.repeat(10000)); })()");
    expect(outcome.ok).to.equal(false);
    expect(!outcome.ok && outcome.error.length).to.equal(500);
    expect(!outcome.ok && outcome.error.startsWith('Error: xxx')).to.equal(true);
  });

  it('the values of one call cross back up to 4 MiB of JSON in total', async function () {
    const big = "'x'.repeat(1000 * 1000)";
    const outcomes = await sandbox.evaluate([big, big, big, big, big, '1'], context);
    expect(outcomes.map(kindOf)).to.deep.equal(['ok', 'ok', 'ok', 'ok', 'result', 'ok']);
    expect(outcomes[4]).to.deep.equal({
      ok: false,
      kind: 'result',
      error: 'the values of this evaluation are larger than 4 MiB as JSON in total',
    });
  });

  it('url() gives the parts of an absolute URL, never its user name or password', async function () {
    const [parts, bad, relative, nonString] = await sandbox.evaluate(
      [
        "url('https://alice:s3cret@git.example.com:8443/base/repo.git?x=1#top')",
        "url('not a url')",
        "url('/relative/path')",
        'url(connector.spec.address).host',
      ],
      context,
    );
    expect(parts).to.deep.equal({
      ok: true,
      value: {
        href: 'https://git.example.com:8443/base/repo.git?x=1#top',
        protocol: 'https:',
        host: 'git.example.com:8443',
        hostname: 'git.example.com',
        port: '8443',
        pathname: '/base/repo.git',
        search: '?x=1',
        hash: '#top',
        origin: 'https://git.example.com:8443',
      },
    });
    expect(bad).to.deep.equal({ ok: false, kind: 'runtime', error: 'TypeError: Invalid URL' });
    expect(relative).to.deep.equal({ ok: false, kind: 'runtime', error: 'TypeError: Invalid URL' });
    expect(nonString).to.deep.equal({ ok: true, value: 'github.com' });
  });

  it('an empty batch needs no worker', async function () {
    expect(await new ExpressionSandbox().evaluate([], context)).to.deep.equal([]);
  });
});

describe('expression: the worker and its queue', function () {
  this.timeout(60_000);

  it(`answers busy beyond ${maxWaiting} waiting calls, then serves the rest`, async function () {
    const sandbox = new ExpressionSandbox({ timeoutMs: 10_000 });
    try {
      const calls = Array.from({ length: maxWaiting + 2 }, (_, i) => sandbox.evaluate([`${i} * 2`], context));
      const outcomes = (await Promise.all(calls)).map(([o]) => o!);
      const busy = outcomes.filter((o) => !o.ok && o.kind === 'busy');
      expect(busy).to.have.length(2);
      expect(busy[0]).to.deep.equal({
        ok: false,
        kind: 'busy',
        error: `the expression sandbox is busy: ${maxWaiting} evaluations are already waiting`,
      });
      expect(outcomes.slice(0, maxWaiting)).to.deep.equal(
        Array.from({ length: maxWaiting }, (_, i) => ({ ok: true, value: i * 2 })),
      );
      expect(await one(sandbox, '1')).to.deep.equal({ ok: true, value: 1 });
    } finally {
      await sandbox.close();
    }
  });

  it('a worker that crashes fails its own call only, and the next call gets a new worker', async function () {
    const sandbox = new ExpressionSandbox({}, { workerUrl: new URL('./dying-worker.js', import.meta.url) });
    try {
      expect(await one(sandbox, 'first')).to.deep.equal({ ok: true, value: 'first' });
      const exited = sandbox.evaluate(['exit'], context);
      const after = sandbox.evaluate(['after'], context);
      let failure: unknown;
      await exited.catch((e: unknown) => (failure = e));
      expect(String(failure)).to.equal("Error: the expression sandbox's worker stopped with exit code 3");
      expect(await after).to.deep.equal([{ ok: true, value: 'after' }]);
      await sandbox.evaluate(['throw'], context).catch((e: unknown) => (failure = e));
      expect(String(failure)).to.equal(
        "Error: the expression sandbox's worker stopped: the stand-in worker failed",
      );
      expect(await one(sandbox, 'again')).to.deep.equal({ ok: true, value: 'again' });
    } finally {
      await sandbox.close();
    }
  });

  it('a worker that cannot start fails the calls waiting for it, and the next call tries afresh', async function () {
    const sandbox = new ExpressionSandbox({}, { workerUrl: new URL('./no-such-worker.js', import.meta.url) });
    try {
      const results = await Promise.allSettled([
        sandbox.evaluate(['1'], context),
        sandbox.evaluate(['2'], context),
      ]);
      for (const result of results) {
        expect(result.status).to.equal('rejected');
        expect(String((result as PromiseRejectedResult).reason)).to.contain(
          "the expression sandbox's worker stopped: ",
        );
      }
      const again = await Promise.allSettled([sandbox.evaluate(['3'], context)]);
      expect(again[0].status).to.equal('rejected');
    } finally {
      await sandbox.close();
    }
  });

  it('close() rejects the call running and those waiting; calls after it are refused', async function () {
    const sandbox = new ExpressionSandbox({ timeoutMs: 10_000 });
    expect(await one(sandbox, '1')).to.deep.equal({ ok: true, value: 1 });
    const calls = Promise.allSettled([
      sandbox.evaluate(['(() => { while (true) {} })()'], context),
      sandbox.evaluate(['1'], context),
    ]);
    await sandbox.close();
    const refused = await Promise.allSettled([sandbox.evaluate(['1'], context)]);
    for (const result of [...(await calls), ...refused]) {
      expect(result.status).to.equal('rejected');
      expect(String((result as PromiseRejectedResult).reason)).to.equal(
        'Error: the expression sandbox is closed',
      );
    }
  });

  it('refuses bounds it cannot keep', function () {
    expect(() => new ExpressionSandbox({ timeoutMs: 0 })).to.throw(
      RangeError,
      'timeoutMs must be a whole number from 1 to 60000, not 0',
    );
    expect(() => new ExpressionSandbox({ memoryBytes: 1024 })).to.throw(
      RangeError,
      'memoryBytes must be a whole number from 1 MiB to 512 MiB, not 1024',
    );
  });
});

describe('expression: expressionSource', function () {
  const table: [string, string | null][] = [
    ['{connector.metadata.name}', 'connector.metadata.name'],
    ['  {params.revision}\n', 'params.revision'],
    ['{ params.a || {} }', ' params.a || {} '],
    ['{}', ''],
    ['gitconfig', null],
    ['30m', null],
    ['{unclosed', null],
    ['unopened}', null],
    ['{', null],
    ['', null],
    ['prefix {params.x}', null],
  ];
  for (const [text, source] of table) {
    it(`${JSON.stringify(text)} → ${JSON.stringify(source)}`, function () {
      expect(expressionSource(text)).to.equal(source);
    });
  }
});
