// The health port of a process that serves nothing else (the controller): the probes answer as every
// process's do, /metrics is the process's registry, anything else is a NotFound Status.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { startHealthServer, type HealthServer } from '../../../machinery/healthserver.js';
import { ComponentMetrics } from '../../../machinery/metrics.js';

describe('machinery/healthserver', () => {
  let server: HealthServer;
  let problems: string[] = [];
  const metrics = new ComponentMetrics('controller');
  metrics.gauge('leader', 'test').set(1);

  before(async () => {
    server = await startHealthServer({
      port: 0,
      bindAddress: '127.0.0.1',
      notReady: () => problems,
      metrics: metrics.registry,
    });
  });
  after(() => server.close());

  const get = async (path: string): Promise<{ status: number; type: string; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
  };

  it('answers /healthz, /livez and /readyz; /readyz names what is not ready', async () => {
    problems = [];
    expect(await get('/healthz')).to.include({ status: 200, body: 'ok\n' });
    expect(await get('/readyz?verbose')).to.include({ status: 200, body: 'ok\n' });
    problems = ['informers not synced'];
    expect(await get('/readyz')).to.include({ status: 503, body: 'not ready: informers not synced\n' });
    expect(await get('/livez')).to.include({ status: 200, body: 'ok\n' });
  });

  it('serves the registry on /metrics under the one naming convention', async () => {
    const res = await get('/metrics');
    expect(res.status).to.equal(200);
    expect(res.type).to.equal(new Registry().contentType);
    expect(res.body).to.match(/^connectors_controller_leader 1$/m);
  });

  it('answers any other path with a NotFound Status', async () => {
    const res = await get('/debug/pprof');
    expect(res.status).to.equal(404);
    expect(JSON.parse(res.body)).to.include({ kind: 'Status', reason: 'NotFound', code: 404 });
  });
});
