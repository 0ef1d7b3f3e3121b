// response.cel as published: response.statusCode (int), response.headers (canonical name → list),
// response.body (parsed JSON or null), response.bodyString; a compile error is the class's fault, a
// runtime error or a non-bool is a failed probe.
import { expect } from 'chai';
import {
  CelCompileError,
  canonicalHeaderKey,
  compileCel,
  evaluateResponseCel,
} from '../../../controller/cel.js';

const response = {
  statusCode: 401,
  headers: { 'content-type': ['application/json'], 'www-authenticate': ['Basic realm="x"'] },
  bodyString: '{"ok":true,"items":[{"name":"a"},{"name":"b"}],"count":2}',
};

describe('controller/cel', () => {
  const accepted: { expr: string; want: boolean }[] = [
    {
      expr: 'response.statusCode == 200 || response.statusCode == 401 || response.statusCode == 403',
      want: true,
    },
    { expr: 'response.statusCode >= 200 && response.statusCode < 300', want: false },
    { expr: 'response.body.ok', want: true },
    { expr: 'size(response.body.items) == 2', want: true },
    { expr: "response.body.items.exists(i, i.name == 'b')", want: true },
    // JSON numbers are doubles in CEL; the spec's heterogeneous equality makes this true.
    { expr: 'response.body.count == 2', want: true },
    { expr: "response.headers['Content-Type'][0].startsWith('application/json')", want: true },
    { expr: "'Www-Authenticate' in response.headers", want: true },
    { expr: 'response.bodyString.contains(\'"ok":true\')', want: true },
    { expr: 'has(response.body.missing)', want: false },
  ];
  for (const c of accepted) {
    it(`${c.expr} → ${String(c.want)}`, () => {
      expect(evaluateResponseCel(c.expr, response)).to.deep.equal({ ok: true, accepted: c.want });
    });
  }

  it('gives body null when the body is not JSON', () => {
    const r = { ...response, bodyString: 'plain text' };
    expect(evaluateResponseCel('response.body == null', r)).to.deep.equal({ ok: true, accepted: true });
    expect(evaluateResponseCel("response.bodyString == 'plain text'", r)).to.deep.equal({
      ok: true,
      accepted: true,
    });
    expect(evaluateResponseCel('response.body == null', { ...r, bodyString: '' })).to.deep.equal({
      ok: true,
      accepted: true,
    });
  });

  it('reports runtime errors and non-bool results as a failed verdict', () => {
    const missing = evaluateResponseCel('response.body.nope.deeper == 1', response);
    expect(missing.ok).to.equal(false);
    expect(missing.ok ? '' : missing.error).to.match(/^response.cel: /);
    expect(evaluateResponseCel('response.statusCode', response)).to.deep.equal({
      ok: false,
      error: 'response.cel must evaluate to a bool',
    });
  });

  it('throws a compile error naming response.cel', () => {
    expect(() => compileCel('response.statusCode ==')).to.throw(
      CelCompileError,
      /^response.cel does not compile: /,
    );
  });

  it('compiles each expression once', () => {
    expect(compileCel('1 == 1')).to.equal(compileCel('1 == 1'));
  });

  it('canonicalises header names as Go does', () => {
    expect(canonicalHeaderKey('content-type')).to.equal('Content-Type');
    expect(canonicalHeaderKey('X-GITLAB-token')).to.equal('X-Gitlab-Token');
    expect(canonicalHeaderKey('www-authenticate')).to.equal('Www-Authenticate');
  });
});
