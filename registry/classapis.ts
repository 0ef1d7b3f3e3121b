// connectors/{name}/{sub}/{rest…} for every {sub} a ConnectorClass declares in spec.api.openapi.
// The declared operation decides where the request goes: `x-provider-type: api` → the class API
// backend, with the published X-Plugin-* headers (the backend injects the credential itself);
// `proxy` (the default) → the tool, at the address `x-openapi-address` chooses, with the
// Connector's credential injected here, or, for a class with a proxy of its own, to that proxy
// (classproxy.ts), which authenticates to the tool itself.

import { badRequest, methodNotAllowed, pathNotFound } from '../machinery/status.js';
import type { DispatcherCache } from '../proxy/dispatchers.js';
import { ProxyError } from '../proxy/errors.js';
import { forward } from '../proxy/forward.js';
import { forwardRequestHeaders, type HeaderFilter } from '../proxy/headers.js';
import { checkQuery, parseToolAddress, toolPath, type ToolAddress } from '../proxy/target.js';
import type { CustomProxies } from './classproxy.js';
import { classApi, type Operation } from './operations.js';
import { connectorCa, connectorSecret, resolveConnector, type ResolvedConnector } from './resolve.js';
import type { SecretSource } from './secrets.js';
import type { ConnectorLister } from './store.js';
import type { ServeResult, SubresourceHandler, SubresourceRequest } from './subresource.js';
import type { ConnectorClass } from './types.js';
import { hasBody } from '../machinery/body.js';

export interface ClassApiDeps {
  lister: ConnectorLister;
  secrets: SecretSource;
  pools: DispatcherCache;
  /** Pools towards class API backends: they present the API server's client certificate. */
  backendPools: DispatcherCache;
  droppedHeaders: () => HeaderFilter;
  /** Namespace assumed for a `spec.api.ref` Service that names none. */
  defaultNamespace: string;
  customProxies: CustomProxies;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/**
 * The class API backend's base URL: `status.api.address.url` once the controller resolved it,
 * otherwise `spec.api.uri` when absolute, otherwise the `spec.api.ref` Service plus `uri`. A
 * Service is reached over https: Secret data goes to class APIs over https only. (The controller
 * resolves a class's proxy Service the same way, over `scheme` http.)
 */
export function classApiAddress(
  cls: ConnectorClass,
  defaultNamespace: string,
  scheme: 'https' | 'http' = 'https',
): string | null {
  const resolved = cls.status?.api?.address?.url;
  if (resolved) return resolved;
  const api = cls.spec?.api;
  const uri = api?.uri ?? '';
  if (/^https?:\/\//i.test(uri)) return uri;
  const ref = api?.ref as { kind?: string; name?: string; namespace?: string } | undefined;
  if (ref?.name && (ref.kind ?? 'Service') === 'Service') {
    const path = uri && !uri.startsWith('/') ? `/${uri}` : uri;
    return `${scheme}://${ref.name}.${ref.namespace ?? defaultNamespace}.svc${path}`;
  }
  return null;
}

function toolAddressFor(target: ResolvedConnector, op: Operation): ToolAddress {
  const cls = target.className;
  const who = `Connector ${target.connector.metadata?.namespace ?? ''}/${target.connector.metadata?.name ?? ''}`;
  const choice = op.address;
  const parse = (raw: string, what: string): ToolAddress => {
    try {
      return parseToolAddress(raw);
    } catch (err) {
      throw badRequest(`${who}: ${what}: ${(err as ProxyError).message}`);
    }
  };
  if (choice === '') return target.address;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(choice)) {
    return parse(choice, `x-openapi-address of ConnectorClass "${cls}" for ${op.method} ${op.template}`);
  }
  const own = target.connector.spec?.addressExtensions?.find((e) => e.name === choice)?.value;
  const declared = (
    target.connectorClass.spec as { addressExtensions?: { name: string; default?: unknown }[] } | undefined
  )?.addressExtensions?.find((e) => e.name === choice)?.default;
  const value = own ?? declared;
  if (typeof value !== 'string' || value === '') {
    throw badRequest(
      `${who}: the operation ${op.method} ${op.template} of ConnectorClass "${cls}" goes to address ` +
        `extension "${choice}", which the Connector does not set and the class gives no default for`,
    );
  }
  return parse(value, `address extension "${choice}"`);
}

export function classApiHandler(deps: ClassApiDeps): SubresourceHandler {
  return {
    async serve({ info, user, req, res }: SubresourceRequest): Promise<ServeResult> {
      const target = resolveConnector(deps.lister, info.namespace, info.name);
      const segments = [info.subresource, ...info.rest];
      const method = req.method ?? 'GET';
      const match = classApi(target.connectorClass).match(method, segments);
      if (match.kind === 'not-declared') {
        throw pathNotFound(
          `ConnectorClass "${target.className}" declares no API at /${segments.join('/')}; ` +
            'see its spec.api.openapi for the paths it offers',
        );
      }
      if (match.kind === 'method-not-allowed') {
        // Operations exist only for methods of the one method→verb table; HEAD is served by GET.
        const allowed = match.allowed.includes('GET') ? [...match.allowed, 'HEAD'] : match.allowed;
        res.setHeader('allow', allowed.join(', '));
        throw methodNotAllowed(
          `ConnectorClass "${target.className}" declares only ${match.allowed.join(', ')} for /${segments.join('/')}`,
        );
      }
      const op = match.operation;
      const problem = op.checkQuery(info.query);
      if (problem)
        throw badRequest(`${problem} (operation ${op.operationId || `${op.method} ${op.template}`})`);
      checkQuery(info.query);
      if (op.provider === 'proxy' && deps.customProxies.serves(target.connectorClass)) {
        const status = await deps.customProxies.forward({
          target,
          user,
          subresource: info.subresource,
          segments,
          query: info.query,
          req,
          res,
          dropped: deps.droppedHeaders(),
        });
        return { status, connectorClass: target.className };
      }
      const secret = await connectorSecret(deps.secrets, target);
      const headers = forwardRequestHeaders(req.headers, deps.droppedHeaders());
      let address: ToolAddress;
      if (op.provider === 'api') {
        const base = classApiAddress(target.connectorClass, deps.defaultNamespace);
        // The published message, kept word for word so existing clients recognise it.
        if (!base) throw badRequest(`api address of connectorclass '${target.className}' is not resolved`);
        try {
          address = parseToolAddress(base);
        } catch (err) {
          throw badRequest(
            `api address of connectorclass '${target.className}': ${(err as ProxyError).message}`,
          );
        }
        headers['x-plugin-meta'] = b64(JSON.stringify({ baseURL: target.connector.spec?.address ?? '' }));
        if (secret && !address.origin.startsWith('https://')) {
          // Secret data never travels in clear text, whoever wrote the class.
          throw badRequest(
            `ConnectorClass "${target.className}" has its API at ${address.origin}, which is not https, ` +
              'and Secret data is sent to a class API over https only: point its spec.api at the ' +
              "backend's https address (the class API backend serves https)",
          );
        }
        if (secret) {
          headers['x-plugin-auth'] = b64(secret.type);
          headers['x-plugin-secret'] = b64(JSON.stringify(secret.data));
        }
      } else {
        address = toolAddressFor(target, op);
      }
      const path = toolPath(address, segments);
      const status = await forward(
        op.provider === 'api' ? deps.backendPools : deps.pools,
        {
          method,
          origin: address.origin,
          prefix: address.prefix,
          path: info.query ? `${path}?${info.query}` : path,
          headers,
          body: hasBody(req.headers) ? req : null,
          injector: op.provider === 'proxy' ? (secret?.injector ?? null) : null,
          // The class API backend is trusted through backendPools (--classapi-ca-file); the tool's
          // CA applies only where we talk to the tool.
          ca: op.provider === 'proxy' ? await connectorCa(deps.secrets, target.connector) : undefined,
        },
        res,
      );
      return { status, connectorClass: target.className };
    },
  };
}
