// Many Connectors for the scale rows, created straight through kube-apiserver's API: one POST each,
// many in parallel, which is several times faster than kubectl apply of the same List (a GET and
// a write per object, one at a time).

import { Agent, request } from 'undici';
import type { ControlPlane } from '../hack/controlplane.js';

/**
 * Creates `names.length` Connectors in `namespace` from `spec`, `parallel` at a time, as admin.
 * Returns the seconds it took. One that exists already is fine (a re-run).
 */
export async function createConnectors(
  cp: ControlPlane,
  namespace: string,
  names: string[],
  spec: Record<string, unknown>,
  parallel = 32,
): Promise<number> {
  const agent = new Agent({
    connections: parallel,
    connect: { ca: cp.caCertPem, cert: cp.admin.certPem, key: cp.admin.keyPem },
  });
  const url = `${cp.server}/apis/connectors.alauda.io/v1alpha1/namespaces/${namespace}/connectors`;
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let name = names[next++]; name !== undefined; name = names[next++]) {
      const r = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'connectors.alauda.io/v1alpha1',
          kind: 'Connector',
          metadata: { name, namespace },
          spec,
        }),
        dispatcher: agent,
      });
      const text = await r.body.text();
      if (r.statusCode !== 201 && r.statusCode !== 409) {
        throw new Error(`creating Connector ${namespace}/${name}: ${r.statusCode} ${text.slice(0, 300)}`);
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
