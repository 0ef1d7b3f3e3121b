// The part of the CSI protocol a node-only, inline-ephemeral driver speaks: the Identity and Node
// services in proto package `csi.v1`, with the wire names, field numbers and enum values of the
// Container Storage Interface specification (container-storage-interface/spec, csi.proto, v1.12;
// Apache-2.0). No maintained npm package ships that proto, and copying the upstream file would carry
// every Controller and snapshot message along, so this is our own subset written as a protobufjs JSON
// descriptor. Protobuf skips fields a reader does not know, so a subset stays wire-compatible as long
// as every number declared here is the specification's (csi-sanity, built from the upstream Go
// bindings, checks exactly that: test/integration/csi-sanity.test.ts). Methods left out of a service
// are answered UNIMPLEMENTED by grpc-js.

import { fromJSON, type Options } from '@grpc/proto-loader';
import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js';

type Descriptor = Parameters<typeof fromJSON>[0];

const empty = { fields: {} };
/** An rpc named `X` takes `XRequest` and answers `XResponse`, as every CSI rpc does. */
const rpc = (name: string) => ({
  requestType: `${name}Request`,
  responseType: `${name}Response`,
  comment: '',
});
/** A map<string, string> field (a function result, as protobufjs types list no map fields). */
const stringMap = (id: number) => {
  const field = { keyType: 'string', type: 'string', id };
  return field;
};

const descriptor: Descriptor = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            // google/protobuf/wrappers.proto, for ProbeResponse.ready.
            BoolValue: { fields: { value: { type: 'bool', id: 1 } } },
          },
        },
      },
    },
    csi: {
      nested: {
        v1: {
          nested: {
            Identity: {
              methods: {
                GetPluginInfo: rpc('GetPluginInfo'),
                GetPluginCapabilities: rpc('GetPluginCapabilities'),
                Probe: rpc('Probe'),
              },
            },
            Node: {
              methods: {
                NodePublishVolume: rpc('NodePublishVolume'),
                NodeUnpublishVolume: rpc('NodeUnpublishVolume'),
                NodeGetCapabilities: rpc('NodeGetCapabilities'),
                NodeGetInfo: rpc('NodeGetInfo'),
              },
            },
            GetPluginInfoRequest: empty,
            GetPluginInfoResponse: {
              fields: {
                name: { type: 'string', id: 1 },
                vendor_version: { type: 'string', id: 2 },
                manifest: stringMap(3),
              },
            },
            GetPluginCapabilitiesRequest: empty,
            GetPluginCapabilitiesResponse: {
              fields: { capabilities: { rule: 'repeated', type: 'PluginCapability', id: 1 } },
            },
            PluginCapability: {
              oneofs: { type: { oneof: ['service', 'volume_expansion'] } },
              fields: {
                service: { type: 'Service', id: 1 },
                volume_expansion: { type: 'VolumeExpansion', id: 2 },
              },
              nested: {
                Service: {
                  fields: { type: { type: 'Type', id: 1 } },
                  nested: {
                    Type: {
                      values: {
                        UNKNOWN: 0,
                        CONTROLLER_SERVICE: 1,
                        VOLUME_ACCESSIBILITY_CONSTRAINTS: 2,
                        GROUP_CONTROLLER_SERVICE: 3,
                        SNAPSHOT_METADATA_SERVICE: 4,
                      },
                    },
                  },
                },
                VolumeExpansion: {
                  fields: { type: { type: 'Type', id: 1 } },
                  nested: { Type: { values: { UNKNOWN: 0, ONLINE: 1, OFFLINE: 2 } } },
                },
              },
            },
            ProbeRequest: empty,
            ProbeResponse: { fields: { ready: { type: 'google.protobuf.BoolValue', id: 1 } } },
            NodeGetCapabilitiesRequest: empty,
            NodeGetCapabilitiesResponse: {
              fields: { capabilities: { rule: 'repeated', type: 'NodeServiceCapability', id: 1 } },
            },
            NodeServiceCapability: {
              oneofs: { type: { oneof: ['rpc'] } },
              fields: { rpc: { type: 'RPC', id: 1 } },
              nested: {
                RPC: {
                  fields: { type: { type: 'Type', id: 1 } },
                  nested: {
                    Type: {
                      values: {
                        UNKNOWN: 0,
                        STAGE_UNSTAGE_VOLUME: 1,
                        GET_VOLUME_STATS: 2,
                        EXPAND_VOLUME: 3,
                        VOLUME_CONDITION: 4,
                        SINGLE_NODE_MULTI_WRITER: 5,
                        VOLUME_MOUNT_GROUP: 6,
                      },
                    },
                  },
                },
              },
            },
            NodeGetInfoRequest: empty,
            NodeGetInfoResponse: {
              fields: {
                node_id: { type: 'string', id: 1 },
                max_volumes_per_node: { type: 'int64', id: 2 },
                accessible_topology: { type: 'Topology', id: 3 },
              },
            },
            Topology: { fields: { segments: stringMap(1) } },
            NodePublishVolumeRequest: {
              fields: {
                volume_id: { type: 'string', id: 1 },
                publish_context: stringMap(2),
                staging_target_path: { type: 'string', id: 3 },
                target_path: { type: 'string', id: 4 },
                volume_capability: { type: 'VolumeCapability', id: 5 },
                readonly: { type: 'bool', id: 6 },
                secrets: stringMap(7),
                volume_context: stringMap(8),
              },
            },
            NodePublishVolumeResponse: empty,
            NodeUnpublishVolumeRequest: {
              fields: {
                volume_id: { type: 'string', id: 1 },
                target_path: { type: 'string', id: 2 },
              },
            },
            NodeUnpublishVolumeResponse: empty,
            VolumeCapability: {
              oneofs: { access_type: { oneof: ['block', 'mount'] } },
              fields: {
                block: { type: 'BlockVolume', id: 1 },
                mount: { type: 'MountVolume', id: 2 },
                access_mode: { type: 'AccessMode', id: 3 },
              },
              nested: {
                BlockVolume: empty,
                MountVolume: {
                  fields: {
                    fs_type: { type: 'string', id: 1 },
                    mount_flags: { rule: 'repeated', type: 'string', id: 2 },
                    volume_mount_group: { type: 'string', id: 3 },
                  },
                },
                AccessMode: {
                  fields: { mode: { type: 'Mode', id: 1 } },
                  nested: {
                    Mode: {
                      values: {
                        UNKNOWN: 0,
                        SINGLE_NODE_WRITER: 1,
                        SINGLE_NODE_READER_ONLY: 2,
                        MULTI_NODE_READER_ONLY: 3,
                        MULTI_NODE_SINGLE_WRITER: 4,
                        MULTI_NODE_MULTI_WRITER: 5,
                        SINGLE_NODE_SINGLE_WRITER: 6,
                        SINGLE_NODE_MULTI_WRITER: 7,
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/**
 * How messages look in JavaScript: field names as on the wire (snake_case), enums as their names,
 * int64 as strings, absent scalars and maps as their defaults, an absent message as null, and the
 * name of the set member of a oneof (e.g. `access_type: 'mount'`).
 */
export const loaderOptions: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const pkg = loadPackageDefinition(fromJSON(descriptor, loaderOptions));
const v1 = (pkg['csi'] as Record<string, Record<string, { service: ServiceDefinition }>>)['v1'];

export const identityService = v1?.['Identity']?.service as ServiceDefinition;
export const nodeService = v1?.['Node']?.service as ServiceDefinition;

/** The client constructors, for tests that play kubelet's side. */
export const csiPackage = v1 as Record<string, unknown>;

// --- messages, as the loader options above present them -----------------------------------------

export type Empty = Record<string, never>;

export interface GetPluginInfoResponse {
  name: string;
  vendor_version: string;
  manifest: Record<string, string>;
}

export interface GetPluginCapabilitiesResponse {
  capabilities: { service: { type: string } }[];
}

export interface ProbeResponse {
  ready: { value: boolean };
}

export interface NodeGetCapabilitiesResponse {
  capabilities: { rpc: { type: string } }[];
}

export interface NodeGetInfoResponse {
  node_id: string;
}

export interface VolumeCapability {
  access_type?: 'block' | 'mount';
  block?: Empty | null;
  mount?: { fs_type: string; mount_flags: string[]; volume_mount_group: string } | null;
  access_mode?: { mode: string } | null;
}

export interface NodePublishVolumeRequest {
  volume_id: string;
  publish_context: Record<string, string>;
  staging_target_path: string;
  target_path: string;
  volume_capability: VolumeCapability | null;
  readonly: boolean;
  secrets: Record<string, string>;
  volume_context: Record<string, string>;
}

export interface NodeUnpublishVolumeRequest {
  volume_id: string;
  target_path: string;
}
