// A Connector's credential may only go to that Connector's own addresses: same origin and under
// the address's path prefix. Near misses (another port, scheme, host or a prefix that merely
// shares a beginning) must match nothing.
import { expect } from 'chai';
import { connectorAddresses, hasOrigin, matchAddress } from '../../../connproxy/match.js';
import { parseToolAddress } from '../../../proxy/target.js';
import type { ResolvedConnector } from '../../../registry/resolve.js';
import type { Connector, ConnectorClass } from '../../../registry/types.js';

function resolved(address: string, extensions: { name: string; value?: unknown }[] = []): ResolvedConnector {
  const connector: Connector = {
    metadata: { name: 'c', namespace: 'ns' },
    spec: { connectorClassName: 'x', address, addressExtensions: extensions },
  };
  const connectorClass: ConnectorClass = { metadata: { name: 'x' } };
  return { connector, connectorClass, className: 'x', address: parseToolAddress(address) };
}

describe('connproxy/match connectorAddresses', () => {
  it('lists the address, then each http(s) address extension', () => {
    const r = resolved('https://github.com', [
      { name: 'api', value: 'https://api.github.com/' },
      { name: 'uploads', value: 'https://uploads.github.com/prefix' },
      { name: 'ssh', value: 'ssh://git@github.com' },
      { name: 'empty', value: '' },
      { name: 'number', value: 3 },
      { name: 'missing' },
      { name: 'userinfo', value: 'https://u:p@x.example.com' },
    ]);
    expect(connectorAddresses(r)).to.deep.equal([
      { origin: 'https://github.com', prefix: '' },
      { origin: 'https://api.github.com', prefix: '' },
      { origin: 'https://uploads.github.com', prefix: '/prefix' },
    ]);
  });
});

describe('connproxy/match matchAddress', () => {
  const candidates = [
    { owner: 'root', addresses: [parseToolAddress('http://tool:8080')] },
    { owner: 'api', addresses: [parseToolAddress('http://tool:8080/api/v4/')] },
    { owner: 'prefixed', addresses: [parseToolAddress('https://git.example.com/gitlab')] },
  ];
  const cases: { origin: string; path: string; want: { owner: string; segments: string[] } | null }[] = [
    { origin: 'http://tool:8080', path: '/x/y', want: { owner: 'root', segments: ['x', 'y'] } },
    { origin: 'http://tool:8080', path: '/', want: { owner: 'root', segments: [''] } },
    { origin: 'http://tool:8080', path: '/api/v4/projects', want: { owner: 'api', segments: ['projects'] } },
    { origin: 'http://tool:8080', path: '/api/v4', want: { owner: 'api', segments: [] } },
    { origin: 'http://tool:8080', path: '/api/v45', want: { owner: 'root', segments: ['api', 'v45'] } },
    {
      origin: 'https://git.example.com',
      path: '/gitlab/org/app.git',
      want: { owner: 'prefixed', segments: ['org', 'app.git'] },
    },
    { origin: 'https://git.example.com', path: '/gitlab', want: { owner: 'prefixed', segments: [] } },
    { origin: 'https://git.example.com', path: '/gitlabx/org', want: null },
    { origin: 'https://git.example.com', path: '/other', want: null },
    { origin: 'http://git.example.com', path: '/gitlab/x', want: null },
    { origin: 'https://git.example.com:8443', path: '/gitlab/x', want: null },
    { origin: 'http://tool:8081', path: '/x', want: null },
    { origin: 'https://tool:8080', path: '/x', want: null },
  ];
  for (const c of cases) {
    it(`${c.origin}${c.path} → ${c.want ? c.want.owner : 'no Connector'}`, () => {
      const got = matchAddress(candidates, c.origin, c.path);
      expect(got ? { owner: got.owner, segments: got.segments } : null).to.deep.equal(c.want);
    });
  }

  it('hasOrigin looks at the origin only', () => {
    expect(hasOrigin(candidates, 'https://git.example.com')).to.equal(true);
    expect(hasOrigin(candidates, 'https://git.example.com:444')).to.equal(false);
    expect(hasOrigin(candidates, 'https://tool:8080')).to.equal(false);
  });
});
