// The volume attributes of a connectors-csi volume, as the published Connectors CSI driver names
// them, and the pod fields kubelet adds (podInfoOnMount). Everything a pod author writes in
// `volumeAttributes` is untrusted input: it is parsed here into a typed request or refused with
// INVALID_ARGUMENT naming the attribute, before anything is read from the cluster. Kubelet copies
// its csi.storage.k8s.io/* keys over the user's, so those cannot be spoofed while podInfoOnMount is
// on (the CSIDriver sets it).

import { isConnectorRef, type ConnectorRef } from '../registry/types.js';
import { invalidArgument } from './errors.js';

export const podInfoKeys = {
  name: 'csi.storage.k8s.io/pod.name',
  namespace: 'csi.storage.k8s.io/pod.namespace',
  uid: 'csi.storage.k8s.io/pod.uid',
  serviceAccount: 'csi.storage.k8s.io/serviceAccount.name',
  ephemeral: 'csi.storage.k8s.io/ephemeral',
} as const;

/**
 * The volume attributes a pod author sets, as the published driver names them; any other key is
 * ignored. (ResourceInterfaces fill them in WorkspaceBindings: test/unit/manifests checks the shipped
 * ones use these.)
 */
export const volumeAttributeKeys = {
  connectors: 'connectors',
  connectorName: 'connector.name',
  connectorNamespace: 'connector.namespace',
  configurationNames: 'configuration.names',
  configurationParams: 'configuration.params',
  tokenExpiration: 'token.expiration',
} as const;

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
}

export interface VolumeAttributes {
  pod: PodInfo;
  /** In the order given, without repeats; a bare name is in the pod's namespace. */
  connectors: ConnectorRef[];
  /** `configuration.names` without the `!` entries. */
  configurationNames: string[];
  /** File names that `!name` entries exclude from the volume (built-in or rendered). */
  excludedFiles: Set<string>;
  /** `configuration.params`: values given per configuration name. */
  configurationParams: Record<string, Record<string, unknown>>;
  /** `token.expiration` in seconds, or undefined when not given. */
  tokenExpirationSeconds: number | undefined;
}

/** The shortest lifetime kube-apiserver grants a requested token. */
export const minTokenSeconds = 600;

/** Go's time.ParseDuration for whole seconds: `30m`, `1h30m`, `3600s`, `1.5h`. Null if malformed. */
export function parseGoDuration(value: string): number | null {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return null;
  let seconds = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    seconds += Number(m[1]) * (units[m[2] ?? ''] ?? 0);
  return Math.floor(seconds);
}

const commaList = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function podInfo(context: Readonly<Record<string, string>>): PodInfo {
  const read = (key: string): string => {
    const v = context[key];
    if (!v) {
      throw invalidArgument(
        `volume_context has no ${key}: the CSIDriver connectors-csi must set podInfoOnMount: true`,
      );
    }
    return v;
  };
  if (context[podInfoKeys.ephemeral] === 'false') {
    throw invalidArgument('connectors-csi serves inline ephemeral volumes only, not PersistentVolumes');
  }
  return {
    name: read(podInfoKeys.name),
    namespace: read(podInfoKeys.namespace),
    uid: read(podInfoKeys.uid),
    serviceAccount: read(podInfoKeys.serviceAccount),
  };
}

function connectorRefs(context: Readonly<Record<string, string>>, podNamespace: string): ConnectorRef[] {
  const listed = commaList(context[volumeAttributeKeys.connectors]);
  const legacyName = context[volumeAttributeKeys.connectorName]?.trim();
  const legacyNamespace = context[volumeAttributeKeys.connectorNamespace]?.trim();
  if (listed.length > 0 && (legacyName || legacyNamespace)) {
    throw invalidArgument(
      'give the Connectors either in "connectors" or in the deprecated "connector.name"/"connector.namespace", not both',
    );
  }
  let entries: { namespace: string; name: string; as: string }[];
  if (listed.length > 0) {
    entries = listed.map((entry) => {
      const parts = entry.split('/');
      return parts.length === 2
        ? { namespace: parts[0] ?? '', name: parts[1] ?? '', as: entry }
        : { namespace: parts.length === 1 ? podNamespace : '', name: entry, as: entry };
    });
  } else if (legacyName) {
    entries = [{ namespace: legacyNamespace || podNamespace, name: legacyName, as: legacyName }];
  } else {
    throw invalidArgument(
      'no Connector given: set the volume attribute "connectors" (e.g. "my-git" or "other-namespace/my-git")',
    );
  }
  const refs: ConnectorRef[] = [];
  for (const e of entries) {
    if (!isConnectorRef(e.namespace, e.name)) {
      throw invalidArgument(`"${e.as}" is not a Connector reference: write <name> or <namespace>/<name>`);
    }
    if (!refs.some((r) => r.namespace === e.namespace && r.name === e.name)) {
      refs.push({ namespace: e.namespace, name: e.name });
    }
  }
  return refs;
}

function configurationParams(
  raw: string | undefined,
  names: readonly string[],
): Record<string, Record<string, unknown>> {
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(
      'configuration.params is not valid JSON; write it as {"<configuration>": {"<param>": "<value>"}}',
    );
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(parsed)) {
    throw invalidArgument('configuration.params must be a JSON object keyed by configuration name');
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const [configuration, params] of Object.entries(parsed)) {
    if (!names.includes(configuration)) {
      throw invalidArgument(
        `configuration.params sets params of configuration "${configuration}", which configuration.names does not request`,
      );
    }
    if (!isObject(params)) {
      throw invalidArgument(`configuration.params["${configuration}"] must be an object of param values`);
    }
    out[configuration] = params;
  }
  return out;
}

/** Parses the volume context; throws INVALID_ARGUMENT naming the attribute at fault. */
export function parseVolumeAttributes(
  context: Readonly<Record<string, string>>,
  opts: { multiConnector: boolean },
): VolumeAttributes {
  const pod = podInfo(context);
  const connectors = connectorRefs(context, pod.namespace);
  if (connectors.length > 1 && !opts.multiConnector) {
    throw invalidArgument(
      `${connectors.length} Connectors given, but mounting several in one volume is off: ` +
        'start the driver with --enable-multi-connector (upstream flag enable-multi-connector)',
    );
  }
  const entries = commaList(context[volumeAttributeKeys.configurationNames]);
  const configurationNames = [...new Set(entries.filter((e) => !e.startsWith('!')))];
  const excludedFiles = new Set(entries.filter((e) => e.startsWith('!')).map((e) => e.slice(1).trim()));

  let tokenExpirationSeconds: number | undefined;
  const expiration = context[volumeAttributeKeys.tokenExpiration];
  if (expiration !== undefined && expiration.trim() !== '') {
    const seconds = parseGoDuration(expiration);
    if (seconds === null) {
      throw invalidArgument(`token.expiration "${expiration}" is not a duration; write e.g. 30m or 1h`);
    }
    if (seconds < minTokenSeconds) {
      throw invalidArgument(
        `token.expiration "${expiration}" is shorter than 10m, the shortest token kube-apiserver issues`,
      );
    }
    tokenExpirationSeconds = seconds;
  }
  return {
    pod,
    connectors,
    configurationNames,
    excludedFiles,
    configurationParams: configurationParams(
      context[volumeAttributeKeys.configurationParams],
      configurationNames,
    ),
    tokenExpirationSeconds,
  };
}
