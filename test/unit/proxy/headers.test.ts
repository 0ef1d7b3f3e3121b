// What a tool receives must never carry the caller's identity or credential, and what the caller
// receives must never carry a session minted for the Connector's credential.
import type { IncomingHttpHeaders } from 'node:http';
import { expect } from 'chai';
import {
  forwardRequestHeaders,
  forwardResponseHeaders,
  headerValue,
  relayedResponseHeaders,
} from '../../../proxy/headers.js';

describe('proxy/headers forwardRequestHeaders', () => {
  const dropped: { title: string; headers: IncomingHttpHeaders }[] = [
    { title: 'Authorization', headers: { authorization: 'Bearer caller-token' } },
    { title: 'Cookie', headers: { cookie: 'session=caller' } },
    { title: 'Private-Token', headers: { 'private-token': 'glpat-caller' } },
    { title: 'Proxy-Authorization', headers: { 'proxy-authorization': 'Basic eDp5' } },
    { title: 'X-Remote-User', headers: { 'x-remote-user': 'alice' } },
    { title: 'X-Remote-Group', headers: { 'x-remote-group': ['dev', 'system:masters'] } },
    { title: 'X-Remote-Extra-*', headers: { 'x-remote-extra-scopes': 'all' } },
    { title: 'Impersonate-User', headers: { 'impersonate-user': 'admin' } },
    { title: 'Impersonate-Group', headers: { 'impersonate-group': 'system:masters' } },
    { title: 'Impersonate-Extra-*', headers: { 'impersonate-extra-scopes': 'all' } },
    { title: 'X-Forwarded-For', headers: { 'x-forwarded-for': '10.0.0.1' } },
    { title: 'X-Forwarded-Host', headers: { 'x-forwarded-host': 'evil.example.com' } },
    { title: 'X-Forwarded-Proto', headers: { 'x-forwarded-proto': 'http' } },
    { title: 'Forwarded', headers: { forwarded: 'for=10.0.0.1' } },
    { title: 'Host', headers: { host: 'kube-apiserver:6443' } },
    { title: 'Audit-Id', headers: { 'audit-id': 'a1b2' } },
    { title: 'Expect', headers: { expect: '100-continue' } },
    { title: 'Connection', headers: { connection: 'keep-alive' } },
    { title: 'Keep-Alive', headers: { 'keep-alive': 'timeout=5' } },
    { title: 'Transfer-Encoding', headers: { 'transfer-encoding': 'chunked' } },
    { title: 'TE', headers: { te: 'trailers' } },
    { title: 'Trailer', headers: { trailer: 'x-checksum' } },
    { title: 'Upgrade', headers: { upgrade: 'websocket' } },
    { title: 'Proxy-Connection', headers: { 'proxy-connection': 'keep-alive' } },
    // Method and route overrides: a tool that honours one (Express, Rack, Symfony, IIS, OData)
    // would act as another method or path than the one RBAC was asked about.
    { title: 'X-HTTP-Method-Override', headers: { 'x-http-method-override': 'DELETE' } },
    { title: 'X-HTTP-Method', headers: { 'x-http-method': 'DELETE' } },
    { title: 'X-Method-Override', headers: { 'x-method-override': 'DELETE' } },
    { title: 'X-Original-Method', headers: { 'x-original-method': 'DELETE' } },
    { title: 'X-Original-URL', headers: { 'x-original-url': '/admin/delete' } },
    { title: 'X-Original-URI', headers: { 'x-original-uri': '/admin/delete' } },
    { title: 'X-Rewrite-URL', headers: { 'x-rewrite-url': '/admin/delete' } },
    { title: 'X-Envoy-Original-Path', headers: { 'x-envoy-original-path': '/admin/delete' } },
    { title: 'X-Forwarded-Method', headers: { 'x-forwarded-method': 'DELETE' } },
    { title: 'X-Forwarded-Uri', headers: { 'x-forwarded-uri': '/admin/delete' } },
  ];
  for (const c of dropped) {
    it(`never forwards ${c.title}`, () => {
      const out = forwardRequestHeaders({ ...c.headers, accept: 'application/json' });
      expect(out).to.deep.equal({ accept: 'application/json' });
    });
  }

  it('drops headers named in Connection, whatever their case and spacing', () => {
    const out = forwardRequestHeaders({
      connection: 'close, X-Tool-Session ,x-other',
      'x-tool-session': 'abc',
      'x-other': '1',
      'x-kept': '2',
    });
    expect(out).to.deep.equal({ 'x-kept': '2' });
  });

  it('drops the names and prefixes of the extra filter (configured requestheaders)', () => {
    const out = forwardRequestHeaders(
      { 'x-user': 'alice', 'x-groups': 'dev', 'x-ident-extra-scopes': 'a', 'x-kept': '1' },
      { names: new Set(['x-user', 'x-groups']), prefixes: ['x-ident-extra-'] },
    );
    expect(out).to.deep.equal({ 'x-kept': '1' });
  });

  it('keeps every other header, values and repetitions untouched', () => {
    const incoming: IncomingHttpHeaders = {
      accept: 'application/json',
      'accept-encoding': 'gzip',
      'content-type': 'application/json; charset=utf-8',
      'content-length': '42',
      'user-agent': 'kubectl/v1.31',
      'if-none-match': '"abc"',
      'x-gitlab-custom': 'v',
      range: 'bytes=0-99',
      'x-multi': ['a', 'b'],
    };
    expect(forwardRequestHeaders(incoming)).to.deep.equal(incoming);
  });

  it('skips headers with undefined values', () => {
    expect(forwardRequestHeaders({ accept: undefined, 'x-a': '1' })).to.deep.equal({ 'x-a': '1' });
  });
});

/** A raw header list as undici reads it (Buffers, the tool's own case) from name → value(s). */
function raw(headers: Record<string, string | string[]>): Buffer[] {
  return Object.entries(headers).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).flatMap((v) => [
      Buffer.from(name.toUpperCase()),
      Buffer.from(v, 'latin1'),
    ]),
  );
}

describe('proxy/headers forwardResponseHeaders', () => {
  const dropped: { title: string; headers: Record<string, string | string[]> }[] = [
    { title: 'Set-Cookie', headers: { 'set-cookie': ['_gitlab_session=abc; HttpOnly', 'x=y'] } },
    { title: 'Connection', headers: { connection: 'close' } },
    { title: 'Keep-Alive', headers: { 'keep-alive': 'timeout=5' } },
    { title: 'Transfer-Encoding', headers: { 'transfer-encoding': 'chunked' } },
    { title: 'Trailer', headers: { trailer: 'x-checksum' } },
    { title: 'Upgrade', headers: { upgrade: 'h2c' } },
    { title: 'Proxy-Authenticate', headers: { 'proxy-authenticate': 'Basic' } },
    { title: 'a header named in Connection', headers: { connection: 'x-hop', 'x-hop': '1' } },
    {
      title: 'a header named in a second Connection',
      headers: { connection: ['close', 'X-Hop'], 'x-hop': '1' },
    },
  ];
  for (const c of dropped) {
    it(`does not return ${c.title}`, () => {
      const out = forwardResponseHeaders(raw({ ...c.headers, 'content-type': 'application/json' }));
      expect(out).to.deep.equal(['content-type', 'application/json', ...relayedResponseHeaders]);
    });
  }

  it('keeps the rest in order, names in lower case, values byte for byte', () => {
    const incoming = {
      'content-type': 'application/json',
      'content-length': '2',
      'content-encoding': 'gzip',
      etag: '"v1"',
      'cache-control': 'no-cache',
      'www-authenticate': 'Bearer realm="gitlab"',
      link: '<https://gitlab.example.com/api/v4/projects?page=2>; rel="next"',
      'x-total': '240',
      location: '/api/v4/projects/1',
      vary: ['Accept', 'Origin'],
      'x-latin1': 'caf\u00e9',
    };
    expect(forwardResponseHeaders(raw(incoming))).to.deep.equal([
      ...Object.entries(incoming).flatMap(([n, v]) => (Array.isArray(v) ? v : [v]).flatMap((x) => [n, x])),
      ...relayedResponseHeaders,
    ]);
  });

  it('rewrites Location, and only Location, when asked to', () => {
    const out = forwardResponseHeaders(
      raw({ location: '/v2/x/blobs/uploads/1', link: '/v2/y' }),
      (l) => `/p${l}`,
    );
    expect(out).to.deep.equal([
      'location',
      '/p/v2/x/blobs/uploads/1',
      'link',
      '/v2/y',
      ...relayedResponseHeaders,
    ]);
  });

  it('reads the first value of a header whatever its case', () => {
    const list = raw({ location: ['/a', '/b'], 'content-type': 'text/plain' });
    expect(headerValue(list, 'location')).to.equal('/a');
    expect(headerValue(list, 'etag')).to.equal(undefined);
  });
});
