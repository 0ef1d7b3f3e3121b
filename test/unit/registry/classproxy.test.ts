// Which proxy serves a class decides whether the API server injects a credential itself or hands
// the caller's identity to another process: a class must be custom exactly when its spec.proxy names
// something other than the built-in proxy, and identities may travel over https only.
import { expect } from 'chai';
import { StatusError } from '../../../machinery/status.js';
import {
  customProxyAddress,
  customProxyRefusal,
  hasCustomProxy,
  identityHeaders,
  type ProxyRouting,
} from '../../../registry/classproxy.js';
import type { ConnectorClass } from '../../../registry/types.js';

const builtin = new Set(['connectors-system/connectors-proxy', 'connectors-system/connectors-proxy-service']);
const cls = (proxy?: Record<string, unknown>): ConnectorClass => ({
  metadata: { name: 'signed' },
  ...(proxy ? { spec: { proxy } } : {}),
});
const routing: ProxyRouting = {
  builtinServices: builtin,
  defaultNamespace: 'connectors-system',
  overrides: new Map([['tools/local', 'https://127.0.0.1:9443']]),
};

describe('registry/classproxy hasCustomProxy', () => {
  const cases: [string, Record<string, unknown> | undefined, boolean][] = [
    ['no spec.proxy', undefined, false],
    [
      'the built-in Service',
      { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'connectors-system' } },
      false,
    ],
    [
      'the built-in Service, namespace defaulted',
      { ref: { kind: 'Service', name: 'connectors-proxy' } },
      false,
    ],
    ['the published built-in name', { ref: { kind: 'Service', name: 'connectors-proxy-service' } }, false],
    [
      'the built-in name in another namespace',
      { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'x' } },
      true,
    ],
    ['another Service', { ref: { kind: 'Service', name: 'signer', namespace: 'tools' } }, true],
    ['an absolute uri', { uri: 'https://signer.example' }, true],
    [
      'the built-in Service with an absolute uri',
      { ref: { kind: 'Service', name: 'connectors-proxy' }, uri: 'https://x' },
      true,
    ],
    ['a ref that is no Service', { ref: { kind: 'Broker', name: 'x' } }, false],
  ];
  for (const [what, proxy, custom] of cases) {
    it(`${what} → ${custom ? 'custom' : 'built-in'}`, () => {
      expect(hasCustomProxy(cls(proxy), builtin, 'connectors-system')).to.equal(custom);
    });
  }
});

describe('registry/classproxy customProxyAddress', () => {
  it('resolves a Service ref over https, with a relative uri', () => {
    expect(
      customProxyAddress(
        cls({ ref: { kind: 'Service', name: 'signer', namespace: 'tools' }, uri: 'base' }),
        routing,
      ),
    ).to.deep.equal({
      origin: 'https://signer.tools.svc',
      prefix: '/base',
    });
  });
  it('applies --proxy-url-override to the Service', () => {
    expect(
      customProxyAddress(cls({ ref: { kind: 'Service', name: 'local', namespace: 'tools' } }), routing),
    ).to.deep.equal({
      origin: 'https://127.0.0.1:9443',
      prefix: '',
    });
  });
  it('takes an absolute https uri', () => {
    expect(customProxyAddress(cls({ uri: 'https://signer.example/p/' }), routing)).to.deep.equal({
      origin: 'https://signer.example',
      prefix: '/p',
    });
  });
  for (const [what, proxy, message] of [
    ['an http uri', { uri: 'http://signer.example' }, 'which is not https'],
    ['nothing to resolve', { uri: 'relative' }, 'names neither an absolute uri nor a Service'],
    ['userinfo', { uri: 'https://u:p@signer.example' }, 'must not contain user information'],
  ] as const) {
    it(`refuses ${what} with a 400`, () => {
      let err: unknown;
      try {
        customProxyAddress(cls(proxy), routing);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(StatusError);
      expect((err as StatusError).code).to.equal(400);
      expect((err as StatusError).message).to.contain(message);
      expect((err as StatusError).message).not.to.contain('u:p');
    });
  }
});

describe('registry/classproxy identityHeaders and customProxyRefusal', () => {
  it('names the user, every group, every extra (key percent-encoded) and the subresource', () => {
    expect(
      identityHeaders(
        {
          username: 'alice',
          groups: ['dev', 'system:authenticated'],
          extra: { 'scopes/a b': ['x', 'y'], empty: [] },
        },
        'branches',
      ),
    ).to.deep.equal({
      'x-remote-user': 'alice',
      'x-remote-group': ['dev', 'system:authenticated'],
      'x-remote-extra-scopes%2Fa%20b': ['x', 'y'],
      'x-connectors-subresource': 'branches',
    });
  });
  it('names the address the controller published for the Connector', () => {
    const err = customProxyRefusal(
      {
        metadata: { namespace: 'ns', name: 'c' },
        status: { proxy: { httpAddress: { url: 'http://c-c.ns.svc.cluster.local' } } },
      } as never,
      'signed',
    );
    expect(err.code).to.equal(400);
    expect(err.message).to.equal(
      'Connector ns/c is of ConnectorClass "signed", which has a proxy of its own: use http://c-c.ns.svc.cluster.local',
    );
  });
});
