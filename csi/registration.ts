// Registration with kubelet, done by the driver itself instead of the node-driver-registrar sidecar:
// kubelet's plugin watcher finds a unix socket in <kubelet root>/plugins_registry, calls GetInfo on
// it to learn the driver's name and the path of its CSI socket as kubelet sees it, then calls
// NodeGetInfo there and NotifyRegistrationStatus back here. Removing the socket deregisters the
// driver. Serving this in the driver means one image and one process per node, and a registration
// that lives exactly as long as the driver does.
//
// The service is kubelet's plugin registration API v1 (k8s.io/kubelet
// pkg/apis/pluginregistration/v1/api.proto, proto package `pluginregistration`; Apache-2.0), written
// here as a protobufjs JSON descriptor with the same names and field numbers, as csi/proto.ts does
// for CSI.

import { chmod, lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fromJSON } from '@grpc/proto-loader';
import { loadPackageDefinition, Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import type { Logger } from '../machinery/log.js';
import { loaderOptions } from './proto.js';
import { unary } from './server.js';

const descriptor: Parameters<typeof fromJSON>[0] = {
  nested: {
    pluginregistration: {
      nested: {
        Registration: {
          methods: {
            GetInfo: { requestType: 'InfoRequest', responseType: 'PluginInfo', comment: '' },
            NotifyRegistrationStatus: {
              requestType: 'RegistrationStatus',
              responseType: 'RegistrationStatusResponse',
              comment: '',
            },
          },
        },
        InfoRequest: { fields: {} },
        PluginInfo: {
          fields: {
            type: { type: 'string', id: 1 },
            name: { type: 'string', id: 2 },
            endpoint: { type: 'string', id: 3 },
            supported_versions: { rule: 'repeated', type: 'string', id: 4 },
          },
        },
        RegistrationStatus: {
          fields: {
            plugin_registered: { type: 'bool', id: 1 },
            error: { type: 'string', id: 2 },
          },
        },
        RegistrationStatusResponse: { fields: {} },
      },
    },
  },
};

const pkg = loadPackageDefinition(fromJSON(descriptor, loaderOptions));
const registration = pkg['pluginregistration'] as Record<string, { service: ServiceDefinition }>;
export const registrationService = registration['Registration']?.service as ServiceDefinition;

/** The client constructors, for tests that play kubelet's side. */
export const registrationPackage = registration as Record<string, unknown>;

export interface PluginInfo {
  type: string;
  name: string;
  endpoint: string;
  supported_versions: string[];
}

export interface RegistrationStatus {
  plugin_registered: boolean;
  error: string;
}

/** Where registration stands: kubelet has not asked yet, accepted the driver, or refused it. */
export type RegistrationState =
  { kind: 'pending' } | { kind: 'registered' } | { kind: 'refused'; error: string };

export interface Registration {
  /** The registration socket, e.g. /registration/connectors-csi-reg.sock. */
  socketPath: string;
  state: () => RegistrationState;
  /** Removes the socket (kubelet deregisters the driver) and stops serving. */
  shutdown(): Promise<void>;
}

export interface RegistrationOptions {
  /** kubelet's plugin registration directory as mounted in this container. */
  dir: string;
  driverName: string;
  /** The driver's CSI socket as kubelet sees it on the host. */
  kubeletEndpoint: string;
  log: Logger;
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Serves the registration socket until shutdown. */
export async function startRegistration(options: RegistrationOptions): Promise<Registration> {
  const { dir, driverName, kubeletEndpoint, log } = options;
  const socketPath = join(dir, `${driverName}-reg.sock`);
  let state: RegistrationState = { kind: 'pending' };
  const info: PluginInfo = {
    type: 'CSIPlugin',
    name: driverName,
    endpoint: kubeletEndpoint,
    // The registration API's version for CSI plugins (kubelet accepts 1.0.0 and the old 0.x names).
    supported_versions: ['1.0.0'],
  };
  const server = new Server();
  server.addService(registrationService, {
    GetInfo: unary('GetInfo', (): Promise<PluginInfo> => Promise.resolve(info), log),
    NotifyRegistrationStatus: unary(
      'NotifyRegistrationStatus',
      (status: RegistrationStatus): Promise<Record<string, never>> => {
        if (status.plugin_registered) {
          if (state.kind !== 'registered') log.info('registered with kubelet', { endpoint: kubeletEndpoint });
          state = { kind: 'registered' };
        } else {
          state = { kind: 'refused', error: status.error };
          log.error('kubelet refused the registration; /healthz now fails so the driver restarts', {
            error: status.error,
            endpoint: kubeletEndpoint,
          });
        }
        return Promise.resolve({});
      },
      log,
    ),
  });
  await removeStaleSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  // Only root (kubelet) needs to call it.
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    state: () => state,
    shutdown: async () => {
      // The socket goes first, so kubelet deregisters before the CSI socket stops answering.
      await removeStaleSocket(socketPath);
      await new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          resolve();
        });
      });
    },
  };
}
