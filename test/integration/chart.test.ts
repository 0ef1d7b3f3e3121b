// The Helm chart (charts/connectors) installs what the kustomization installs: with the default
// values `helm template` renders exactly the objects of `kubectl kustomize manifests/` (and with
// certManager.enabled those of manifests/cert-manager/ as well), compared as parsed objects in any
// order, so a field changed in manifests/ and not in the chart (or the reverse) fails here. Each
// value changes what it should and nothing else; bad values are refused with a message that names
// them; and the rendered objects pass a real kube-apiserver's server-side dry run.
//
// helm is Helm v4 built from helm.sh/helm/v4 by hack/build-helm.sh (HELM_BIN names another).
// No helm command here contacts a cluster: template and lint are client-side.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { dump, loadAll } from 'js-yaml';
import { repoRoot, resolveBinaries, resolveHelm } from '../../hack/binaries.js';
import { createCA } from '../../hack/pki.js';
import { ManagedProcess, type RunResult } from '../../hack/process.js';
import { kubectl } from '../helpers/env.js';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
}

interface Container {
  name: string;
  image: string;
  imagePullPolicy: string;
  command: string[];
  resources: { limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
}

interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    template: {
      spec: {
        terminationGracePeriodSeconds?: number;
        containers: Container[];
        imagePullSecrets?: { name: string }[];
        volumes?: { name: string; hostPath?: { path: string }; secret?: { secretName: string } }[];
      };
    };
  };
}

interface Webhooks extends KubeObject {
  webhooks: { clientConfig: { caBundle?: string } }[];
}

const chart = join(repoRoot(), 'charts', 'connectors');
const WORKLOADS = [
  'Deployment/connectors-apiserver',
  'Deployment/connectors-classapi',
  'Deployment/connectors-proxy',
  'Deployment/connectors-mysql-proxy',
  'Deployment/connectors-controller',
  'DaemonSet/connectors-csi',
];
const WEBHOOKS = [
  'ValidatingWebhookConfiguration/connectors-validation',
  'MutatingWebhookConfiguration/connectors-admission',
];

/** Objects by apiVersion/kind/namespace/name: the identity kubectl and helm apply by. */
function byIdentity(yaml: string): Map<string, KubeObject> {
  const objects = new Map<string, KubeObject>();
  for (const doc of loadAll(yaml)) {
    if (doc === null || doc === undefined) continue; // an empty document (a comment-only template)
    const o = doc as KubeObject;
    const key = `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (objects.has(key)) throw new Error(`${key} is rendered twice`);
    objects.set(key, o);
  }
  return objects;
}

/** The object of kind/name (any apiVersion and namespace); fails the test if there is none. */
function find(objects: Map<string, KubeObject>, kindName: string): KubeObject {
  const [kind, name] = kindName.split('/');
  const found = [...objects.values()].find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kindName} rendered`);
  return found;
}

/** Same identities, and each object deep-equal; a mismatch names the object. */
function expectSameObjects(actual: Map<string, KubeObject>, expected: Map<string, KubeObject>): void {
  expect([...actual.keys()].sort(), 'the objects rendered').to.deep.equal([...expected.keys()].sort());
  for (const [key, object] of expected) {
    expect(actual.get(key), key).to.deep.equal(object);
  }
}

/** The keys of the objects that differ between two renderings with the same identities. */
function changedObjects(a: Map<string, KubeObject>, b: Map<string, KubeObject>): string[] {
  expect([...a.keys()].sort()).to.deep.equal([...b.keys()].sort());
  return [...a.keys()].filter((key) => JSON.stringify(a.get(key)) !== JSON.stringify(b.get(key)));
}

describe('Helm chart charts/connectors', function () {
  let helmBin: string;
  let kubectlBin: string;
  let home: string;

  before(async function () {
    this.timeout(30 * 60_000); // a cold run builds helm first (minutes)
    helmBin = await resolveHelm();
    kubectlBin = (await resolveBinaries()).kubectl;
    // Helm's cache, config and data under a throwaway folder: nothing read from or left in ~.
    home = mkdtempSync(join(tmpdir(), 'connectors-helm-'));
  });

  after(function () {
    rmSync(home, { recursive: true, force: true });
  });

  function helm(args: string[]): Promise<RunResult> {
    return ManagedProcess.run(helmBin, args, {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
      timeoutMs: 60_000,
      name: 'helm',
    });
  }

  /** `helm template` of the chart with the CRDs (crds/ is otherwise left out) and these values. */
  async function template(values: object = {}): Promise<Map<string, KubeObject>> {
    const r = await helm(['template', 'connectors', chart, '--include-crds', ...valuesArgs(values)]);
    expect(r.code, r.stderr).to.equal(0);
    return byIdentity(r.stdout);
  }

  function valuesArgs(values: object): string[] {
    if (Object.keys(values).length === 0) return [];
    const file = join(home, `values-${String(Date.now())}-${String(Math.random()).slice(2)}.yaml`);
    writeFileSync(file, dump(values));
    return ['--values', file];
  }

  async function kustomize(dir: string): Promise<string> {
    const r = await ManagedProcess.run(kubectlBin, ['kustomize', join(repoRoot(), dir)], { name: 'kubectl' });
    expect(r.code, r.stderr).to.equal(0);
    return r.stdout;
  }

  it('passes helm lint --strict, with cert-manager on and off', async function () {
    for (const args of [[], ['--set', 'certManager.enabled=true']]) {
      const r = await helm(['lint', '--strict', chart, ...args]);
      expect(r.code, `helm lint ${args.join(' ')}\n${r.stdout}${r.stderr}`).to.equal(0);
    }
  });

  it('renders exactly the objects of kubectl kustomize manifests/ with the default values', async function () {
    // The CRDs in crds/ are copies of manifests/base/crds/ (plus the part-of label), so this also
    // catches one edited without the other.
    expectSameObjects(await template(), byIdentity(await kustomize('manifests')));
  });

  it('adds exactly the objects of manifests/cert-manager/ with certManager.enabled=true', async function () {
    const expected = byIdentity(
      (await kustomize('manifests')) + '\n---\n' + (await kustomize('manifests/cert-manager')),
    );
    expectSameObjects(await template({ certManager: { enabled: true } }), expected);
  });

  it('puts each value where it belongs and changes nothing else', async function () {
    const ca = await createCA('chart-test-ca');
    const caBundle = Buffer.from(ca.certPem).toString('base64');
    const defaults = await template();
    const objects = await template({
      image: { repository: 'registry.example.com:5000/team/connectors', tag: '9.8.7', pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'regcred' }],
      shutdownDelaySeconds: 12,
      apiserver: { replicas: 3, resources: { limits: { memory: '1Gi' } } },
      classapi: { replicas: 4 },
      proxy: {
        replicas: 5,
        otherHosts: 'tunnel',
        serviceClusterIPRange: ['10.96.0.0/12'],
        clusterCIDR: ['10.244.0.0/16', 'fd00:10:244::/56'],
        allowHosts: ['10.96.0.10:53'],
        extraArgs: ['--max-upstream-pools=512'],
      },
      mysqlProxy: {
        replicas: 6,
        authenticationTokenAudiences: ['connectors-proxy', 'https://kubernetes.example.com'],
        extraArgs: ['--log-level=debug'],
      },
      controller: { replicas: 1 },
      kubeletDir: '/var/lib/k0s/kubelet',
      caBundle,
      proxyCA: { secretName: 'my-proxy-ca' },
    });

    // Only the workloads and the three objects that carry the caBundle differ from the defaults.
    expect(
      changedObjects(defaults, objects)
        .map((key) => key.split('/').slice(-3).join('/'))
        .sort(),
    ).to.deep.equal(
      [
        'Deployment/connectors-system/connectors-apiserver',
        'Deployment/connectors-system/connectors-classapi',
        'Deployment/connectors-system/connectors-proxy',
        'Deployment/connectors-system/connectors-mysql-proxy',
        'Deployment/connectors-system/connectors-controller',
        'DaemonSet/connectors-csi/connectors-csi',
        'APIService//v1alpha1.subresources.connectors.alauda.io',
        'ValidatingWebhookConfiguration//connectors-validation',
        'MutatingWebhookConfiguration//connectors-admission',
      ].sort(),
    );

    for (const name of WORKLOADS) {
      const pod = (find(objects, name) as Workload).spec.template.spec;
      expect(pod.imagePullSecrets, name).to.deep.equal([{ name: 'regcred' }]);
      for (const c of pod.containers) {
        expect(c.image, name).to.equal('registry.example.com:5000/team/connectors:9.8.7');
        expect(c.imagePullPolicy, name).to.equal('Always');
      }
    }
    const replicas = (name: string) => (find(objects, `Deployment/${name}`) as Workload).spec.replicas;
    expect(replicas('connectors-apiserver')).to.equal(3);
    expect(replicas('connectors-classapi')).to.equal(4);
    expect(replicas('connectors-proxy')).to.equal(5);
    expect(replicas('connectors-mysql-proxy')).to.equal(6);
    expect(replicas('connectors-controller')).to.equal(1);
    // A component's resources are replaced as a whole (Helm merges maps: requests stay).
    const apiserver = (find(objects, 'Deployment/connectors-apiserver') as Workload).spec.template.spec
      .containers[0]!;
    expect(apiserver.resources.limits).to.deep.include({ memory: '1Gi', cpu: '2' });

    // shutdownDelaySeconds: the servers' flag, and their pods' grace period grows by as much.
    for (const [name, grace] of [
      ['connectors-apiserver', 60],
      ['connectors-classapi', 30],
      ['connectors-proxy', 60],
      ['connectors-mysql-proxy', 60],
    ] as const) {
      const pod = (find(objects, `Deployment/${name}`) as Workload).spec.template.spec;
      const byDefault = (find(defaults, `Deployment/${name}`) as Workload).spec.template.spec;
      expect(pod.containers[0]?.command, name).to.include('--shutdown-delay-duration=12s');
      expect(byDefault.containers[0]?.command, name).to.include('--shutdown-delay-duration=5s');
      expect(
        [byDefault.terminationGracePeriodSeconds, pod.terminationGracePeriodSeconds],
        name,
      ).to.deep.equal([grace, grace + 7]);
    }

    // kubeletDir: the three hostPath volumes, the pods mount and --kubelet-registration-path.
    const csi = (find(objects, 'DaemonSet/connectors-csi') as Workload).spec.template.spec;
    expect(csi.volumes?.map((v) => v.hostPath?.path)).to.deep.equal([
      '/var/lib/k0s/kubelet/plugins/connectors-csi',
      '/var/lib/k0s/kubelet/plugins_registry',
      '/var/lib/k0s/kubelet/pods',
    ]);
    const driver = csi.containers[0]!;
    expect(driver.volumeMounts?.find((m) => m.name === 'pods-dir')?.mountPath).to.equal(
      '/var/lib/k0s/kubelet/pods',
    );
    expect(driver.command).to.include(
      '--kubelet-registration-path=/var/lib/k0s/kubelet/plugins/connectors-csi/csi.sock',
    );
    expect(JSON.stringify(csi)).not.to.contain('/var/lib/kubelet');

    // caBundle: in the APIService and both webhooks, and then no cainjector annotation.
    const apiService = find(
      objects,
      'APIService/v1alpha1.subresources.connectors.alauda.io',
    ) as KubeObject & {
      spec: { caBundle?: string };
    };
    expect(apiService.spec.caBundle).to.equal(caBundle);
    for (const name of WEBHOOKS) {
      expect((find(objects, name) as Webhooks).webhooks[0]?.clientConfig.caBundle, name).to.equal(caBundle);
    }
    for (const o of [apiService, ...WEBHOOKS.map((name) => find(objects, name))]) {
      expect(o.metadata.annotations ?? {}, o.kind).not.to.have.property('cert-manager.io/inject-ca-from');
    }

    // The Connectors Proxy's flags and its CA Secret.
    const proxy = (find(objects, 'Deployment/connectors-proxy') as Workload).spec.template.spec;
    expect(proxy.containers[0]?.command).to.include.members([
      '--authentication-token-audiences=connectors-proxy,https://kubernetes.default.svc.cluster.local',
      '--other-hosts=tunnel',
      '--service-cluster-ip-range=10.96.0.0/12',
      '--cluster-cidr=10.244.0.0/16,fd00:10:244::/56',
      '--allow-hosts=10.96.0.10:53',
      '--max-upstream-pools=512',
    ]);
    expect(proxy.containers[0]?.command).not.to.include('--other-hosts=refuse');
    expect(proxy.volumes?.find((v) => v.name === 'proxy-ca')?.secret?.secretName).to.equal('my-proxy-ca');

    // The MySQL proxy's: its audiences, its extra flags, the same CA Secret.
    const mysqlProxy = (find(objects, 'Deployment/connectors-mysql-proxy') as Workload).spec.template.spec;
    expect(mysqlProxy.containers[0]?.command).to.include.members([
      '--authentication-token-audiences=connectors-proxy,https://kubernetes.example.com',
      '--log-level=debug',
    ]);
    expect(mysqlProxy.volumes?.find((v) => v.name === 'proxy-ca')?.secret?.secretName).to.equal(
      'my-proxy-ca',
    );
  });

  it('lets cert-manager issue the proxy CA into proxyCA.secretName, or leaves it to the user', async function () {
    const certificates = (objects: Map<string, KubeObject>) =>
      [...objects.values()]
        .filter((o) => o.kind === 'Certificate')
        .map(
          (o) => `${o.metadata.name}:${(o as KubeObject & { spec: { secretName: string } }).spec.secretName}`,
        );
    const issued = await template({ certManager: { enabled: true }, proxyCA: { secretName: 'my-proxy-ca' } });
    expect(certificates(issued)).to.include('connectors-proxy-ca:my-proxy-ca');
    const own = await template({ certManager: { enabled: true }, proxyCA: { certManager: false } });
    expect(certificates(own)).to.have.members([
      'connectors-apiserver-ca:connectors-apiserver-ca',
      'connectors-apiserver-tls:connectors-apiserver-tls',
      'connectors-classapi-tls:connectors-classapi-tls',
      'connectors-classapi-client:connectors-classapi-client',
    ]);
  });

  it('refuses bad values with a message that names them', async function () {
    const cases: [object, string][] = [
      [{ apiserver: { replicas: 0 } }, "at '/apiserver/replicas': minimum: got 0, want 1"],
      [{ proxy: { replicas: -1 } }, "at '/proxy/replicas': minimum: got -1, want 0"],
      [{ proxy: { otherHosts: 'open' } }, "at '/proxy/otherHosts': value must be one of 'refuse', 'tunnel'"],
      [
        { proxy: { otherHosts: 'tunnel' } },
        'proxy.otherHosts=tunnel needs proxy.serviceClusterIPRange and proxy.clusterCIDR',
      ],
      [{ proxy: { allowHosts: ['10.0.0.1'] } }, 'proxy.allowHosts reopens destinations of tunnels only'],
      [{ proxy: { serviceClusterIPRange: ['10.96.0.0'] } }, "at '/proxy/serviceClusterIPRange/0'"],
      [
        { proxy: { authenticationTokenAudiences: ['other'] } },
        "at '/proxy/authenticationTokenAudiences': no items match contains schema",
      ],
      [
        { proxy: { extraArgs: ['--other-hosts=tunnel'] } },
        'proxy.extraArgs: --other-hosts is set by the chart',
      ],
      [{ proxy: { extraArgs: ['max-upstream-pools=2'] } }, "at '/proxy/extraArgs/0'"],
      [
        { proxy: { extraArgs: ['--shutdown-delay-duration=1s'] } },
        'proxy.extraArgs: --shutdown-delay-duration is set by the chart',
      ],
      [
        { mysqlProxy: { authenticationTokenAudiences: ['other'] } },
        "at '/mysqlProxy/authenticationTokenAudiences': no items match contains schema",
      ],
      [
        { mysqlProxy: { extraArgs: ['--connector-classes=mysql,git'] } },
        'mysqlProxy.extraArgs: --connector-classes is set by the chart',
      ],
      [{ shutdownDelaySeconds: -1 }, "at '/shutdownDelaySeconds': minimum: got -1, want 0"],
      [{ shutdownDelaySeconds: '5s' }, "at '/shutdownDelaySeconds': got string, want integer"],
      [{ shutdownDelaySeconds: null }, "missing property 'shutdownDelaySeconds'"],
      [{ replicas: 3 }, "additional properties 'replicas' not allowed"],
      [{ image: { pullPolicy: 'Sometimes' } }, "at '/image/pullPolicy'"],
      [{ image: { tag: 'v1 beta' } }, "at '/image/tag'"],
      [{ kubeletDir: 'var/lib/kubelet' }, "at '/kubeletDir'"],
      [{ caBundle: '-----BEGIN CERTIFICATE-----' }, "at '/caBundle'"],
      [
        { caBundle: 'LS0tLS1CRUdJTiBDRVJU', certManager: { enabled: true } },
        'caBundle and certManager.enabled=true do not go together',
      ],
      [{ classapi: { resources: { limits: { cpu: 'lots' } } } }, "at '/classapi/resources/limits/cpu'"],
    ];
    for (const [values, message] of cases) {
      const r = await helm(['template', 'connectors', chart, ...valuesArgs(values)]);
      expect(r.code, JSON.stringify(values)).to.not.equal(0);
      expect(r.stderr, JSON.stringify(values)).to.contain(message);
    }
    // helm lint --strict (and so helm install and upgrade) refuses them the same way.
    const r = await helm(['lint', '--strict', chart, ...valuesArgs({ proxy: { replicas: -1 } })]);
    expect(r.code).to.not.equal(0);
    expect(r.stdout + r.stderr).to.contain("at '/proxy/replicas': minimum: got -1, want 0");
  });

  it('renders objects a real kube-apiserver accepts (server-side dry run), with defaults and other values', async function () {
    // A dry run creates no namespace, so objects in one the chart creates would be NotFound; the
    // local system has connectors-system, and connectors-csi is made here (as in manifests.test.ts).
    await kubectl(['create', 'namespace', 'connectors-csi']);
    const ca = await createCA('chart-dry-run-ca');
    for (const values of [
      {},
      {
        image: { repository: 'registry.example.com/connectors', tag: '9.8.7', pullPolicy: 'Never' },
        imagePullSecrets: [{ name: 'regcred' }],
        kubeletDir: '/var/lib/k0s/kubelet',
        caBundle: Buffer.from(ca.certPem).toString('base64'),
        proxy: {
          otherHosts: 'tunnel',
          serviceClusterIPRange: ['10.96.0.0/12'],
          clusterCIDR: ['10.244.0.0/16'],
        },
      },
    ]) {
      const rendered = await helm(['template', 'connectors', chart, '--include-crds', ...valuesArgs(values)]);
      expect(rendered.code, rendered.stderr).to.equal(0);
      const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: rendered.stdout });
      expect(r.code, `${JSON.stringify(values)}: ${r.stderr}`).to.equal(0);
      for (const object of [
        'customresourcedefinition.apiextensions.k8s.io/connectors.connectors.alauda.io',
        'apiservice.apiregistration.k8s.io/v1alpha1.subresources.connectors.alauda.io',
        'deployment.apps/connectors-proxy',
        'daemonset.apps/connectors-csi',
        'csidriver.storage.k8s.io/connectors-csi',
        'mutatingwebhookconfiguration.admissionregistration.k8s.io/connectors-admission',
      ]) {
        expect(r.stdout).to.contain(object);
      }
    }
  });
});
