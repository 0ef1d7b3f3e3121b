// A CSI client playing kubelet's side: calls the driver's Identity and Node services over its unix
// socket with the driver's own message definitions (csi/proto.ts), and the request kubelet sends
// for an inline ephemeral volume.

import { createHash } from 'node:crypto';
import { credentials, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { csiPackage } from '../../csi/proto.js';

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
