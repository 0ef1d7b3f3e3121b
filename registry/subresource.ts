// Connector subresources: the built-in ones (proxy), each a module behind one small interface, and
// the ones ConnectorClasses declare, served by one handler. The catalog dispatches by name and
// describes them all for discovery. The API layer has already authenticated and authorized.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserInfo } from '../kube/tokenreview.js';
import type { RequestInfo } from '../machinery/requestinfo.js';
import { classApi } from './operations.js';
import type { ConnectorLister } from './store.js';

export interface SubresourceRequest {
  info: RequestInfo;
  /** The authenticated caller (for a subresource that checks more than its own RBAC). */
  user: UserInfo;
  req: IncomingMessage;
  res: ServerResponse;
}

export interface ServeResult {
  status: number;
  /** The ConnectorClass of the Connector served, for metrics labels. */
  connectorClass: string;
}

export interface SubresourceHandler {
  serve(request: SubresourceRequest): Promise<ServeResult>;
}

/** What discovery says about a subresource. */
export interface SubresourceDescription {
  /** The subresource name: `connectors/<name>` in RBAC and discovery. */
  readonly name: string;
  /** The discovery kind (client-go drops subresources without one). */
  readonly kind: string;
  /** Discovery verbs, derived from the HTTP methods served. */
  readonly verbs: readonly string[];
}

export interface Subresource extends SubresourceDescription, SubresourceHandler {}

function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

export class SubresourceCatalog {
  private readonly builtins: ReadonlyMap<string, Subresource>;
  private described: { generation: number; list: readonly SubresourceDescription[] } | undefined;
  private generation = 0;

  constructor(
    builtins: readonly Subresource[],
    private readonly classApis: SubresourceHandler,
    private readonly lister: ConnectorLister,
  ) {
    this.builtins = new Map(builtins.map((s) => [s.name, s]));
  }

  /** Call when the set of ConnectorClasses changed; discovery is rebuilt on next use. */
  invalidate(): void {
    this.generation++;
  }

  /** Changes whenever the descriptions may have changed (for ETag-style caching). */
  get version(): number {
    return this.generation;
  }

  /** The handler for a subresource name; class-declared names are checked against the Connector's class. */
  handler(name: string): SubresourceHandler {
    return this.builtins.get(name) ?? this.classApis;
  }

  describe(): readonly SubresourceDescription[] {
    if (this.described?.generation === this.generation) return this.described.list;
    const declared = new Map<string, Set<string>>();
    for (const cls of this.lister.connectorClasses()) {
      for (const [name, verbs] of classApi(cls).subresources) {
        if (this.builtins.has(name)) continue;
        let all = declared.get(name);
        if (!all) declared.set(name, (all = new Set()));
        for (const v of verbs) all.add(v);
      }
    }
    const list: SubresourceDescription[] = [
      ...this.builtins.values(),
      ...[...declared].map(([name, verbs]) => ({
        name,
        kind: `Connector${pascal(name)}`,
        verbs: [...verbs],
      })),
    ];
    this.described = { generation: this.generation, list };
    return list;
  }
}
