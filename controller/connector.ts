// What a Connector's status should say, from the world as it is now: its class, its Secret, the
// class's probes against the tool. Pure apart from the lookups and probes it is given, so that every
// reason and message can be table-tested. Conditions, reasons and messages are the published ones
// (those of the published Connectors API) where upstream documents them.

import { admittedAnnotation, isAdmitted } from '../registry/admitted.js';
import { crdGroup, type AuthType, type Connector, type ConnectorClass } from '../registry/types.js';
import { connectorApiPath, type AddressResolver } from './addresses.js';
import { condition, readyCondition, type Condition } from './conditions.js';
import {
  authAccepts,
  livenessAccepts,
  type ProbeResult,
  type ProbeSpec,
  type ProbeTarget,
  type SecretData,
} from './probe.js';

export const connectorConditionTypes = [
  'ConnectorClassReady',
  'SecretReady',
  'LivenessReady',
  'AuthReady',
  'ProxyServiceReady',
] as const;

export interface ConnectorStatus {
  observedGeneration?: number;
  conditions: Condition[];
  api: { path: string };
  proxy: { httpAddress: { url: string } } | undefined;
  [field: string]: unknown;
}

export type SecretRead =
  | { found: true; secret: SecretData; resourceVersion?: string }
  | { found: false; reason: 'NotFound' | 'Forbidden'; message: string };

export type CaRead = { ok: true; pem: string | undefined } | { ok: false; message: string };

export interface ConnectorProbes {
  http(
    spec: NonNullable<ProbeSpec['http']>,
    target: ProbeTarget,
    accept: (code: number) => boolean,
  ): Promise<ProbeResult>;
  api(
    spec: NonNullable<ProbeSpec['api']>,
    target: ProbeTarget,
    apiBaseUrl: string | null,
  ): Promise<ProbeResult>;
}

export interface ConnectorDeps {
  connectorClass(name: string): ConnectorClass | undefined;
  /** Reads a Secret of the Connector's namespace (a fresh read: probes must see a changed password). */
  readSecret(namespace: string, name: string): Promise<SecretRead>;
  /** The PEM bundle of spec.caCertSecretRef, if it names one. */
  caBundle(connector: Connector): Promise<CaRead>;
  probes: ConnectorProbes;
  addresses: AddressResolver;
  /**
   * Creates or repairs the per-Connector proxy Service `c-{name}` of the host resolver, pointing at
   * `target` (the class proxy Service's DNS name); returns the ProxyServiceReady condition.
   */
  ensureProxyService(connector: Connector, target: string): Promise<Condition>;
}

/** An auth type with the Secret keys it declares (`params`: mandatory unless they have a default). */
type ClassAuthType = AuthType & { params?: { name: string; default?: unknown }[] };

/** The parts of a ConnectorClass spec the Connector reconcile reads (registry/types.ts has fewer). */
interface ClassProbes {
  livenessProbe?: ProbeSpec;
  authProbes?: { authName?: string; probe?: ProbeSpec }[];
  authTypes: ClassAuthType[];
}

function classProbes(cls: ConnectorClass): ClassProbes {
  const spec = (cls.spec ?? {}) as { livenessProbe?: ProbeSpec; authProbes?: ClassProbes['authProbes'] };
  return {
    ...(spec.livenessProbe ? { livenessProbe: spec.livenessProbe } : {}),
    ...(spec.authProbes ? { authProbes: spec.authProbes } : {}),
    authTypes: cls.spec?.auth?.types ?? [],
  };
}

/** The secrets a Connector depends on (its credential and its CA), for change detection. */
export function referencedSecrets(connector: Connector): string[] {
  const out: string[] = [];
  const auth = connector.spec?.auth?.secretRef?.name;
  const ca = connector.spec?.caCertSecretRef?.name;
  if (auth) out.push(auth);
  if (ca && ca !== auth) out.push(ca);
  return out;
}

/** The auth type a Connector uses: the one it names, or the class's only one when it names none. */
function authTypeOf(
  connector: Connector,
  cls: ConnectorClass,
): { type?: ClassAuthType; problem?: Condition } {
  const types = classProbes(cls).authTypes;
  const name = connector.spec?.auth?.name;
  const className = cls.metadata?.name ?? '';
  if (name) {
    const type = types.find((t) => t.name === name);
    if (type) return { type };
    const declared = types.map((t) => t.name).join(', ') || 'none';
    return {
      problem: condition(
        'SecretReady',
        'False',
        'AuthTypeNotFound',
        `auth type "${name}" is not declared by connectorclass "${className}" (declared: ${declared})`,
      ),
    };
  }
  if (types.length === 1) return { type: types[0] };
  return {};
}

function secretCondition(
  connector: Connector,
  cls: ConnectorClass,
  authType: ClassAuthType | undefined,
  read: SecretRead | null,
): Condition {
  const className = cls.metadata?.name ?? '';
  const ref = connector.spec?.auth?.secretRef;
  if (!read) {
    const types = classProbes(cls).authTypes;
    if (authType?.optional || types.length === 0 || (!authType && types.some((t) => t.optional))) {
      return condition('SecretReady', 'True', 'SecretOptional');
    }
    if (!authType) {
      return condition(
        'SecretReady',
        'False',
        'AuthTypeNotSet',
        `spec.auth.name must name one of the auth types of connectorclass "${className}": ${types.map((t) => t.name).join(', ')}`,
      );
    }
    return condition(
      'SecretReady',
      'False',
      'SecretRequired',
      `auth type "${authType.name}" of connectorclass "${className}" needs a Secret; set spec.auth.secretRef`,
    );
  }
  if (!read.found) {
    return condition(
      'SecretReady',
      'False',
      read.reason === 'NotFound' ? 'SecretNotFound' : 'SecretForbidden',
      read.message,
    );
  }
  const secret = read.secret;
  const want = authType?.secretType;
  if (want && secret.type !== want) {
    return condition(
      'SecretReady',
      'False',
      'SecretTypeMismatch',
      `secret "${ref?.name ?? ''}" is of type "${secret.type}", but auth type "${authType.name}" of connectorclass "${className}" needs type "${want}"`,
    );
  }
  const keys = (authType?.params ?? []).filter((p) => p.default === undefined).map((p) => p.name);
  const missing = keys.filter((k) => !secret.data[k]);
  if (missing.length > 0) {
    return condition(
      'SecretReady',
      'False',
      'SecretMissingKeys',
      `secret "${ref?.name ?? ''}" lacks ${missing.map((k) => `"${k}"`).join(', ')}, needed by auth type "${authType?.name ?? ''}" of connectorclass "${className}"`,
    );
  }
  return condition('SecretReady', 'True');
}

async function runProbe(
  probe: ProbeSpec,
  target: ProbeTarget,
  accept: (code: number) => boolean,
  deps: ConnectorDeps,
  cls: ConnectorClass,
): Promise<ProbeResult> {
  if (probe.http) return deps.probes.http(probe.http, target, accept);
  if (probe.api) return deps.probes.api(probe.api, target, deps.addresses.classApiUrl(cls));
  return { kind: 'invalid', message: 'the probe has neither http nor api' };
}

function livenessCondition(result: ProbeResult): Condition {
  switch (result.kind) {
    case 'unreachable':
      return condition('LivenessReady', 'False', 'ConnectionFailed', result.message);
    case 'invalid':
      return condition('LivenessReady', 'False', 'InvalidProbe', `livenessProbe: ${result.message}`);
    case 'answered':
      return result.accepted
        ? condition('LivenessReady', 'True')
        : condition(
            'LivenessReady',
            'False',
            'LivenessProbeFailed',
            `Liveness probe failed: status code ${result.statusCode}${result.detail ? ` (${result.detail})` : ''}`,
          );
  }
}

function authCondition(result: ProbeResult): Condition {
  switch (result.kind) {
    case 'unreachable':
      return condition('AuthReady', 'False', 'ConnectionFailed', result.message);
    case 'invalid':
      return condition('AuthReady', 'False', 'InvalidProbe', `authProbe: ${result.message}`);
    case 'answered':
      return result.accepted
        ? condition('AuthReady', 'True')
        : condition(
            'AuthReady',
            'False',
            'AuthenticationFailed',
            `Authentication failed: status code ${result.statusCode}${result.detail ? ` (${result.detail})` : ''}`,
          );
  }
}

/**
 * SecretReady, LivenessReady and AuthReady of a Connector that admission accepted in its current
 * state: the Secret read, the class's probes run with it.
 */
async function probedConditions(
  connector: Connector,
  cls: ConnectorClass,
  deps: ConnectorDeps,
): Promise<{ secretReady: Condition; liveness: Condition; authReady: Condition }> {
  const spec = classProbes(cls);
  const namespace = connector.metadata?.namespace ?? '';

  // SecretReady
  const auth = authTypeOf(connector, cls);
  const ref = connector.spec?.auth?.secretRef;
  let read: SecretRead | null = null;
  let secretReady: Condition;
  if (auth.problem) {
    secretReady = auth.problem;
  } else if (ref?.namespace && ref.namespace !== namespace) {
    secretReady = condition(
      'SecretReady',
      'False',
      'InvalidSecretRef',
      `spec.auth.secretRef must name a Secret in namespace "${namespace}", not "${ref.namespace}"`,
    );
  } else {
    read = ref?.name ? await deps.readSecret(namespace, ref.name) : null;
    secretReady = secretCondition(connector, cls, auth.type, read);
  }
  const secret = read?.found && secretReady.status === 'True' ? read.secret : null;

  // Probes, with the Connector's trust.
  const ca = await deps.caBundle(connector);
  const target: ProbeTarget = { connector, secret, ca: ca.ok ? ca.pem : undefined };
  const caProblem = (type: string): Condition | null =>
    ca.ok ? null : condition(type, 'False', 'CACertNotReady', `spec.caCertSecretRef: ${ca.message}`);

  let liveness: Condition;
  if (!spec.livenessProbe) liveness = condition('LivenessReady', 'True', 'NonLivenessProbe');
  else {
    liveness =
      caProblem('LivenessReady') ??
      livenessCondition(await runProbe(spec.livenessProbe, target, livenessAccepts, deps, cls));
  }

  const authProbe = auth.type
    ? spec.authProbes?.find((p) => p.authName === auth.type?.name)?.probe
    : undefined;
  let authReady: Condition;
  if (!authProbe) authReady = condition('AuthReady', 'True', 'NonAuthProbe');
  else if (secretReady.status !== 'True') {
    authReady = condition('AuthReady', 'Unknown', 'SecretNotReady', 'not probed: the Secret is not ready');
  } else if (liveness.status !== 'True') {
    // A dead tool costs one request per probe period, not two.
    authReady = condition(
      'AuthReady',
      'Unknown',
      'LivenessNotReady',
      'not probed: the tool is not reachable',
    );
  } else {
    authReady =
      caProblem('AuthReady') ?? authCondition(await runProbe(authProbe, target, authAccepts, deps, cls));
  }

  return { secretReady, liveness, authReady };
}

/**
 * The same conditions for a Connector whose current state admission never accepted (written before
 * the admission webhooks were registered, or while they were not): its Secret is neither read nor
 * sent anywhere, since its author may not be allowed to read it.
 */
function notAdmittedConditions(connector: Connector): {
  secretReady: Condition;
  liveness: Condition;
  authReady: Condition;
} {
  const meta = connector.metadata;
  const message =
    `not probed: the Connector was not admitted by the Connectors admission webhook in its current state ` +
    `(annotation ${admittedAnnotation} missing or stale); re-apply it as a user who may get the Secrets it ` +
    `references, e.g. kubectl annotate --overwrite -n ${meta?.namespace ?? ''} connector/${meta?.name ?? ''} ` +
    `${admittedAnnotation}=renew`;
  const notAdmitted = (type: string): Condition => condition(type, 'Unknown', 'NotAdmitted', message);
  return {
    secretReady: notAdmitted('SecretReady'),
    liveness: notAdmitted('LivenessReady'),
    authReady: notAdmitted('AuthReady'),
  };
}

/** The desired status of `connector`, probing its tool as its class says. */
export async function connectorStatus(connector: Connector, deps: ConnectorDeps): Promise<ConnectorStatus> {
  const base = {
    ...(connector.metadata?.generation !== undefined
      ? { observedGeneration: connector.metadata.generation }
      : {}),
    api: { path: connectorApiPath(connector) },
  };
  const className = connector.spec?.connectorClassName ?? '';
  const cls = className ? deps.connectorClass(className) : undefined;
  if (!cls) {
    const waiting = (type: string): Condition =>
      condition(type, 'Unknown', 'ConnectorClassNotReady', 'waiting for the ConnectorClass');
    const conditions = [
      condition(
        'ConnectorClassReady',
        'False',
        'ConnectorClassNotFound',
        // kube-apiserver's NotFound message, as upstream shows it.
        `connectorclass.${crdGroup} "${className}" not found`,
      ),
      ...connectorConditionTypes.slice(1).map(waiting),
    ];
    return { ...base, conditions: [...conditions, readyCondition(conditions)], proxy: undefined };
  }

  const classReady = condition('ConnectorClassReady', 'True');
  const { secretReady, liveness, authReady } = isAdmitted(connector)
    ? await probedConditions(connector, cls, deps)
    : notAdmittedConditions(connector);

  // The host resolver's address c-{name}.{ns}.svc needs a Service of that name, which leads to the
  // class's proxy Service; the path resolver's address is the class proxy itself.
  const proxyUrl = deps.addresses.connectorProxyUrl(connector, cls);
  const proxyTarget = deps.addresses.connectorProxyServiceTarget(cls);
  let proxyReady: Condition;
  if (proxyUrl === undefined) proxyReady = condition('ProxyServiceReady', 'True', 'NonProxy');
  else if (proxyUrl === null) {
    proxyReady = condition(
      'ProxyServiceReady',
      'False',
      'ProxyAddressNotResolved',
      `spec.proxy of connectorclass "${className}" names neither an absolute uri nor a Service`,
    );
  } else if (proxyTarget && proxyUrl.startsWith('http://c-')) {
    proxyReady = await deps.ensureProxyService(connector, proxyTarget);
  } else proxyReady = condition('ProxyServiceReady', 'True');

  const conditions = [classReady, secretReady, liveness, authReady, proxyReady];
  return {
    ...base,
    conditions: [...conditions, readyCondition(conditions)],
    proxy: proxyUrl ? { httpAddress: { url: proxyUrl } } : undefined,
  };
}
