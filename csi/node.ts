// The Identity and Node services of the driver (the CSI specification's): a node-only driver for
// inline ephemeral volumes. NodePublishVolume validates the request, renders every file before it
// touches target_path (so a refusal leaves nothing there), then sets up the medium and writes the
// files atomically. With `requiresRepublish: true` kubelet calls it again about once a minute for
// every mounted volume: that republish rewrites the files (a fresh token) inside the existing
// mount and never remounts; if it fails, the error is logged and the pod keeps its previous files,
// because a final error on a republish made kubelet delete the volume directory before
// kubernetes/kubernetes#139045.

import type { Logger } from '../machinery/log.js';
import { podInfoKeys } from './attributes.js';
import { aborted, invalidArgument } from './errors.js';
import type { VolumeMedium } from './medium.js';
import type {
  Empty,
  GetPluginCapabilitiesResponse,
  GetPluginInfoResponse,
  NodeGetCapabilitiesResponse,
  NodeGetInfoResponse,
  NodePublishVolumeRequest,
  NodeUnpublishVolumeRequest,
  ProbeResponse,
} from './proto.js';
import { unary, type Handlers } from './server.js';
import { writeVolumeFiles } from './writer.js';

export const driverName = 'connectors-csi';

/** What a NodePublishVolume asks for, past the checks every request gets. */
export interface PublishRequest {
  volumeId: string;
  targetPath: string;
  volumeContext: Readonly<Record<string, string>>;
  /** Sensitive: never logged. */
  secrets: Readonly<Record<string, string>>;
  republish: boolean;
}

/** Produces a volume's files; throws a CsiError (the message names the problem) to refuse. */
export interface VolumeContent {
  render(request: PublishRequest): Promise<Map<string, string>>;
  /** Drops whatever was kept for a volume that is gone. */
  forget(volumeId: string): void;
}

export interface NodeDeps {
  nodeId: string;
  /** How long a NodePublishVolume or NodeUnpublishVolume may take before DEADLINE_EXCEEDED. */
  operationTimeoutMs: number;
  vendorVersion: string;
  medium: VolumeMedium;
  content: VolumeContent;
  log: Logger;
}

export class DriverServices {
  /** Volumes with an operation in progress: a second call for one of them is ABORTED (retried). */
  private readonly busy = new Set<string>();

  constructor(private readonly deps: NodeDeps) {}

  identityHandlers(): Handlers {
    const { log } = this.deps;
    return {
      GetPluginInfo: unary(
        'GetPluginInfo',
        (): Promise<GetPluginInfoResponse> =>
          Promise.resolve({ name: driverName, vendor_version: this.deps.vendorVersion, manifest: {} }),
        log,
      ),
      // No CONTROLLER_SERVICE: volumes are inline and ephemeral, nothing to create or attach.
      GetPluginCapabilities: unary(
        'GetPluginCapabilities',
        (): Promise<GetPluginCapabilitiesResponse> => Promise.resolve({ capabilities: [] }),
        log,
      ),
      // Ready once serving. Deliberately not tied to kube-apiserver: an API outage must not make
      // the liveness probe restart every node's driver.
      Probe: unary('Probe', (): Promise<ProbeResponse> => Promise.resolve({ ready: { value: true } }), log),
    };
  }

  nodeHandlers(): Handlers {
    const { log } = this.deps;
    return {
      // None: no staging, no stats, and no VOLUME_MOUNT_GROUP (files are world-readable, see writer.ts).
      NodeGetCapabilities: unary(
        'NodeGetCapabilities',
        (): Promise<NodeGetCapabilitiesResponse> => Promise.resolve({ capabilities: [] }),
        log,
      ),
      NodeGetInfo: unary(
        'NodeGetInfo',
        (): Promise<NodeGetInfoResponse> => Promise.resolve({ node_id: this.deps.nodeId }),
        log,
      ),
      NodePublishVolume: unary(
        'NodePublishVolume',
        (req: NodePublishVolumeRequest) => this.publish(req),
        log,
        {
          describe: (req) => ({
            volumeId: req.volume_id,
            targetPath: req.target_path,
            // kubelet's pod keys (podInfoOnMount) are safe to log; the rest of the context is not.
            pod: `${req.volume_context[podInfoKeys.namespace] ?? ''}/${req.volume_context[podInfoKeys.name] ?? ''}`,
          }),
          deadlineMs: this.deps.operationTimeoutMs,
        },
      ),
      NodeUnpublishVolume: unary(
        'NodeUnpublishVolume',
        (req: NodeUnpublishVolumeRequest) => this.unpublish(req),
        log,
        {
          describe: (req) => ({ volumeId: req.volume_id, targetPath: req.target_path }),
          deadlineMs: this.deps.operationTimeoutMs,
        },
      ),
    };
  }

  private async exclusive<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy.has(volumeId)) {
      throw aborted(`an operation on volume ${volumeId} is already in progress; try again`);
    }
    this.busy.add(volumeId);
    try {
      return await fn();
    } finally {
      this.busy.delete(volumeId);
    }
  }

  private async publish(req: NodePublishVolumeRequest): Promise<Empty> {
    if (!req.volume_id) throw invalidArgument('volume_id is required');
    if (!req.target_path) throw invalidArgument('target_path is required');
    if (!req.target_path.startsWith('/')) throw invalidArgument('target_path must be an absolute path');
    const capability = req.volume_capability;
    if (!capability) throw invalidArgument('volume_capability is required');
    if (capability.access_type !== 'mount') {
      throw invalidArgument(
        'connectors-csi serves files: only a mount volume is supported, not a block volume',
      );
    }
    if (!req.readonly) {
      throw invalidArgument('connectors-csi volumes must be read-only: set readOnly: true on the csi volume');
    }
    const { medium, content, log } = this.deps;
    const target = req.target_path;
    return this.exclusive(req.volume_id, async () => {
      const request: PublishRequest = {
        volumeId: req.volume_id,
        targetPath: target,
        volumeContext: req.volume_context,
        secrets: req.secrets,
        republish: await medium.isPublished(target),
      };
      if (request.republish) {
        try {
          await writeVolumeFiles(target, await content.render(request));
        } catch (err) {
          log.warn('republish failed; the volume keeps its previous files', {
            volumeId: req.volume_id,
            targetPath: target,
            error: err,
          });
        }
        return {};
      }
      const files = await content.render(request);
      await medium.setUp(target);
      try {
        await writeVolumeFiles(target, files);
      } catch (err) {
        await medium.tearDown(target);
        throw err;
      }
      return {};
    });
  }

  private async unpublish(req: NodeUnpublishVolumeRequest): Promise<Empty> {
    if (!req.volume_id) throw invalidArgument('volume_id is required');
    if (!req.target_path) throw invalidArgument('target_path is required');
    if (!req.target_path.startsWith('/')) throw invalidArgument('target_path must be an absolute path');
    return this.exclusive(req.volume_id, async () => {
      await this.deps.medium.tearDown(req.target_path);
      this.deps.content.forget(req.volume_id);
      return {};
    });
  }
}
