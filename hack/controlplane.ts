// A throwaway etcd + kube-apiserver with the aggregation layer switched on, for integration tests
// and the dev loop. envtest starts the same two binaries but has no front-proxy support, so this
// harness adds the aggregation PKI and flags (Kubernetes' "Configure the Aggregation Layer"). There is no
// kube-controller-manager: nothing creates default ServiceAccounts, runs garbage collection or
// finishes namespace deletion.
import { appendFileSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { resolveBinaries, type Binaries } from './binaries.js';
import {
  createCA,
  generateKeyPairPem,
  issueCert,
  type CertificateAuthority,
  type CertKeyPem,
} from './pki.js';
import { freeLowPort, freePort, ManagedProcess, registerExitCleanup } from './process.js';

export interface ControlPlaneOptions {
  /** Parent directory for the control plane's fresh temp dir (default: the OS temp dir). */
  dir?: string;
  /**
   * Where etcd.log and kube-apiserver.log go. Given: kept after stop() (CI artifacts). Default: in
   * the temp dir, removed with it.
   */
  logDir?: string;
  /**
   * Extra or replacement kube-apiserver flags, without the leading '--'; null drops a default.
   * E.g. `{ 'aggregator-reject-forwarding-redirect': 'false' }`.
   */
  apiServerFlags?: Record<string, string | null>;
  /** Skips hack/build-k8s.sh, e.g. when a suite already resolved them. */
  binaries?: Binaries;
  /**
   * The address kube-apiserver listens on and advertises (the `kubernetes` Service's endpoint);
   * `server` and the serving certificate name it. Default 127.0.0.1, which pods cannot reach: a
   * cluster with pods passes its bridge's address.
   */
  bindAddress?: string;
  /** --service-cluster-ip-range; its first address is in the serving certificate. Default 10.0.0.0/24. */
  serviceCIDR?: string;
  /**
   * The CA behind --client-ca-file, when the caller must issue client certificates that the
   * kube-apiserver flags name (e.g. --kubelet-client-certificate) before it starts. Default: a new one.
   */
  clientCA?: CertificateAuthority;
  /**
   * Take etcd's and kube-apiserver's ports below the ephemeral range (freeLowPort), where no
   * outgoing connection of another process can take them: for a cluster that runs a while.
   */
  lowPorts?: boolean;
}

export type ClientCredentials = CertKeyPem | { token: string };

export interface KubectlResult {
  /** Exit code; -1 if kubectl was killed (timeout), which stderr then says. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  input?: string;
  /** Default: the admin kubeconfig. */
  kubeconfig?: string;
  /** Default 60 s. */
  timeoutMs?: number;
}

export interface TokenOptions {
  /** Default: the API server's audience (--api-audiences). */
  audiences?: string[];
  /** Default 3600; the API enforces at least 600. */
  expirationSeconds?: number;
  /** Binds the token to this Pod (which must exist and run as the ServiceAccount), as kubelet's are. */
  boundPod?: { name: string; uid: string };
}

export interface IssuedToken {
  /** `<namespace>/<serviceAccount>` */
  serviceAccount: string;
  token: string;
}

export interface StartupTimings {
  binariesMs: number;
  pkiMs: number;
  etcdMs: number;
  kubeApiserverMs: number;
  /** From /readyz to the requestheader configmap and bootstrap RBAC being present. */
  bootstrapMs: number;
  totalMs: number;
}

export interface ControlPlane {
  /** The temp dir holding PKI, etcd data and kubeconfigs; removed by stop(). */
  readonly dir: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Admin kubeconfig (CN=admin, O=system:masters), certificates embedded. */
  readonly kubeconfigPath: string;
  /** CA of kube-apiserver's serving certificate. */
  readonly caCertPem: string;
  /** The admin client certificate behind kubeconfigPath, for direct HTTPS calls. */
  readonly admin: CertKeyPem;
  /** --requestheader-client-ca-file and the cert kube-apiserver presents as aggregator. */
  readonly frontProxy: {
    ca: CertificateAuthority;
    caCertPem: string;
    clientCertPem: string;
    clientKeyPem: string;
  };
  /** --client-ca-file: issue any user with this. */
  readonly clientCA: CertificateAuthority;
  /** Trusted by nothing; for "cert from the wrong CA" tests. */
  readonly otherCA: CertificateAuthority;
  /** CA behind issueServingCert; goes into APIService.spec.caBundle. */
  readonly servingCaPem: string;
  readonly etcdUrl: string;
  /** --service-account-signing-key-file, for kube-controller-manager to sign the same tokens. */
  readonly serviceAccountKeyFile: string;
  readonly timings: StartupTimings;
  /** The running processes, for fault tests (e.g. stopping etcd). */
  readonly etcd: ManagedProcess;
  readonly kubeApiserver: ManagedProcess;

  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  issueClientCert(commonName: string, groups?: string[]): Promise<CertKeyPem>;
  issueServingCert(dnsNames: string[], ipAddresses: string[]): Promise<CertKeyPem>;
  /** Writes a kubeconfig for another identity (certificates or token embedded); returns `path`. */
  writeKubeconfig(path: string, credentials: ClientCredentials): Promise<string>;
  /** A ServiceAccount token from the TokenRequest API; creates the ServiceAccount (and namespace). */
  createToken(namespace: string, serviceAccount: string, opts?: TokenOptions): Promise<string>;
  /** Every token createToken returned, so a test can check that none of them leaks anywhere. */
  readonly issuedTokens: readonly IssuedToken[];
  /**
   * Restarts kube-apiserver only, same flags and port, and waits until it is ready again.
   * `whileDown` runs once it has exited and before it starts again (e.g. to write to etcd, as
   * another kube-apiserver replica would, or to see that calls fail meanwhile).
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** Stops kube-apiserver, then etcd, and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
const DEFAULT_SERVICE_CIDR = '10.0.0.0/24';
const READY_TIMEOUT_MS = 90_000;
const BOOTSTRAP_TIMEOUT_MS = 30_000;
const ETCD_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
// A healthy kube-apiserver exits about 1 s after SIGTERM. With etcd gone (fault tests) it never
// does, as its shutdown keeps retrying storage, so the grace before SIGKILL is kept short.
const APISERVER_STOP_GRACE_MS = 5_000;
const CONTEXT = 'connectors-test';

/** Starts etcd and kube-apiserver and waits until aggregation is usable. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const t0 = performance.now();
  const binaries = opts.binaries ?? (await resolveBinaries());
  const tBinaries = performance.now();

  const parent = resolve(opts.dir ?? tmpdir());
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'connectors-cp-'));
  // If this process dies before stop(), the registry removes the dir after killing the children.
  const unregisterCleanup = registerExitCleanup(() => {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  const started: ManagedProcess[] = [];
  let client: ApiClient | undefined;
  try {
    const logDir = resolve(opts.logDir ?? join(dir, 'logs'));
    await mkdir(logDir, { recursive: true });
    const bindAddress = opts.bindAddress ?? '127.0.0.1';
    const serviceCIDR = opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR;
    const pki = await createPki(dir, {
      ipAddresses: [...new Set(['127.0.0.1', bindAddress, firstServiceIP(serviceCIDR)])],
      clientCA: opts.clientCA,
    });
    const tPki = performance.now();

    const pickPort = opts.lowPorts ? freeLowPort : freePort;
    const etcdPort = await pickPort();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcdArgs = [
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      '--listen-peer-urls=http://localhost:0',
      // Durability is pointless for a throwaway store, and fsync dominates etcd's write latency.
      '--unsafe-no-fsync=true',
    ];
    const etcd = ManagedProcess.start({
      name: 'etcd',
      binary: binaries.etcd,
      args: etcdArgs,
      logFile: join(logDir, 'etcd.log'),
    });
    started.push(etcd);
    await etcd.waitUntil(() => etcdHealthy(etcdUrl), {
      timeoutMs: ETCD_TIMEOUT_MS,
      what: `etcd ${etcdUrl}/health`,
    });
    const tEtcd = performance.now();

    const port = await pickPort();
    const server = `https://${bindAddress}:${port}`;
    const apiServerArgs = renderFlags({
      ...baseApiServerFlags(dir, pki.files, port, etcdUrl, serviceCIDR),
      // Stated only when it differs, so that the default flag set stays what it always was.
      ...(bindAddress === '127.0.0.1'
        ? {}
        : { 'bind-address': bindAddress, 'advertise-address': bindAddress }),
      ...opts.apiServerFlags,
    });
    const apiServerLog = join(logDir, 'kube-apiserver.log');
    const startApiServer = (): ManagedProcess =>
      ManagedProcess.start({
        name: 'kube-apiserver',
        binary: binaries.kubeApiserver,
        args: apiServerArgs,
        logFile: apiServerLog,
      });
    const apiServer = startApiServer();
    started.push(apiServer);
    client = new ApiClient(server, pki.serverCA.certPem, pki.admin);
    await waitForReady(apiServer, client);
    const tReady = performance.now();
    await waitForAggregationBootstrap(apiServer, client);
    const tBootstrap = performance.now();

    const plane = new LocalControlPlane({
      dir,
      server,
      etcdUrl,
      binaries,
      pki,
      etcd,
      apiServer,
      startApiServer,
      apiServerLog,
      client,
      unregisterCleanup,
      timings: {
        binariesMs: tBinaries - t0,
        pkiMs: tPki - tBinaries,
        etcdMs: tEtcd - tPki,
        kubeApiserverMs: tReady - tEtcd,
        bootstrapMs: tBootstrap - tReady,
        totalMs: tBootstrap - t0,
      },
    });
    await plane.writeKubeconfig(plane.kubeconfigPath, pki.admin);
    return plane;
  } catch (error) {
    // Reverse order: kube-apiserver before the etcd it depends on. A half-started plane holds
    // nothing worth a long graceful shutdown, hence the short grace for both.
    for (const p of started.reverse()) await p.stop(APISERVER_STOP_GRACE_MS);
    await client?.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    unregisterCleanup();
    if (error instanceof Error && opts.logDir === undefined) {
      error.message += `\n(${dir} and the logs in it were removed; pass logDir to keep the logs.)`;
    }
    throw error;
  }
}

// --- PKI -----------------------------------------------------------------------------------------

interface PkiFiles {
  serverCert: string;
  serverKey: string;
  clientCA: string;
  frontProxyCA: string;
  frontProxyClientCert: string;
  frontProxyClientKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  admissionConfig: string;
  webhookKubeconfig: string;
}

interface Pki {
  serverCA: CertificateAuthority;
  clientCA: CertificateAuthority;
  frontProxyCA: CertificateAuthority;
  frontProxyClient: CertKeyPem;
  servingCA: CertificateAuthority;
  otherCA: CertificateAuthority;
  admin: CertKeyPem;
  files: PkiFiles;
}

async function createPki(
  dir: string,
  opts: { ipAddresses: string[]; clientCA: CertificateAuthority | undefined },
): Promise<Pki> {
  // Separate CAs on purpose: if the client CA also signed front-proxy certs, any user's client
  // cert would be accepted as the aggregator and could assert any identity in X-Remote-User.
  const [serverCA, clientCA, frontProxyCA, servingCA, otherCA, saKeys] = await Promise.all([
    createCA('kube-apiserver-serving-ca'),
    opts.clientCA ?? createCA('client-ca'),
    createCA('front-proxy-ca'),
    createCA('extension-serving-ca'),
    createCA('untrusted-ca'),
    generateKeyPairPem(),
  ]);
  const [serverCert, frontProxyClient, admin] = await Promise.all([
    issueCert(serverCA, {
      commonName: 'kube-apiserver',
      // 127.0.0.1/localhost (or the bind address) are what we dial; the in-cluster names and the
      // first service IP are what a client configured for "in cluster" would check.
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      ipAddresses: opts.ipAddresses,
      server: true,
    }),
    // clientAuth is required: extension servers reject a proxy client cert without it ("x509:
    // certificate specifies an incompatible key usage", metrics-server#1279).
    issueCert(frontProxyCA, { commonName: 'front-proxy-client', client: true }),
    issueCert(clientCA, { commonName: 'admin', organizations: ['system:masters'], client: true }),
  ]);

  const pkiDir = join(dir, 'pki');
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  const files: PkiFiles = {
    serverCert: join(pkiDir, 'apiserver.crt'),
    serverKey: join(pkiDir, 'apiserver.key'),
    clientCA: join(pkiDir, 'client-ca.crt'),
    frontProxyCA: join(pkiDir, 'front-proxy-ca.crt'),
    frontProxyClientCert: join(pkiDir, 'front-proxy-client.crt'),
    frontProxyClientKey: join(pkiDir, 'front-proxy-client.key'),
    saPublicKey: join(pkiDir, 'sa.pub'),
    saPrivateKey: join(pkiDir, 'sa.key'),
    admissionConfig: join(pkiDir, 'admission-config.json'),
    webhookKubeconfig: join(pkiDir, 'webhook.kubeconfig'),
  };
  await Promise.all([
    writeFile(files.serverCert, serverCert.certPem),
    writeSecret(files.serverKey, serverCert.keyPem),
    writeFile(files.clientCA, clientCA.certPem),
    writeFile(files.frontProxyCA, frontProxyCA.certPem),
    writeFile(files.frontProxyClientCert, frontProxyClient.certPem),
    writeSecret(files.frontProxyClientKey, frontProxyClient.keyPem),
    writeFile(files.saPublicKey, saKeys.publicKeyPem),
    writeSecret(files.saPrivateKey, saKeys.privateKeyPem),
    writeFile(files.admissionConfig, JSON.stringify(admissionConfiguration(files.webhookKubeconfig))),
    writeFile(files.webhookKubeconfig, JSON.stringify(webhookKubeconfig(files))),
  ]);
  return { serverCA, clientCA, frontProxyCA, frontProxyClient, servingCA, otherCA, admin, files };
}

/**
 * kube-apiserver presents a client certificate to admission webhooks only when an
 * AdmissionConfiguration names a kubeconfig for them; the Connectors webhooks read a full-size
 * AdmissionReview only from such a certificate. As a kubeadm cluster's admin could, this reuses the
 * front-proxy client certificate kube-apiserver already presents to aggregated servers.
 */
function admissionConfiguration(kubeconfig: string): object {
  const plugin = (name: string) => ({
    name,
    configuration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      kubeConfigFile: kubeconfig,
    },
  });
  return {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'AdmissionConfiguration',
    plugins: [plugin('ValidatingAdmissionWebhook'), plugin('MutatingAdmissionWebhook')],
  };
}

/** The webhook kubeconfig: `users[].name` is matched against the webhook's host; '*' is every webhook. */
function webhookKubeconfig(files: PkiFiles): object {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    users: [
      {
        name: '*',
        user: { 'client-certificate': files.frontProxyClientCert, 'client-key': files.frontProxyClientKey },
      },
    ],
  };
}

async function writeSecret(path: string, content: string): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
}

// --- kube-apiserver flags --------------------------------------------------------------------------

function baseApiServerFlags(
  dir: string,
  files: PkiFiles,
  port: number,
  etcdUrl: string,
  serviceCIDR: string,
): Record<string, string> {
  return {
    // envtest's base set (controller-runtime pkg/internal/testing/controlplane/apiserver.go),
    // minus --disable-admission-plugins=ServiceAccount: we want the default admission chain.
    'service-cluster-ip-range': serviceCIDR,
    'allow-privileged': 'true',
    'authorization-mode': 'RBAC',
    'secure-port': String(port),
    'bind-address': '127.0.0.1',
    'cert-dir': join(dir, 'apiserver-certs'),
    'tls-cert-file': files.serverCert,
    'tls-private-key-file': files.serverKey,
    'client-ca-file': files.clientCA,
    'service-account-issuer': SERVICE_ACCOUNT_ISSUER,
    'service-account-key-file': files.saPublicKey,
    'service-account-signing-key-file': files.saPrivateKey,
    'api-audiences': SERVICE_ACCOUNT_ISSUER,
    'etcd-servers': etcdUrl,
    // Aggregation. kube-apiserver publishes the requestheader settings in
    // kube-system/extension-apiserver-authentication, where extension servers read them.
    'requestheader-client-ca-file': files.frontProxyCA,
    'requestheader-allowed-names': 'front-proxy-client',
    'requestheader-username-headers': 'X-Remote-User',
    'requestheader-group-headers': 'X-Remote-Group',
    'requestheader-extra-headers-prefix': 'X-Remote-Extra-',
    'requestheader-uid-headers': 'X-Remote-Uid',
    'proxy-client-cert-file': files.frontProxyClientCert,
    'proxy-client-key-file': files.frontProxyClientKey,
    'admission-control-config-file': files.admissionConfig,
    // The default, stated because the ExternalName Service trick (hack/localsystem.ts) depends on it: with
    // routing enabled the aggregator would look for endpoints, and loopback endpoints are invalid.
    'enable-aggregator-routing': 'false',
  };
}

/** The first host address of an IPv4 CIDR: kube-apiserver gives it to the `kubernetes` Service. */
export function firstServiceIP(cidr: string): string {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (!match) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  const network = prefix === 0 ? 0 : base - (base % 2 ** (32 - prefix));
  const first = network + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join('.');
}

function renderFlags(flags: Record<string, string | null>): string[] {
  return Object.entries(flags).flatMap(([name, value]) => (value === null ? [] : [`--${name}=${value}`]));
}

// --- waiting -----------------------------------------------------------------------------------------

async function etcdHealthy(etcdUrl: string): Promise<boolean> {
  const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
  const body: unknown = await res.json();
  return res.ok && isRecord(body) && body['health'] === 'true';
}

async function waitForReady(apiServer: ManagedProcess, client: ApiClient): Promise<void> {
  await apiServer.waitUntil(async () => (await client.call('GET', '/readyz')).status === 200, {
    timeoutMs: READY_TIMEOUT_MS,
    what: `kube-apiserver ${client.server}/readyz`,
    intervalMs: 200,
  });
}

/**
 * /readyz can pass before kube-apiserver has published the requestheader configmap, and tests that
 * start an extension server right away would read an incomplete one.
 */
async function waitForAggregationBootstrap(apiServer: ManagedProcess, client: ApiClient): Promise<void> {
  await apiServer.waitUntil(
    async () => {
      const res = await client.call(
        'GET',
        '/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication',
      );
      const data = isRecord(res.body) ? res.body['data'] : undefined;
      return res.status === 200 && isRecord(data) && typeof data['requestheader-client-ca-file'] === 'string';
    },
    { timeoutMs: BOOTSTRAP_TIMEOUT_MS, what: 'configmap kube-system/extension-apiserver-authentication' },
  );
  await apiServer.waitUntil(
    async () =>
      (await client.call('GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:auth-delegator'))
        .status === 200,
    { timeoutMs: BOOTSTRAP_TIMEOUT_MS, what: 'bootstrap ClusterRole system:auth-delegator' },
  );
}

// --- HTTP to kube-apiserver as admin -----------------------------------------------------------------

interface ApiResponse {
  status: number;
  body: unknown;
  text: string;
}

class ApiClient {
  private agent: Agent;

  constructor(
    readonly server: string,
    private readonly caPem: string,
    private readonly credentials: CertKeyPem,
  ) {
    this.agent = this.newAgent();
  }

  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiResponse> {
    const res = await request(`${this.server}${path}`, {
      method,
      dispatcher: this.agent,
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined; // /readyz answers plain text
    }
    return { status: res.statusCode, body: parsed, text };
  }

  /** After a restart the pooled connections point at a dead process; start afresh. */
  async reset(): Promise<void> {
    const old = this.agent;
    this.agent = this.newAgent();
    await old.destroy();
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }

  private newAgent(): Agent {
    return new Agent({
      connect: { ca: this.caPem, cert: this.credentials.certPem, key: this.credentials.keyPem },
    });
  }
}

// --- the control plane object ------------------------------------------------------------------------

interface PlaneState {
  dir: string;
  server: string;
  etcdUrl: string;
  binaries: Binaries;
  pki: Pki;
  etcd: ManagedProcess;
  apiServer: ManagedProcess;
  startApiServer: () => ManagedProcess;
  apiServerLog: string;
  client: ApiClient;
  unregisterCleanup: () => void;
  timings: StartupTimings;
}

class LocalControlPlane implements ControlPlane {
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly caCertPem: string;
  readonly admin: CertKeyPem;
  readonly frontProxy: ControlPlane['frontProxy'];
  readonly clientCA: CertificateAuthority;
  readonly otherCA: CertificateAuthority;
  readonly servingCaPem: string;
  readonly etcdUrl: string;
  readonly serviceAccountKeyFile: string;
  readonly timings: StartupTimings;
  readonly issuedTokens: IssuedToken[] = [];

  private apiServer: ManagedProcess;
  private stopping: Promise<void> | undefined;

  constructor(private readonly state: PlaneState) {
    const { pki } = state;
    this.dir = state.dir;
    this.server = state.server;
    this.kubeconfigPath = join(state.dir, 'admin.kubeconfig');
    this.caCertPem = pki.serverCA.certPem;
    this.admin = pki.admin;
    this.frontProxy = {
      ca: pki.frontProxyCA,
      caCertPem: pki.frontProxyCA.certPem,
      clientCertPem: pki.frontProxyClient.certPem,
      clientKeyPem: pki.frontProxyClient.keyPem,
    };
    this.clientCA = pki.clientCA;
    this.otherCA = pki.otherCA;
    this.servingCaPem = pki.servingCA.certPem;
    this.etcdUrl = state.etcdUrl;
    this.serviceAccountKeyFile = pki.files.saPrivateKey;
    this.timings = state.timings;
    this.apiServer = state.apiServer;
  }

  get etcd(): ManagedProcess {
    return this.state.etcd;
  }

  get kubeApiserver(): ManagedProcess {
    return this.apiServer;
  }

  async kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
    const result = await ManagedProcess.run(
      this.state.binaries.kubectl,
      [
        `--kubeconfig=${opts.kubeconfig ?? this.kubeconfigPath}`,
        // Keeps discovery caches out of ~/.kube and away from other runs' (same-port) servers.
        `--cache-dir=${join(this.dir, 'kubectl-cache')}`,
        ...args,
      ],
      { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000, name: 'kubectl' },
    );
    return { code: result.code ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  issueClientCert(commonName: string, groups: string[] = []): Promise<CertKeyPem> {
    return issueCert(this.clientCA, { commonName, organizations: groups, client: true });
  }

  issueServingCert(dnsNames: string[], ipAddresses: string[]): Promise<CertKeyPem> {
    return issueCert(this.state.pki.servingCA, {
      commonName: dnsNames[0] ?? ipAddresses[0] ?? 'extension-apiserver',
      dnsNames,
      ipAddresses,
      server: true,
    });
  }

  async writeKubeconfig(path: string, credentials: ClientCredentials): Promise<string> {
    const b64 = (pem: string): string => Buffer.from(pem).toString('base64');
    const user =
      'token' in credentials
        ? [`    token: ${JSON.stringify(credentials.token)}`]
        : [
            `    client-certificate-data: ${b64(credentials.certPem)}`,
            `    client-key-data: ${b64(credentials.keyPem)}`,
          ];
    // JSON strings are valid YAML scalars, which keeps this free of a YAML dependency.
    const yaml = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: ${CONTEXT}`,
      '  cluster:',
      `    server: ${JSON.stringify(this.server)}`,
      `    certificate-authority-data: ${b64(this.caCertPem)}`,
      'users:',
      `- name: ${CONTEXT}`,
      '  user:',
      ...user,
      'contexts:',
      `- name: ${CONTEXT}`,
      '  context:',
      `    cluster: ${CONTEXT}`,
      `    user: ${CONTEXT}`,
      `current-context: ${CONTEXT}`,
      '',
    ].join('\n');
    await writeFile(path, yaml, { mode: 0o600 });
    // writeFile's mode applies only when it creates the file.
    await chmod(path, 0o600);
    return path;
  }

  async createToken(namespace: string, serviceAccount: string, opts: TokenOptions = {}): Promise<string> {
    const client = this.state.client;
    const ns = encodeURIComponent(namespace);
    const sa = encodeURIComponent(serviceAccount);
    const saBody = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount } };
    let created = await client.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, saBody);
    if (created.status === 404) {
      const nsBody = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
      expectStatus(
        await client.call('POST', '/api/v1/namespaces', nsBody),
        [201, 409],
        `create namespace ${namespace}`,
      );
      created = await client.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, saBody);
    }
    expectStatus(created, [201, 409], `create ServiceAccount ${namespace}/${serviceAccount}`);

    const spec: Record<string, unknown> = { expirationSeconds: opts.expirationSeconds ?? 3600 };
    if (opts.audiences) spec['audiences'] = opts.audiences;
    if (opts.boundPod) spec['boundObjectRef'] = { apiVersion: 'v1', kind: 'Pod', ...opts.boundPod };
    const res = await client.call('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec,
    });
    expectStatus(res, [201], `TokenRequest for ${namespace}/${serviceAccount}`);
    const status = isRecord(res.body) ? res.body['status'] : undefined;
    const token = isRecord(status) ? status['token'] : undefined;
    if (typeof token !== 'string') throw new Error(`TokenRequest answered without status.token: ${res.text}`);
    this.issuedTokens.push({ serviceAccount: `${namespace}/${serviceAccount}`, token });
    return token;
  }

  async restart(whileDown?: () => Promise<void>): Promise<void> {
    if (this.stopping) throw new Error('restart() after stop()');
    await this.apiServer.stop(APISERVER_STOP_GRACE_MS);
    try {
      await whileDown?.();
    } finally {
      // Started again even when `whileDown` failed: later tests share this control plane.
      appendFileSync(this.state.apiServerLog, `\n===== restart at ${new Date().toISOString()} =====\n`);
      this.apiServer = this.state.startApiServer();
      await this.state.client.reset();
      await waitForReady(this.apiServer, this.state.client);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.apiServer.stop(APISERVER_STOP_GRACE_MS);
      await this.state.etcd.stop();
      await this.state.client.close();
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      this.state.unregisterCleanup();
    })();
    return this.stopping;
  }
}

function expectStatus(res: ApiResponse, ok: number[], what: string): void {
  if (!ok.includes(res.status)) throw new Error(`${what} failed: HTTP ${res.status}: ${res.text}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
