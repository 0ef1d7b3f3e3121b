// The leak check, run by the fixture's root `afterAll` hook (fixture.ts) after every integration
// test, whichever files ran and in whatever order: no password or token the suite used, nor any ServiceAccount token the control plane issued, appears in
//   - any line of any log written during the run (our processes, the MySQL Connectors Proxy
//     included, kube-apiserver, etcd, the tools, MariaDB),
//   - any answer a test client got (headers and body; a recording tool's echo of what it received
//     is the tool's body and is checked as that tool's record instead),
//   - any request a recording tool received, unless that tool is the Connector's own for that secret,
//   - the metrics of our server and of the example custom proxy (now) and of the processes that are
//     gone (snapshots),
//   - any Connector, ConnectorClass or Event.
// Secrets: every secretValue() and registerSecret(), every ServiceAccount token the control plane
// issued (the servers' own included) and every token the test registries' token servers issued.
// A failure names the place and the secret's label, never the secret (test/helpers/leaks.ts).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { issuedRegistryTokens } from '../../hack/tools/registry.js';
import {
  apply,
  basicAuthSecret,
  connector,
  connectorClass,
  direct,
  env,
  frontProxyCert,
  knownSecrets,
  kubectlOk,
  kubeRequest,
  namespace,
  proxyPath,
} from '../helpers/env.js';
import {
  describeFindings,
  metricsSnapshots,
  recordedResponses,
  recorders,
  scanForLeaks,
  secretLabel,
  type Text,
} from '../helpers/leaks.js';

interface Item {
  kind?: string;
  metadata: { name: string; namespace?: string };
  involvedObject?: { kind?: string; name?: string };
}

async function objects(args: string[]): Promise<Text[]> {
  const list = JSON.parse(await kubectlOk([...args, '-o', 'json'])) as { items: Item[] };
  return list.items.map((item) => {
    const { name, namespace } = item.metadata;
    const about = item.involvedObject
      ? ` about ${item.involvedObject.kind ?? ''} ${item.involvedObject.name ?? ''}`
      : '';
    return {
      where: `${item.kind ?? args[1] ?? ''} ${namespace ? `${namespace}/` : ''}${name}${about}`,
      text: JSON.stringify(item),
    };
  });
}

/**
 * No known secret in a log, an answer, a wrong tool, metrics, a status or an event: throws naming
 * each finding (never the secret); returns what it scanned, for the run's output.
 */
export async function checkNoLeaks(): Promise<string> {
  const { sys, startedAt, tool, toolUser, toolPassword } = env();

  // A canary, so that the check cannot pass by looking nowhere (with --grep, say): the shared tool
  // gets its password through /proxy, which the scan must see there and nowhere else, and the
  // tool's echo of it must be recognised as the tool's.
  const ns = await namespace('leaks');
  await apply([
    connectorClass('http-test'),
    basicAuthSecret(ns, 'creds', toolUser, toolPassword),
    connector(ns, 'canary', { address: tool.url, secret: 'creds' }),
  ]);
  expect((await kubeRequest(proxyPath(ns, 'canary', '/canary'))).status).to.equal(200);

  const logs = readdirSync(sys.logDir)
    .map((name) => join(sys.logDir, name))
    .filter((file) => statSync(file).isFile() && statSync(file).mtimeMs >= startedAt)
    .map((file) => ({ file, text: readFileSync(file, 'utf8') }));
  const logNames = logs.map((l) => l.file.slice(sys.logDir.length + 1));
  expect(logNames).to.include.members([
    'connectors-apiserver.log',
    'classapi.log',
    'kube-apiserver.log',
    ...(sys.signingProxy ? ['signing-proxy.log'] : []),
  ]);

  const admin = { 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' };
  const metrics = await direct('/metrics', { cert: frontProxyCert(), headers: admin });
  expect(metrics.status).to.equal(200);
  // The MySQL Connectors Proxy, when the system runs one (its tests start their own, whose log is
  // among the logs above and whose /metrics they snapshot before stopping it).
  const mysqlProxy = sys.mysqlProxy
    ? [
        {
          where: 'connectors-mysql-proxy /metrics',
          text: await (await fetch(`${sys.mysqlProxy.healthUrl}/metrics`)).text(),
        },
      ]
    : [];
  const customProxyMetrics = sys.signingProxy
    ? [
        {
          where: 'signing-proxy /metrics',
          text: await (await fetch(`${sys.signingProxy.url}/metrics`)).text(),
        },
      ]
    : [];

  const result = scanForLeaks({
    secrets: [
      ...knownSecrets.map((value) => ({ label: secretLabel(value), value })),
      ...sys.cp.issuedTokens.map((t) => ({ label: `token of ${t.serviceAccount}`, value: t.token })),
      ...issuedRegistryTokens.map((value) => ({ label: 'a test registry’s token', value })),
    ],
    logs,
    responses: recordedResponses,
    recorders,
    metrics: [
      ...metricsSnapshots,
      { where: 'connectors-apiserver /metrics', text: metrics.body },
      ...mysqlProxy,
      ...customProxyMetrics,
    ],
    objects: [
      ...(await objects(['get', 'connectors', '-A'])),
      ...(await objects(['get', 'connectorclasses'])),
      ...(await objects(['get', 'events', '-A'])),
    ],
  });
  const s = result.scanned;
  expect(result.findings.length, describeFindings(result.findings)).to.equal(0);
  expect(s.allowedAtTools, 'the canary’s credential at the tool').to.be.greaterThan(0);
  expect(s.toolEchoes, 'the tool’s echo of the canary request').to.be.greaterThan(0);
  expect(s.objects).to.be.greaterThan(0);
  return (
    `no credential leaks: ${s.secrets} secrets; ${s.logFiles} logs, ${s.logLines} lines; ${s.responses} answers,` +
    ` ${s.toolEchoes} of them tool echoes; ${s.toolRequests} tool requests in ${recorders.length}` +
    ` recorders, ${s.allowedAtTools} secrets where they belong; ${s.metrics} metrics; ${s.objects} objects`
  );
}
