// The one table from HTTP method to RBAC verb, for every surface that can reach a tool: the
// aggregated server (its /proxy and the class APIs), the Connectors Proxy and the class API
// backend. It is the table kube-apiserver's RequestInfoFactory uses for resource requests. A
// method outside it has no verb RBAC could grant short of "*", and means something to a tool
// that no verb says (TRACE echoes the injected credential back, WebDAV's MOVE and PROPPATCH
// write): it is answered 405 and never forwarded.

import { methodNotAllowed, type StatusError } from './status.js';

export type MethodVerb = 'get' | 'create' | 'update' | 'patch' | 'delete';

// A Map, not an object literal: `constructor` or `__proto__` as a method must find nothing.
const table: ReadonlyMap<string, MethodVerb> = new Map<string, MethodVerb>([
  ['GET', 'get'],
  ['HEAD', 'get'],
  ['POST', 'create'],
  ['PUT', 'update'],
  ['PATCH', 'patch'],
  ['DELETE', 'delete'],
]);

/** Every verb kube-apiserver may authorize a resource request as (its RequestInfoFactory). */
export const resourceVerbs = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
  'proxy',
] as const;

/** The methods served, as an Allow header value. */
export const allowedMethods = [...table.keys()].join(', ');

/**
 * The verb RBAC must grant for `method`, or undefined for a method that is never served. Methods
 * are case-sensitive (RFC 9110 §9.1): `get` is not GET, and is not served.
 */
export function verbForMethod(method: string | undefined): MethodVerb | undefined {
  return method === undefined ? undefined : table.get(method);
}

/**
 * The verb of `method`, or throws the 405 Status for a method outside the table. `setHeader`
 * (the response's) receives the Allow header that RFC 9110 §15.5.6 requires with a 405.
 */
export function requireServedMethod(
  method: string | undefined,
  setHeader: (name: string, value: string) => unknown,
): MethodVerb {
  const verb = verbForMethod(method);
  if (verb) return verb;
  setHeader('allow', allowedMethods);
  throw methodNotServed(method);
}

function methodNotServed(method: string | undefined): StatusError {
  // Node's parser admits only known method tokens; the check keeps any other text out of a message.
  const shown = method && /^[A-Za-z-]{1,24}$/.test(method) ? method : 'this method';
  return methodNotAllowed(
    `${shown} is not served: only ${allowedMethods} reach a tool, each authorized as its RBAC verb ` +
      '(get, create, update, patch, delete)',
  );
}
