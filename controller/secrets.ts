// Secrets, without ever watching them. The controller reads a Connector's Secret by name when it
// reconciles that Connector (`get` only), and notices changes by polling the resourceVersion of just
// the Secrets that Connectors reference.
//
// Why polling and not a watch: a watch on Secrets needs `list`+`watch` on Secrets, and RBAC cannot
// limit those to metadata or to the referenced names (they are not known in advance), so even a
// metadata-only watch would hand this controller a cluster-wide read of every credential. A `get`
// per referenced Secret asks for PartialObjectMetadata only (the Accept header), so the poll moves
// no Secret data over the wire and needs nothing beyond the `get` the reconcile needs anyway. Cost:
// one small GET per referenced Secret per --secret-poll-interval (Secrets shared by Connectors are
// polled once), a few at a time; with 1,000 distinct Secrets and the default 5 s that is 200 small
// GETs per second, so larger installations raise the interval. A change is seen within one poll
// interval; in between, the periodic re-probe reads the Secret fresh anyway.

import type { Logger } from '../machinery/log.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { resourcePath, type Secret } from '../kube/objects.js';
import type { SecretRead } from './connector.js';

const metadataOnly = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

export class SecretReader {
  constructor(private readonly kube: KubeClient) {}

  /** The Secret, or the reason it cannot be read, with kube-apiserver's wording. */
  async read(namespace: string, name: string): Promise<SecretRead> {
    try {
      const s = await this.kube.get<Secret>(this.path(namespace, name));
      return {
        found: true,
        secret: { name, namespace, type: s.type ?? 'Opaque', data: s.data ?? {} },
        resourceVersion: s.metadata?.resourceVersion ?? '',
      };
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        return { found: false, reason: 'NotFound', message: `secrets "${name}" not found` };
      }
      if (err instanceof KubeApiError && err.status === 403) {
        return {
          found: false,
          reason: 'Forbidden',
          message: `secrets "${name}" is forbidden: the controller may not get it; grant its ServiceAccount "get" on secrets`,
        };
      }
      throw err;
    }
  }

  /** The Secret's resourceVersion ('' when it does not exist), reading metadata only. */
  async version(namespace: string, name: string): Promise<string> {
    try {
      const s = await this.kube.get<Secret>(this.path(namespace, name), { accept: metadataOnly });
      return s.metadata?.resourceVersion ?? '';
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return '';
      throw err;
    }
  }

  private path(namespace: string, name: string): string {
    return resourcePath({ version: 'v1', resource: 'secrets', namespace, name });
  }
}

/**
 * Tracks which owners (Connector keys) depend on which Secrets and calls `onChange(owner)` for each
 * owner of a Secret whose resourceVersion changed (created, updated or deleted) since the last poll.
 */
export class SecretPoller {
  private readonly owners = new Map<string, Set<string>>(); // secret → owners
  private readonly secretsOf = new Map<string, Set<string>>(); // owner → secrets
  private readonly versions = new Map<string, string>(); // secret → last seen resourceVersion
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private epoch = 0;
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly reader: Pick<SecretReader, 'version'>,
    private readonly intervalMs: number,
    private readonly onChange: (owner: string) => void,
    private readonly log: Logger,
    private readonly concurrency = 8,
  ) {}

  /** Sets the Secrets (`namespace/name`) that `owner` depends on; [] forgets the owner. */
  track(owner: string, secrets: readonly string[]): void {
    const before = this.secretsOf.get(owner) ?? new Set<string>();
    const after = new Set(secrets);
    for (const s of before) {
      if (after.has(s)) continue;
      const set = this.owners.get(s);
      set?.delete(owner);
      if (set?.size === 0) {
        this.owners.delete(s);
        this.versions.delete(s);
      }
    }
    for (const s of after) {
      let set = this.owners.get(s);
      if (!set) this.owners.set(s, (set = new Set()));
      set.add(owner);
    }
    if (after.size === 0) this.secretsOf.delete(owner);
    else this.secretsOf.set(owner, after);
  }

  /**
   * Records the version a reconcile just read ('' = absent), so that the next poll compares with
   * what the owner saw rather than with whatever it finds first.
   */
  noteVersion(secret: string, version: string): void {
    if (this.owners.has(secret)) this.versions.set(secret, version);
  }

  /** How many distinct Secrets are polled. */
  get size(): number {
    return this.owners.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // A new chain of polls; one left over from before a quick stop/start ends itself.
    this.schedule(++this.epoch);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
  }

  /** One round over every tracked Secret (exposed for tests). */
  async pollOnce(): Promise<void> {
    const queue = [...this.owners.keys()];
    const worker = async (): Promise<void> => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        const [namespace = '', name = ''] = key.split('/');
        let version: string;
        try {
          version = await this.reader.version(namespace, name);
        } catch (err) {
          this.log.debug('secret poll failed; trying again next round', { secret: key, error: err });
          continue;
        }
        if (!this.owners.has(key)) continue; // untracked meanwhile
        const before = this.versions.get(key);
        this.versions.set(key, version);
        // The first sighting only records the version: the owner was just reconciled with it.
        if (before !== undefined && before !== version) {
          this.log.debug('secret changed', { secret: key });
          for (const owner of this.owners.get(key) ?? []) this.onChange(owner);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
  }

  private schedule(epoch: number): void {
    this.timer = setTimeout(() => {
      this.current = this.pollOnce().finally(() => {
        if (this.running && epoch === this.epoch) this.schedule(epoch);
      });
    }, this.intervalMs);
    this.timer.unref();
  }
}
