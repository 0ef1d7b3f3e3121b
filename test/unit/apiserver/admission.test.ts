// What `kubectl apply` of a Connector says when it can never work with its ConnectorClass: every
// webhook rule with its exact message (the field, what is wrong, the allowed values), the Connectors
// that must go through (upstream's example, the shipped classes), and the envelope kube-apiserver
// relies on (uid echoed, v1 only, 400 for what is not an AdmissionReview).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import {
  admissionHandlers,
  admissionPath,
  mutationPath,
  type AdmissionHandler,
} from '../../../apiserver/admission.js';
import type { AdmissionReview, FieldProblem } from '../../../apiserver/admissionreview.js';
import type { Authorizer } from '../../../kube/authz.js';
import { StatusError } from '../../../machinery/status.js';
import { repoRoot } from '../../../hack/binaries.js';
import { admittedAnnotation, admittedState } from '../../../registry/admitted.js';
import type { ConnectorLister } from '../../../registry/store.js';
import type { ConnectorClass } from '../../../registry/types.js';

function yamlObjects(...path: string[]): { kind?: string; metadata?: { name?: string } }[] {
  const docs: unknown[] = loadAllYaml(readFileSync(join(repoRoot(), ...path), 'utf8'));
  return docs.filter((d): d is { kind?: string } => typeof d === 'object' && d !== null);
}

const upstream = yamlObjects('test', 'fixtures', 'upstream-examples.yaml');
const upstreamConnector = upstream.find((o) => o.kind === 'Connector') as { spec: Record<string, unknown> };
const upstreamGitClass = upstream.find((o) => o.kind === 'ConnectorClass') as ConnectorClass;

const shippedClasses = [
  'git',
  'github',
  'gitlab',
  'harbor',
  'k8s',
  'maven',
  'mysql',
  'npm',
  'oci',
  'pypi',
  'sonarqube',
].map((name) => yamlObjects('manifests', 'classes', `${name}.yaml`)[0] as ConnectorClass);

/** A class that declares every kind of rule: two auth types, extensions with and without a default. */
const toolClass = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'ConnectorClass',
  metadata: { name: 'tool' },
  spec: {
    address: { name: 'address', type: 'string' },
    addressExtensions: [
      { name: 'api', type: 'string' },
      { name: 'web', type: 'string', default: 'https://web.example.com' },
    ],
    params: [
      { name: 'sslVerify', type: 'string', default: 'true', enum: ['true', 'false'] },
      { name: 'scopes', type: 'array' },
    ],
    auth: {
      types: [
        { name: 'basicAuth', secretType: 'kubernetes.io/basic-auth', optional: true },
        { name: 'patAuth', secretType: 'connectors.cpaas.io/gitlab-pat-auth' },
      ],
    },
    authProbes: [
      {
        authName: 'basicAuth',
        params: [{ name: 'repository' }, { name: 'branch' }],
        probe: { http: { path: '/' } },
      },
      { authName: 'patAuth', probe: { http: { path: '/user' } } },
    ],
  },
} as ConnectorClass;

/** A class whose only auth type needs a Secret. */
const strictClass = {
  metadata: { name: 'strict' },
  spec: {
    auth: {
      types: [{ name: 'patAuth', secretType: 'connectors.cpaas.io/gitlab-pat-auth', optional: false }],
    },
  },
} as ConnectorClass;

/** A class that declares nothing a Connector could name. */
const plainClass = { metadata: { name: 'plain' }, spec: { address: { name: 'address' } } } as ConnectorClass;

function lister(classes: ConnectorClass[]): ConnectorLister {
  return {
    connector: () => undefined,
    connectorClass: (name) => classes.find((c) => c.metadata?.name === name),
    connectorClasses: () => classes,
  };
}

/** The validating webhook's handler, with an authorizer that lets everybody read every Secret. */
function validator(classes: ConnectorClass[], authorizer: Authorizer = allowAll): AdmissionHandler {
  const h = admissionHandlers(lister(classes), authorizer).get(admissionPath);
  if (!h) throw new Error('no handler for the validating webhook');
  return h;
}
const allowAll: Authorizer = { authorize: () => Promise.resolve({ allowed: true, reason: '' }) };
const handler = validator([toolClass, strictClass, plainClass, ...shippedClasses]);
const upstreamHandler = validator([upstreamGitClass]);

type Spec = Record<string, unknown>;

/** The AdmissionReview kube-apiserver sends for a Connector write, as JSON. */
function review(
  spec: Spec,
  opts: { operation?: string; oldSpec?: Spec; namespace?: string; name?: string; resource?: object } = {},
): unknown {
  const namespace = opts.namespace ?? 'team-a';
  const name = opts.name ?? 'c1';
  const object = (s: Spec) => ({
    apiVersion: 'connectors.alauda.io/v1alpha1',
    kind: 'Connector',
    metadata: { name, namespace },
    spec: s,
  });
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: 'connectors.alauda.io', version: 'v1alpha1', kind: 'Connector' },
      resource: opts.resource ?? {
        group: 'connectors.alauda.io',
        version: 'v1alpha1',
        resource: 'connectors',
      },
      name,
      namespace,
      operation: opts.operation ?? 'CREATE',
      userInfo: { username: 'alice' },
      object: opts.operation === 'DELETE' ? null : object(spec),
      oldObject: opts.oldSpec ? object(opts.oldSpec) : null,
      dryRun: false,
    },
  };
}

async function verdict(body: unknown, h = handler): Promise<Required<AdmissionReview>['response']> {
  const out = (await h(body)) as AdmissionReview;
  expect(out.apiVersion).to.equal('admission.k8s.io/v1');
  expect(out.kind).to.equal('AdmissionReview');
  expect(out.response?.uid).to.equal('705ab4f5-6393-11e8-b7cc-42010a800002');
  return out.response!;
}

/** A Connector of the shipped mysql class that passes every rule. */
const mysqlConnector: Spec = {
  connectorClassName: 'mysql',
  address: 'mysql://db.example.com:3306',
  auth: { name: 'basicAuth', secretRef: { name: 'db-creds' } },
};

/** A Connector of `tool` that passes every rule; cases below change one thing each. */
const valid: Spec = {
  connectorClassName: 'tool',
  address: 'https://tool.example.com',
  addressExtensions: [{ name: 'api', value: 'https://api.tool.example.com' }],
  auth: { name: 'patAuth', secretRef: { name: 'tool-token' } },
};

const withAuth = (auth: Spec): Spec => ({ ...valid, auth });
const basic = (params: unknown[]): Spec => withAuth({ name: 'basicAuth', params });
const repoAndBranch = [
  { name: 'repository', value: 'org/app.git' },
  { name: 'branch', value: 'main' },
];

describe('apiserver/admission: Connectors that can never work are refused with what to fix', () => {
  const denied: { name: string; spec: Spec; namespace?: string; causes: FieldProblem[] }[] = [
    // spec.auth.name must be one of the class's auth types
    {
      name: 'an auth type the class lacks, naming the ones it has',
      spec: withAuth({ name: 'oauth', secretRef: { name: 's' } }),
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.auth.name',
          message:
            'Unsupported value: "oauth": not an auth type of ConnectorClass "tool"; supported values: "basicAuth", "patAuth"',
        },
      ],
    },
    {
      name: 'no auth for a class whose auth types all need a Secret',
      spec: { connectorClassName: 'strict', address: 'https://s.example.com' },
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.name',
          message: 'Required value: choose one of the auth types of ConnectorClass "strict": "patAuth"',
        },
      ],
    },
    {
      name: 'a Secret without an auth type',
      spec: withAuth({ secretRef: { name: 'tool-token' } }),
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.name',
          message:
            'Required value: choose one of the auth types of ConnectorClass "tool": "basicAuth", "patAuth"',
        },
      ],
    },
    {
      name: 'auth params without an auth type',
      spec: withAuth({ params: repoAndBranch }),
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.name',
          message:
            'Required value: choose one of the auth types of ConnectorClass "tool": "basicAuth", "patAuth"',
        },
      ],
    },
    {
      name: 'an auth type for a class that declares none',
      spec: { connectorClassName: 'plain', address: 'https://p.example.com', auth: { name: 'basicAuth' } },
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.auth.name',
          message:
            'Unsupported value: "basicAuth": ConnectorClass "plain" declares no auth types; remove spec.auth',
        },
      ],
    },
    // secretRef may be omitted only for an optional auth type
    {
      name: 'no secretRef for an auth type that is not optional',
      spec: withAuth({ name: 'patAuth' }),
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.secretRef',
          message:
            'Required value: auth type "patAuth" of ConnectorClass "tool" is not optional; name the Secret of type ' +
            '"connectors.cpaas.io/gitlab-pat-auth" that holds its credentials, in namespace "team-a"',
        },
      ],
    },
    {
      name: 'a secretRef without a name for an auth type that is not optional',
      spec: withAuth({ name: 'patAuth', secretRef: {} }),
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.secretRef.name',
          message:
            'Required value: auth type "patAuth" of ConnectorClass "tool" is not optional; name the Secret of type ' +
            '"connectors.cpaas.io/gitlab-pat-auth" that holds its credentials, in namespace "team-a"',
        },
      ],
    },
    {
      name: 'a Secret in another namespace',
      spec: withAuth({ name: 'patAuth', secretRef: { name: 'tool-token', namespace: 'team-b' } }),
      causes: [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.auth.secretRef.namespace',
          message:
            'Invalid value: "team-b": the Secret must be in the Connector\'s namespace; omit namespace or set it to "team-a"',
        },
      ],
    },
    // auth.params the class's auth probe needs
    {
      name: 'no auth.params although the auth probe declares them (even without a Secret)',
      spec: withAuth({ name: 'basicAuth' }),
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.params',
          message:
            'Required value: the auth probe of auth type "basicAuth" of ConnectorClass "tool" needs "repository", ' +
            '"branch"; add {name: repository, value: …}, {name: branch, value: …}',
        },
      ],
    },
    {
      name: 'one of the auth probe params missing',
      spec: basic([{ name: 'repository', value: 'org/app.git' }]),
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.auth.params',
          message:
            'Required value: the auth probe of auth type "basicAuth" of ConnectorClass "tool" needs "branch"; ' +
            'add {name: branch, value: …}',
        },
      ],
    },
    {
      name: 'an auth param given twice',
      spec: basic([...repoAndBranch, { name: 'repository', value: 'org/other.git' }]),
      causes: [
        {
          reason: 'FieldValueDuplicate',
          field: 'spec.auth.params[2].name',
          message: 'Duplicate value: "repository"',
        },
      ],
    },
    // addressExtensions: declared, required, unique, http(s), not the address
    {
      name: 'a class extension without a default left out',
      spec: { ...valid, addressExtensions: undefined },
      causes: [
        {
          reason: 'FieldValueRequired',
          field: 'spec.addressExtensions',
          message:
            'Required value: ConnectorClass "tool" requires the address extension "api" (it has no default); ' +
            'add {name: api, value: <http(s) URL>}',
        },
      ],
    },
    {
      name: 'an extension the class does not declare',
      spec: {
        ...valid,
        addressExtensions: [
          { name: 'api', value: 'https://api.tool.example.com' },
          { name: 'docs', value: 'https://docs.tool.example.com' },
        ],
      },
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.addressExtensions[1].name',
          message:
            'Unsupported value: "docs": not an address extension of ConnectorClass "tool"; supported values: "api", "web"',
        },
      ],
    },
    {
      name: 'an extension for a class that declares none',
      spec: {
        connectorClassName: 'plain',
        address: 'https://p.example.com',
        addressExtensions: [{ name: 'api', value: 'https://api.p.example.com' }],
      },
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.addressExtensions[0].name',
          message:
            'Unsupported value: "api": ConnectorClass "plain" declares no address extensions; remove it',
        },
      ],
    },
    {
      name: 'an extension given twice',
      spec: {
        ...valid,
        addressExtensions: [
          { name: 'api', value: 'https://api.tool.example.com' },
          { name: 'api', value: 'https://api2.tool.example.com' },
        ],
      },
      causes: [
        {
          reason: 'FieldValueDuplicate',
          field: 'spec.addressExtensions[1].name',
          message: 'Duplicate value: "api"',
        },
      ],
    },
    ...(
      [
        ['ftp://api.tool.example.com', '"ftp://api.tool.example.com"'],
        ['api.tool.example.com', '"api.tool.example.com"'],
        ['', '""'],
        [{ url: 'https://api.tool.example.com' }, '{"url":"https://api.tool.example.com"}'],
      ] as [unknown, string][]
    ).map(([value, shown]) => ({
      name: `an extension value that is not an http(s) URL: ${shown}`,
      spec: { ...valid, addressExtensions: [{ name: 'api', value }] },
      causes: [
        {
          reason: 'FieldValueInvalid' as const,
          field: 'spec.addressExtensions[0].value',
          message: `Invalid value: ${shown}: must be an http:// or https:// URL`,
        },
      ],
    })),
    ...['https://tool.example.com', 'https://tool.example.com/'].map((value) => ({
      name: `an extension value equal to spec.address (${value})`,
      spec: { ...valid, addressExtensions: [{ name: 'api', value }] },
      causes: [
        {
          reason: 'FieldValueInvalid' as const,
          field: 'spec.addressExtensions[0].value',
          message: `Invalid value: "${value}": must differ from spec.address; an address extension names another address`,
        },
      ],
    })),
    // params: declared names, declared type, enum
    {
      name: 'a param the class does not declare',
      spec: { ...valid, params: [{ name: 'proxy', value: 'on' }] },
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.params[0].name',
          message:
            'Unsupported value: "proxy": not a param of ConnectorClass "tool"; supported values: "sslVerify", "scopes"',
        },
      ],
    },
    {
      name: 'a param for a class that declares none',
      spec: {
        connectorClassName: 'plain',
        address: 'https://p.example.com',
        params: [{ name: 'sslVerify', value: 'false' }],
      },
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.params[0].name',
          message: 'Unsupported value: "sslVerify": ConnectorClass "plain" declares no params; remove it',
        },
      ],
    },
    {
      name: 'a param given twice',
      spec: {
        ...valid,
        params: [
          { name: 'sslVerify', value: 'false' },
          { name: 'sslVerify', value: 'true' },
        ],
      },
      causes: [
        {
          reason: 'FieldValueDuplicate',
          field: 'spec.params[1].name',
          message: 'Duplicate value: "sslVerify"',
        },
      ],
    },
    {
      name: 'a string param given as a boolean',
      spec: { ...valid, params: [{ name: 'sslVerify', value: false }] },
      causes: [
        {
          reason: 'FieldValueTypeInvalid',
          field: 'spec.params[0].value',
          message:
            'Invalid value: false: ConnectorClass "tool" declares the param "sslVerify" of type string',
        },
      ],
    },
    {
      name: 'an array param given as a string',
      spec: { ...valid, params: [{ name: 'scopes', value: 'read' }] },
      causes: [
        {
          reason: 'FieldValueTypeInvalid',
          field: 'spec.params[0].value',
          message: 'Invalid value: "read": ConnectorClass "tool" declares the param "scopes" of type array',
        },
      ],
    },
    {
      name: 'a param value outside the declared enum',
      spec: { ...valid, params: [{ name: 'sslVerify', value: 'maybe' }] },
      causes: [
        {
          reason: 'FieldValueNotSupported',
          field: 'spec.params[0].value',
          message: 'Unsupported value: "maybe": supported values: "true", "false"',
        },
      ],
    },
    // the rules that need no class apply even when the class is not installed yet
    {
      name: 'a Secret in another namespace, class not installed',
      spec: {
        connectorClassName: 'missing',
        address: 'https://m.example.com',
        auth: { name: 'x', secretRef: { name: 's', namespace: 'kube-system' } },
      },
      causes: [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.auth.secretRef.namespace',
          message:
            'Invalid value: "kube-system": the Secret must be in the Connector\'s namespace; omit namespace or set it to "team-a"',
        },
      ],
    },
    // spec.address: the schemes the class takes (its spec.address annotation; http and https without)
    ...(
      [
        ['https://db.example.com', 'ConnectorClass "mysql" takes mysql:// addresses'],
        ['mysql://', 'must be a mysql://host[:port] URL'],
      ] as [string, string][]
    ).map(([address, detail]) => ({
      name: `a mysql Connector at ${address}`,
      spec: { ...mysqlConnector, address },
      causes: [
        {
          reason: 'FieldValueInvalid' as const,
          field: 'spec.address',
          message: `Invalid value: "${address}": ${detail}`,
        },
      ],
    })),
    {
      name: 'a mysql Connector whose address carries a credential, without repeating it',
      spec: { ...mysqlConnector, address: 'mysql://root:hunter22@db.example.com' },
      causes: [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.address',
          message: 'Invalid value: must not contain user information; put the credential in the Secret',
        },
      ],
    },
    {
      name: 'an https:// address with a credential for the mysql class, without repeating it',
      spec: { ...mysqlConnector, address: 'https://root:hunter22@db.example.com' },
      causes: [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.address',
          message: 'Invalid value: ConnectorClass "mysql" takes mysql:// addresses',
        },
      ],
    },
    {
      name: 'a mysql:// address for a class of http(s) addresses',
      spec: { ...valid, address: 'mysql://tool.example.com' },
      causes: [
        {
          reason: 'FieldValueInvalid',
          field: 'spec.address',
          message:
            'Invalid value: "mysql://tool.example.com": ConnectorClass "tool" takes http:// or https:// addresses',
        },
      ],
    },
  ];

  for (const c of denied) {
    it(`refuses ${c.name}`, async () => {
      const r = await verdict(review(c.spec, c.namespace ? { namespace: c.namespace } : {}));
      expect(r.allowed).to.equal(false);
      expect(r.status?.details.causes).to.deep.equal(c.causes);
      expect(r.status?.code).to.equal(422);
      expect(r.status?.reason).to.equal('Invalid');
      expect(r.status?.message).to.equal(
        `Connector.connectors.alauda.io "c1" is invalid: ${c.causes[0]?.field}: ${c.causes[0]?.message}`,
      );
      expect(r.status?.details).to.include({ name: 'c1', group: 'connectors.alauda.io', kind: 'Connector' });
    });
  }

  it('lists every problem at once, in spec order', async () => {
    const r = await verdict(
      review({
        connectorClassName: 'tool',
        address: 'https://tool.example.com',
        params: [{ name: 'proxy', value: 'on' }],
        auth: { name: 'oauth' },
      }),
    );
    expect(r.allowed).to.equal(false);
    expect(r.status?.details.causes.map((c) => c.field)).to.deep.equal([
      'spec.addressExtensions',
      'spec.params[0].name',
      'spec.auth.name',
    ]);
    expect(r.status?.message).to.match(
      /^Connector\.connectors\.alauda\.io "c1" is invalid: \[spec\.addressExtensions: Required value: .*, spec\.params\[0\]\.name: Unsupported value: .*, spec\.auth\.name: Unsupported value: "oauth": .*\]$/,
    );
  });

  it('refuses an UPDATE that changes the spec into one the class cannot serve', async () => {
    const r = await verdict(review(withAuth({ name: 'oauth' }), { operation: 'UPDATE', oldSpec: valid }));
    expect(r.allowed).to.equal(false);
    expect(r.status?.details.causes[0]?.field).to.equal('spec.auth.name');
  });
});

describe('apiserver/admission: Connectors that can work go through', () => {
  const allowed: { name: string; spec: Spec }[] = [
    { name: 'a Connector that meets every rule', spec: valid },
    {
      name: 'an optional auth type without a Secret, with the auth probe params',
      spec: basic(repoAndBranch),
    },
    {
      name: 'a Secret named in the Connector’s own namespace',
      spec: withAuth({ name: 'patAuth', secretRef: { name: 'tool-token', namespace: 'team-a' } }),
    },
    {
      name: 'declared params of the declared types and enum, and both extensions',
      spec: {
        ...valid,
        addressExtensions: [
          { name: 'api', value: 'https://api.tool.example.com' },
          { name: 'web', value: 'http://tool.example.com:8080' },
        ],
        params: [
          { name: 'sslVerify', value: 'false' },
          { name: 'scopes', value: ['read', 'write'] },
        ],
      },
    },
    {
      name: 'an extension on another path of the same host as the address',
      spec: { ...valid, addressExtensions: [{ name: 'api', value: 'https://tool.example.com/api' }] },
    },
    {
      name: 'no auth (anonymous use) for a class with an optional auth type',
      spec: { ...valid, auth: undefined },
    },
    {
      name: 'no auth for a class that declares no auth types',
      spec: { connectorClassName: 'plain', address: 'https://p.example.com' },
    },
    // The Connectors of the shipped-classes integration test.
    {
      name: 'git with basicAuth and its repository',
      spec: {
        connectorClassName: 'git',
        address: 'https://git.example.com/scm',
        auth: {
          name: 'basicAuth',
          secretRef: { name: 'git-creds' },
          params: [{ name: 'repository', value: 'org/repo.git' }],
        },
      },
    },
    {
      name: 'oci with tokenAuth, anonymously',
      spec: {
        connectorClassName: 'oci',
        address: 'https://registry.example.com',
        auth: { name: 'tokenAuth', params: [{ name: 'repository', value: 'library/alpine' }] },
      },
    },
    {
      name: 'gitlab with patAuth',
      spec: {
        connectorClassName: 'gitlab',
        address: 'https://gitlab.example.com',
        auth: { name: 'patAuth', secretRef: { name: 'gitlab-token' } },
      },
    },
    {
      name: 'github with its api extension overridden',
      spec: {
        connectorClassName: 'github',
        address: 'https://github.com',
        addressExtensions: [{ name: 'api', value: 'https://ghe.example.com/api/v3' }],
        auth: { name: 'patAuth', secretRef: { name: 'github-token' } },
      },
    },
    {
      name: 'github relying on the api extension’s default',
      spec: { connectorClassName: 'github', address: 'https://github.com', auth: { name: 'patAuth' } },
    },
    { name: 'mysql with basicAuth', spec: mysqlConnector },
    {
      name: 'mysql over TLS, port omitted, upper-case scheme',
      spec: { ...mysqlConnector, address: 'MySQL://db.example.com/?tls=true' },
    },
    {
      name: 'harbor with basicAuth',
      spec: {
        connectorClassName: 'harbor',
        address: 'https://harbor.example.com',
        auth: { name: 'basicAuth', secretRef: { name: 'harbor-creds' } },
      },
    },
  ];

  for (const c of allowed) {
    it(`allows ${c.name}`, async () => {
      const r = await verdict(review(c.spec));
      expect(r.status, JSON.stringify(r.status)).to.equal(undefined);
      expect(r.allowed).to.equal(true);
      expect(r.warnings).to.equal(undefined);
    });
  }

  it('allows upstream’s example Connector against upstream’s git class, without a warning', async () => {
    const r = await verdict(
      review(upstreamConnector.spec, { namespace: 'default', name: 'git-github' }),
      upstreamHandler,
    );
    expect(r).to.deep.equal({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('allows a Connector whose class is not installed yet, and says what was not checked', async () => {
    const r = await verdict(review({ ...upstreamConnector.spec }), validator([]));
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'ConnectorClass "git" not found: spec.auth, spec.params and spec.addressExtensions were not checked against it; ' +
        'the Connector reports ConnectorClassReady=False (ConnectorClassNotFound) until the class is installed',
    ]);
    expect(r.warnings?.[0]?.length).to.be.below(256); // kube-apiserver may truncate longer warnings
  });

  it('allows, with a warning, an auth param the auth probe does not read', async () => {
    const r = await verdict(review(basic([...repoAndBranch, { name: 'depth', value: '1' }])));
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'spec.auth.params[2]: "depth" is not used by the auth probe of auth type "basicAuth" of ConnectorClass "tool" ' +
        '(it reads "repository", "branch")',
    ]);
  });

  it('allows an UPDATE that leaves an invalid spec alone (labels, finalizers), with the problems as warnings', async () => {
    const stale = withAuth({ name: 'oauth', secretRef: { name: 's' } });
    const r = await verdict(review(stale, { operation: 'UPDATE', oldSpec: stale }));
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'spec unchanged, so allowed, but invalid for its class: spec.auth.name: Unsupported value: "oauth": ' +
        'not an auth type of ConnectorClass "tool"; supported values: "basicAuth", "patAuth"',
    ]);
  });

  it('never judges a DELETE', async () => {
    const r = await verdict(
      review(withAuth({ name: 'oauth' }), { operation: 'DELETE', oldSpec: withAuth({ name: 'oauth' }) }),
    );
    expect(r).to.deep.equal({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('lets anything but connectors through, saying it was not checked', async () => {
    const r = await verdict(
      review(withAuth({ name: 'oauth' }), { resource: { group: '', version: 'v1', resource: 'configmaps' } }),
    );
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'validate.connectors.alauda.io checks connectors.connectors.alauda.io only; configmaps was not checked',
    ]);
  });

  it('lets the status subresource through', async () => {
    const body = review(withAuth({ name: 'oauth' }), { operation: 'UPDATE' }) as {
      request: Record<string, unknown>;
    };
    body.request.subResource = 'status';
    const r = await verdict(body);
    expect(r.allowed).to.equal(true);
  });
});

describe('apiserver/admission: what is not an AdmissionReview is a 400', () => {
  const bad: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /expected an AdmissionReview JSON object/],
    ['an array', [], /expected an AdmissionReview JSON object/],
    [
      'admission.k8s.io/v1beta1',
      { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } },
      /expected apiVersion admission.k8s.io\/v1, kind AdmissionReview; got "admission.k8s.io\/v1beta1", "AdmissionReview"/,
    ],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request.uid is missing/],
    [
      'a request without uid',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE' } },
      /request.uid is missing/,
    ],
  ];
  for (const [name, body, message] of bad) {
    it(`refuses ${name}`, async () => {
      let caught: unknown;
      try {
        await handler(body);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(StatusError);
      expect((caught as StatusError).code).to.equal(400);
      expect((caught as StatusError).message).to.match(message);
    });
  }
});

describe('apiserver/admission: writing a Connector needs the right to read its Secrets', () => {
  /** Records what it was asked; says yes only to `readable` ("namespace/name" of a Secret). */
  function authorizer(readable: string[] = [], fail = false): Authorizer & { asked: object[] } {
    const asked: object[] = [];
    return {
      asked,
      authorize: (user, info) => {
        asked.push({
          user,
          verb: info.verb,
          group: info.apiGroup,
          resource: info.resource,
          ns: info.namespace,
          name: info.name,
        });
        if (fail)
          return Promise.reject(new Error('dial tcp 10.0.0.1:443: connect: connection refused (token abc)'));
        return Promise.resolve({
          allowed: readable.includes(`${info.namespace}/${info.name}`),
          reason: 'RBAC: no',
        });
      },
    };
  }

  const mallory = {
    username: 'mallory',
    uid: 'u-1',
    groups: ['dev', 'system:authenticated'],
    extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=ab'] },
  };

  /** A review of a Connector write by `user`, with metadata as given. */
  function write(
    spec: Spec,
    opts: {
      operation?: string;
      oldSpec?: Spec;
      user?: object | null;
      annotations?: object;
      oldAnnotations?: object;
    } = {},
  ): unknown {
    const body = review(spec, opts) as { request: Record<string, unknown> };
    const withMeta = (o: unknown, annotations?: object): unknown => {
      const obj = o as { metadata: Record<string, unknown> } | null;
      if (obj && annotations) obj.metadata.annotations = annotations;
      return obj;
    };
    body.request.object = withMeta(body.request.object, opts.annotations);
    body.request.oldObject = withMeta(body.request.oldObject, opts.oldAnnotations);
    if (opts.user === null) delete body.request.userInfo;
    else body.request.userInfo = opts.user ?? mallory;
    return body;
  }

  const secretAndCa: Spec = { ...valid, caCertSecretRef: { name: 'tool-ca' } };

  const forbiddenMessage = (field: string, secret: string): string =>
    `${field}: Forbidden: User "mallory" cannot get resource "secrets" in API group "" in the namespace ` +
    `"team-a", so may not reference Secret "${secret}"`;

  for (const [name, path] of [
    ['validating', admissionPath],
    ['mutating', mutationPath],
  ] as const) {
    describe(`the ${name} webhook`, () => {
      const webhook = (a: Authorizer): AdmissionHandler => {
        const h = admissionHandlers(lister([toolClass]), a).get(path);
        if (!h) throw new Error(`no handler for ${path}`);
        return h;
      };

      it('refuses a CREATE by a user who may not get the Secrets, naming each Secret and the permission', async () => {
        const a = authorizer();
        const r = await verdict(write(secretAndCa), webhook(a));
        expect(r.allowed).to.equal(false);
        expect(r.patch).to.equal(undefined);
        expect(r.status).to.deep.equal({
          status: 'Failure',
          code: 403,
          reason: 'Forbidden',
          message:
            `connectors.connectors.alauda.io "c1" is forbidden: ${forbiddenMessage('spec.auth.secretRef', 'tool-token')}; ` +
            `${forbiddenMessage('spec.caCertSecretRef', 'tool-ca')}. Whoever creates a Connector or changes its ` +
            `address, address extensions, class or Secret references must be allowed to get each Secret it references`,
          details: {
            name: 'c1',
            group: 'connectors.alauda.io',
            kind: 'connectors',
            causes: [
              {
                reason: 'FieldValueForbidden',
                field: 'spec.auth.secretRef',
                message: forbiddenMessage('spec.auth.secretRef', 'tool-token').slice(
                  'spec.auth.secretRef: '.length,
                ),
              },
              {
                reason: 'FieldValueForbidden',
                field: 'spec.caCertSecretRef',
                message: forbiddenMessage('spec.caCertSecretRef', 'tool-ca').slice(
                  'spec.caCertSecretRef: '.length,
                ),
              },
            ],
          },
        });
        // Asked exactly as kube-apiserver would authorize `kubectl get secret`, for the review's user.
        expect(a.asked).to.deep.equal([
          { user: mallory, verb: 'get', group: '', resource: 'secrets', ns: 'team-a', name: 'tool-token' },
          { user: mallory, verb: 'get', group: '', resource: 'secrets', ns: 'team-a', name: 'tool-ca' },
        ]);
      });

      it('refuses when only one of the Secrets is readable, naming that one', async () => {
        const r = await verdict(write(secretAndCa), webhook(authorizer(['team-a/tool-token'])));
        expect(r.allowed).to.equal(false);
        expect(r.status?.details.causes.map((c) => c.field)).to.deep.equal(['spec.caCertSecretRef']);
      });

      it('asks about the namespace the Secret reference names', async () => {
        const a = authorizer(['team-a/tool-token']);
        const r = await verdict(
          write(withAuth({ name: 'patAuth', secretRef: { name: 'tool-token', namespace: 'kube-system' } })),
          webhook(a),
        );
        expect(r.allowed).to.equal(false);
        expect(a.asked).to.deep.include({
          user: mallory,
          verb: 'get',
          group: '',
          resource: 'secrets',
          ns: 'kube-system',
          name: 'tool-token',
        });
        expect(r.status?.message).to.contain(
          'in the namespace "kube-system", so may not reference Secret "tool-token"',
        );
      });

      it('allows a CREATE by a user who may get every Secret it references', async () => {
        const r = await verdict(
          write(secretAndCa),
          webhook(authorizer(['team-a/tool-token', 'team-a/tool-ca'])),
        );
        expect(r.allowed).to.equal(true);
      });

      it('asks nothing about a Connector without Secrets', async () => {
        const a = authorizer();
        const r = await verdict(write({ ...valid, auth: undefined }), webhook(a));
        expect(r.allowed).to.equal(true);
        expect(a.asked).to.deep.equal([]);
      });

      it('fails closed when the SubjectAccessReview fails, without the error text', async () => {
        const r = await verdict(write(valid), webhook(authorizer([], true)));
        expect(r.allowed).to.equal(false);
        expect(r.status?.code).to.equal(403);
        expect(JSON.stringify(r)).to.not.match(/dial tcp|refused|token abc|RBAC/);
      });

      it('refuses a review that names no user', async () => {
        const r = await verdict(write(valid, { user: null }), webhook(authorizer(['team-a/tool-token'])));
        expect(r.allowed).to.equal(false);
        expect(r.status?.message).to.contain('the AdmissionReview names no user');
      });

      const moves: [string, Spec][] = [
        ['spec.address', { ...valid, address: 'https://listener.example.com' }],
        [
          'spec.addressExtensions',
          { ...valid, addressExtensions: [{ name: 'api', value: 'https://listener.example.com' }] },
        ],
        ['spec.connectorClassName', { ...valid, connectorClassName: 'strict' }],
        ['spec.auth.secretRef', withAuth({ name: 'patAuth', secretRef: { name: 'admin-token' } })],
        ['spec.caCertSecretRef', secretAndCa],
      ];
      for (const [field, spec] of moves) {
        it(`refuses an UPDATE of ${field} by a user who may not get the Secrets`, async () => {
          const a = authorizer();
          const r = await verdict(write(spec, { operation: 'UPDATE', oldSpec: valid }), webhook(a));
          expect(r.allowed).to.equal(false);
          expect(r.status?.code).to.equal(403);
          expect(a.asked.length).to.be.greaterThan(0);
        });
      }

      it('does not re-check an UPDATE that changes params, auth params or labels only', async () => {
        const a = authorizer();
        const stamp = admittedState({ spec: valid }, 'team-a');
        const changed = { ...valid, params: [{ name: 'sslVerify', value: 'false' }] };
        const r = await verdict(
          write(changed, {
            operation: 'UPDATE',
            oldSpec: valid,
            annotations: { [admittedAnnotation]: stamp },
            oldAnnotations: { [admittedAnnotation]: stamp },
          }),
          webhook(a),
        );
        expect(r.allowed).to.equal(true);
        expect(a.asked).to.deep.equal([]);
      });
    });
  }
});

describe('apiserver/admission: the mutating webhook stamps the state it admitted', () => {
  const everyone: Authorizer = { authorize: () => Promise.resolve({ allowed: true, reason: '' }) };
  const nobody: Authorizer = { authorize: () => Promise.resolve({ allowed: false, reason: '' }) };
  const admit = (a: Authorizer = everyone): AdmissionHandler => {
    const h = admissionHandlers(lister([toolClass]), a).get(mutationPath);
    if (!h) throw new Error('no mutating handler');
    return h;
  };
  const stampOf = (spec: Spec): string => admittedState({ spec }, 'team-a');

  function reviewWith(
    spec: Spec,
    opts: { operation?: string; oldSpec?: Spec; annotations?: object; oldAnnotations?: object } = {},
  ): unknown {
    const body = review(spec, opts) as {
      request: {
        object: { metadata: Record<string, unknown> } | null;
        oldObject: { metadata: Record<string, unknown> } | null;
      };
    };
    if (opts.annotations && body.request.object) body.request.object.metadata.annotations = opts.annotations;
    if (opts.oldAnnotations && body.request.oldObject)
      body.request.oldObject.metadata.annotations = opts.oldAnnotations;
    return body;
  }

  const patchOf = (r: { patch?: string; patchType?: string }): unknown => {
    expect(r.patchType).to.equal('JSONPatch');
    return JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString('utf8'));
  };

  it('stamps a CREATE without annotations', async () => {
    const r = await verdict(reviewWith(valid), admit());
    expect(r.allowed).to.equal(true);
    expect(patchOf(r)).to.deep.equal([
      {
        op: 'add',
        path: '/metadata/annotations',
        value: { 'connectors.alauda.io/admitted': stampOf(valid) },
      },
    ]);
    expect(stampOf(valid)).to.match(/^sha256:[0-9a-f]{64}$/);
  });

  it('overwrites a stamp the caller sent, keeping the other annotations', async () => {
    const r = await verdict(
      reviewWith(valid, { annotations: { team: 'a', 'connectors.alauda.io/admitted': 'sha256:forged' } }),
      admit(),
    );
    expect(patchOf(r)).to.deep.equal([
      { op: 'add', path: '/metadata/annotations/connectors.alauda.io~1admitted', value: stampOf(valid) },
    ]);
  });

  it('stamps nothing for a CREATE it refuses', async () => {
    const r = await verdict(reviewWith(valid), admit(nobody));
    expect(r.allowed).to.equal(false);
    expect(r.patch).to.equal(undefined);
  });

  it('keeps the stamp of an UPDATE that leaves the credential’s destination alone, asking nobody', async () => {
    const stamp = stampOf(valid);
    const r = await verdict(
      reviewWith(valid, {
        operation: 'UPDATE',
        oldSpec: valid,
        annotations: { [admittedAnnotation]: 'sha256:forged' },
        oldAnnotations: { [admittedAnnotation]: stamp },
      }),
      admit(nobody),
    );
    expect(r.allowed).to.equal(true);
    expect(patchOf(r)).to.deep.equal([
      { op: 'add', path: '/metadata/annotations/connectors.alauda.io~1admitted', value: stamp },
    ]);
  });

  it('restamps an UPDATE that moves the Connector, when its author may read the Secrets', async () => {
    const moved = { ...valid, address: 'https://elsewhere.example.com' };
    const r = await verdict(
      reviewWith(moved, {
        operation: 'UPDATE',
        oldSpec: valid,
        annotations: { [admittedAnnotation]: stampOf(valid) },
        oldAnnotations: { [admittedAnnotation]: stampOf(valid) },
      }),
      admit(),
    );
    expect(patchOf(r)).to.deep.equal([
      { op: 'add', path: '/metadata/annotations/connectors.alauda.io~1admitted', value: stampOf(moved) },
    ]);
    expect(stampOf(moved)).to.not.equal(stampOf(valid));
  });

  it('admits a never-stamped Connector on any update by a user who may read its Secrets', async () => {
    const r = await verdict(reviewWith(valid, { operation: 'UPDATE', oldSpec: valid }), admit());
    expect(r.allowed).to.equal(true);
    expect(patchOf(r)).to.deep.equal([
      { op: 'add', path: '/metadata/annotations', value: { [admittedAnnotation]: stampOf(valid) } },
    ]);
  });

  it('lets anyone else relabel a never-stamped Connector, but does not stamp it, and says so', async () => {
    const r = await verdict(
      reviewWith(valid, {
        operation: 'UPDATE',
        oldSpec: valid,
        annotations: { [admittedAnnotation]: stampOf(valid) },
      }),
      admit(nobody),
    );
    expect(r.allowed).to.equal(true);
    expect(patchOf(r)).to.deep.equal([
      { op: 'remove', path: '/metadata/annotations/connectors.alauda.io~1admitted' },
    ]);
    expect(r.warnings?.[0]).to.match(
      /^not admitted: spec\.auth\.secretRef: Forbidden: User "alice" cannot get resource "secrets" .*; the status controller does not probe this Connector until a user who may get its Secrets updates it$/,
    );
  });

  it('answers with no patch when the stamp is already right', async () => {
    const stamp = stampOf(valid);
    const r = await verdict(
      reviewWith(valid, {
        operation: 'UPDATE',
        oldSpec: valid,
        annotations: { [admittedAnnotation]: stamp },
        oldAnnotations: { [admittedAnnotation]: stamp },
      }),
      admit(),
    );
    expect(r).to.deep.equal({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('leaves other resources, subresources and DELETE alone', async () => {
    const other = await verdict(
      review(valid, { resource: { group: '', version: 'v1', resource: 'secrets' } }),
      admit(nobody),
    );
    expect(other.allowed).to.equal(true);
    expect(other.patch).to.equal(undefined);
    const del = await verdict(review(valid, { operation: 'DELETE', oldSpec: valid }), admit(nobody));
    expect(del).to.deep.equal({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });
});
