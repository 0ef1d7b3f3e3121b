// kube/ against the real kube-apiserver: the lean client reads the admin kubeconfig (client
// certificate, embedded CA), the informer lists, watches and tells add/update/delete as kubectl
// makes changes; after its connections are cut (every socket through a TCP relay destroyed, new
// ones refused for a while) it resumes its watch and catches up with what changed meanwhile; and
// after kube-apiserver restarts, when the resourceVersion it resumes from is no longer served, it
// relists and tells the difference.

import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { expect } from 'chai';
import { createLogger } from '../../machinery/log.js';
import { KubeClient } from '../../kube/client.js';
import { loadClusterAccess } from '../../kube/config.js';
import { Informer } from '../../kube/informer.js';
import { env, eventually, gvPath, kubectl, kubectlOk, namespace } from '../helpers/env.js';

interface ConfigMap {
  metadata: { name: string; namespace: string; resourceVersion: string };
  data?: Record<string, string>;
}

/** A TCP relay to kube-apiserver that can cut every connection and refuse new ones. */
class Relay {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  refusing = false;
  connections = 0;

  constructor(target: URL) {
    this.server = createServer((inbound) => {
      if (this.refusing) {
        inbound.destroy();
        return;
      }
      this.connections++;
      const outbound = connect(Number(target.port), target.hostname);
      for (const [a, b] of [
        [inbound, outbound],
        [outbound, inbound],
      ] as const) {
        this.sockets.add(a);
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
      }
    });
  }

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    this.server.close();
    await once(this.server, 'close');
  }
}

describe('kube/: the lean client and informer against kube-apiserver', function () {
  this.timeout(60_000);
  let ns: string;
  let relay: Relay;
  let kube: KubeClient;
  const informers: Informer<ConfigMap>[] = [];
  const events: string[] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = createLogger({
    level: 'info',
    write: (line) => {
      const r = JSON.parse(line) as { level: string; msg: string; error?: string };
      if (r.level === 'warn') warnings.push(`${r.msg}: ${r.error ?? ''}`);
      else infos.push(r.msg);
    },
  });

  before(async function () {
    ns = await namespace('informer');
    const cp = env().sys.cp;
    relay = new Relay(new URL(cp.server));
    const port = await relay.listen();
    // The admin kubeconfig as written, with only the address changed to the relay (the serving
    // certificate names 127.0.0.1, so TLS still verifies).
    const access = loadClusterAccess({ kubeconfig: cp.kubeconfigPath });
    kube = new KubeClient({ ...access, server: `https://127.0.0.1:${port}` }, { userAgent: 'informer-test' });
  });

  beforeEach(() => {
    events.length = 0;
    warnings.length = 0;
  });

  after(async function () {
    await Promise.all(informers.map((i) => i.stop()));
    await kube.close();
    await relay.close();
  });

  const cm = (name: string, value: string, inNamespace = ns): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: inNamespace },
      data: { value },
    });

  /** An informer through the relay, its events told into `events` as "add name=value". */
  function watching(path: string): Informer<ConfigMap> {
    const i = new Informer<ConfigMap>({ what: 'configmaps', client: kube, path, log });
    informers.push(i);
    for (const e of ['add', 'update', 'delete'] as const) {
      i.on(e, (o) => events.push(`${e} ${o.metadata.name}=${o.data?.['value'] ?? ''}`));
    }
    i.start();
    return i;
  }

  it('lists, then sees add, update and delete; resumes after the watch is cut and catches up', async function () {
    await kubectlOk(['apply', '-f', '-'], { input: cm('before', '1') });
    const i = watching(`/api/v1/namespaces/${ns}/configmaps`);
    await eventually('the first list', () => Promise.resolve(i.hasSynced));
    expect(i.get('before', ns)?.data).to.deep.equal({ value: '1' });

    await kubectlOk(['apply', '-f', '-'], { input: cm('born', 'a') });
    await kubectlOk(['apply', '-f', '-'], { input: cm('before', '2') });
    await kubectlOk(['delete', 'configmap', 'born', '-n', ns]);
    await eventually('the watch events', () => Promise.resolve(events.length >= 4));
    expect(events).to.deep.equal(['add before=1', 'add born=a', 'update before=2', 'delete born=a']);

    // Cut: every connection through the relay dies, and new ones are refused meanwhile.
    events.length = 0;
    const connectionsBefore = relay.connections;
    relay.refusing = true;
    relay.cut();
    await eventually('the informer to notice', () => Promise.resolve(warnings.length > 0));
    await kubectlOk(['apply', '-f', '-'], { input: cm('while-away', 'x') });
    await kubectlOk(['apply', '-f', '-'], { input: cm('before', '3') });
    expect(events).to.deep.equal([]);
    relay.refusing = false;
    await eventually('the informer to catch up', () => Promise.resolve(events.length >= 2), 40_000);
    expect(events).to.deep.equal(['add while-away=x', 'update before=3']);
    expect(relay.connections).to.be.above(connectionsBefore);
    expect(warnings[0]).to.match(/^watch failed; restarting/);
    expect(
      i
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).to.deep.equal(['before', 'while-away']);

    // And it is live again.
    await kubectlOk(['delete', 'configmap', 'while-away', '-n', ns]);
    await eventually('the delete after the cut', () => Promise.resolve(events.length >= 3));
    expect(events[2]).to.equal('delete while-away=x');
    await i.stop();
  });

  it('after kube-apiserver restarted, a watch from before it is expired: it relists and tells the difference', async function () {
    this.timeout(180_000);
    const cp = env().sys.cp;
    const other = await namespace('relist');
    const put = (name: string, value: string): Promise<string> =>
      kubectlOk(['apply', '-f', '-'], { input: cm(name, value, other) });
    await Promise.all([put('kept', '1'), put('changed', '1'), put('doomed', '1')]);
    const i = watching(`/api/v1/namespaces/${other}/configmaps`);
    await eventually('the first list', () => Promise.resolve(i.hasSynced));
    expect(events).to.have.length(3);
    events.length = 0;

    // Away while things change and kube-apiserver restarts: its watch cache starts afresh after
    // the changes, so the resourceVersion the informer resumes from is no longer served.
    relay.refusing = true;
    relay.cut();
    await eventually('the informer to notice', () => Promise.resolve(warnings.length > 0));
    await put('changed', '2');
    await kubectlOk(['delete', 'configmap', 'doomed', '-n', other]);
    await put('born', '1');
    await cp.restart();
    relay.refusing = false;

    await eventually('the relist', () => Promise.resolve(events.length >= 3), 60_000);
    expect(infos).to.include('resourceVersion expired; relisting');
    expect(events).to.deep.equal(['delete doomed=1', 'add born=1', 'update changed=2']);
    expect(
      i
        .list()
        .map((o) => `${o.metadata.name}=${o.data?.['value'] ?? ''}`)
        .sort(),
    ).to.deep.equal(['born=1', 'changed=2', 'kept=1']);
    // The suite goes on: wait for the aggregated API to be back through kube-apiserver.
    await eventually(
      'the aggregated API through kube-apiserver',
      async () => (await kubectl(['get', '--raw', gvPath])).code === 0,
      90_000,
    );
  });
});
