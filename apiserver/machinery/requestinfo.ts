// RequestInfo as kube-apiserver derives it (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go):
// the path is split on "/" without cleaning, and authorization is decided on these attributes
// only. We parse the raw request target once; the segments after the subresource stay raw (still
// percent-encoded) so that the proxy forwards exactly what the caller sent.

export interface RequestInfo {
  /** The raw path, without the query. */
  path: string;
  /** The raw query string, without '?', or ''. */
  query: string;
  isResourceRequest: boolean;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  /** Raw segments after the subresource: `…/proxy/a/b%2Fc/` → ['a', 'b%2Fc', '']. */
  rest: string[];
}

const methodVerbs: Record<string, string> = {
  GET: 'get',
  HEAD: 'get',
  POST: 'create',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Kubernetes names, namespaces, resources and group/version segments never need escaping. */
const plainSegment = /^[A-Za-z0-9._-]+$/;

/** The verb kube-apiserver uses for a resource request with this method ("" for OPTIONS and others). */
export function verbForMethod(method: string): string {
  return methodVerbs[method] ?? '';
}

/**
 * Parses a request target (the raw `req.url`). Returns null when the target is not in origin form
 * (absolute-form `http://…`, authority-form or `*`): such a target never comes from kube-apiserver
 * and is refused before anything else looks at it.
 */
export function parseRequestInfo(method: string, target: string): RequestInfo | null {
  if (!target.startsWith('/')) return null;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  const info: RequestInfo = {
    path,
    query,
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    name: '',
    subresource: '',
    rest: [],
  };

  const parts = path.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
  if (parts[0] !== 'apis' || parts.length < 3) return info; // non-resource (or the legacy /api, unused here)
  const [, group, version] = parts;
  if (!group || !version || !plainSegment.test(group) || !plainSegment.test(version)) return info;
  info.apiGroup = group;
  info.apiVersion = version;

  // Resource segments keep a trailing empty element when the path ends with '/', which matters for
  // the proxied sub-path only; re-split without trimming the end for that.
  const all = path.replace(/^\/+/, '').split('/');
  let i = 3;
  if (all.length <= i || all[i] === '') return info; // /apis/G/V is discovery, a non-resource path

  info.isResourceRequest = true;
  info.verb = verbForMethod(method);
  if (all[i] === 'proxy' || all[i] === 'watch') {
    // The deprecated verb-in-path forms; we serve neither, but authorize them as kube-apiserver does.
    info.verb = all[i] ?? '';
    i++;
  }
  if (all[i] === 'namespaces' && all.length > i + 1 && all[i + 1] !== '') {
    info.namespace = all[i + 1] ?? '';
    if (all.length > i + 2) i += 2;
    else {
      info.resource = 'namespaces';
      info.name = info.namespace;
      info.namespace = '';
      return info;
    }
  }
  info.resource = all[i] ?? '';
  info.name = all[i + 1] ?? '';
  info.subresource = all[i + 2] ?? '';
  if (all.length > i + 3) info.rest = all.slice(i + 3);
  if (info.verb === 'get' && info.name === '') info.verb = 'list';
  if (info.verb === 'delete' && info.name === '') info.verb = 'deletecollection';
  for (const s of [info.namespace, info.resource, info.name, info.subresource]) {
    if (s !== '' && !plainSegment.test(s)) {
      // A name can never hold '%', '@' or similar; treat such a path as not ours rather than
      // guessing how a client meant it.
      info.isResourceRequest = false;
      info.verb = method.toLowerCase();
      return info;
    }
  }
  return info;
}
