// How a request names its Connector by Host and carries the caller's token decides which
// credential is used and for whom, on the built-in and the custom proxies alike: every accepted form
// must parse to exactly the Connector it names, and every near miss to nothing.
import { expect } from 'chai';
import {
  callerToken,
  connectorFromHost,
  hostHeaderProblem,
  proxyLocation,
} from '../../../registry/reverse.js';
import type { ConnectorRef } from '../../../registry/types.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('registry/reverse connectorFromHost', () => {
  const cases: { host: string | undefined; want: ConnectorRef | null }[] = [
    { host: 'c-gitlab.team-a', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a:8080', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a.svc', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a.svc:80', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a.svc.cluster.local', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a.svc.cluster.local.', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a.svc.cluster.local:8080', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-gitlab.team-a.svc.my.domain', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'C-GitLab.Team-A', want: { namespace: 'team-a', name: 'gitlab' } },
    { host: 'c-c-x.ns', want: { namespace: 'ns', name: 'c-x' } },
    { host: undefined, want: null },
    { host: '', want: null },
    { host: 'gitlab.team-a', want: null },
    { host: 'c-.team-a', want: null },
    { host: 'c-gitlab', want: null },
    { host: 'c-gitlab.team-a.example.com', want: null },
    { host: 'c-gitlab.team-a.svcx', want: null },
    { host: 'c-gitlab-.team-a', want: null },
    { host: 'c-gitlab.-team-a', want: null },
    { host: 'c-git_lab.team-a', want: null },
    { host: 'x.c-gitlab.team-a', want: null },
    { host: 'c-gitlab.team-a:port', want: null },
    { host: 'connectors-proxy.connectors-system.svc', want: null },
    { host: '127.0.0.1:8080', want: null },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.host)} → ${c.want ? `${c.want.namespace}/${c.want.name}` : 'none'}`, () => {
      expect(connectorFromHost(c.host)).to.deep.equal(c.want);
    });
  }
});

describe('registry/reverse callerToken', () => {
  const cases: { name: string; headers: Record<string, string>; header?: string; want: string | null }[] = [
    { name: 'Bearer', headers: { authorization: 'Bearer eyJ.abc.def' }, want: 'eyJ.abc.def' },
    { name: 'bearer, any case', headers: { authorization: 'bearer tok' }, want: 'tok' },
    {
      name: 'Basic password, any username',
      headers: { authorization: `Basic ${b64('x:tok')}` },
      want: 'tok',
    },
    {
      name: 'Basic with a colon in the password',
      headers: { authorization: `Basic ${b64('u:a:b')}` },
      want: 'a:b',
    },
    { name: 'Basic with an empty password', headers: { authorization: `Basic ${b64('tok:')}` }, want: null },
    { name: 'Basic without a colon', headers: { authorization: `Basic ${b64('tok')}` }, want: null },
    { name: 'another scheme', headers: { authorization: 'Digest abc' }, want: null },
    { name: 'nothing', headers: {}, want: null },
    {
      name: 'the class header',
      headers: { 'private-token': 'tok' },
      header: 'Private-Token',
      want: 'tok',
    },
    { name: 'the class header, undeclared', headers: { 'private-token': 'tok' }, want: null },
    {
      name: 'Authorization before the class header',
      headers: { authorization: 'Bearer a', 'private-token': 'b' },
      header: 'Private-Token',
      want: 'a',
    },
    {
      name: 'the class header when Authorization holds none',
      headers: { authorization: 'Digest x', 'private-token': 'b' },
      header: 'Private-Token',
      want: 'b',
    },
    { name: 'a token with a space', headers: { authorization: `Basic ${b64('x:a b')}` }, want: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(callerToken(c.headers, c.header)).to.equal(c.want);
    });
  }
});

describe('registry/reverse proxyLocation', () => {
  const tool = { origin: 'http://reg:5000', requestPath: '/v2/team/app/blobs/uploads/', toolPrefix: '/v2' };
  const cases: { name: string; location: string; t?: typeof tool; base?: string; want: string }[] = [
    {
      name: 'an OCI upload location, path-absolute',
      location: '/v2/team/app/blobs/uploads/uuid?_state=x',
      want: '/v2/namespaces/ns/connectors/reg/team/app/blobs/uploads/uuid?_state=x',
    },
    {
      name: 'an OCI upload location, absolute on the tool origin',
      location: 'http://reg:5000/v2/team/app/blobs/uploads/uuid',
      want: '/v2/namespaces/ns/connectors/reg/team/app/blobs/uploads/uuid',
    },
    {
      name: 'another origin is left alone',
      location: 'https://s3.example.com/blob',
      want: 'https://s3.example.com/blob',
    },
    { name: 'outside the prefix is left alone', location: '/token', want: '/token' },
    {
      name: 'a relative location resolves against the tool path',
      location: 'uuid',
      want: '/v2/namespaces/ns/connectors/reg/team/app/blobs/uploads/uuid',
    },
    {
      name: 'path mode under an address prefix',
      location: '/gitlab/users/sign_in',
      t: { origin: 'https://x', requestPath: '/gitlab/a', toolPrefix: '/gitlab' },
      base: '/namespaces/ns/connectors/gl',
      want: '/namespaces/ns/connectors/gl/users/sign_in',
    },
    {
      name: 'host mode at the root',
      location: 'https://x/users/sign_in',
      t: { origin: 'https://x', requestPath: '/a', toolPrefix: '' },
      base: '',
      want: '/users/sign_in',
    },
    {
      name: 'a prefix that only shares a beginning is left alone',
      location: '/gitlabx/a',
      t: { origin: 'https://x', requestPath: '/gitlab/a', toolPrefix: '/gitlab' },
      base: '/namespaces/ns/connectors/gl',
      want: '/gitlabx/a',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(proxyLocation(c.location, c.t ?? tool, c.base ?? '/v2/namespaces/ns/connectors/reg')).to.equal(
        c.want,
      );
    });
  }
});

describe('registry/reverse hostHeaderProblem', () => {
  // Node keeps the first of several Host lines; a proxy in front of us may route by another one,
  // and reverse mode picks the Connector by Host, so a request with more than one is refused.
  const cases: { rawHeaders: string[]; refused: boolean }[] = [
    { rawHeaders: ['Host', 'c-git.team-a'], refused: false },
    { rawHeaders: ['Accept', '*/*'], refused: false },
    { rawHeaders: ['Host', 'c-git.team-a', 'X-Host', 'c-other.team-b'], refused: false },
    { rawHeaders: ['Host', 'c-git.team-a', 'Host', 'c-other.team-b'], refused: true },
    { rawHeaders: ['host', 'c-git.team-a', 'HOST', 'c-git.team-a'], refused: true },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.rawHeaders)} → ${c.refused ? 'refused' : 'accepted'}`, () => {
      const problem = hostHeaderProblem(c.rawHeaders);
      if (c.refused) expect(problem).to.equal('a request must carry one Host header, not several');
      else expect(problem).to.equal(null);
    });
  }
});
