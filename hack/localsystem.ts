// The local system, shared by `npm run dev` and the integration tests: the control plane, the
// project's manifests (manifests/local: namespace, CRDs, the server's ServiceAccount and RBAC,
// user roles), the aggregated server started from its real entry point under its own
// ServiceAccount token, the Connectors mutating admission webhook (every Connector write is
// checked and stamped, as in a cluster, so the status controller probes them), and the APIService
// pointing at it through an ExternalName Service to 127.0.0.1 (kube-apiserver dials
// `<externalName>:<APIService port>` when --enable-aggregator-routing is off, its default).
// On request (`npm run dev` asks for all; the integration tests, which start their own, for none):
// the validating webhook, the Connectors Proxy, the MySQL Connectors Proxy and the status
// controller, each from its real entry point under its shipped ServiceAccount and RBAC, and
// kube-controller-manager, so that namespaces
// finish deleting, ServiceAccounts get created and the shipped roles aggregate into view/edit/admin.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { repoRoot, resolveClusterBinaries } from './binaries.js';
import { startControlPlane, type ControlPlane, type KubectlResult } from './controlplane.js';
import { createCA, issueCert, type CertificateAuthority, type CertKeyPem } from './pki.js';
import { freePort, ManagedProcess } from './process.js';
import { writeSecretVolume } from './secretvolume.js';

export const apiServiceName = 'v1alpha1.subresources.connectors.alauda.io';
/** manifests/apiserver/mutatingwebhook.yaml's configuration, registered by startLocalSystem. */
export const mutatingWebhookName = 'connectors-admission';
/** manifests/apiserver/validatingwebhook.yaml's configuration, registered with `validatingWebhook`. */
export const validatingWebhookName = 'connectors-validation';
/** The API server's client certificate towards the class API backend names it so (as in manifests/). */
export const classApiClientName = 'system:serviceaccount:connectors-system:connectors-apiserver';
const serviceName = 'connectors-apiserver';
/** The class the signing proxy serves (--connector-classes), and the Service its classes name. */
export const signingProxyClass = 'signed-http';
export const signingProxyService = { namespace: 'connectors-system', name: 'signing-proxy' };
const serviceNamespace = 'connectors-system';

export interface LocalSystem {
  cp: ControlPlane;
  /** The aggregated server process (dist/apiserver/main.js). */
  server: ManagedProcess;
  serverUrl: string;
  serverLog: string;
  /**
   * The server's flags (after its entry point; --secure-port first), so that the bench can start
   * another build of the server exactly as this one runs.
   */
  serverFlags: readonly string[];
  /** Trusts our serving certificate (for direct calls). */
  servingCaPem: string;
  /** The directory the server's --tls-cert-file and --tls-private-key-file live in (a Secret volume's layout). */
  servingCertDir: string;
  /** Issues a new serving certificate (same CA and names) and swaps it in as the kubelet would. */
  rotateServingCert(): Promise<CertKeyPem>;
  logDir: string;
  /** The class API backend process (dist/classapi/main.js) and its https URL. */
  classApi: ManagedProcess;
  classApiUrl: string;
  classApiLog: string;
  /**
   * The CA of the class API backend's mutual TLS: it issued the backend's serving certificate and
   * the API server's client certificate (CN classApiClientName), the only one the backend serves.
   */
  classApiCA: CertificateAuthority;
  /** --classapi-ca-file, --classapi-client-cert-file, --classapi-client-key-file as the API server has them. */
  classApiClientFlags: string[];
  /**
   * Applies manifests/classes (the shipped classes and ResourceInterfaces) and, standing in for the
   * status controller, writes each class's resolved `status.api.address.url`: the
   * `connectors-classapi` Service they reference is the local backend here.
   */
  installClasses(): Promise<void>;
  /**
   * Registers the Connectors mutating admission webhook (manifests/apiserver/mutatingwebhook.yaml,
   * pointed at the server on the host) and waits until kube-apiserver stamps Connectors with it.
   * startLocalSystem does this once; tests that remove the configuration call it to restore it.
   */
  admitConnectors(): Promise<void>;
  /** Starts the aggregated server again (after stopServer), same port and flags. */
  startServer(): Promise<void>;
  /**
   * Starts another replica of the aggregated server, as the one above runs but on a port of its
   * own and with `extraFlags` (e.g. --shutdown-delay-duration), logging to `<name>.log`; resolves
   * with its process and https URL once its /readyz answers 200. The caller stops it.
   */
  startReplica(name: string, extraFlags: string[]): Promise<{ process: ManagedProcess; url: string }>;
  /** Stops the aggregated server (SIGTERM, then SIGKILL after `graceMs`). */
  stopServer(graceMs?: number): Promise<void>;
  /** With `connectorsProxy`: dist/connproxy/main.js, its http URL and the file its CA certificate is in. */
  connectorsProxy: { process: ManagedProcess; url: string; caFile: string } | undefined;
  /** With `mysqlProxy`: dist/mysqlproxy/main.js (startMysqlProxy). */
  mysqlProxy: RunningMysqlProxy | undefined;
  /**
   * With `signingProxy`: the example custom proxy (dist/examples/signing-proxy/main.js) serving
   * class signingProxyClass, under its ServiceAccount and RBAC (examples/signing-proxy/rbac.yaml);
   * the API server reaches it as Service signingProxyService (--proxy-url-override), pods at `url`.
   */
  signingProxy: { process: ManagedProcess; url: string; secureUrl: string; log: string } | undefined;
  /** With `controller`: the status controller (dist/controller/main.js). */
  controller: ManagedProcess | undefined;
  /** With `controllerManager`: kube-controller-manager. */
  controllerManager: ManagedProcess | undefined;
  stop(): Promise<void>;
}

export interface LocalSystemOptions {
  logDir: string;
  /** Extra flags for the aggregated server. */
  serverArgs?: string[];
  /** Node.js flags for the aggregated server process, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  serverNodeArgs?: string[];
  /**
   * Also register manifests/apiserver/validatingwebhook.yaml (pointed at the server on the host),
   * so that a Connector its class cannot serve is refused on write, as in a cluster.
   */
  validatingWebhook?: boolean;
  /** Also run the Connectors Proxy under its shipped ServiceAccount and RBAC (manifests/connproxy/rbac.yaml). */
  connectorsProxy?: boolean;
  /** Also run the MySQL Connectors Proxy (startMysqlProxy), serving the class `mysql`. */
  mysqlProxy?: boolean;
  /**
   * Also run the example custom proxy (examples/signing-proxy) for class signingProxyClass, with the
   * API server's --proxy-url-override pointing Service signingProxyService at it. Its serving
   * certificate and its trust in the API server's client certificate are the class API backend's CA.
   */
  signingProxy?: boolean;
  /** Also run the status controller under its shipped ServiceAccount and RBAC (manifests/controller/). */
  controller?: boolean;
  /**
   * Also run kube-controller-manager with the controllers a system without nodes needs: namespace
   * deletion, garbage collection, ServiceAccounts and their tokens, kube-root-ca.crt and ClusterRole
   * aggregation. Its binary comes from hack/build-cluster.sh (built on first use: several minutes).
   */
  controllerManager?: boolean;
}

/** kube-controller-manager's controllers for a system without nodes (no kubelet, no scheduler). */
const controllerManagerControllers = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
];

async function must(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startLocalSystem(opts: LocalSystemOptions): Promise<LocalSystem> {
  const root = repoRoot();
  await mkdir(opts.logDir, { recursive: true });
  // Before anything runs: the first time, this builds the node binaries (minutes).
  const clusterBinaries = opts.controllerManager ? await resolveClusterBinaries() : undefined;
  const cp = await startControlPlane({ logDir: opts.logDir });
  // The optional parts started so far, stopped if a later step fails.
  const extras: ManagedProcess[] = [];
  try {
    await must(cp, ['apply', '-k', join(root, 'manifests', 'local')]);
    await must(cp, [
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/connectors.connectors.alauda.io',
      'crd/connectorclasses.connectors.alauda.io',
      'crd/resourceinterfaces.connectors.alauda.io',
    ]);

    // The server runs as its production ServiceAccount, so the shipped RBAC is what is tested.
    const token = await cp.createToken(serviceNamespace, serviceName, { expirationSeconds: 86_400 });
    const kubeconfig = await cp.writeKubeconfig(join(cp.dir, 'connectors-apiserver.kubeconfig'), { token });
    // Laid out as the Deployment mounts Secret connectors-apiserver-tls, so that a rotation here
    // is the kubelet's: a new directory behind `..data`, swapped in one rename.
    const servingDir = join(cp.dir, 'apiserver-tls');
    const rotateServingCert = async (): Promise<CertKeyPem> => {
      const serving = await cp.issueServingCert(
        [`${serviceName}.${serviceNamespace}.svc`, 'localhost'],
        ['127.0.0.1'],
      );
      await writeSecretVolume(servingDir, { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem });
      return serving;
    };
    await rotateServingCert();
    const certFile = join(servingDir, 'tls.crt');
    const keyFile = join(servingDir, 'tls.key');

    // The class API backend's mutual TLS, laid out as the Deployments mount their Secrets.
    const classApiCA = await createCA('connectors-classapi-ca');
    const [classApiServing, classApiClient] = await Promise.all([
      issueCert(classApiCA, {
        commonName: 'connectors-classapi',
        dnsNames: ['connectors-classapi.connectors-system.svc', 'localhost'],
        ipAddresses: ['127.0.0.1'],
        server: true,
      }),
      issueCert(classApiCA, { commonName: classApiClientName, client: true }),
    ]);
    const classApiDir = join(cp.dir, 'classapi-tls');
    const classApiClientDir = join(cp.dir, 'apiserver-classapi-client');
    await writeSecretVolume(classApiDir, {
      'tls.crt': classApiServing.certPem,
      'tls.key': classApiServing.keyPem,
      'ca.crt': classApiCA.certPem,
    });
    await writeSecretVolume(classApiClientDir, {
      'tls.crt': classApiClient.certPem,
      'tls.key': classApiClient.keyPem,
      'ca.crt': classApiCA.certPem,
    });

    const classApiClientFlags = [
      `--classapi-ca-file=${join(classApiClientDir, 'ca.crt')}`,
      `--classapi-client-cert-file=${join(classApiClientDir, 'tls.crt')}`,
      `--classapi-client-key-file=${join(classApiClientDir, 'tls.key')}`,
    ];

    const port = await freePort();
    const serverUrl = `https://127.0.0.1:${port}`;
    // The signing proxy starts with the optional parts, but the API server learns its address now.
    const signingPorts = opts.signingProxy
      ? { port: await freePort(), securePort: await freePort() }
      : undefined;
    const serverLog = join(opts.logDir, 'connectors-apiserver.log');
    const tls = new Agent({ connect: { ca: cp.servingCaPem } });
    const serverFlags = [
      `--secure-port=${port}`,
      '--bind-address=127.0.0.1',
      `--tls-cert-file=${certFile}`,
      `--tls-private-key-file=${keyFile}`,
      ...classApiClientFlags,
      `--kubeconfig=${kubeconfig}`,
      ...(signingPorts
        ? [
            `--proxy-url-override=${signingProxyService.namespace}/${signingProxyService.name}=https://127.0.0.1:${signingPorts.securePort}`,
          ]
        : []),
      ...(opts.serverArgs ?? []),
    ];
    const startProcess = (name: string, flags: string[], logFile: string): ManagedProcess =>
      ManagedProcess.start({
        name,
        binary: process.execPath,
        args: [...(opts.serverNodeArgs ?? []), join(root, 'dist', 'apiserver', 'main.js'), ...flags],
        logFile,
      });
    const waitReady = (proc: ManagedProcess, url: string): Promise<void> =>
      proc.waitUntil(
        async () => {
          try {
            const r = await request(`${url}/readyz`, { dispatcher: tls });
            await r.body.dump();
            return r.statusCode === 200;
          } catch {
            return false;
          }
        },
        { timeoutMs: 60_000, what: `${proc.name} /readyz` },
      );
    let server: ManagedProcess | undefined;
    const startServer = async (): Promise<void> => {
      server = startProcess('connectors-apiserver', serverFlags, serverLog);
      await waitReady(server, serverUrl);
    };
    await startServer();
    const startReplica = async (
      name: string,
      extraFlags: string[],
    ): Promise<{ process: ManagedProcess; url: string }> => {
      const replicaPort = await freePort();
      const flags = serverFlags.map((f) =>
        f.startsWith('--secure-port=') ? `--secure-port=${replicaPort}` : f,
      );
      const replica = startProcess(name, [...flags, ...extraFlags], join(opts.logDir, `${name}.log`));
      const url = `https://127.0.0.1:${replicaPort}`;
      try {
        await waitReady(replica, url);
      } catch (err) {
        await replica.stop();
        throw err;
      }
      return { process: replica, url };
    };

    const classApiPort = await freePort();
    const classApiUrl = `https://127.0.0.1:${classApiPort}`;
    const classApiLog = join(opts.logDir, 'classapi.log');
    const classApi = ManagedProcess.start({
      name: 'connectors-classapi',
      binary: process.execPath,
      args: [
        join(root, 'dist', 'classapi', 'main.js'),
        `--port=${classApiPort}`,
        '--bind-address=127.0.0.1',
        `--tls-cert-file=${join(classApiDir, 'tls.crt')}`,
        `--tls-private-key-file=${join(classApiDir, 'tls.key')}`,
        `--client-ca-file=${join(classApiDir, 'ca.crt')}`,
        `--allowed-client-names=${classApiClientName}`,
      ],
      logFile: classApiLog,
    });
    const classApiTrust = new Agent({ connect: { ca: classApiCA.certPem } });
    await classApi.waitUntil(
      async () => {
        try {
          // As the kubelet probes it: no client certificate.
          const r = await request(`${classApiUrl}/readyz`, { dispatcher: classApiTrust });
          await r.body.dump();
          return r.statusCode === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: 'connectors-classapi /readyz' },
    );
    await classApiTrust.close();

    const installClasses = async (): Promise<void> => {
      await must(cp, ['apply', '-k', join(root, 'manifests', 'classes')]);
      const list = JSON.parse(await must(cp, ['get', 'connectorclasses', '-o', 'json'])) as {
        items: { metadata: { name: string }; spec?: { api?: { ref?: { name?: string }; uri?: string } } }[];
      };
      for (const cls of list.items) {
        const api = cls.spec?.api;
        if (api?.ref?.name !== 'connectors-classapi') continue;
        const url = `${classApiUrl}${api.uri ?? ''}`;
        await must(cp, [
          'patch',
          'connectorclass',
          cls.metadata.name,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({ status: { api: { address: { url } } } }),
        ]);
      }
    };

    await must(
      cp,
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: serviceName, namespace: serviceNamespace },
            spec: { type: 'ExternalName', externalName: '127.0.0.1' },
          },
          {
            apiVersion: 'apiregistration.k8s.io/v1',
            kind: 'APIService',
            metadata: { name: apiServiceName },
            spec: {
              group: 'subresources.connectors.alauda.io',
              version: 'v1alpha1',
              groupPriorityMinimum: 1000,
              versionPriority: 100,
              service: { name: serviceName, namespace: serviceNamespace, port },
              caBundle: Buffer.from(cp.servingCaPem).toString('base64'),
            },
          },
        ],
      }),
    );
    await waitFor(`APIService ${apiServiceName} to become Available`, 60_000, async () => {
      const r = await cp.kubectl([
        'get',
        'apiservice',
        apiServiceName,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Available")].status}',
      ]);
      return r.stdout.trim() === 'True';
    });

    // The webhooks, as shipped but for clientConfig: the manifests name the in-cluster Service on port
    // 443; here kube-apiserver is pointed at the server on the host by URL (its certificate covers
    // 127.0.0.1) and the manifest's path, with the harness's serving CA. kube-apiserver presents its
    // client certificate to it (hack/controlplane.ts admissionConfiguration).
    const shippedWebhook = async (file: string): Promise<object> => {
      const config = JSON.parse(
        await must(cp, [
          'create',
          '--dry-run=client',
          '-o',
          'json',
          '-f',
          join(root, 'manifests', 'apiserver', file),
        ]),
      ) as { webhooks: { clientConfig: { service?: { path?: string } } | object }[] };
      for (const w of config.webhooks) {
        const path = 'service' in w.clientConfig ? w.clientConfig.service?.path : undefined;
        if (path === undefined) throw new Error(`${file}: a webhook without clientConfig.service.path`);
        w.clientConfig = {
          url: `${serverUrl}${path}`,
          caBundle: Buffer.from(cp.servingCaPem).toString('base64'),
        };
      }
      return config;
    };
    // kube-apiserver picks a configuration up from an informer: a (dry-run) Connector of a class that
    // does not exist shows when each webhook is in effect, so that no Connector written afterwards
    // goes unchecked.
    const probe = JSON.stringify({
      apiVersion: 'connectors.alauda.io/v1alpha1',
      kind: 'Connector',
      metadata: { name: 'admission-probe', namespace: serviceNamespace },
      spec: { connectorClassName: 'none', address: 'https://admission-probe.invalid' },
    });
    const webhookInEffect = (what: string, check: (r: KubectlResult) => boolean): Promise<void> =>
      waitFor(`${what} to be in effect`, 30_000, async () =>
        check(await cp.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: probe })),
      );
    const webhook = await shippedWebhook('mutatingwebhook.yaml');
    const admitConnectors = async (): Promise<void> => {
      await must(cp, ['apply', '-f', '-'], JSON.stringify(webhook));
      await webhookInEffect(
        `MutatingWebhookConfiguration ${mutatingWebhookName}`,
        (r) => r.code === 0 && r.stdout.includes('"connectors.alauda.io/admitted"'),
      );
    };
    await admitConnectors();
    if (opts.validatingWebhook) {
      await must(cp, ['apply', '-f', '-'], JSON.stringify(await shippedWebhook('validatingwebhook.yaml')));
      // Only the validating webhook warns about the missing class.
      await webhookInEffect(
        `ValidatingWebhookConfiguration ${validatingWebhookName}`,
        (r) => r.code === 0 && r.stderr.includes('ConnectorClass "none" not found'),
      );
    }

    // The optional parts. Each one's token is a ServiceAccount token of the shipped identity, valid
    // for a day (a dev session's length).
    const serviceAccountKubeconfig = async (namespace: string, name: string): Promise<string> =>
      cp.writeKubeconfig(join(cp.dir, `${name}.kubeconfig`), {
        token: await cp.createToken(namespace, name, { expirationSeconds: 86_400 }),
      });
    const httpReady = async (url: string): Promise<boolean> => {
      try {
        const r = await request(url);
        await r.body.dump();
        return r.statusCode === 200;
      } catch {
        return false;
      }
    };

    let controllerManager: ManagedProcess | undefined;
    if (clusterBinaries) {
      const kcmDir = join(cp.dir, 'kube-controller-manager');
      await mkdir(kcmDir, { recursive: true });
      const caFile = join(kcmDir, 'ca.crt');
      await writeFile(caFile, cp.caCertPem);
      const kubeconfig = await cp.writeKubeconfig(
        join(kcmDir, 'kubeconfig'),
        await cp.issueClientCert('system:kube-controller-manager'),
      );
      controllerManager = ManagedProcess.start({
        name: 'kube-controller-manager',
        binary: clusterBinaries.kubeControllerManager,
        args: [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
          // Its defaults would write to /var/run/kubernetes and /usr/libexec/kubernetes on the host.
          `--cert-dir=${join(kcmDir, 'certs')}`,
          `--flex-volume-plugin-dir=${join(kcmDir, 'volume-plugins')}`,
          '--leader-elect=false',
          `--controllers=${controllerManagerControllers.join(',')}`,
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${cp.serviceAccountKeyFile}`,
          `--root-ca-file=${caFile}`,
        ],
        logFile: join(opts.logDir, 'kube-controller-manager.log'),
      });
      extras.push(controllerManager);
      // Its serviceaccount controller creates every namespace's `default` ServiceAccount.
      await controllerManager.waitUntil(
        async () =>
          (await cp.kubectl(['get', 'serviceaccount', 'default', '--namespace=default'])).code === 0,
        {
          timeoutMs: 60_000,
          what: 'ServiceAccount default/default (kube-controller-manager)',
          intervalMs: 250,
        },
      );
    }

    let connectorsProxy: LocalSystem['connectorsProxy'];
    if (opts.connectorsProxy) {
      await must(cp, ['apply', '-f', join(root, 'manifests', 'connproxy', 'rbac.yaml')]);
      const proxyPort = await freePort();
      const caFile = join(cp.dir, 'connectors-proxy-ca.crt');
      const proc = ManagedProcess.start({
        name: 'connectors-proxy',
        binary: process.execPath,
        args: [
          join(root, 'dist', 'connproxy', 'main.js'),
          `--port=${proxyPort}`,
          '--bind-address=127.0.0.1',
          `--kubeconfig=${await serviceAccountKubeconfig(serviceNamespace, 'connectors-proxy')}`,
          `--proxy-ca-out=${caFile}`,
          `--publish-ca-configmap=${serviceNamespace}/connectors-proxy-ca`,
        ],
        logFile: join(opts.logDir, 'connectors-proxy.log'),
      });
      extras.push(proc);
      const url = `http://127.0.0.1:${proxyPort}`;
      await proc.waitUntil(() => httpReady(`${url}/readyz`), {
        timeoutMs: 30_000,
        what: 'connectors-proxy /readyz',
      });
      connectorsProxy = { process: proc, url, caFile };
    }

    const mysqlProxy = opts.mysqlProxy
      ? await startMysqlProxy(cp, { name: 'connectors-mysql-proxy', logDir: opts.logDir })
      : undefined;
    if (mysqlProxy) extras.push(mysqlProxy.process);
    let signingProxy: LocalSystem['signingProxy'];
    if (signingPorts) {
      await must(cp, ['apply', '-f', join(root, 'examples', 'signing-proxy', 'rbac.yaml')]);
      const dir = join(cp.dir, 'signing-proxy-tls');
      const serving = await issueCert(classApiCA, {
        commonName: signingProxyService.name,
        dnsNames: [`${signingProxyService.name}.${signingProxyService.namespace}.svc`, 'localhost'],
        ipAddresses: ['127.0.0.1'],
        server: true,
      });
      await writeSecretVolume(dir, {
        'tls.crt': serving.certPem,
        'tls.key': serving.keyPem,
        'ca.crt': classApiCA.certPem,
      });
      const log = join(opts.logDir, 'signing-proxy.log');
      const proc = ManagedProcess.start({
        name: 'signing-proxy',
        binary: process.execPath,
        args: [
          join(root, 'dist', 'examples', 'signing-proxy', 'main.js'),
          `--connector-classes=${signingProxyClass}`,
          `--port=${signingPorts.port}`,
          `--secure-port=${signingPorts.securePort}`,
          '--bind-address=127.0.0.1',
          `--tls-cert-file=${join(dir, 'tls.crt')}`,
          `--tls-private-key-file=${join(dir, 'tls.key')}`,
          `--client-ca-file=${join(dir, 'ca.crt')}`,
          `--allowed-client-names=${classApiClientName}`,
          `--kubeconfig=${await serviceAccountKubeconfig(signingProxyService.namespace, signingProxyService.name)}`,
          '--upstream-response-timeout=10s',
        ],
        logFile: log,
      });
      extras.push(proc);
      const url = `http://127.0.0.1:${signingPorts.port}`;
      await proc.waitUntil(() => httpReady(`${url}/readyz`), {
        timeoutMs: 30_000,
        what: 'signing-proxy /readyz',
      });
      signingProxy = { process: proc, url, secureUrl: `https://127.0.0.1:${signingPorts.securePort}`, log };
    }

    let controller: ManagedProcess | undefined;
    if (opts.controller) {
      await must(cp, [
        'apply',
        '-f',
        join(root, 'manifests', 'controller', 'serviceaccount.yaml'),
        '-f',
        join(root, 'manifests', 'controller', 'rbac.yaml'),
      ]);
      const healthPort = await freePort();
      controller = ManagedProcess.start({
        name: 'connectors-controller',
        binary: process.execPath,
        args: [
          join(root, 'dist', 'controller', 'main.js'),
          `--kubeconfig=${await serviceAccountKubeconfig(serviceNamespace, 'connectors-controller')}`,
          '--bind-address=127.0.0.1',
          `--health-port=${healthPort}`,
          // The Services the classes name are the processes on this host.
          `--service-url-override=${serviceNamespace}/connectors-classapi=${classApiUrl}`,
          ...(connectorsProxy
            ? [`--service-url-override=${serviceNamespace}/connectors-proxy=${connectorsProxy.url}`]
            : []),
          // Class API backends are https with mutual TLS: the API server's client certificate and CA.
          ...classApiClientFlags,
        ],
        logFile: join(opts.logDir, 'connectors-controller.log'),
      });
      extras.push(controller);
      await controller.waitUntil(() => httpReady(`http://127.0.0.1:${healthPort}/readyz`), {
        timeoutMs: 30_000,
        what: 'connectors-controller /readyz',
      });
    }

    const system: LocalSystem = {
      cp,
      get server() {
        return server as ManagedProcess;
      },
      serverUrl,
      serverLog,
      serverFlags,
      classApi,
      classApiUrl,
      classApiLog,
      classApiCA,
      classApiClientFlags,
      installClasses,
      admitConnectors,
      servingCaPem: cp.servingCaPem,
      servingCertDir: servingDir,
      rotateServingCert,
      logDir: opts.logDir,
      startServer,
      startReplica,
      stopServer: async (graceMs?: number) => {
        await server?.stop(graceMs);
      },
      connectorsProxy,
      mysqlProxy,
      signingProxy,
      controller,
      controllerManager,
      stop: async () => {
        // The parts that call the server first, then the server and backend, then the control plane.
        await Promise.all([
          controller?.stop(),
          connectorsProxy?.process.stop(),
          mysqlProxy?.process.stop(),
          signingProxy?.process.stop(),
        ]);
        await Promise.all([server?.stop(), classApi.stop(), controllerManager?.stop()]);
        await tls.close();
        await cp.stop();
      },
    };
    return system;
  } catch (err) {
    await Promise.all(extras.map((p) => p.stop()));
    await cp.stop();
    throw err;
  }
}

export interface RunningMysqlProxy {
  process: ManagedProcess;
  /** The MySQL port, on 127.0.0.1. */
  port: number;
  /** http://127.0.0.1:<health port>: /readyz, /metrics. */
  healthUrl: string;
  /** The proxy CA certificate (PEM) clients verify the proxy with, and its file. */
  caCertPem: string;
  caFile: string;
  logFile: string;
}

/**
 * Starts the MySQL Connectors Proxy (dist/mysqlproxy/main.js) under the Connectors Proxy's shipped
 * ServiceAccount and RBAC (manifests/connproxy/rbac.yaml: TokenReview, SubjectAccessReview,
 * Connectors, Secrets by name; the same needs), with a fresh proxy CA and `localhost` as its own
 * name, and waits until /readyz answers 200. `extraArgs` go last (they may override a flag).
 */
export async function startMysqlProxy(
  cp: ControlPlane,
  opts: { name: string; logDir: string; extraArgs?: string[] },
): Promise<RunningMysqlProxy> {
  const root = repoRoot();
  await must(cp, ['apply', '-f', join(root, 'manifests', 'connproxy', 'rbac.yaml')]);
  const ca = await createCA(`${opts.name}-ca`);
  const dir = join(cp.dir, opts.name);
  await mkdir(dir, { recursive: true });
  const caFile = join(dir, 'ca.crt');
  await writeFile(caFile, ca.certPem);
  await writeFile(join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  const kubeconfig = await cp.writeKubeconfig(join(dir, 'kubeconfig'), {
    token: await cp.createToken(serviceNamespace, 'connectors-proxy', { expirationSeconds: 86_400 }),
  });
  const [port, healthPort] = [await freePort(), await freePort()];
  const logFile = join(opts.logDir, `${opts.name}.log`);
  const proc = ManagedProcess.start({
    name: opts.name,
    binary: process.execPath,
    args: [
      join(root, 'dist', 'mysqlproxy', 'main.js'),
      `--mysql-port=${port}`,
      `--health-port=${healthPort}`,
      '--bind-address=127.0.0.1',
      `--kubeconfig=${kubeconfig}`,
      `--proxy-ca-cert-file=${caFile}`,
      `--proxy-ca-key-file=${join(dir, 'ca.key')}`,
      '--server-names=localhost',
      ...(opts.extraArgs ?? []),
    ],
    logFile,
  });
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  try {
    await proc.waitUntil(
      async () => {
        try {
          const r = await request(`${healthUrl}/readyz`);
          await r.body.dump();
          return r.statusCode === 200;
        } catch {
          return false;
        }
      },
      { timeoutMs: 30_000, what: `${opts.name} /readyz` },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { process: proc, port, healthUrl, caCertPem: ca.certPem, caFile, logFile };
}
