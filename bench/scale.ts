// Many Connectors for the scale rows, created and deleted straight through kube-apiserver's API: one
// request each, many in parallel, which is several times faster than kubectl apply of the same List
// (a GET and a write per object, one at a time).

import { Agent, request } from 'undici';
import type { ControlPlane } from '../hack/controlplane.js';

/**
 * Sends one request per name to the Connectors of `namespace`, `parallel` at a time, as admin;
 * `ok` says which statuses count as done. Returns the seconds it took.
 */
async function perConnector(
  cp: ControlPlane,
  namespace: string,
  names: string[],
  parallel: number,
  send: (collection: string, name: string) => { method: 'POST' | 'DELETE'; url: string; body?: string },
  ok: (status: number) => boolean,
): Promise<number> {
  const agent = new Agent({
    connections: parallel,
    connect: { ca: cp.caCertPem, cert: cp.admin.certPem, key: cp.admin.keyPem },
  });
  const collection = `${cp.server}/apis/connectors.alauda.io/v1alpha1/namespaces/${namespace}/connectors`;
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let name = names[next++]; name !== undefined; name = names[next++]) {
      const { method, url, body } = send(collection, name);
      const r = await request(url, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body }),
        dispatcher: agent,
      });
      const text = await r.body.text();
      if (!ok(r.statusCode)) {
        throw new Error(`${method} Connector ${namespace}/${name}: ${r.statusCode} ${text.slice(0, 300)}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    await agent.close();
  }
  return (Date.now() - started) / 1000;
}

/** Creates the Connectors `names` from `spec`; one that exists already is fine (a re-run). */
export function createConnectors(
  cp: ControlPlane,
  namespace: string,
  names: string[],
  spec: Record<string, unknown>,
  parallel = 32,
): Promise<number> {
  return perConnector(
    cp,
    namespace,
    names,
    parallel,
    (collection, name) => ({
      method: 'POST',
      url: collection,
      body: JSON.stringify({
        apiVersion: 'connectors.alauda.io/v1alpha1',
        kind: 'Connector',
        metadata: { name, namespace },
        spec,
      }),
    }),
    (status) => status === 201 || status === 409,
  );
}

/** Deletes the Connectors `names`; one already gone is fine. */
export function deleteConnectors(
  cp: ControlPlane,
  namespace: string,
  names: string[],
  parallel = 32,
): Promise<number> {
  return perConnector(
    cp,
    namespace,
    names,
    parallel,
    (collection, name) => ({ method: 'DELETE', url: `${collection}/${name}` }),
    (status) => status === 200 || status === 404,
  );
}
