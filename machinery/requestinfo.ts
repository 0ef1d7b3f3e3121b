// RequestInfo as kube-apiserver derives it (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go):
// the path is split on "/" without cleaning, and authorization is decided on these attributes
// only. We parse the raw request target once; the segments after the subresource stay raw (still
// percent-encoded) so that the proxy forwards exactly what the caller sent.

import { verbForMethod } from './verbs.js';

export interface RequestInfo {
  /** The raw path, without the query. */
  path: string;
  /** The raw query string, without '?', or ''. */
  query: string;
  isResourceRequest: boolean;
  verb: string;
  /**
   * 'watch' or 'proxy' when the path has the deprecated verb-prefixed form
   * (`/apis/G/V/watch/…`), whose verb kube-apiserver takes from the path instead of the method;
   * '' otherwise.
   */
  pathVerb: '' | 'watch' | 'proxy';
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  /** Raw segments after the subresource: `…/proxy/a/b%2Fc/` → ['a', 'b%2Fc', '']. */
  rest: string[];
}

/** Kubernetes names, namespaces, resources and group/version segments never need escaping. */
const plainSegment = /^[A-Za-z0-9._-]+$/;

/** Subresources of a namespace itself: `/namespaces/ns/status` is about the namespace. */
const namespaceSubresources = new Set(['status', 'finalize']);

function isWatch(query: string): boolean {
  const v = new URLSearchParams(query).get('watch');
  return v !== null && (v === '1' || v.toLowerCase() === 'true');
}

/**
 * Parses a request target (the raw `req.url`) step for step as RequestInfoFactory does. Returns
 * null when the target is not in origin form (absolute-form `http://…`, authority-form or `*`):
 * such a target never comes from kube-apiserver and is refused before anything else looks at it.
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
    pathVerb: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    name: '',
    subresource: '',
    rest: [],
  };

  // kube-apiserver trims slashes at both ends and splits; empty inner segments stay. `raw` keeps
  // the trailing ones, so the two arrays share indices and the proxied rest keeps its slash.
  const raw = path.replace(/^\/+/, '').split('/');
  const parts = path.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
  if (parts.length < 4 || parts[0] !== 'apis') return info; // /apis/G/V is discovery; /api is unused here
  const group = parts[1] ?? '';
  const version = parts[2] ?? '';
  if (!plainSegment.test(group) || !plainSegment.test(version)) return info;
  info.isResourceRequest = true;
  info.apiGroup = group;
  info.apiVersion = version;

  let i = 3;
  if (parts[i] === 'proxy' || parts[i] === 'watch') {
    // The deprecated verb-in-path forms; we serve neither, but parse them as kube-apiserver does
    // so that the caller sees why they are refused.
    if (parts.length < i + 2) {
      info.isResourceRequest = false;
      return info;
    }
    info.verb = info.pathVerb = parts[i] === 'proxy' ? 'proxy' : 'watch';
    i++;
  } else {
    // kube-apiserver's verb for any other method is "", which RBAC grants only through "*".
    info.verb = verbForMethod(method) ?? '';
  }
  if (parts[i] === 'namespaces' && parts.length > i + 1) {
    info.namespace = parts[i + 1] ?? '';
    if (parts.length > i + 2 && !namespaceSubresources.has(parts[i + 2] ?? '')) i += 2;
  }
  info.resource = parts[i] ?? '';
  info.name = parts[i + 1] ?? '';
  if (parts.length > i + 2 && info.verb !== 'proxy') {
    info.subresource = parts[i + 2] ?? '';
    info.rest = raw.slice(i + 3);
  }
  if (info.name === '' && info.verb === 'get') info.verb = isWatch(query) ? 'watch' : 'list';
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';

  for (const seg of [info.namespace, info.resource, info.name, info.subresource]) {
    if (seg !== '' && !plainSegment.test(seg)) {
      // A name can never hold '%', '@' or similar; treat such a path as not ours rather than
      // guessing how a client meant it.
      return { ...info, isResourceRequest: false, verb: method.toLowerCase(), rest: [] };
    }
  }
  return info;
}
