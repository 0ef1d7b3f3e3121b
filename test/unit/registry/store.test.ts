// ConnectorStore over the lean client and a stand-in for kube-apiserver: not ready until both
// lists have succeeded (a failed list is retried, it does not count as synced), lookups served
// from the cache, and a watch event for a ConnectorClass reaching the cache and onClassChange.
// (The informer's own rules, backoff and relisting: test/unit/kube/informer.test.ts.)

import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import { KubeClient } from '../../../kube/client.js';
import { staticAccess } from '../../../kube/config.js';
import { ConnectorStore } from '../../../registry/store.js';

const gv = '/apis/connectors.alauda.io/v1alpha1';
const line = (ev: unknown): string => `${JSON.stringify(ev)}\n`;

describe('registry/store ConnectorStore', function () {
  this.timeout(10_000);
  let server: Server;
  let kube: KubeClient;
  let store: ConnectorStore | undefined;
  let failConnectorLists: number;
  const requests: string[] = [];
  const watches = new Map<string, ServerResponse>();

  const connector = { metadata: { name: 'git', namespace: 'team-a', resourceVersion: '5' }, spec: {} };
  const gitlab = (rv: string, uri: string) => ({
    metadata: { name: 'gitlab', resourceVersion: rv },
    spec: { api: { uri } },
  });

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(`${url.pathname}${url.search}`);
      const plural = url.pathname.split('/').at(-1) ?? '';
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
        watches.set(plural, res);
        return;
      }
      if (plural === 'connectors' && failConnectorLists-- > 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: 'etcd' }));
        return;
      }
      const items = plural === 'connectors' ? [connector] : [gitlab('6', '/v1')];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { resourceVersion: '10' }, items }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  beforeEach(() => {
    requests.length = 0;
    watches.clear();
    failConnectorLists = 0;
    kube = new KubeClient(staticAccess(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });

  afterEach(async () => {
    await store?.stop();
    store = undefined;
    await kube.close();
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  const log = createLogger({ level: 'error', write: () => undefined });
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  async function until(what: string, check: () => boolean): Promise<void> {
    for (let waited = 0; !check(); waited += 20) {
      if (waited > 5_000) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  it('has not synced while a list fails, and has once both lists succeeded', async () => {
    failConnectorLists = 1;
    store = new ConnectorStore(kube, log);
    store.start();
    await until('the class watch', () => watches.has('connectorclasses'));
    expect(store.hasSynced).to.equal(false);
    expect(store.connectorClass('gitlab')?.spec?.api?.uri).to.equal('/v1');
    await until('the sync', () => store?.hasSynced === true); // the retry after 1 s
    expect(store.connector('team-a', 'git')?.metadata?.resourceVersion).to.equal('5');
    expect(store.connector('team-b', 'git')).to.equal(undefined);
    expect(requests.filter((r) => r.startsWith(`${gv}/connectors?limit=500`))).to.have.length(2);
  });

  it('watches from the list’s resourceVersion; a class change reaches the cache and onClassChange', async () => {
    store = new ConnectorStore(kube, log);
    let changes = 0;
    store.onClassChange(() => changes++);
    store.start();
    await until('both watches', () => watches.size === 2);
    expect(store.hasSynced).to.equal(true);
    const watch = requests.find((r) => r.startsWith(`${gv}/connectorclasses?watch=true`));
    expect(watch).to.match(/&resourceVersion=10&allowWatchBookmarks=true&timeoutSeconds=\d+$/);
    expect(changes).to.equal(1); // the listed class
    watches.get('connectorclasses')?.write(line({ type: 'MODIFIED', object: gitlab('11', '/v2') }));
    await until('the change', () => changes === 2);
    expect(store.connectorClass('gitlab')?.spec?.api?.uri).to.equal('/v2');
    expect(store.connectorClasses()).to.have.length(1);
  });
});
