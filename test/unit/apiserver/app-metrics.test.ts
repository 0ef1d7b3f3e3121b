// The request metrics of the handler chain (apiserver/app.ts + metrics.ts), in-process over plain
// HTTP: who can create series (only authenticated callers), and which label values exist at all
// (a served subresource or `other`, a verb of the fixed table or `other`), so that no caller can
// grow /metrics by choosing names.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { request } from 'undici';
import { createApp } from '../../../apiserver/app.js';
import { Authenticator } from '../../../apiserver/authn.js';
import type { UserInfo } from '../../../kube/tokenreview.js';
import { InflightLimiter } from '../../../machinery/inflight.js';
import { createLogger } from '../../../machinery/log.js';
import { responseHeadSent } from '../../../machinery/responsehead.js';
import { Metrics } from '../../../apiserver/metrics.js';
import type { ConnectorClass } from '../../../registry/types.js';
import { SubresourceCatalog, type SubresourceHandler } from '../../../registry/subresource.js';

const token = 'app-metrics-token';
const alice: UserInfo = { username: 'alice', groups: [], extra: {} };
const gv = '/apis/subresources.connectors.alauda.io/v1alpha1';

/** A class that declares the `widgets` subresource (one GET operation). */
const widgetClass = {
  apiVersion: 'connectors.alauda.io/v1alpha1',
  kind: 'ConnectorClass',
  metadata: { name: 'widgets-class' },
  spec: {
    api: {
      openapi: {
        openapi: '3.0.3',
        info: { title: 't', version: '1' },
        paths: { '/widgets': { get: { operationId: 'list' } } },
      },
    },
  },
} as unknown as ConnectorClass;

interface Harness {
  url: string;
  metrics: Metrics;
  server: Server;
}

async function start(opts: { proxy?: SubresourceHandler; now?: () => bigint } = {}): Promise<Harness> {
  const log = createLogger({ level: 'error', write: () => undefined });
  const metrics = new Metrics(new InflightLimiter({ readOnly: 0, mutating: 0 }, log));
  // Every subresource answers 200 as class `widgets-class`, or 404 when no class declares it (as
  // the class API handler does for an undeclared name).
  const answer: SubresourceHandler = {
    serve({ info, res }) {
      const declared = info.subresource === 'proxy' || info.subresource === 'widgets';
      res.writeHead(declared ? 200 : 404, { 'content-type': 'text/plain' });
      res.end('x');
      return Promise.resolve({ status: declared ? 200 : 404, connectorClass: 'widgets-class' });
    },
  };
  const lister = {
    connector: () => undefined,
    connectorClass: (name: string) => (name === 'widgets-class' ? widgetClass : undefined),
    connectorClasses: () => [widgetClass],
  };
  const app = createApp({
    log,
    metrics,
    authenticator: new Authenticator(
      () => null,
      { review: (t) => Promise.resolve(t === token ? alice : null) },
      log,
    ),
    authorizer: { authorize: () => Promise.resolve({ allowed: true, reason: '' }) },
    subresources: new SubresourceCatalog(
      [{ name: 'proxy', kind: 'ConnectorProxyOptions', verbs: ['get'], ...(opts.proxy ?? answer) }],
      answer,
      lister,
    ),
    admission: new Map(),
    admissionFromCluster: () => false,
    notReady: () => [],
    ...(opts.now ? { now: opts.now } : {}),
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, metrics, server };
}

async function stop(h: Harness): Promise<void> {
  h.server.closeAllConnections();
  await new Promise<void>((resolve) =>
    h.server.close(() => {
      resolve();
    }),
  );
}

async function call(
  h: Harness,
  path: string,
  opts: { auth?: boolean; method?: string } = {},
): Promise<number> {
  const r = await request(`${h.url}${path}`, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.auth ? { authorization: `Bearer ${token}` } : {},
  });
  await r.body.dump();
  return r.statusCode;
}

/** The label sets of one metric, as `{…}` strings. */
async function series(h: Harness, name: string): Promise<string[]> {
  const text = await h.metrics.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => l.slice(name.length, l.lastIndexOf('}') + 1));
}

describe('apiserver request metrics', function () {
  let h: Harness;

  beforeEach(async function () {
    h = await start();
  });

  afterEach(async function () {
    await stop(h);
  });

  it('an unauthenticated request creates no series, whatever name it carries', async function () {
    for (let i = 0; i < 200; i++) {
      expect(await call(h, `${gv}/namespaces/ns/connectors/c/name-${i}`)).to.equal(401);
    }
    expect(await series(h, 'connectors_apiserver_requests_total')).to.deep.equal([]);
    expect(await series(h, 'connectors_apiserver_request_duration_seconds_count')).to.deep.equal([]);
  });

  it('a subresource nobody serves is labelled `other`, one series for any number of names', async function () {
    for (let i = 0; i < 50; i++) {
      expect(await call(h, `${gv}/namespaces/ns/connectors/c/name-${i}`, { auth: true })).to.equal(404);
    }
    expect(await series(h, 'connectors_apiserver_request_duration_seconds_count')).to.deep.equal([
      '{subresource="other",connector_class="widgets-class"}',
    ]);
  });

  it('proxy and a class-declared subresource keep their names', async function () {
    expect(await call(h, `${gv}/namespaces/ns/connectors/c/proxy/x`, { auth: true })).to.equal(200);
    expect(await call(h, `${gv}/namespaces/ns/connectors/c/widgets`, { auth: true })).to.equal(200);
    expect(await series(h, 'connectors_apiserver_requests_total')).to.have.members([
      '{subresource="proxy",verb="get",code="200",connector_class="widgets-class"}',
      '{subresource="widgets",verb="get",code="200",connector_class="widgets-class"}',
    ]);
  });

  it('a verb outside the table is labelled `other`', async function () {
    // OPTIONS has no verb in the table: it is refused (405) before any subresource, and counted.
    await call(h, `${gv}/namespaces/ns/connectors/c/proxy/x`, { auth: true, method: 'OPTIONS' });
    expect(await series(h, 'connectors_apiserver_requests_total')).to.deep.equal([
      '{subresource="proxy",verb="other",code="405",connector_class=""}',
    ]);
  });
});

describe('apiserver latency histogram', function () {
  it('measures the time to response headers, not the stream that follows', async function () {
    // A fake clock: the head goes out 2 s after the request arrived, the stream ends at 60 s.
    let clock = 0n;
    const second = 1_000_000_000n;
    const h = await start({
      now: () => clock,
      proxy: {
        serve({ res }) {
          clock = 2n * second;
          res.writeHead(200, { 'content-type': 'text/plain' });
          responseHeadSent(res);
          clock = 60n * second;
          res.end('a long stream');
          return Promise.resolve({ status: 200, connectorClass: 'widgets-class' });
        },
      },
    });
    try {
      expect(await call(h, `${gv}/namespaces/ns/connectors/c/proxy/x`, { auth: true })).to.equal(200);
      const text = await h.metrics.registry.metrics();
      expect(text).to.match(/^connectors_apiserver_request_duration_seconds_sum\{[^}]*\} 2$/m);
      expect(text).to.match(/^connectors_apiserver_request_duration_seconds_bucket\{le="1",[^}]*\} 0$/m);
      expect(text).to.match(/^connectors_apiserver_request_duration_seconds_bucket\{le="2.5",[^}]*\} 1$/m);
    } finally {
      await stop(h);
    }
  });

  it('a Status answered before any head is timed to its end', async function () {
    let clock = 0n;
    const h = await start({
      now: () => clock,
      proxy: {
        serve() {
          clock = 3_000_000_000n;
          return Promise.reject(new Error('boom'));
        },
      },
    });
    try {
      expect(await call(h, `${gv}/namespaces/ns/connectors/c/proxy/x`, { auth: true })).to.equal(500);
      const text = await h.metrics.registry.metrics();
      expect(text).to.match(/^connectors_apiserver_request_duration_seconds_sum\{[^}]*\} 3$/m);
    } finally {
      await stop(h);
    }
  });
});
