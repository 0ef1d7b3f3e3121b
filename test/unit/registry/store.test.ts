// ResilientInformer: ready only once a list has succeeded (client-node's start() resolves after a
// failed list too, which made /readyz say yes with an empty cache); retries that back off while
// failures go on (client-node announces 'connect' before every attempt, which used to reset the
// pause to 1 s each time, so a down kube-apiserver was asked every second forever); and a retry
// even when the request could not be made at all (start() rejects then, without an 'error' event,
// and the informer used to stop for good).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesListObject, type V1ConfigMap } from '@kubernetes/client-node';
import { expect } from 'chai';
import { createLogger } from '../../../apiserver/machinery/log.js';
import { ResilientInformer } from '../../../registry/store.js';

describe('registry/store ResilientInformer', function () {
  this.timeout(20_000);
  let server: Server;
  let url: string;
  let warnings: number[];
  let informer: ResilientInformer<V1ConfigMap> | undefined;

  const log = createLogger({
    level: 'warn',
    write: (line) => {
      const record = JSON.parse(line) as { msg: string; retryMs?: number };
      if (record.msg === 'watch failed; restarting') warnings.push(record.retryMs ?? -1);
    },
  });

  before(async () => {
    // Stands in for kube-apiserver's watch: 200, then nothing until the informer lets go.
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  /** A client of the stand-in; client-node refuses plain HTTP unless TLS checks are off. */
  function kubeConfig(skipTLSVerify: boolean): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: url, skipTLSVerify }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  }

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    warnings = [];
  });

  afterEach(async () => {
    await informer?.stop();
    informer = undefined;
  });

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const emptyList: KubernetesListObject<V1ConfigMap> = { metadata: { resourceVersion: '1' }, items: [] };

  it('has not synced while the list fails, and has once it succeeds', async () => {
    let lists = 0;
    const list = (): Promise<KubernetesListObject<V1ConfigMap>> =>
      ++lists === 1 ? Promise.reject(new Error('connect ECONNREFUSED')) : Promise.resolve(emptyList);
    informer = new ResilientInformer('configmaps', kubeConfig(true), '/api/v1/configmaps', list, log);
    informer.start();
    await sleep(500);
    expect(lists).to.equal(1);
    expect(informer.hasSynced).to.equal(false);
    for (let waited = 0; !informer.hasSynced && waited < 5_000; waited += 100) await sleep(100);
    expect(informer.hasSynced).to.equal(true);
    expect(lists).to.equal(2); // the retry after 1 s
  });

  it('waits twice as long after each failure in a row: 1 s, 2 s, 4 s', async () => {
    const list = (): Promise<KubernetesListObject<V1ConfigMap>> =>
      Promise.reject(new Error('connect ECONNREFUSED'));
    informer = new ResilientInformer('configmaps', kubeConfig(true), '/api/v1/configmaps', list, log);
    informer.start();
    await sleep(5_000); // failures at about 0 s, 1 s and 3 s; the next is due at 7 s
    expect(warnings).to.deep.equal([1_000, 2_000, 4_000]);
    expect(informer.hasSynced).to.equal(false);
  });

  it('retries, backing off, when the watch request cannot even be made', async () => {
    let lists = 0;
    const list = (): Promise<KubernetesListObject<V1ConfigMap>> => {
      lists++;
      return Promise.resolve(emptyList);
    };
    // Plain HTTP with TLS checks on: client-node throws while preparing each watch request.
    informer = new ResilientInformer('configmaps', kubeConfig(false), '/api/v1/configmaps', list, log);
    informer.start();
    await sleep(5_000);
    expect(warnings).to.deep.equal([1_000, 2_000, 4_000]);
    expect(lists).to.equal(1); // the list held; each retry resumes the watch from it
  });
});
