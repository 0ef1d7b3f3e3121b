// A CSI client playing kubelet's side: calls the driver's Identity and Node services over its unix
// socket with the driver's own message definitions (csi/proto.ts), and the request kubelet sends
// for an inline ephemeral volume.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { csiPackage } from '../../csi/proto.js';
import { repoRoot } from '../../hack/binaries.js';
import { ManagedProcess } from '../../hack/process.js';

type Callback = (err: ServiceError | null, response: unknown) => void;
type UnaryMethod = (request: unknown, options: { deadline: number }, callback: Callback) => void;

export interface CsiClient {
  call<Res = Record<string, unknown>>(
    service: 'Identity' | 'Node',
    method: string,
    request: unknown,
  ): Promise<Res>;
  close(): void;
}

export function csiClient(endpoint: string): CsiClient {
  const clients = new Map<string, Client>();
  const client = (service: string): Client => {
    let c = clients.get(service);
    if (!c) {
      const Ctor = csiPackage[service] as ServiceClientConstructor;
      c = new Ctor(endpoint, credentials.createInsecure());
      clients.set(service, c);
    }
    return c;
  };
  return {
    call<Res>(service: 'Identity' | 'Node', method: string, request: unknown): Promise<Res> {
      const c = client(service) as unknown as Record<string, UnaryMethod>;
      const fn = c[method];
      if (!fn) throw new Error(`no method ${service}.${method}`);
      return new Promise<Res>((resolve, reject) => {
        fn.call(c, request, { deadline: Date.now() + 60_000 }, (err, response) => {
          if (err) reject(err);
          else resolve(response as Res);
        });
      });
    },
    close() {
      for (const c of clients.values()) c.close();
    },
  };
}

/** The error a call rejected with, as gRPC status code and message. */
export async function callError(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('the call succeeded; an error was expected');
}

export interface KubeletPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
}

/** The volume_id kubelet makes for an inline volume: csi-<sha256(podUID + volume name)>. */
export function kubeletVolumeId(podUid: string, volumeName: string): string {
  return `csi-${createHash('sha256')
    .update(podUid + volumeName)
    .digest('hex')}`;
}

/**
 * NodePublishVolumeRequest as kubelet sends it for an inline ephemeral volume with podInfoOnMount and
 * (when `tokens` is given) tokenRequests (pkg/volume/csi/csi_mounter.go): the user's
 * volumeAttributes, overwritten by kubelet's pod keys.
 */
export function kubeletPublishRequest(opts: {
  pod: KubeletPod;
  volumeId: string;
  targetPath: string;
  attributes: Record<string, string>;
  tokens?: Record<string, { token: string; expirationTimestamp: string }>;
  readonly?: boolean;
}): Record<string, unknown> {
  const { pod } = opts;
  return {
    volume_id: opts.volumeId,
    target_path: opts.targetPath,
    volume_capability: {
      mount: { fs_type: '', mount_flags: [] },
      access_mode: { mode: 'SINGLE_NODE_WRITER' },
    },
    readonly: opts.readonly ?? true,
    volume_context: {
      ...opts.attributes,
      'csi.storage.k8s.io/pod.name': pod.name,
      'csi.storage.k8s.io/pod.namespace': pod.namespace,
      'csi.storage.k8s.io/pod.uid': pod.uid,
      'csi.storage.k8s.io/serviceAccount.name': pod.serviceAccount,
      'csi.storage.k8s.io/ephemeral': 'true',
      ...(opts.tokens ? { 'csi.storage.k8s.io/serviceAccount.tokens': JSON.stringify(opts.tokens) } : {}),
    },
  };
}

export interface RunningDriver {
  proc: ManagedProcess;
  endpoint: string;
  /** The directory holding the socket. */
  dir: string;
  log: string;
  client: CsiClient;
  stop(): Promise<void>;
}

/**
 * Starts the driver from its real entry point (dist/csi/main.js) on a socket in a fresh directory
 * under /tmp (a unix socket path has at most 107 bytes) and waits until GetPluginInfo answers.
 */
export async function startCsiDriver(opts: {
  name: string;
  logDir: string;
  kubeconfig: string;
  args?: string[];
  /** Flags for node itself, before the entry point (e.g. a module trace). */
  nodeArgs?: string[];
}): Promise<RunningDriver> {
  const dir = mkdtempSync('/tmp/connectors-csi-');
  const endpoint = `unix://${join(dir, 'csi.sock')}`;
  const log = join(opts.logDir, `${opts.name}.log`);
  const proc = ManagedProcess.start({
    name: opts.name,
    binary: process.execPath,
    args: [
      ...(opts.nodeArgs ?? []),
      join(repoRoot(), 'dist', 'csi', 'main.js'),
      `--kubeconfig=${opts.kubeconfig}`,
      ...(opts.args ?? []),
    ],
    env: { ...process.env, CSI_ENDPOINT: endpoint, NODE_NAME: 'test-node' },
    logFile: log,
  });
  const client = csiClient(endpoint);
  await proc.waitUntil(
    async () => {
      try {
        await client.call('Identity', 'GetPluginInfo', {});
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, what: `${opts.name} GetPluginInfo` },
  );
  return {
    proc,
    endpoint,
    dir,
    log,
    client,
    stop: async () => {
      client.close();
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
