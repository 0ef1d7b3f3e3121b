// A Connector's desired status from its class, Secret and probe results: the published conditions,
// reasons and messages, Ready aggregation, status.api.path and the proxy address by resolver.

import { expect } from 'chai';
import { AddressResolver } from '../../../controller/addresses.js';
import type { Condition } from '../../../controller/conditions.js';
import {
  connectorStatus,
  referencedSecrets,
  type ConnectorDeps,
  type ConnectorProbes,
  type SecretRead,
} from '../../../controller/connector.js';
import type { ProbeResult } from '../../../controller/probe.js';
import { admittedAnnotation, admittedState } from '../../../registry/admitted.js';
import type { Connector, ConnectorClass } from '../../../registry/types.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

const gitClass: ConnectorClass = {
  metadata: { name: 'git', annotations: { 'connectors.cpaas.io/proxy-resolver': 'host' } },
  spec: {
    auth: {
      types: [
        {
          name: 'basicAuth',
          secretType: 'kubernetes.io/basic-auth',
          optional: true,
          params: [{ name: 'username' }, { name: 'password' }],
        } as never,
      ],
    },
    livenessProbe: { http: { path: '/' } },
    authProbes: [{ authName: 'basicAuth', probe: { http: { path: '/info/refs' } } }],
    proxy: { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'connectors-system' } },
  } as never,
};

const bareClass: ConnectorClass = {
  metadata: { name: 'bare' },
  spec: { auth: { types: [{ name: 'tokenAuth', secretType: 'connectors.cpaas.io/bearer-token' }] } },
};

/** `c` as admission stamps it: accepted in exactly this state. */
function admitted(c: Connector): Connector {
  const annotations = { [admittedAnnotation]: admittedState(c, c.metadata?.namespace ?? '') };
  const meta = c.metadata;
  return {
    ...c,
    metadata: { name: meta?.name, namespace: meta?.namespace, generation: meta?.generation, annotations },
  };
}

/** A Connector as the webhook admitted it (unstamped: `admitted: false`). */
function connector(spec: Partial<NonNullable<Connector['spec']>> = {}, opts = { admitted: true }): Connector {
  const c: Connector = {
    metadata: { name: 'my-git', namespace: 'team-a', generation: 4 },
    spec: {
      connectorClassName: 'git',
      address: 'https://git.example.com',
      auth: { name: 'basicAuth', secretRef: { name: 'git-creds' } },
      ...spec,
    },
  };
  return opts.admitted ? admitted(c) : c;
}

const gitCreds = {
  name: 'git-creds',
  namespace: 'team-a',
  type: 'kubernetes.io/basic-auth',
  data: { username: b64('u'), password: b64('p') },
};
const goodSecret: SecretRead = { found: true, secret: gitCreds };

interface Fake {
  classes?: ConnectorClass[];
  secret?: SecretRead;
  liveness?: ProbeResult;
  auth?: ProbeResult;
  ca?: { ok: true; pem: string | undefined } | { ok: false; message: string };
  proxyService?: Condition;
}

const ok = (code = 200): ProbeResult => ({ kind: 'answered', statusCode: code, accepted: true });

function deps(f: Fake = {}): ConnectorDeps & { calls: string[]; services: string[] } {
  const calls: string[] = [];
  const probes: ConnectorProbes = {
    http: (spec) => {
      const kind = spec.path === '/' ? 'liveness' : 'auth';
      calls.push(kind);
      return Promise.resolve(kind === 'liveness' ? (f.liveness ?? ok()) : (f.auth ?? ok()));
    },
    api: () => {
      calls.push('api');
      return Promise.resolve(f.auth ?? ok());
    },
  };
  const services: string[] = [];
  return {
    calls,
    services,
    connectorClass: (name) => (f.classes ?? [gitClass, bareClass]).find((c) => c.metadata?.name === name),
    readSecret: (ns, name) => {
      calls.push(`secret ${ns}/${name}`);
      return Promise.resolve(f.secret ?? goodSecret);
    },
    caBundle: () => Promise.resolve(f.ca ?? { ok: true, pem: undefined }),
    probes,
    addresses: new AddressResolver('connectors-system'),
    ensureProxyService: (_connector, target) => {
      services.push(target);
      return Promise.resolve(f.proxyService ?? { type: 'ProxyServiceReady', status: 'True' });
    },
  };
}

const byType = (conditions: Condition[]): Record<string, Condition> =>
  Object.fromEntries(conditions.map((c) => [c.type, c]));

describe('controller/connector connectorStatus', () => {
  describe('only a Connector that admission accepted in its current state is probed', () => {
    const notAdmitted = (c: Record<string, Condition>, name = 'my-git'): void => {
      for (const type of ['SecretReady', 'LivenessReady', 'AuthReady']) {
        expect(c[type], type).to.deep.equal({
          type,
          status: 'Unknown',
          reason: 'NotAdmitted',
          message:
            'not probed: the Connector was not admitted by the Connectors admission webhook in its current ' +
            'state (annotation connectors.alauda.io/admitted missing or stale); re-apply it as a user who may ' +
            `get the Secrets it references, e.g. kubectl annotate --overwrite -n team-a connector/${name} ` +
            'connectors.alauda.io/admitted=renew',
        });
      }
      expect(c.Ready).to.include({ status: 'Unknown', reason: 'NotAdmitted' });
    };

    it('without the stamp: the Secret is not read, no probe runs, the conditions say why', async () => {
      const d = deps();
      const c = byType((await connectorStatus(connector({}, { admitted: false }), d)).conditions);
      notAdmitted(c);
      expect(d.calls).to.deep.equal([]);
      expect(c.ConnectorClassReady?.status).to.equal('True');
    });

    it('with a stamp of another state: each field that decides where the credential goes counts', async () => {
      const changes: Partial<NonNullable<Connector['spec']>>[] = [
        { address: 'https://listener.example.com' },
        { addressExtensions: [{ name: 'api', value: 'https://listener.example.com' }] },
        { connectorClassName: 'bare' },
        { auth: { name: 'basicAuth', secretRef: { name: 'other-creds' } } },
        { auth: { name: 'basicAuth', secretRef: { name: 'git-creds', namespace: 'team-b' } } },
        { caCertSecretRef: { name: 'other-ca' } },
      ];
      for (const change of changes) {
        const stamped = connector();
        const stale: Connector = { ...stamped, spec: { ...stamped.spec!, ...change } };
        const d = deps();
        notAdmitted(byType((await connectorStatus(stale, d)).conditions));
        expect(d.calls, JSON.stringify(change)).to.deep.equal([]);
      }
    });

    it('a forged stamp (any other value) is not a stamp', async () => {
      const c = connector({}, { admitted: false });
      c.metadata = {
        name: 'my-git',
        namespace: 'team-a',
        annotations: { [admittedAnnotation]: 'sha256:forged' },
      };
      const d = deps();
      notAdmitted(byType((await connectorStatus(c, d)).conditions));
      expect(d.calls).to.deep.equal([]);
    });

    it('fields that do not decide where the credential goes leave the stamp valid', async () => {
      const stamped = connector();
      const relabelled: Connector = {
        ...stamped,
        metadata: {
          name: 'my-git',
          namespace: 'team-a',
          generation: 5,
          labels: { team: 'a' },
          annotations: stamped.metadata?.annotations,
        },
        spec: {
          ...stamped.spec!,
          params: [{ name: 'sslVerify', value: 'false' }],
          auth: { ...stamped.spec!.auth, params: [{ name: 'repository', value: 'org/app.git' }] },
        },
      };
      const d = deps();
      const c = byType((await connectorStatus(relabelled, d)).conditions);
      expect(c.Ready?.status).to.equal('True');
      expect(d.calls).to.deep.equal(['secret team-a/git-creds', 'liveness', 'auth']);
    });
  });

  it('all good: every condition True, Ready True, the API path and the host proxy address', async () => {
    const s = await connectorStatus(connector(), deps());
    const c = byType(s.conditions);
    expect(s.observedGeneration).to.equal(4);
    expect(s.api.path).to.equal(
      '/apis/subresources.connectors.alauda.io/v1alpha1/namespaces/team-a/connectors/my-git',
    );
    expect(s.proxy).to.deep.equal({ httpAddress: { url: 'http://c-my-git.team-a.svc.cluster.local' } });
    expect(s.conditions.map((x) => x.type)).to.deep.equal([
      'ConnectorClassReady',
      'SecretReady',
      'LivenessReady',
      'AuthReady',
      'ProxyServiceReady',
      'Ready',
    ]);
    for (const x of s.conditions) expect(x.status, x.type).to.equal('True');
    expect(c.Ready).to.deep.equal({ type: 'Ready', status: 'True' });
  });

  it('ConnectorClassNotFound with the published message; nothing is probed', async () => {
    const d = deps({ classes: [] });
    const s = await connectorStatus(connector(), d);
    const c = byType(s.conditions);
    expect(c.ConnectorClassReady).to.deep.equal({
      type: 'ConnectorClassReady',
      status: 'False',
      reason: 'ConnectorClassNotFound',
      message: 'connectorclass.connectors.alauda.io "git" not found',
    });
    expect(c.Ready).to.include({ status: 'False', reason: 'ConnectorClassNotFound' });
    expect(c.LivenessReady?.status).to.equal('Unknown');
    expect(d.calls).to.deep.equal([]);
    expect(s.proxy).to.equal(undefined);
  });

  it('SecretNotFound with kube-apiserver’s message; the auth probe waits, liveness still runs', async () => {
    const d = deps({
      secret: { found: false, reason: 'NotFound', message: 'secrets "git-creds" not found' },
    });
    const c = byType((await connectorStatus(connector(), d)).conditions);
    expect(c.SecretReady).to.deep.equal({
      type: 'SecretReady',
      status: 'False',
      reason: 'SecretNotFound',
      message: 'secrets "git-creds" not found',
    });
    expect(c.AuthReady).to.include({ status: 'Unknown', reason: 'SecretNotReady' });
    expect(c.Ready).to.include({ status: 'False', reason: 'SecretNotFound' });
    expect(d.calls).to.deep.equal(['secret team-a/git-creds', 'liveness']);
  });

  it('SecretOptional when the auth type is optional and there is no Secret; the auth probe runs anonymously', async () => {
    const d = deps();
    const c = byType((await connectorStatus(connector({ auth: { name: 'basicAuth' } }), d)).conditions);
    expect(c.SecretReady).to.deep.equal({ type: 'SecretReady', status: 'True', reason: 'SecretOptional' });
    expect(d.calls).to.deep.equal(['liveness', 'auth']);
  });

  it('a required auth type without a Secret is SecretRequired', async () => {
    const c = byType(
      (await connectorStatus(connector({ connectorClassName: 'bare', auth: { name: 'tokenAuth' } }), deps()))
        .conditions,
    );
    expect(c.SecretReady).to.include({ status: 'False', reason: 'SecretRequired' });
  });

  it('a Secret of the wrong type is SecretTypeMismatch naming both types', async () => {
    const secret: SecretRead = { found: true, secret: { ...gitCreds, type: 'Opaque' } };
    const c = byType((await connectorStatus(connector(), deps({ secret }))).conditions);
    expect(c.SecretReady).to.deep.equal({
      type: 'SecretReady',
      status: 'False',
      reason: 'SecretTypeMismatch',
      message:
        'secret "git-creds" is of type "Opaque", but auth type "basicAuth" of connectorclass "git" needs type "kubernetes.io/basic-auth"',
    });
  });

  it('a Secret without the keys the auth type declares is SecretMissingKeys, naming keys, never values', async () => {
    const secret: SecretRead = {
      found: true,
      secret: {
        name: 'git-creds',
        namespace: 'team-a',
        type: 'kubernetes.io/basic-auth',
        data: { username: b64('u') },
      },
    };
    const c = byType((await connectorStatus(connector(), deps({ secret }))).conditions);
    expect(c.SecretReady).to.include({ status: 'False', reason: 'SecretMissingKeys' });
    expect(c.SecretReady?.message).to.contain('"password"');
  });

  it('an auth type the class does not declare is AuthTypeNotFound, listing the declared ones', async () => {
    const c = byType((await connectorStatus(connector({ auth: { name: 'sshAuth' } }), deps())).conditions);
    expect(c.SecretReady).to.include({ status: 'False', reason: 'AuthTypeNotFound' });
    expect(c.SecretReady?.message).to.contain('(declared: basicAuth)');
  });

  it('a Secret in another namespace is refused without reading it', async () => {
    const d = deps();
    const c = byType(
      (
        await connectorStatus(
          connector({ auth: { name: 'basicAuth', secretRef: { name: 'x', namespace: 'other' } } }),
          d,
        )
      ).conditions,
    );
    expect(c.SecretReady).to.include({ status: 'False', reason: 'InvalidSecretRef' });
    expect(d.calls.some((x) => x.startsWith('secret'))).to.equal(false);
  });

  it('AuthenticationFailed with the published message when the tool refuses the credential', async () => {
    const c = byType(
      (
        await connectorStatus(
          connector(),
          deps({ auth: { kind: 'answered', statusCode: 401, accepted: false } }),
        )
      ).conditions,
    );
    expect(c.AuthReady).to.deep.equal({
      type: 'AuthReady',
      status: 'False',
      reason: 'AuthenticationFailed',
      message: 'Authentication failed: status code 401',
    });
    expect(c.Ready).to.include({ status: 'False', reason: 'AuthenticationFailed' });
  });

  it('ConnectionFailed when the tool does not answer; the auth probe is not sent to a dead tool', async () => {
    const d = deps({
      liveness: { kind: 'unreachable', message: 'Get "https://git.example.com/": connect ECONNREFUSED' },
    });
    const c = byType((await connectorStatus(connector(), d)).conditions);
    expect(c.LivenessReady).to.include({ status: 'False', reason: 'ConnectionFailed' });
    expect(c.AuthReady).to.include({ status: 'Unknown', reason: 'LivenessNotReady' });
    expect(c.Ready).to.deep.equal({
      type: 'Ready',
      status: 'False',
      reason: 'ConnectionFailed',
      message: 'Get "https://git.example.com/": connect ECONNREFUSED',
    });
    expect(d.calls.filter((x) => x === 'auth')).to.have.length(0);
  });

  it('an answer the liveness rule rejects is LivenessProbeFailed with the status code', async () => {
    const c = byType(
      (
        await connectorStatus(
          connector(),
          deps({ liveness: { kind: 'answered', statusCode: 503, accepted: false } }),
        )
      ).conditions,
    );
    expect(c.LivenessReady).to.include({
      status: 'False',
      reason: 'LivenessProbeFailed',
      message: 'Liveness probe failed: status code 503',
    });
  });

  it('a broken probe is InvalidProbe', async () => {
    const c = byType(
      (await connectorStatus(connector(), deps({ auth: { kind: 'invalid', message: 'path: template: …' } })))
        .conditions,
    );
    expect(c.AuthReady).to.include({
      status: 'False',
      reason: 'InvalidProbe',
      message: 'authProbe: path: template: …',
    });
  });

  it('NonLivenessProbe, NonAuthProbe and NonProxy for a class without probes or proxy', async () => {
    const cls: ConnectorClass = { metadata: { name: 'plain' }, spec: {} };
    const s = await connectorStatus(
      connector({ connectorClassName: 'plain', auth: undefined }),
      deps({ classes: [cls] }),
    );
    const c = byType(s.conditions);
    expect(c.SecretReady).to.include({ status: 'True', reason: 'SecretOptional' });
    expect(c.LivenessReady).to.include({ status: 'True', reason: 'NonLivenessProbe' });
    expect(c.AuthReady).to.include({ status: 'True', reason: 'NonAuthProbe' });
    expect(c.ProxyServiceReady).to.include({ status: 'True', reason: 'NonProxy' });
    expect(c.Ready).to.deep.equal({ type: 'Ready', status: 'True' });
    expect(s.proxy).to.equal(undefined);
  });

  it('the path resolver puts the Connector under the class proxy', async () => {
    const cls: ConnectorClass = {
      metadata: { name: 'oci', annotations: { 'connectors.cpaas.io/proxy-resolver': 'path' } },
      spec: { proxy: { ref: { kind: 'Service', name: 'connectors-proxy', namespace: 'connectors-system' } } },
    };
    const s = await connectorStatus(
      connector({ connectorClassName: 'oci', auth: undefined }),
      deps({ classes: [cls] }),
    );
    expect(s.proxy?.httpAddress.url).to.equal(
      'http://connectors-proxy.connectors-system.svc/namespaces/team-a/connectors/my-git',
    );
  });

  it('a CA Secret that cannot be used fails the probes without sending them', async () => {
    const d = deps({ ca: { ok: false, message: 'Secret team-a/ca does not exist' } });
    const c = byType((await connectorStatus(connector({ caCertSecretRef: { name: 'ca' } }), d)).conditions);
    expect(c.LivenessReady).to.include({ status: 'False', reason: 'CACertNotReady' });
    expect(d.calls.filter((x) => x === 'liveness' || x === 'auth')).to.have.length(0);
  });

  it('lists the Secrets a Connector depends on', () => {
    expect(referencedSecrets(connector({ caCertSecretRef: { name: 'ca' } }))).to.deep.equal([
      'git-creds',
      'ca',
    ]);
    expect(referencedSecrets(connector({ auth: undefined }))).to.deep.equal([]);
  });

  it('the host resolver gets its c-{name} Service pointing at the class proxy; its failure makes Ready False', async () => {
    const d = deps();
    const good = await connectorStatus(connector(), d);
    expect(d.services).to.deep.equal(['connectors-proxy.connectors-system.svc.cluster.local']);
    expect(byType(good.conditions).ProxyServiceReady).to.include({ status: 'True' });
    const conflict: Condition = {
      type: 'ProxyServiceReady',
      status: 'False',
      reason: 'ProxyServiceConflict',
      message: 'Service team-a/c-my-git exists and does not belong to this Connector; delete or rename it',
    };
    const bad = await connectorStatus(connector(), deps({ proxyService: conflict }));
    expect(byType(bad.conditions).Ready).to.include({ status: 'False', reason: 'ProxyServiceConflict' });
  });
});
