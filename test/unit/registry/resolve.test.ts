// What a caller sees when a Connector, its class, its address or its Secret is missing or wrong:
// the right Status code and a message that says what to fix, never the credential itself.
import { expect } from 'chai';
import { StatusError } from '../../../machinery/status.js';
import type { CredentialInjector } from '../../../proxy/credentials/index.js';
import { connectorCa, connectorSecret, resolveConnector } from '../../../registry/resolve.js';
import type { CaLookup, SecretLookup, SecretSource } from '../../../registry/secrets.js';
import type { ConnectorLister } from '../../../registry/store.js';
import type { Connector, ConnectorClass, ConnectorSpec } from '../../../registry/types.js';

const gitlabClass: ConnectorClass = { metadata: { name: 'gitlab' }, spec: {} };

function connector(spec: Partial<ConnectorSpec>, namespace = 'team-a', name = 'gitlab'): Connector {
  return { metadata: { namespace, name }, spec: { connectorClassName: 'gitlab', ...spec } };
}

function lister(connectors: Connector[], classes: ConnectorClass[] = [gitlabClass]): ConnectorLister {
  return {
    connector: (ns, name) => connectors.find((c) => c.metadata?.namespace === ns && c.metadata.name === name),
    connectorClass: (name) => classes.find((c) => c.metadata?.name === name),
    connectorClasses: () => classes,
  };
}

function statusOf(fn: () => unknown): StatusError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(StatusError);
    return err as StatusError;
  }
  return expect.fail('expected a StatusError');
}

async function statusOfAsync(fn: () => Promise<unknown>): Promise<StatusError> {
  try {
    await fn();
  } catch (err) {
    expect(err).to.be.instanceOf(StatusError);
    return err as StatusError;
  }
  return expect.fail('expected a StatusError');
}

describe('registry/resolve resolveConnector', () => {
  it('resolves a Connector to its class and parsed address', () => {
    const c = connector({ address: 'https://example.com/gitlab/' });
    const resolved = resolveConnector(lister([c]), 'team-a', 'gitlab');
    expect(resolved.connector).to.equal(c);
    expect(resolved.connectorClass).to.equal(gitlabClass);
    expect(resolved.className).to.equal('gitlab');
    expect(resolved.address).to.deep.equal({ origin: 'https://example.com', prefix: '/gitlab' });
  });

  it('never resolves a Connector of another namespace', () => {
    const c = connector({ address: 'https://example.com' }, 'team-b');
    expect(statusOf(() => resolveConnector(lister([c]), 'team-a', 'gitlab')).code).to.equal(404);
  });

  const failures: {
    title: string;
    connectors: Connector[];
    code: number;
    message: RegExp;
  }[] = [
    {
      title: 'a Connector that does not exist is 404 in the CRD group',
      connectors: [],
      code: 404,
      message: /^connectors\.connectors\.alauda\.io "gitlab" not found$/,
    },
    {
      title: 'a Connector whose class is not installed is 404 naming the class',
      connectors: [connector({ connectorClassName: 'harbor', address: 'https://h' })],
      code: 404,
      message: /connectorclasses\.connectors\.alauda\.io "harbor" not found: Connector team-a\/gitlab/,
    },
    {
      title: 'a Connector without a class name is 404',
      connectors: [connector({ connectorClassName: '', address: 'https://h' })],
      code: 404,
      message: /connectorclasses/,
    },
    {
      title: 'a Connector without an address is 400',
      connectors: [connector({})],
      code: 400,
      message: /Connector team-a\/gitlab has no spec\.address/,
    },
    {
      title: 'a Connector with a non-http address is 400',
      connectors: [connector({ address: 'ssh://git@gitlab.example.com' })],
      code: 400,
      message: /Connector team-a\/gitlab: .*http or https/,
    },
    {
      title: 'a Connector with credentials in its address is 400, without echoing them',
      connectors: [connector({ address: 'https://root:s3cr3t-pw@gitlab.example.com' })],
      code: 400,
      message: /^Connector team-a\/gitlab: the address must not contain user information(?!.*s3cr3t-pw)/,
    },
  ];
  for (const c of failures) {
    it(c.title, () => {
      const err = statusOf(() => resolveConnector(lister(c.connectors), 'team-a', 'gitlab'));
      expect(err.code).to.equal(c.code);
      expect(err.status.message).to.match(c.message);
    });
  }
});

class FakeSecrets implements SecretSource {
  readonly asked: string[] = [];
  constructor(
    private readonly answer: SecretLookup,
    private readonly ca: CaLookup = { found: false, message: 'Secret team-a/ca does not exist' },
  ) {}
  readonly schemes: string[] = [];
  credential(namespace: string, name: string, scheme = ''): Promise<SecretLookup> {
    this.asked.push(`${namespace}/${name}`);
    this.schemes.push(scheme);
    return Promise.resolve(this.answer);
  }
  caBundle(namespace: string, name: string): Promise<CaLookup> {
    this.asked.push(`ca ${namespace}/${name}`);
    return Promise.resolve(this.ca);
  }
}

describe('registry/resolve connectorCa', () => {
  const none: SecretLookup = { found: false, reason: 'NotFound', message: 'unused' };

  it('is undefined when the Connector names no CA Secret, without reading anything', async () => {
    const secrets = new FakeSecrets(none);
    expect(await connectorCa(secrets, connector({}))).to.equal(undefined);
    expect(secrets.asked).to.deep.equal([]);
  });

  it('returns the PEM bundle of the named Secret from the Connector’s namespace', async () => {
    const secrets = new FakeSecrets(none, { found: true, pem: 'PEM' });
    const c = { ...connector({}), spec: { connectorClassName: 'gitlab', caCertSecretRef: { name: 'ca' } } };
    expect(await connectorCa(secrets, c)).to.equal('PEM');
    expect(secrets.asked).to.deep.equal(['ca team-a/ca']);
  });

  it('is a 400 naming the field and the Secret when the Secret is missing or holds no certificate', async () => {
    const secrets = new FakeSecrets(none);
    const c = { ...connector({}), spec: { connectorClassName: 'gitlab', caCertSecretRef: { name: 'ca' } } };
    const err = await statusOfAsync(() => connectorCa(secrets, c));
    expect(err.code).to.equal(400);
    expect(err.status.message).to.equal(
      'Connector team-a/gitlab: spec.caCertSecretRef: Secret team-a/ca does not exist',
    );
  });
});

describe('registry/resolve connectorSecret', () => {
  /** The Connector with a class that names no credential scheme. */
  const of = (connector: Connector) => ({ connector, connectorClass: { metadata: { name: 'gitlab' } } });
  const injector: CredentialInjector = { inject: () => undefined };
  const found: SecretLookup = { found: true, type: 'Opaque', injector, data: { token: 'dG9rZW4=' } };

  it('returns the referenced Secret, read from the Connector’s namespace', async () => {
    const secrets = new FakeSecrets(found);
    const c = connector({ auth: { secretRef: { name: 'gitlab-cred' } } });
    expect(await connectorSecret(secrets, of(c))).to.equal(found);
    expect(secrets.asked).to.deep.equal(['team-a/gitlab-cred']);
  });

  it('accepts a secretRef that repeats the Connector’s own namespace', async () => {
    const secrets = new FakeSecrets(found);
    const c = connector({ auth: { secretRef: { name: 'gitlab-cred', namespace: 'team-a' } } });
    expect(await connectorSecret(secrets, of(c))).to.equal(found);
  });

  for (const auth of [undefined, {}, { secretRef: {} }, { secretRef: { name: '' } }]) {
    it(`has no credential for auth ${JSON.stringify(auth)}`, async () => {
      const secrets = new FakeSecrets(found);
      expect(await connectorSecret(secrets, of(connector(auth ? { auth } : {})))).to.equal(null);
      expect(secrets.asked).to.deep.equal([]);
    });
  }

  it('refuses a Secret in another namespace without reading it (400)', async () => {
    const secrets = new FakeSecrets(found);
    const c = connector({ auth: { secretRef: { name: 'admin-cred', namespace: 'kube-system' } } });
    const err = await statusOfAsync(() => connectorSecret(secrets, of(c)));
    expect(err.code).to.equal(400);
    expect(err.status.message).to.match(/Connector team-a\/gitlab: .*namespace team-a/);
    expect(secrets.asked).to.deep.equal([]);
  });

  const lookups: { reason: 'NotFound' | 'Forbidden' | 'Invalid'; code: number }[] = [
    { reason: 'NotFound', code: 400 },
    { reason: 'Invalid', code: 400 },
    { reason: 'Forbidden', code: 503 },
  ];
  for (const c of lookups) {
    it(`turns a ${c.reason} Secret into ${c.code} naming the Connector`, async () => {
      const secrets = new FakeSecrets({
        found: false,
        reason: c.reason,
        message: 'Secret team-a/gitlab-cred: why',
      });
      const conn = connector({ auth: { secretRef: { name: 'gitlab-cred' } } });
      const err = await statusOfAsync(() => connectorSecret(secrets, of(conn)));
      expect(err.code).to.equal(c.code);
      expect(err.status.message).to.equal('Connector team-a/gitlab: Secret team-a/gitlab-cred: why');
    });
  }
});

describe('registry/resolve: the credential scheme of the Connector’s auth type', () => {
  const found: SecretLookup = {
    found: true,
    type: 'connectors.cpaas.io/bearer-token',
    injector: { inject: () => undefined },
    data: {},
  };
  const sonarqube: ConnectorClass = {
    metadata: { name: 'sonarqube' },
    spec: {
      auth: {
        types: [
          {
            name: 'tokenAuth',
            secretType: 'connectors.cpaas.io/bearer-token',
            annotations: { 'connectors.alauda.io/credential-scheme': ' basic-username ' },
          },
          { name: 'bearerAuth', secretType: 'connectors.cpaas.io/bearer-token' },
        ],
      },
    },
  };
  const cases: { title: string; authName: string; scheme: string }[] = [
    { title: 'the annotation of the named auth type', authName: 'tokenAuth', scheme: 'basic-username' },
    { title: 'none for an auth type without it', authName: 'bearerAuth', scheme: '' },
    { title: 'none for an auth type the class lacks', authName: 'nope', scheme: '' },
  ];
  for (const c of cases) {
    it(`asks for the Secret with ${c.title}`, async () => {
      const conn: Connector = {
        metadata: { namespace: 'team-a', name: 'sonar' },
        spec: {
          connectorClassName: 'sonarqube',
          address: 'https://sonar.example.com',
          auth: { name: c.authName, secretRef: { name: 'sonar-token' } },
        },
      };
      const secrets = new FakeSecrets(found);
      expect(await connectorSecret(secrets, { connector: conn, connectorClass: sonarqube })).to.equal(found);
      expect(secrets.schemes).to.deep.equal([c.scheme]);
    });
  }
});
