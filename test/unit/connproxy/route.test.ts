// How a request names its Connector and carries the caller's token decides which credential is
// used and for whom: every accepted form must parse to exactly the Connector it names, and every
// near miss must parse to nothing rather than to some other Connector.
import { expect } from 'chai';
import {
  parseAbsoluteTarget,
  parseConnectAuthority,
  parseProxyAuthorization,
  parseRequestTarget,
  type RequestTarget,
} from '../../../connproxy/route.js';
import type { ConnectorRef } from '../../../registry/types.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('connproxy/route parseRequestTarget', () => {
  const ref = { namespace: 'team-a', name: 'git' };
  const cases: { method?: string; target: string; host?: string; want: RequestTarget }[] = [
    {
      target: '/namespaces/team-a/connectors/git/org/app.git/info/refs?service=git-upload-pack',
      want: {
        kind: 'connector',
        ref,
        via: 'path',
        segments: ['org', 'app.git', 'info', 'refs'],
        query: 'service=git-upload-pack',
        mount: { proxyBase: '/namespaces/team-a/connectors/git', toolBase: '' },
      },
    },
    {
      target: '/namespaces/team-a/connectors/git',
      want: {
        kind: 'connector',
        ref,
        via: 'path',
        segments: [],
        query: '',
        mount: { proxyBase: '/namespaces/team-a/connectors/git', toolBase: '' },
      },
    },
    {
      target: '/namespaces/team-a/connectors/git/a%2Fb/',
      want: {
        kind: 'connector',
        ref,
        via: 'path',
        segments: ['a%2Fb', ''],
        query: '',
        mount: { proxyBase: '/namespaces/team-a/connectors/git', toolBase: '' },
      },
    },
    {
      target: '/v2/namespaces/team-a/connectors/git/team/app/manifests/1.0',
      want: {
        kind: 'connector',
        ref,
        via: 'oci',
        segments: ['v2', 'team', 'app', 'manifests', '1.0'],
        query: '',
        mount: { proxyBase: '/v2/namespaces/team-a/connectors/git', toolBase: '/v2' },
      },
    },
    {
      target: '/v2/namespaces/team-a/connectors/git',
      want: {
        kind: 'connector',
        ref,
        via: 'oci',
        segments: ['v2', ''],
        query: '',
        mount: { proxyBase: '/v2/namespaces/team-a/connectors/git', toolBase: '/v2' },
      },
    },
    {
      target: '/api/v4/projects?page=2',
      host: 'c-git.team-a.svc.cluster.local',
      want: {
        kind: 'connector',
        ref,
        via: 'host',
        segments: ['api', 'v4', 'projects'],
        query: 'page=2',
        mount: { proxyBase: '', toolBase: '' },
      },
    },
    {
      // The Host names the Connector; the path is the tool's own, even if it looks like ours.
      target: '/namespaces/x/connectors/y/z',
      host: 'c-git.team-a',
      want: {
        kind: 'connector',
        ref,
        via: 'host',
        segments: ['namespaces', 'x', 'connectors', 'y', 'z'],
        query: '',
        mount: { proxyBase: '', toolBase: '' },
      },
    },
    {
      target: '/healthz',
      host: 'c-git.team-a',
      want: {
        kind: 'connector',
        ref,
        via: 'host',
        segments: ['healthz'],
        query: '',
        mount: { proxyBase: '', toolBase: '' },
      },
    },
    { target: '/v2/', want: { kind: 'registry-ping' } },
    { target: '/v2', want: { kind: 'registry-ping' } },
    { method: 'HEAD', target: '/v2/', want: { kind: 'registry-ping' } },
    { method: 'POST', target: '/v2/', want: { kind: 'none' } },
    { target: '/v2/team/app/manifests/1.0', want: { kind: 'none' } },
    { target: '/healthz', want: { kind: 'health', path: '/healthz' } },
    { target: '/readyz', host: '10.0.0.7:8080', want: { kind: 'health', path: '/readyz' } },
    { target: '/livez', want: { kind: 'health', path: '/livez' } },
    { target: '/', want: { kind: 'none' } },
    { target: '/namespaces/team-a/connectors', want: { kind: 'none' } },
    { target: '/namespaces/team-a/secrets/git/x', want: { kind: 'none' } },
    {
      target: '/namespaces/Team_A/connectors/git/x',
      want: { kind: 'invalid', message: '"Team_A/git" is not a Connector namespace and name' },
    },
    {
      target: '/namespaces/team-a/connectors/%2e%2e/x',
      want: { kind: 'invalid', message: '"team-a/%2e%2e" is not a Connector namespace and name' },
    },
    {
      target: 'http://127.0.0.1:8080/a/b?c=d',
      want: { kind: 'forward', origin: 'http://127.0.0.1:8080', path: '/a/b?c=d' },
    },
    { target: 'HTTP://Example.COM', want: { kind: 'forward', origin: 'http://example.com', path: '/' } },
    {
      target: 'https://example.com:443/x',
      want: { kind: 'forward', origin: 'https://example.com', path: '/x' },
    },
    {
      target: 'http://user:pw@example.com/',
      want: { kind: 'invalid', message: 'the target URL must not carry user information' },
    },
    {
      target: 'ftp://example.com/',
      want: { kind: 'invalid', message: 'the proxy forwards http and https only, not ftp' },
    },
    {
      target: '*',
      want: {
        kind: 'invalid',
        message: 'the request target is not an absolute http(s) URL without a fragment',
      },
    },
  ];
  for (const c of cases) {
    it(`${c.method ?? 'GET'} ${c.target}${c.host ? ` (Host ${c.host})` : ''} → ${c.want.kind}`, () => {
      expect(parseRequestTarget(c.method ?? 'GET', c.target, c.host)).to.deep.equal(c.want);
    });
  }
});

describe('connproxy/route parseAbsoluteTarget and parseConnectAuthority', () => {
  it('keeps the raw path and query of an absolute-form target', () => {
    expect(parseAbsoluteTarget('http://h:81/a/%2e%2e/b?x=%20')).to.deep.equal({
      origin: 'http://h:81',
      path: '/a/%2e%2e/b?x=%20',
    });
    expect(parseAbsoluteTarget('http://h?q')).to.deep.equal({ origin: 'http://h', path: '/?q' });
  });

  const connects: { authority: string; want: ReturnType<typeof parseConnectAuthority> }[] = [
    {
      authority: 'git.example.com:443',
      want: { origin: 'https://git.example.com', hostname: 'git.example.com', port: 443 },
    },
    {
      authority: '127.0.0.1:8443',
      want: { origin: 'https://127.0.0.1:8443', hostname: '127.0.0.1', port: 8443 },
    },
    { authority: '[::1]:8443', want: { origin: 'https://[::1]:8443', hostname: '::1', port: 8443 } },
    {
      authority: 'Git.Example.COM:443',
      want: { origin: 'https://git.example.com', hostname: 'git.example.com', port: 443 },
    },
    { authority: 'git.example.com', want: null },
    { authority: 'git.example.com:0', want: null },
    { authority: 'git.example.com:99999', want: null },
    { authority: 'user@git.example.com:443', want: null },
    { authority: 'git.example.com:443/x', want: null },
    { authority: '/path', want: null },
    { authority: '', want: null },
  ];
  for (const c of connects) {
    it(`CONNECT ${JSON.stringify(c.authority)}`, () => {
      expect(parseConnectAuthority(c.authority)).to.deep.equal(c.want);
    });
  }
});

describe('connproxy/route parseProxyAuthorization', () => {
  const basic = (s: string): string => `Basic ${b64(s)}`;
  const ok: { user: string; want: ConnectorRef[] }[] = [
    { user: 'team-a/git', want: [{ namespace: 'team-a', name: 'git' }] },
    { user: 'team-a%2Fgit', want: [{ namespace: 'team-a', name: 'git' }] },
    { user: 'team-a%2fgit', want: [{ namespace: 'team-a', name: 'git' }] },
    {
      user: 'ns1/c1,ns2/c2',
      want: [
        { namespace: 'ns1', name: 'c1' },
        { namespace: 'ns2', name: 'c2' },
      ],
    },
    {
      user: 'ns1%2Fc1%2Cns2%2Fc2',
      want: [
        { namespace: 'ns1', name: 'c1' },
        { namespace: 'ns2', name: 'c2' },
      ],
    },
    { user: 'ns1/c1, ns1/c1,', want: [{ namespace: 'ns1', name: 'c1' }] },
    { user: 'ns/my.connector', want: [{ namespace: 'ns', name: 'my.connector' }] },
  ];
  for (const c of ok) {
    it(`accepts ${c.user}`, () => {
      expect(parseProxyAuthorization(basic(`${c.user}:tok-1`))).to.deep.equal({
        connectors: c.want,
        token: 'tok-1',
      });
    });
  }

  it('is null without the header', () => {
    expect(parseProxyAuthorization(undefined)).to.equal(null);
    expect(parseProxyAuthorization('')).to.equal(null);
  });

  const bad: { value: string; problem: RegExp }[] = [
    { value: 'Bearer tok', problem: /must be Basic/ },
    { value: basic('ns/git'), problem: /must be Basic/ },
    { value: basic('ns/git:'), problem: /ServiceAccount token/ },
    {
      value: basic('git:tok-secret'),
      problem: /entry 1 of the proxy username must name a Connector as <namespace>\/<name>/,
    },
    { value: basic('ns/ok,eyJhbGciOi.x.y:tok-secret'), problem: /^entry 2 of the proxy username/ },
    { value: basic('/git:tok-secret'), problem: /<namespace>\/<name>/ },
    { value: basic('ns/:tok-secret'), problem: /<namespace>\/<name>/ },
    { value: basic('Ns/git:tok-secret'), problem: /<namespace>\/<name>/ },
    { value: basic('ns/a/b:tok-secret'), problem: /<namespace>\/<name>/ },
    { value: basic('ns%2:tok-secret'), problem: /malformed percent-encoding/ },
    { value: basic(':tok-secret'), problem: /at least one Connector/ },
    {
      value: basic(`${Array.from({ length: 17 }, (_, i) => `ns/c${i}`).join(',')}:tok-secret`),
      problem: /more than 16/,
    },
  ];
  for (const c of bad) {
    const label = c.value.startsWith('Basic ')
      ? `Basic ${Buffer.from(c.value.slice(6), 'base64').toString()}`
      : c.value;
    it(`refuses ${label.slice(0, 60)}`, () => {
      const got = parseProxyAuthorization(c.value);
      expect(got).to.have.property('problem').that.matches(c.problem);
      // Neither the token nor a mistyped entry (which could be a token) is repeated.
      expect(JSON.stringify(got)).not.to.match(/tok-secret|eyJ/);
    });
  }
});
