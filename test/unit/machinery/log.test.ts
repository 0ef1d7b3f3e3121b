// Logs are read by machines (one JSON object per line) and by people who must never find a
// credential in them, whatever a caller passed by mistake.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createLogger, type LogFields, type LogLevel } from '../../../machinery/log.js';

function capture(): { lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  return {
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** `leaf` under `depth` nested objects: {a: {a: … leaf}}. */
function nested(depth: number, leaf: LogFields): LogFields {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('machinery/log createLogger', () => {
  it('writes one JSON object per line: level, ts, the fields and msg, nothing else', () => {
    const out = capture();
    const log = createLogger({ write: (l) => out.lines.push(l) });
    log.info('listening', { port: 10250, tls: true });
    log.warn('multi\nline\r\nmessage', { note: 'a\nb' });
    expect(out.lines).to.have.length(2);
    for (const line of out.lines) {
      expect(line.endsWith('\n')).to.be.true;
      expect(line.slice(0, -1)).to.not.match(/[\r\n]/);
    }
    const [first, second] = out.records();
    expect(first).to.have.all.keys('level', 'ts', 'port', 'tls', 'msg');
    expect(first).to.include({ level: 'info', msg: 'listening', port: 10250, tls: true });
    expect(new Date(first!.ts as string).toISOString()).to.equal(first!.ts);
    expect(second).to.include({ level: 'warn', msg: 'multi\nline\r\nmessage', note: 'a\nb' });
  });

  it('writes the message as given (no format directives) and keeps its own level, ts and msg', () => {
    const out = capture();
    createLogger({ write: (l) => out.lines.push(l) }).info('100% done %s %d', {
      level: 'fatal',
      ts: 'yesterday',
      msg: 'other',
    });
    const [record] = out.records();
    expect(record).to.have.all.keys('level', 'ts', 'msg');
    expect(record).to.include({ level: 'info', msg: '100% done %s %d' });
    expect(out.lines[0]).not.to.contain('fatal').and.not.to.contain('yesterday').and.not.to.contain('other');
  });

  const levels: { min: LogLevel | undefined; written: LogLevel[] }[] = [
    { min: undefined, written: ['info', 'warn', 'error'] },
    { min: 'debug', written: ['debug', 'info', 'warn', 'error'] },
    { min: 'warn', written: ['warn', 'error'] },
    { min: 'error', written: ['error'] },
  ];
  for (const c of levels) {
    it(`at level ${c.min ?? '(default)'} writes ${c.written.join(', ')}`, () => {
      const out = capture();
      const log = createLogger({ write: (l) => out.lines.push(l), ...(c.min ? { level: c.min } : {}) });
      log.debug('d');
      log.info('i');
      log.warn('w');
      log.error('e');
      expect(out.records().map((r) => r.level)).to.deep.equal(c.written);
    });
  }

  const sensitive: LogFields = {
    authorization: 'Bearer abc123',
    Authorization: 'Basic eDp5',
    password: 'hunter2',
    passwd: 'hunter2',
    token: 'glpat-1',
    accessToken: 'gho_2',
    'private-token': 'glpat-3',
    cookie: 'session=4',
    secret: 's5',
    clientSecret: 's6',
    credentials: 'c7',
  };
  for (const [name, value] of Object.entries(sensitive)) {
    it(`redacts a field named ${name}`, () => {
      const out = capture();
      createLogger({ write: (l) => out.lines.push(l) }).info('request', { [name]: value, path: '/api' });
      expect(out.lines[0]).to.not.include(String(value));
      expect(out.records()[0]).to.include({ [name]: '[REDACTED]', path: '/api' });
    });
  }

  it('redacts a password nested 8 objects deep, and in objects inside arrays', () => {
    const out = capture();
    createLogger({ write: (l) => out.lines.push(l) }).info('r', {
      deep: nested(8, { password: 'hunter2', user: 'alice' }),
      list: [[{ headers: { 'X-Private-Token': 'glpat-9' } }]],
    });
    expect(out.lines[0]).not.to.include('hunter2').and.not.to.include('glpat-9');
    const [record] = out.records();
    expect(record!.deep).to.deep.equal(nested(8, { password: '[REDACTED]', user: 'alice' }));
    expect(record!.list).to.deep.equal([[{ headers: { 'X-Private-Token': '[REDACTED]' } }]]);
  });

  it('redacts a whole object under a credential-like key, and writes nothing nested too deep to walk', () => {
    const out = capture();
    createLogger({ write: (l) => out.lines.push(l) }).info('r', {
      credentials: { user: 'u', pass: 'p1' },
      abyss: nested(100, { password: 'hunter2', pass: 'p2' }),
    });
    expect(out.lines[0]).not.to.include('hunter2').and.not.to.include('p1').and.not.to.include('p2');
    expect(out.lines[0]).to.include('"[Too deep]"');
    expect(out.records()[0]).to.include({ credentials: '[REDACTED]' });
  });

  it('writes a cycle as [Circular] instead of throwing', () => {
    const out = capture();
    const loop: LogFields = { name: 'loop', token: 't0' };
    loop.self = loop;
    const list: unknown[] = ['x'];
    list.push(list);
    const err = new Error('outer', { cause: new Error('inner') });
    (err.cause as Error).cause = err;
    const log = createLogger({ write: (l) => out.lines.push(l) });
    expect(() => {
      log.error('cycles', { loop, list, err, twice: [loop, loop] });
    }).not.to.throw();
    const [record] = out.records();
    expect(record!.loop).to.deep.equal({ name: 'loop', token: '[REDACTED]', self: '[Circular]' });
    expect(record!.list).to.deep.equal(['x', '[Circular]']);
    expect((record!.err as { cause: { cause: unknown } }).cause.cause).to.equal('[Circular]');
    // The same object twice side by side is no cycle.
    expect(record!.twice).to.deep.equal([record!.loop, record!.loop]);
  });

  it('redacts sensitive base fields given through with()', () => {
    const out = capture();
    const log = createLogger({ write: (l) => out.lines.push(l) }).with({ token: 'abc', connector: 'ns/foo' });
    log.error('failed', { status: 502 });
    expect(out.lines[0]).to.not.include('abc');
    expect(out.records()[0]).to.include({ token: '[REDACTED]', connector: 'ns/foo', status: 502 });
  });

  it('merges with() fields, later ones winning once, without changing the parent logger', () => {
    const out = capture();
    const parent = createLogger({ write: (l) => out.lines.push(l), base: { component: 'apiserver' } });
    const child = parent.with({ requestId: 'r1' }).with({ requestId: 'r2' });
    child.info('child', { component: 'override' });
    parent.info('parent');
    const [c, p] = out.records();
    expect(c).to.include({ component: 'override', requestId: 'r2' });
    // One key, one value: a line with the same key twice means what its reader decides.
    expect(out.lines[0]).not.to.include('r1').and.not.to.include('apiserver');
    expect(p).to.include({ component: 'apiserver' });
    expect(p).to.not.have.property('requestId');
  });

  it('writes an Error, under any key and at any depth, as its type, message and stack', () => {
    const out = capture();
    class UpstreamError extends Error {}
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    createLogger({ write: (l) => out.lines.push(l) }).error('upstream', {
      err: new UpstreamError('bad gateway', { cause: refused }),
      error: new TypeError('not a function'),
      nested: { attempts: [refused] },
    });
    const [record] = out.records();
    const err = record!.err as Record<string, Record<string, unknown>>;
    expect(err).to.include({ type: 'UpstreamError', message: 'bad gateway' });
    expect(err.stack).to.match(/^Error: bad gateway\n\s+at .*log\.test\.js/);
    expect(err.cause).to.have.all.keys('type', 'message', 'stack', 'code');
    expect(err.cause).to.include({
      type: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:1',
      code: 'ECONNREFUSED',
    });
    expect(record!.error).to.include({ type: 'TypeError', message: 'not a function' });
    expect((record!.error as { stack: string }).stack).to.match(/^TypeError: not a function\n\s+at /);
    expect(record!.nested).to.deep.equal({ attempts: [err.cause] });
  });

  it('writes none of an Error’s other properties, which may carry a request and its credentials', () => {
    const out = capture();
    const err = Object.assign(new Error('401 from the tool'), {
      request: { url: 'https://tool/api?access=glpat-1', headers: { cookie: 'session=2' } },
      body: 'token glpat-3',
    });
    createLogger({ write: (l) => out.lines.push(l) }).error('tool refused', { error: err });
    expect(out.records()[0]!.error).to.have.all.keys('type', 'message', 'stack');
    expect(out.lines[0]).not.to.include('glpat').and.not.to.include('session=');
  });

  it('does not redact ordinary fields', () => {
    const out = capture();
    createLogger({ write: (l) => out.lines.push(l) }).info('r', {
      user: 'alice',
      namespace: 'team-a',
      code: 403,
    });
    expect(out.records()[0]).to.include({ user: 'alice', namespace: 'team-a', code: 403 });
  });

  it('has written every line to stdout when the process exits right after logging', async () => {
    // Lines well past a pipe's buffer, then process.exit() at once, as a process does once its
    // shutdown is over: a line still waiting in a buffer would be lost.
    const logModule = new URL('../../../machinery/log.js', import.meta.url).href;
    const script = `import { createLogger } from ${JSON.stringify(logModule)};
const log = createLogger({ base: { component: 'exiting' } });
for (let i = 0; i < 2000; i++) log.info('line', { i, pad: 'x'.repeat(200) });
log.info('stopped');
process.exit(0);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const records = stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { i?: number; msg: string; component: string });
    expect(records).to.have.length(2001);
    expect(records.slice(0, -1).map((r) => r.i)).to.deep.equal([...Array(2000).keys()]);
    expect(records.at(-1)).to.include({ msg: 'stopped', component: 'exiting' });
  });
});
