// Admission through the real kube-apiserver: `kubectl apply` of a Connector that can never work with
// its ConnectorClass fails with a message naming the field and the allowed values, a valid one goes
// through, one of a class not installed yet goes through with a warning, upstream's examples still
// apply, and a webhook that is down blocks Connector writes only, never unrelated resources.
//
// Whoever writes a Connector's address or Secret references must be allowed to get the Secrets; the
// mutating webhook (registered by the local system for every test) checks that and stamps the admitted
// state, and the validating one checks it again (test/integration/hardening/admission-authority.test.ts
// has the attacks).
//
// The ValidatingWebhookConfiguration is the one of manifests/apiserver/validatingwebhook.yaml (same
// name, rules and policies) but for clientConfig. The manifest names port 443 of the in-cluster
// Service connectors-apiserver.connectors-system; the local harness has no cluster network and no
// cluster DNS (service names do not resolve on the host) and runs the server on the host at a random
// port, so kube-apiserver is pointed at it by URL (serverUrl, whose certificate covers 127.0.0.1), with
// the harness's serving CA as caBundle. (kube-apiserver resolves a service reference through the
// Service object rather than DNS, so the harness's ExternalName Service to 127.0.0.1 would also do
// with the random port; the URL keeps this test independent of that detail.)

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../hack/binaries.js';
import { mutatingWebhookName } from '../../hack/localsystem.js';
import { freePort } from '../../hack/process.js';
import { apply, env, eventually, kubectl, kubectlOk, namespace, userKubeconfig } from '../helpers/env.js';

const webhookName = 'connectors-validation';
const className = 'admission-tool';

/** The manifest's webhook configuration, pointed at `url`. */
function webhookConfiguration(url: string): object {
  const manifest = readFileSync(join(repoRoot(), 'manifests', 'apiserver', 'validatingwebhook.yaml'), 'utf8');
  // The scoping below must stay the manifest's: assert the fields this test copies are still in it.
  for (const line of [
    `name: ${webhookName}`,
    'name: validate.connectors.alauda.io',
    "apiGroups: ['connectors.alauda.io']",
    "resources: ['connectors']",
    "operations: ['CREATE', 'UPDATE']",
    'failurePolicy: Fail',
    'matchPolicy: Equivalent',
    'path: /admission/connectors',
  ]) {
    expect(manifest, `validatingwebhook.yaml should contain ${line}`).to.contain(line);
  }
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: webhookName },
    webhooks: [
      {
        name: 'validate.connectors.alauda.io',
        rules: [
          {
            apiGroups: ['connectors.alauda.io'],
            apiVersions: ['v1alpha1'],
            resources: ['connectors'],
            operations: ['CREATE', 'UPDATE'],
            scope: 'Namespaced',
          },
        ],
        clientConfig: { url, caBundle: Buffer.from(env().sys.servingCaPem).toString('base64') },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        timeoutSeconds: 5,
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
      },
    ],
  };
}

const toolClass = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'ConnectorClass',
  metadata: { name: className },
  spec: {
    address: { name: 'address', type: 'string' },
    addressExtensions: [{ name: 'api', type: 'string' }],
    params: [{ name: 'sslVerify', type: 'string', default: 'true' }],
    auth: {
      types: [
        { name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true },
        { name: 'patAuth', secretType: 'connectors.cpaas.io/gitlab-pat-auth' },
      ],
    },
    authProbes: [
      {
        authName: 'basicAuth',
        params: [{ name: 'repository', type: 'string' }],
        probe: { http: { path: '/{{ range .Connector.Spec.Auth.Params }}{{ .Value.StringVal }}{{ end }}' } },
      },
    ],
  },
};

describe('admission: the CRDs’ CEL rules (single-object, no webhook needed)', function () {
  let ns: string;

  before(async function () {
    ns = await namespace('admission-cel');
  });

  const connectorCases: [string, Record<string, unknown>, string][] = [
    [
      'an address that is not http(s)',
      { address: 'ftp://tool.example.com' },
      'spec.address: Invalid value: "string": address must be an http://, https:// or mysql:// URL',
    ],
    [
      'an address extension that is not http(s)',
      { addressExtensions: [{ name: 'api', value: 'api.tool.example.com' }] },
      'spec.addressExtensions[0].value: Invalid value: "string": addressExtensions value must be an http:// or https:// URL',
    ],
    [
      'an address extension that is not a string',
      { addressExtensions: [{ name: 'api', value: ['https://api.tool.example.com'] }] },
      'spec.addressExtensions[0].value: Invalid value: "array": spec.addressExtensions[0].value in body must be of type string',
    ],
    [
      'an address extension equal to spec.address',
      { addressExtensions: [{ name: 'api', value: 'https://tool.example.com' }] },
      'spec.addressExtensions: Invalid value: "object": addressExtensions values must differ from spec.address',
    ],
    [
      'an address extension given twice',
      {
        addressExtensions: [
          { name: 'api', value: 'https://a.example.com' },
          { name: 'api', value: 'https://b.example.com' },
        ],
      },
      'spec.addressExtensions: Invalid value: "array": addressExtensions names must be unique',
    ],
    [
      'a param given twice',
      {
        params: [
          { name: 'sslVerify', value: 'true' },
          { name: 'sslVerify', value: 'false' },
        ],
      },
      'spec.params: Invalid value: "array": params names must be unique',
    ],
    [
      'an auth param given twice',
      {
        auth: {
          name: 'basicAuth',
          params: [
            { name: 'repository', value: 'a' },
            { name: 'repository', value: 'b' },
          ],
        },
      },
      'spec.auth.params: Invalid value: "array": auth.params names must be unique',
    ],
  ];
  for (const [what, spec, message] of connectorCases) {
    it(`a Connector with ${what} is refused: ${message.split(':')[0] ?? ''}`, async function () {
      const obj = {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name: 'cel', namespace: ns },
        spec: { connectorClassName: 'git', address: 'https://tool.example.com', ...spec },
      };
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(obj) });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain(message);
    });
  }

  const classCases: [string, Record<string, unknown>, string][] = [
    [
      'an address extension declared twice',
      { addressExtensions: [{ name: 'api' }, { name: 'api', default: 'https://x.example.com' }] },
      'spec.addressExtensions: Invalid value: "array": addressExtensions names must be unique',
    ],
    [
      'a param declared twice',
      { params: [{ name: 'sslVerify' }, { name: 'sslVerify' }] },
      'spec.params: Invalid value: "array": params names must be unique',
    ],
    [
      'an auth type declared twice (list-map key)',
      { auth: { types: [{ name: 'basicAuth' }, { name: 'basicAuth', optional: true }] } },
      'spec.auth.types[1]: Duplicate value: {"name":"basicAuth"}',
    ],
  ];
  for (const [what, spec, message] of classCases) {
    it(`a ConnectorClass with ${what} is refused`, async function () {
      const obj = {
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'ConnectorClass',
        metadata: { name: 'cel-class' },
        spec: { address: { name: 'address' }, ...spec },
      };
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(obj) });
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain(message);
    });
  }

  it('a Connector and a ConnectorClass at the list bounds the rules are costed for are accepted', async function () {
    const names = Array.from({ length: 64 }, (_, i) => `p${i}`);
    const cls = {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'ConnectorClass',
      metadata: { name: 'cel-bounds' },
      spec: {
        address: { name: 'address' },
        addressExtensions: names.map((name) => ({ name, default: `https://${name}.example.com` })),
        params: names.map((name) => ({ name })),
      },
    };
    const conn = {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'cel-bounds', namespace: ns },
      spec: {
        connectorClassName: 'cel-bounds',
        address: 'https://tool.example.com',
        addressExtensions: names.map((name) => ({ name, value: `https://${name}.example.com` })),
        params: names.map((name) => ({ name, value: 'x' })),
        auth: { name: 'basicAuth', params: names.map((name) => ({ name, value: 'x' })) },
      },
    };
    for (const obj of [cls, conn]) {
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(obj) });
      expect(r.code, r.stderr).to.equal(0);
    }
  });
});

describe('admission: kubectl apply refuses Connectors that can never work (webhook through kube-apiserver)', function () {
  let ns: string;

  function connector(name: string, spec: Record<string, unknown>): object {
    return {
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name, namespace: ns },
      spec,
    };
  }

  const valid = {
    connectorClassName: className,
    address: 'https://tool.example.com',
    addressExtensions: [{ name: 'api', value: 'https://api.tool.example.com' }],
    params: [{ name: 'sslVerify', value: 'false' }],
    auth: { name: 'basicAuth', params: [{ name: 'repository', value: 'org/app.git' }] },
  };

  async function kubectlApply(obj: object, ...flags: string[]) {
    return kubectl(['apply', ...flags, '-f', '-'], { input: JSON.stringify(obj) });
  }

  async function exists(name: string): Promise<boolean> {
    return (await kubectl(['get', 'connector', name, '-n', ns])).code === 0;
  }

  before(async function () {
    ns = await namespace('admission');
    await apply([toolClass, webhookConfiguration(`${env().sys.serverUrl}/admission/connectors`)]);
    // kube-apiserver picks up the configuration, and our server the class, within moments.
    let last = '';
    await eventually('the webhook to judge Connectors against their class', async () => {
      const r = await kubectlApply(
        connector('probe', { ...valid, auth: { name: 'oauth' } }),
        '--dry-run=server',
      );
      last = r.stderr;
      return r.code !== 0 && r.stderr.includes(`not an auth type of ConnectorClass "${className}"`);
    }).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}; kubectl last said: ${last}`);
    });
  });

  after(async function () {
    await kubectl(['delete', 'validatingwebhookconfiguration', webhookName, '--ignore-not-found']);
    await kubectl(['delete', 'connectorclass', className, '--ignore-not-found']);
  });

  it('refuses an auth type the class lacks, naming the auth types it has', async function () {
    const r = await kubectlApply(
      connector('bad-auth', { ...valid, auth: { name: 'oauth', secretRef: { name: 's' } } }),
    );
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(
      `The Connector "bad-auth" is invalid: spec.auth.name: Unsupported value: "oauth": not an auth type of ` +
        `ConnectorClass "${className}"; supported values: "basicAuth", "patAuth"`,
    );
    expect(await exists('bad-auth')).to.equal(false);
  });

  it('refuses a mysql:// address, which the CRD admits, for a class of http(s) addresses', async function () {
    const r = await kubectlApply(connector('bad-scheme', { ...valid, address: 'mysql://tool.example.com' }));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(
      `spec.address: Invalid value: "mysql://tool.example.com": ConnectorClass "${className}" takes http:// or https:// addresses`,
    );
    expect(await exists('bad-scheme')).to.equal(false);
  });

  it('refuses a missing required address extension', async function () {
    const r = await kubectlApply(connector('bad-ext', { ...valid, addressExtensions: undefined }));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(
      `spec.addressExtensions: Required value: ConnectorClass "${className}" requires the address extension ` +
        `"api" (it has no default); add {name: api, value: <http(s) URL>}`,
    );
    expect(await exists('bad-ext')).to.equal(false);
  });

  it('refuses a param the class does not declare', async function () {
    const r = await kubectlApply(
      connector('bad-param', { ...valid, params: [{ name: 'proxy', value: 'on' }] }),
    );
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(
      `spec.params[0].name: Unsupported value: "proxy": not a param of ConnectorClass "${className}"; ` +
        `supported values: "sslVerify"`,
    );
    expect(await exists('bad-param')).to.equal(false);
  });

  it('refuses a non-optional auth type without a Secret, and missing auth probe params', async function () {
    const r = await kubectlApply(connector('bad-many', { ...valid, auth: { name: 'patAuth' } }));
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain(
      `spec.auth.secretRef: Required value: auth type "patAuth" of ConnectorClass "${className}" is not optional`,
    );
    const r2 = await kubectlApply(connector('bad-many', { ...valid, auth: { name: 'basicAuth' } }));
    expect(r2.code).to.not.equal(0);
    expect(r2.stderr).to.contain(
      `spec.auth.params: Required value: the auth probe of auth type "basicAuth" of ConnectorClass ` +
        `"${className}" needs "repository"`,
    );
  });

  it('accepts a valid Connector without a warning, and refuses an UPDATE that breaks it', async function () {
    const r = await kubectlApply(connector('good', valid));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.not.contain('Warning');
    expect(await exists('good')).to.equal(true);

    const label = await kubectl(['label', 'connector', 'good', '-n', ns, 'team=a']);
    expect(label.code, label.stderr).to.equal(0);

    const patch = await kubectl([
      'patch',
      'connector',
      'good',
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { auth: { name: 'oauth' } } }),
    ]);
    expect(patch.code).to.not.equal(0);
    expect(patch.stderr).to.contain('spec.auth.name: Unsupported value: "oauth"');
    const stored = JSON.parse(await kubectlOk(['get', 'connector', 'good', '-n', ns, '-o', 'json'])) as {
      spec: { auth: { name: string } };
    };
    expect(stored.spec.auth.name).to.equal('basicAuth');
  });

  it('accepts a Connector of a class not installed yet, with a warning', async function () {
    const r = await kubectlApply(
      connector('early', { connectorClassName: 'not-installed-yet', address: 'https://x.example.com' }),
    );
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(
      'Warning: ConnectorClass "not-installed-yet" not found: spec.auth, spec.params and spec.addressExtensions ' +
        'were not checked against it; the Connector reports ConnectorClassReady=False (ConnectorClassNotFound) until the ' +
        'class is installed',
    );
    expect(await exists('early')).to.equal(true);
  });

  it('without the mutating webhook, the validating one alone refuses an author who may not get the Secret', async function () {
    await apply([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'connector-writer', namespace: ns },
        rules: [
          {
            apiGroups: ['connectors.alauda.io'],
            resources: ['connectors'],
            verbs: ['get', 'create', 'patch'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'connector-writer', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'connector-writer' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'dave' }],
      },
    ]);
    const dave = await userKubeconfig('dave');
    const withSecret = { ...valid, auth: { ...valid.auth, secretRef: { name: 'team-creds' } } };
    await kubectlOk(['delete', 'mutatingwebhookconfiguration', mutatingWebhookName]);
    try {
      let last = '';
      await eventually('the validating webhook to answer alone', async () => {
        const r = await kubectl(['apply', '-f', '-'], {
          kubeconfig: dave,
          input: JSON.stringify(connector('daves', withSecret)),
        });
        last = r.stderr;
        return r.code !== 0 && r.stderr.includes('admission webhook "validate.connectors.alauda.io" denied');
      }).catch((err: unknown) => {
        throw new Error(`${err instanceof Error ? err.message : String(err)}; kubectl last said: ${last}`);
      });
      expect(last).to.contain(
        `connectors.connectors.alauda.io "daves" is forbidden: spec.auth.secretRef: Forbidden: User "dave" cannot get ` +
          `resource "secrets" in API group "" in the namespace "${ns}", so may not reference Secret "team-creds"`,
      );
      expect(await exists('daves')).to.equal(false);
      // Without a Secret reference there is nothing to read: allowed.
      const anonymous = await kubectl(['apply', '-f', '-'], {
        kubeconfig: dave,
        input: JSON.stringify(connector('daves', valid)),
      });
      expect(anonymous.code, anonymous.stderr).to.equal(0);
    } finally {
      await env().sys.admitConnectors();
    }
  });

  it('the mutating webhook is registered as shipped, and stamps every Connector it admits', async function () {
    const manifest = readFileSync(join(repoRoot(), 'manifests', 'apiserver', 'mutatingwebhook.yaml'), 'utf8');
    for (const line of [
      `name: ${mutatingWebhookName}`,
      'name: admit.connectors.alauda.io',
      "resources: ['connectors']",
      "operations: ['CREATE', 'UPDATE']",
      'failurePolicy: Fail',
      'reinvocationPolicy: IfNeeded',
      'path: /admission/connectors/admit',
    ]) {
      expect(manifest, `mutatingwebhook.yaml should contain ${line}`).to.contain(line);
    }
    const registered = JSON.parse(
      await kubectlOk(['get', 'mutatingwebhookconfiguration', mutatingWebhookName, '-o', 'json']),
    ) as { webhooks: { failurePolicy: string; reinvocationPolicy: string; clientConfig: { url: string } }[] };
    expect(registered.webhooks[0]).to.include({ failurePolicy: 'Fail', reinvocationPolicy: 'IfNeeded' });
    expect(registered.webhooks[0]?.clientConfig.url).to.equal(
      `${env().sys.serverUrl}/admission/connectors/admit`,
    );

    const r = await kubectlApply(connector('stamped', valid));
    expect(r.code, r.stderr).to.equal(0);
    const stored = JSON.parse(await kubectlOk(['get', 'connector', 'stamped', '-n', ns, '-o', 'json'])) as {
      metadata: { annotations?: Record<string, string> };
    };
    expect(stored.metadata.annotations?.['connectors.alauda.io/admitted']).to.match(/^sha256:[0-9a-f]{64}$/);
  });

  it('upstream’s example manifests still apply', async function () {
    const r = await kubectl([
      'apply',
      '--dry-run=server',
      '-f',
      join(repoRoot(), 'test', 'fixtures', 'upstream-examples.yaml'),
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('connector.connectors.alauda.io/git-github');
  });

  it('with the webhook down, only Connector creates and updates fail; ConfigMaps and deletes go through', async function () {
    const dead = await freePort(); // nothing listens here
    await apply([webhookConfiguration(`https://127.0.0.1:${dead}/admission/connectors`)]);
    await eventually('Connector writes to fail against the dead webhook', async () => {
      const r = await kubectlApply(connector('while-down', valid));
      return r.code !== 0 && r.stderr.includes('failed calling webhook "validate.connectors.alauda.io"');
    });

    const cm = await kubectl(['create', 'configmap', 'unrelated', '-n', ns, '--from-literal=a=b']);
    expect(cm.code, cm.stderr).to.equal(0);
    const cmUpdate = await kubectl(['label', 'configmap', 'unrelated', '-n', ns, 'still=fine']);
    expect(cmUpdate.code, cmUpdate.stderr).to.equal(0);
    const del = await kubectl(['delete', 'connector', 'early', '-n', ns]);
    expect(del.code, del.stderr).to.equal(0);

    await kubectlOk(['delete', 'validatingwebhookconfiguration', webhookName]);
    await eventually('Connector writes to go through once the configuration is gone', async () => {
      return (await kubectlApply(connector('while-down', valid))).code === 0;
    });
  });
});
