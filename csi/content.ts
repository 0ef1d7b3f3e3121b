// The files of a connectors-csi volume (those of the published Connectors CSI driver), built in this order,
// each step refusing with a gRPC error that names the problem, all before target_path is touched:
//
//   volume attributes → the pod's token (and whose it is) → scope and RBAC for every Connector →
//   the Connectors and their classes → the Connectors Proxy's CA → built-in files → the requested
//   ConnectorClass configurations, rendered → `!name` exclusions.
//
// Built-in files: `.env` (http_proxy, https_proxy, no_proxy), `http.proxy` and `https.proxy` (the
// Connectors Proxy as forward proxy, with the Connectors as username and the token as password),
// `context.token`, `context.proxy.caCert`, `ca.crt` (and the deprecated `ca.cert`) with the proxy's
// CA, and `connector.status.proxyAddress`. With several Connectors, the proxy settings are the last
// one's and the forward-proxy username lists them all.
//
// Configurations: for each name in `configuration.names`, every class of a mounted Connector that
// declares it renders its `data` templates (template/, the probes' engine) over
//   .connector       the last mounted Connector of that class: .metadata, .spec, .status.proxyAddress
//   .connectors      every mounted Connector whose class declares this configuration (e.g. one
//                    .gitconfig for a git and a gitlab Connector)
//   .connectorclass  .name, .proxyAddress of the class
//   .context         .token, .proxy.caCert
//   .configurations  the configuration's params: given in configuration.params, else their default
// A file named by several classes is the later class's.

import type { ConnectorRef } from '../registry/types.js';
import { renderTemplate, TemplateError, unstructured } from '../template/index.js';
import type { ConnectorAccess } from './access.js';
import { parseVolumeAttributes, type VolumeAttributes } from './attributes.js';
import type {
  ClassConfiguration,
  ClusterReader,
  ConfiguredClass,
  ParamSpec,
  ProxiedConnector,
} from './cluster.js';
import { failedPrecondition, internal, invalidArgument, notFound, unavailable } from './errors.js';
import type { PublishRequest, VolumeContent } from './node.js';
import type { TokenSource } from './tokens.js';
import { isValidFileName } from './writer.js';

export interface MountedConnector {
  ref: ConnectorRef;
  connector: ProxiedConnector;
  className: string;
  connectorClass: ConfiguredClass;
  proxyAddress: string;
}

export interface ContentDeps {
  cluster: ClusterReader;
  access: ConnectorAccess;
  tokens: TokenSource;
  multiConnector: boolean;
  /** The no_proxy value of `.env`. */
  noProxy: string;
}

const refText = (ref: ConnectorRef): string => `${ref.namespace}/${ref.name}`;

export class ConnectorVolumeContent implements VolumeContent {
  constructor(private readonly deps: ContentDeps) {}

  async render(request: PublishRequest): Promise<Map<string, string>> {
    const { cluster, access, tokens } = this.deps;
    const attrs = parseVolumeAttributes(request.volumeContext, { multiConnector: this.deps.multiConnector });
    const { token, user } = await tokens.token(request, attrs);
    await access.check(attrs.pod, user, attrs.connectors);
    const mounted = await Promise.all(attrs.connectors.map((ref) => this.resolve(ref)));
    const caCert = await cluster.proxyCaCert();
    if (!caCert) {
      throw unavailable(
        "the Connectors Proxy's CA certificate is not published yet (its --publish-ca-configmap); kubelet will retry",
      );
    }
    const files = builtInFiles(mounted, token, caCert, this.deps.noProxy);
    for (const [name, content] of renderConfigurations(mounted, attrs, { token, caCert }))
      files.set(name, content);
    for (const name of attrs.excludedFiles) files.delete(name);
    return files;
  }

  forget(volumeId: string): void {
    this.deps.tokens.forget(volumeId);
  }

  private async resolve(ref: ConnectorRef): Promise<MountedConnector> {
    const { cluster } = this.deps;
    const connector = await cluster.connector(ref.namespace, ref.name);
    if (!connector) throw notFound(`connector "${refText(ref)}" not found`);
    const className = connector.spec?.connectorClassName ?? '';
    const connectorClass = className ? await cluster.connectorClass(className) : undefined;
    if (!connectorClass) {
      throw notFound(`connectorclass "${className}" of connector "${refText(ref)}" not found`);
    }
    const proxyAddress = connector.status?.proxy?.httpAddress?.url ?? '';
    if (!URL.canParse(proxyAddress)) {
      throw unavailable(
        `connector "${refText(ref)}" has no proxy address yet (status.proxy.httpAddress.url); the status ` +
          `controller sets it once ConnectorClass "${className}" has a proxy; kubelet will retry`,
      );
    }
    return { ref, connector, className, connectorClass, proxyAddress };
  }
}

/**
 * The forward-proxy URL: `http://<ns>%2F<name>[,…]:<token>@<proxy host>:<port>`, as published, with
 * the port always written: curl and git take 1080 for a proxy URL without one (the SOCKS habit),
 * where the proxy address (e.g. the Service connectors-proxy.connectors-system.svc) means 80.
 */
function forwardProxyUrl(mounted: readonly MountedConnector[], token: string): string {
  const last = mounted.at(-1) as MountedConnector;
  const users = mounted.map((m) => `${m.ref.namespace}%2F${m.ref.name}`).join(',');
  const address = new URL(last.proxyAddress);
  const port = address.port || (address.protocol === 'https:' ? '443' : '80');
  return `http://${users}:${token}@${address.hostname}:${port}`;
}

export function builtInFiles(
  mounted: readonly MountedConnector[],
  token: string,
  caCert: string,
  noProxy: string,
): Map<string, string> {
  const proxy = forwardProxyUrl(mounted, token);
  return new Map([
    ['.env', `http_proxy=${proxy}\nhttps_proxy=${proxy}\nno_proxy=${noProxy}\n`],
    ['http.proxy', proxy],
    ['https.proxy', proxy],
    ['context.token', token],
    ['context.proxy.caCert', caCert],
    ['ca.crt', caCert],
    ['ca.cert', caCert],
    ['connector.status.proxyAddress', (mounted.at(-1) as MountedConnector).proxyAddress],
  ]);
}

function paramType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' && v !== null ? 'object' : typeof v;
}

/** The configuration's params: the given ones checked against its ParamSpecs, defaults for the rest. */
export function configurationValues(
  configuration: ClassConfiguration,
  className: string,
  given: Record<string, unknown>,
): Record<string, unknown> {
  const where = `configuration "${configuration.name}" of ConnectorClass "${className}"`;
  const specs: ParamSpec[] = configuration.params ?? [];
  for (const key of Object.keys(given)) {
    if (!specs.some((p) => p.name === key)) {
      const declared = specs.map((p) => `"${p.name}"`).join(', ');
      throw invalidArgument(
        `${where} has no param "${key}" (${declared ? `it declares ${declared}` : 'it declares none'})`,
      );
    }
  }
  const values: Record<string, unknown> = {};
  for (const spec of specs) {
    const type = spec.type ?? 'string';
    if (Object.hasOwn(given, spec.name)) {
      const value = given[spec.name];
      if (paramType(value) !== type) {
        throw invalidArgument(
          `${where}: param "${spec.name}" must be of type ${type}, not ${paramType(value)}`,
        );
      }
      const allowed = (spec.enum ?? []).filter((e): e is string => typeof e === 'string');
      if (type === 'string' && allowed.length > 0 && !allowed.includes(value as string)) {
        throw invalidArgument(
          `${where}: param "${spec.name}" must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`,
        );
      }
      values[spec.name] = value;
    } else if (spec.default !== undefined && spec.default !== null && spec.default !== '') {
      values[spec.name] = spec.default;
    } else {
      throw invalidArgument(
        `${where} needs the param "${spec.name}": set it in configuration.params, ` +
          `e.g. {"${configuration.name}": {"${spec.name}": "…"}}`,
      );
    }
  }
  return values;
}

/** A Connector as templates see it (upstream's `.connector`). */
function connectorView(m: MountedConnector): Record<string, unknown> {
  const meta = m.connector.metadata ?? {};
  return {
    name: m.ref.name,
    namespace: m.ref.namespace,
    metadata: {
      name: m.ref.name,
      namespace: m.ref.namespace,
      uid: meta.uid,
      labels: meta.labels ?? {},
      annotations: meta.annotations ?? {},
    },
    spec: m.connector.spec ?? {},
    status: { ...m.connector.status, proxyAddress: m.proxyAddress },
  };
}

export function renderConfigurations(
  mounted: readonly MountedConnector[],
  attrs: Pick<VolumeAttributes, 'configurationNames' | 'configurationParams'>,
  context: { token: string; caCert: string },
): Map<string, string> {
  const files = new Map<string, string>();
  // Each class once, in the order of its first Connector.
  const classes = [...new Map(mounted.map((m) => [m.className, m.connectorClass])).entries()];
  for (const name of attrs.configurationNames) {
    const declaring = classes.filter(([, cls]) => cls.spec?.configurations?.some((c) => c.name === name));
    if (declaring.length === 0) {
      const offered = classes
        .map(([className, cls]) => {
          const names = (cls.spec?.configurations ?? []).map((c) => c.name);
          return `ConnectorClass "${className}" declares ${names.length ? names.join(', ') : 'none'}`;
        })
        .join('; ');
      throw notFound(`configuration "${name}" not found: ${offered}`);
    }
    const users = mounted.filter((m) => declaring.some(([className]) => className === m.className));
    for (const [className, cls] of declaring) {
      const configuration = cls.spec?.configurations?.find((c) => c.name === name) as ClassConfiguration;
      const params = configurationValues(configuration, className, attrs.configurationParams[name] ?? {});
      const last = users.filter((m) => m.className === className).at(-1) as MountedConnector;
      const data = unstructured({
        connector: connectorView(last),
        connectors: users.map(connectorView),
        connectorclass: { name: className, proxyAddress: cls.status?.proxy?.httpAddress?.url ?? '' },
        context: { token: context.token, proxy: { caCert: context.caCert } },
        configurations: params,
      });
      for (const [file, template] of Object.entries(configuration.data ?? {})) {
        if (!isValidFileName(file)) {
          throw failedPrecondition(
            `configuration "${name}" of ConnectorClass "${className}" names the file "${file}", ` +
              'which is not a plain file name (letters, digits, ".", "-", "_")',
          );
        }
        try {
          files.set(file, renderTemplate(template, data));
        } catch (err) {
          if (!(err instanceof TemplateError)) throw err;
          // TemplateError messages name the construct, never an evaluated value (the token).
          throw internal(
            `failed to generate configuration "${name}" of ConnectorClass "${className}" (${file}): ${err.message}`,
          );
        }
      }
    }
  }
  return files;
}
