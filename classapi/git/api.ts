// The Git family, for any smart-HTTP Git server (GitHub, GitLab, Gitea, plain git http-backend):
//
//   GET /git/branches?repository=org/app.git   {name: 'main', commitID}
//   GET /git/tags?repository=org/app.git       {name: 'v1.0', commitID}   (annotated: the commit)
//   GET /git/git/gitrefs?repositoryUrl=<clone URL>
//                                              {name: 'refs/heads/main' | 'refs/tags/v1.0', commitID}
//
// `repository` is relative to the Connector's address (its path prefix kept); `repositoryUrl` is a
// full clone URL that must lie inside the Connector's address (its origin, under its path prefix),
// because the Connector's credential is sent with the request. All three read one ref advertisement
// (`GET {repo}/info/refs?service=git-upload-pack`) and page with search/page/itemsPerPage.

import { badGateway, badRequest } from '../../machinery/status.js';
import { ProxyError } from '../../proxy/errors.js';
import { targetWithin, toolPath, type ToolAddress } from '../../proxy/target.js';
import type { ClassApi, ClassApiRequest } from '../api.js';
import { listOf, parseListQuery } from '../list.js';
import { getFromTool, toolRefusal, type ToolRequest } from '../upstream.js';
import { commitOf, GitProtocolError, RefAdvertisementParser, type Ref } from './refs.js';

export interface GitRefItem {
  name: string;
  commitID: string;
}

const tool = 'the Git server';
const advertisementType = 'application/x-git-upload-pack-advertisement';

/** Where the repository is on the tool, and how to name it in messages. */
export interface RepositoryTarget {
  /** Path of the repository on the Connector's origin, without a trailing slash. */
  path: string;
  /** What the caller asked for, for messages. */
  display: string;
}

function invalidTarget(err: unknown, parameter: string): never {
  if (err instanceof ProxyError) throw badRequest(`query parameter ${parameter}: ${err.message}`);
  throw err;
}

/** `repository` (relative to the address) or `repositoryUrl` (inside it) → the repository path. */
export function repositoryTarget(address: ToolAddress, query: URLSearchParams): RepositoryTarget {
  const url = query.get('repositoryUrl');
  if (url !== null && url !== '') {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw badRequest(
        'query parameter repositoryUrl must be an absolute clone URL, e.g. https://host/org/app.git',
      );
    }
    if (parsed.username || parsed.password) {
      throw badRequest('query parameter repositoryUrl must not contain user information');
    }
    if (parsed.origin !== address.origin) {
      throw badRequest(
        `query parameter repositoryUrl must be on the Connector's origin ${address.origin}, not ${parsed.origin}: ` +
          "the Connector's credential is only ever sent to its own address",
      );
    }
    // The repository's own path: what a clone URL may carry after it is not part of it.
    parsed.search = '';
    parsed.hash = '';
    parsed.pathname = parsed.pathname.replace(/\/+$/, '');
    let path: string;
    try {
      path = targetWithin(address, parsed);
    } catch (err) {
      invalidTarget(err, 'repositoryUrl');
    }
    if (path === '/' || path === address.prefix) {
      throw badRequest('query parameter repositoryUrl has no repository path');
    }
    return { path, display: parsed.origin + parsed.pathname };
  }
  const repository = (query.get('repository') ?? '').replace(/^\/+|\/+$/g, '');
  if (repository === '') {
    throw badRequest(
      'query parameter repository is required (the repository path relative to the Connector address, ' +
        'e.g. org/app.git), or repositoryUrl (its full clone URL)',
    );
  }
  let path: string;
  try {
    path = toolPath(address, repository.split('/').map(encodeURIComponent));
  } catch (err) {
    invalidTarget(err, 'repository');
  }
  return { path, display: repository };
}

/** A server's own error text, made safe to repeat: one line, bounded. */
function serverText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 200);
}

/** Reads the ref advertisement of a repository, keeping branches and tags. */
export async function advertisedRefs(request: ClassApiRequest, repo: RepositoryTarget): Promise<Ref[]> {
  const { address, injector } = request.plugin;
  const req: ToolRequest = {
    tool,
    origin: address.origin,
    prefix: address.prefix,
    path: `${repo.path}/info/refs?service=git-upload-pack`,
    // Like git itself; some servers only speak smart HTTP to a client that says it is git.
    headers: { accept: '*/*', 'user-agent': 'git/2 (connectors-classapi)', pragma: 'no-cache' },
    injector,
    signal: request.signal,
  };
  const res = await getFromTool(request.pools, req);
  if (res.statusCode !== 200) {
    res.body.resume();
    throw toolRefusal(req, res.statusCode, { resource: 'repository', name: repo.display }, injector !== null);
  }
  const contentType =
    String(res.headers['content-type'] ?? '')
      .split(';')[0]
      ?.trim() ?? '';
  if (contentType !== advertisementType) {
    res.body.resume();
    throw badGateway(
      `${tool} at ${address.origin} did not answer with a smart-HTTP ref advertisement for repository ` +
        `"${repo.display}" (content type "${serverText(contentType)}"); only smart HTTP is supported`,
    );
  }
  const parser = new RefAdvertisementParser(
    (name) => name.startsWith('refs/heads/') || name.startsWith('refs/tags/'),
  );
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) parser.push(chunk);
    return parser.end();
  } catch (err) {
    res.body.destroy();
    if (err instanceof GitProtocolError) {
      throw badGateway(
        err.fromServer
          ? `${tool} at ${address.origin} reported an error for repository "${repo.display}": ${serverText(err.message)}`
          : `${tool} at ${address.origin} sent a ref advertisement that cannot be read: ${serverText(err.message)}`,
      );
    }
    throw err;
  }
}

function refsUnder(refs: readonly Ref[], prefix: string, strip: boolean): GitRefItem[] {
  return refs
    .filter((r) => r.name.startsWith(prefix))
    .map((r) => ({ name: strip ? r.name.slice(prefix.length) : r.name, commitID: commitOf(r) }));
}

export const gitApi: ClassApi = {
  prefix: '/git',
  routes: [
    {
      path: '/branches',
      async get(request) {
        const query = parseListQuery(request.query);
        const refs = await advertisedRefs(request, repositoryTarget(request.plugin.address, request.query));
        return listOf(refsUnder(refs, 'refs/heads/', true), query);
      },
    },
    {
      path: '/tags',
      async get(request) {
        const query = parseListQuery(request.query);
        const refs = await advertisedRefs(request, repositoryTarget(request.plugin.address, request.query));
        return listOf(refsUnder(refs, 'refs/tags/', true), query);
      },
    },
    {
      // The published resource path is /git/gitrefs, below the class prefix /git.
      path: '/git/gitrefs',
      async get(request) {
        const query = parseListQuery(request.query);
        const refs = await advertisedRefs(request, repositoryTarget(request.plugin.address, request.query));
        return listOf(
          [...refsUnder(refs, 'refs/heads/', false), ...refsUnder(refs, 'refs/tags/', false)],
          query,
        );
      },
    },
  ],
};
