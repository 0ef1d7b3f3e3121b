// What `kubectl apply` of a Connector says when it can never work with its ConnectorClass: every
// webhook rule with its exact message (the field, what is wrong, the allowed values), the Connectors
// that must go through (upstream's example, the shipped classes), and the envelope kube-apiserver
// relies on (uid echoed, v1 only, 400 for what is not an AdmissionReview).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { loadAllYaml } from '@kubernetes/client-node';
import { expect } from 'chai';
import {
  admissionHandler,
  readJsonBody,
  type AdmissionReview,
  type FieldProblem,
} from '../../../apiserver/admission.js';
import { StatusError } from '../../../apiserver/machinery/status.js';
import { repoRoot } from '../../../hack/binaries.js';
import type { ConnectorLister } from '../../../registry/store.js';
import type { ConnectorClass } from '../../../registry/types.js';

function yamlObjects(...path: string[]): { kind?: string; metadata?: { name?: string } }[] {
  const docs: unknown[] = loadAllYaml(readFileSync(join(repoRoot(), ...path), 'utf8'));
  return docs.filter((d): d is { kind?: string } => typeof d === 'object' && d !== null);
}

const upstream = yamlObjects('test', 'fixtures', 'upstream-examples.yaml');
const upstreamConnector = upstream.find((o) => o.kind === 'Connector') as { spec: Record<string, unknown> };
const upstreamGitClass = upstream.find((o) => o.kind === 'ConnectorClass') as ConnectorClass;

const shippedClasses = ['git', 'github', 'gitlab', 'harbor', 'k8s', 'maven', 'npm', 'oci'].map(
  (name) => yamlObjects('manifests', 'classes', `${name}.yaml`)[0] as ConnectorClass,
);

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

const handler = admissionHandler(lister([toolClass, strictClass, plainClass, ...shippedClasses]));
const upstreamHandler = admissionHandler(lister([upstreamGitClass]));

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

function verdict(body: unknown, h = handler): Required<AdmissionReview>['response'] {
  const out = h(body) as AdmissionReview;
  expect(out.apiVersion).to.equal('admission.k8s.io/v1');
  expect(out.kind).to.equal('AdmissionReview');
  expect(out.response?.uid).to.equal('705ab4f5-6393-11e8-b7cc-42010a800002');
  return out.response!;
}

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
  ];

  for (const c of denied) {
    it(`refuses ${c.name}`, () => {
      const r = verdict(review(c.spec, c.namespace ? { namespace: c.namespace } : {}));
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

  it('lists every problem at once, in spec order', () => {
    const r = verdict(
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

  it('refuses an UPDATE that changes the spec into one the class cannot serve', () => {
    const r = verdict(review(withAuth({ name: 'oauth' }), { operation: 'UPDATE', oldSpec: valid }));
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
    it(`allows ${c.name}`, () => {
      const r = verdict(review(c.spec));
      expect(r.status, JSON.stringify(r.status)).to.equal(undefined);
      expect(r.allowed).to.equal(true);
      expect(r.warnings).to.equal(undefined);
    });
  }

  it('allows upstream’s example Connector against upstream’s git class, without a warning', () => {
    const r = verdict(
      review(upstreamConnector.spec, { namespace: 'default', name: 'git-github' }),
      upstreamHandler,
    );
    expect(r).to.deep.equal({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('allows a Connector whose class is not installed yet, and says what was not checked', () => {
    const r = verdict(review({ ...upstreamConnector.spec }), admissionHandler(lister([])));
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'ConnectorClass "git" not found: spec.auth, spec.params and spec.addressExtensions were not checked against it; ' +
        'the Connector reports ConnectorClassReady=False (ConnectorClassNotFound) until the class is installed',
    ]);
    expect(r.warnings?.[0]?.length).to.be.below(256); // kube-apiserver may truncate longer warnings
  });

  it('allows, with a warning, an auth param the auth probe does not read', () => {
    const r = verdict(review(basic([...repoAndBranch, { name: 'depth', value: '1' }])));
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'spec.auth.params[2]: "depth" is not used by the auth probe of auth type "basicAuth" of ConnectorClass "tool" ' +
        '(it reads "repository", "branch")',
    ]);
  });

  it('allows an UPDATE that leaves an invalid spec alone (labels, finalizers), with the problems as warnings', () => {
    const stale = withAuth({ name: 'oauth', secretRef: { name: 's' } });
    const r = verdict(review(stale, { operation: 'UPDATE', oldSpec: stale }));
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'spec unchanged, so allowed, but invalid for its class: spec.auth.name: Unsupported value: "oauth": ' +
        'not an auth type of ConnectorClass "tool"; supported values: "basicAuth", "patAuth"',
    ]);
  });

  it('never judges a DELETE', () => {
    const r = verdict(
      review(withAuth({ name: 'oauth' }), { operation: 'DELETE', oldSpec: withAuth({ name: 'oauth' }) }),
    );
    expect(r).to.deep.equal({ uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('lets anything but connectors through, saying it was not checked', () => {
    const r = verdict(
      review(withAuth({ name: 'oauth' }), { resource: { group: '', version: 'v1', resource: 'configmaps' } }),
    );
    expect(r.allowed).to.equal(true);
    expect(r.warnings).to.deep.equal([
      'validate.connectors.alauda.io checks connectors.connectors.alauda.io only; configmaps was not checked',
    ]);
  });

  it('lets the status subresource through', () => {
    const body = review(withAuth({ name: 'oauth' }), { operation: 'UPDATE' }) as {
      request: Record<string, unknown>;
    };
    body.request.subResource = 'status';
    const r = verdict(body);
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
    it(`refuses ${name}`, () => {
      let caught: unknown;
      try {
        handler(body);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(StatusError);
      expect((caught as StatusError).code).to.equal(400);
      expect((caught as StatusError).message).to.match(message);
    });
  }
});

describe('apiserver/admission readJsonBody', () => {
  const req = (chunks: string[], headers: Record<string, string> = {}): IncomingMessage =>
    Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), {
      headers,
    }) as unknown as IncomingMessage;

  async function statusOf(p: Promise<unknown>): Promise<StatusError> {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(StatusError);
      return err as StatusError;
    }
    return expect.fail('expected a StatusError');
  }

  it('parses a body that arrives in pieces', async () => {
    expect(await readJsonBody(req(['{"a":', '[1,2]}']))).to.deep.equal({ a: [1, 2] });
  });

  it('refuses a body that is not JSON with 400', async () => {
    expect((await statusOf(readJsonBody(req(['{nope'])))).code).to.equal(400);
  });

  it('refuses a body over the limit with 413, by Content-Length or by what arrives', async () => {
    expect((await statusOf(readJsonBody(req(['{}'], { 'content-length': '100' }), 10))).code).to.equal(413);
    expect((await statusOf(readJsonBody(req(['{"a":"', 'x'.repeat(20), '"}']), 10))).code).to.equal(413);
  });
});
