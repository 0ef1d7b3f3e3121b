// Logs are read by machines (one JSON object per line) and by people who must never find a
// credential in them, whatever a caller passed by mistake.
import { expect } from 'chai';
import { createLogger, type LogFields, type LogLevel } from '../../../machinery/log.js';

function capture(): { lines: string[]; records: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  return {
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('machinery/log createLogger', () => {
  it('writes one JSON object per line with ts, level, msg and the fields', () => {
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
    expect(first).to.include({ level: 'info', msg: 'listening', port: 10250, tls: true });
    expect(new Date(first!.ts as string).toISOString()).to.equal(first!.ts);
    expect(second).to.include({ level: 'warn', msg: 'multi\nline\r\nmessage', note: 'a\nb' });
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

  it('redacts sensitive base fields given through with()', () => {
    const out = capture();
    const log = createLogger({ write: (l) => out.lines.push(l) }).with({ token: 'abc', connector: 'ns/foo' });
    log.error('failed', { status: 502 });
    expect(out.lines[0]).to.not.include('abc');
    expect(out.records()[0]).to.include({ token: '[REDACTED]', connector: 'ns/foo', status: 502 });
  });

  it('merges with() fields, later ones winning, without changing the parent logger', () => {
    const out = capture();
    const parent = createLogger({ write: (l) => out.lines.push(l), base: { component: 'apiserver' } });
    const child = parent.with({ requestId: 'r1' }).with({ requestId: 'r2' });
    child.info('child');
    parent.info('parent');
    const [c, p] = out.records();
    expect(c).to.include({ component: 'apiserver', requestId: 'r2' });
    expect(p).to.include({ component: 'apiserver' });
    expect(p).to.not.have.property('requestId');
  });

  it('writes an Error field as its message', () => {
    const out = capture();
    createLogger({ write: (l) => out.lines.push(l) }).error('upstream', { err: new Error('ECONNREFUSED') });
    expect(out.records()[0]).to.include({ err: 'ECONNREFUSED' });
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
});
