// Forward mode: which of the caller's Connectors, if any, a target URL belongs to. A credential is
// injected only when the target's origin equals a Connector's address (spec.address or one of
// spec.addressExtensions) and its path lies under that address's path prefix; the longest prefix
// wins. Everything else is some other host, which never sees a credential.

import { parseToolAddress, type ToolAddress } from '../proxy/target.js';
import type { ResolvedConnector } from '../registry/resolve.js';
import type { Connector } from '../registry/types.js';

/** The addresses a Connector answers for: its address, then each usable address extension. */
export function connectorAddresses(resolved: ResolvedConnector): ToolAddress[] {
  return [resolved.address, ...extensionAddresses(resolved.connector)];
}

// Informer objects are replaced on every update, so parsed extensions can hang off the object.
const extensionCache = new WeakMap<Connector, ToolAddress[]>();

function extensionAddresses(connector: Connector): ToolAddress[] {
  let cached = extensionCache.get(connector);
  if (!cached) {
    cached = [];
    for (const ext of connector.spec?.addressExtensions ?? []) {
      if (typeof ext.value !== 'string' || ext.value === '') continue;
      try {
        cached.push(parseToolAddress(ext.value));
      } catch {
        // Not an http(s) URL (a plain parameter, say): never a place a credential may go.
      }
    }
    extensionCache.set(connector, cached);
  }
  return cached;
}

export interface AddressMatch<T> {
  owner: T;
  address: ToolAddress;
  /** Raw path segments below the address prefix, for toolPath(). */
  segments: string[];
}

/** Whether `path` (raw, without the query) lies under `prefix` (no trailing slash, '' for root). */
function under(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * The candidate whose address best matches `origin` + `path` (raw, without the query): same origin
 * and the longest path prefix. Null when none does.
 */
export function matchAddress<T>(
  candidates: readonly { owner: T; addresses: readonly ToolAddress[] }[],
  origin: string,
  path: string,
): AddressMatch<T> | null {
  let best: { owner: T; address: ToolAddress } | null = null;
  for (const c of candidates) {
    for (const address of c.addresses) {
      if (address.origin !== origin || !under(path, address.prefix)) continue;
      if (!best || address.prefix.length > best.address.prefix.length) best = { owner: c.owner, address };
    }
  }
  if (!best) return null;
  const rest = path.slice(best.address.prefix.length);
  return { ...best, segments: rest === '' ? [] : rest.slice(1).split('/') };
}

/** Whether any candidate has an address on `origin` (for CONNECT: intercept or not). */
export function hasOrigin(
  candidates: readonly { addresses: readonly ToolAddress[] }[],
  origin: string,
): boolean {
  return candidates.some((c) => c.addresses.some((a) => a.origin === origin));
}
