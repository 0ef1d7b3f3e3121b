// The OCI family, for any registry that implements the Distribution API:
//
//   GET /oci/tags?repository=library/alpine     {name: '3.20'}
//
// From `GET {address}/v2/<repository>/tags/list`, following the registry's own pagination
// (`Link: <…>; rel="next"`, inside the Connector's address only) until the end, then search/page/itemsPerPage as
// every list here. With a cpaas.io/distribution-registry-token Secret the shared strategy runs the
// token flow; with kubernetes.io/basic-auth the registry gets Basic.

import { badGateway, badRequest } from '../../machinery/status.js';
import { registryTokenSecretType } from '../../proxy/credentials/registry-token.js';
import { redirectTarget } from '../../proxy/target.js';
import type { ClassApi, ClassApiRequest } from '../api.js';
import { listOf, parseListQuery } from '../list.js';
import { getFromTool, readBody, toolRefusal, type ToolRequest } from '../upstream.js';

export interface OciTagItem {
  name: string;
}

const tool = 'the registry';
const maxPages = 1_000;
const maxPageBytes = 16 * 1024 * 1024;

// The repository name grammar of the OCI Distribution spec: lower-case path components separated
// by '/', each alphanumerics joined by '.', '_', '__' or dashes. Nothing else reaches the path.
const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const repositoryName = new RegExp(`^${component}(?:/${component})*$`);

export function checkRepositoryName(repository: string | null): string {
  if (repository === null || repository === '') {
    throw badRequest('query parameter repository is required, e.g. library/alpine');
  }
  if (repository.length > 255 || !repositoryName.test(repository)) {
    throw badRequest(
      'query parameter repository must be an OCI repository name: lower-case components such as ' +
        'library/alpine, separated by "/"',
    );
  }
  return repository;
}

/** The `rel="next"` target of a Link header, if any (RFC 8288). */
export function nextLink(link: string | string[] | undefined): string | undefined {
  const values = Array.isArray(link) ? link : link === undefined ? [] : [link];
  for (const value of values) {
    for (const m of value.matchAll(/<([^>]*)>([^<]*)/g)) {
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2] ?? '');
      const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
      if (rels.includes('next')) return m[1];
    }
  }
  return undefined;
}

async function listTags(request: ClassApiRequest, repository: string): Promise<string[]> {
  const { address, injector, secretType } = request.plugin;
  const tags = new Set<string>();
  const seen = new Set<string>();
  let path = `${address.prefix}/v2/${repository}/tags/list`;
  for (let page = 0; ; page++) {
    const req: ToolRequest = {
      tool,
      origin: address.origin,
      prefix: address.prefix,
      path,
      headers: { accept: 'application/json' },
      injector,
      signal: request.signal,
    };
    seen.add(path);
    const res = await getFromTool(request.pools, req);
    if (res.statusCode !== 200) {
      res.body.resume();
      const challenge = String(res.headers['www-authenticate'] ?? '');
      const hint =
        res.statusCode === 401 && /^\s*bearer\b/i.test(challenge) && secretType !== registryTokenSecretType
          ? `; the registry asks for a token, which a ${registryTokenSecretType} Secret provides`
          : '';
      throw toolRefusal(
        req,
        res.statusCode,
        { resource: 'repository', name: repository },
        injector !== null,
        hint,
      );
    }
    const body = await readBody(res, req, maxPageBytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw badGateway(
        `${tool} at ${address.origin} answered the tags list of "${repository}" with something other than JSON`,
      );
    }
    const list = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { tags?: unknown };
    if (list.tags !== null && list.tags !== undefined && !Array.isArray(list.tags)) {
      throw badGateway(`${tool} at ${address.origin} answered a tags list without a "tags" array`);
    }
    for (const tag of (list.tags ?? []) as unknown[]) if (typeof tag === 'string') tags.add(tag);

    const next = nextLink(res.headers.link);
    if (next === undefined) break;
    const target = redirectTarget(address, res.path, next);
    if (!target.inside) {
      throw badGateway(
        `${tool} pointed the next page of tags ${target.why}; the Connector's credential only goes ` +
          `to its address ${address.origin}${address.prefix}`,
      );
    }
    path = target.path;
    if (seen.has(path)) break; // a registry that links a page to itself would loop forever
    if (page + 1 >= maxPages) {
      throw badGateway(
        `${tool} at ${address.origin} has more than ${maxPages} pages of tags for "${repository}"`,
      );
    }
  }
  return [...tags];
}

export const ociApi: ClassApi = {
  prefix: '/oci',
  routes: [
    {
      path: '/tags',
      async get(request) {
        const query = parseListQuery(request.query);
        const repository = checkRepositoryName(request.query.get('repository'));
        const tags = await listTags(request, repository);
        return listOf(
          tags.map((name): OciTagItem => ({ name })),
          query,
        );
      },
    },
  ],
};
