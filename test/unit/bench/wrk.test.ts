// The bench reads wrk's text summary, and for rows through kube-apiserver a Lua script's counts of
// the failed answers: a change of either format would make a row silently report zero errors.
// These run the real wrk (installed by hack/test-tools.sh) against a local server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { parseWrk, wrk } from '../../../bench/wrk.js';

describe('bench/wrk', () => {
  let server: Server;
  let url: string;
  const seen = new Set<string>();

  before(async () => {
    let n = 0;
    server = createServer((req, res) => {
      seen.add(req.url ?? '');
      n++;
      if (n % 5 === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"kind":"Status",\n  "message":"service unavailable"}');
      } else if (n % 7 === 0) {
        res.writeHead(429);
        res.end('slow down');
      } else {
        res.end('ok');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.close();
  });

  it('counts the failed answers by status and keeps the first on one line', async () => {
    const r = await wrk(`${url}/x`, { connections: 2, seconds: 1, statuses: true });
    expect(r.requestsPerSec).to.be.greaterThan(0);
    expect(Object.keys(r.failures ?? {}).sort()).to.deep.equal(['429', '503']);
    const counted = Object.values(r.failures ?? {}).reduce((a, b) => a + b, 0);
    expect(counted).to.equal(r.errors);
    expect(r.firstFailure).to.match(
      /^(503 \{"kind":"Status", "message":"service unavailable"\}|429 slow down)$/,
    );
  });

  it('counts failures while sending several targets in turn', async () => {
    seen.clear();
    const r = await wrk(url, { connections: 2, seconds: 1, statuses: true, targets: ['/a', '/b'] });
    expect([...seen].sort()).to.deep.equal(['/a', '/b']);
    expect(r.failures?.['503']).to.be.greaterThan(0);
  });

  it('counts no statuses unless asked, and still counts the errors', async () => {
    const r = await wrk(`${url}/x`, { connections: 2, seconds: 1 });
    expect(r.failures).to.equal(undefined);
    expect(r.firstFailure).to.equal(undefined);
    expect(r.errors).to.be.greaterThan(0);
  });

  it('reads latencies in every unit wrk prints, and socket errors', () => {
    const out = [
      'Running 1s test @ http://127.0.0.1:1/',
      '  Latency Distribution',
      '     50%  812.00us',
      '     99%    1.20s',
      '  Socket errors: connect 1, read 2, write 3, timeout 4',
      '  Non-2xx or 3xx responses: 5',
      'Requests/sec:   1234.50',
    ].join('\n');
    expect(parseWrk(out)).to.deep.equal({ requestsPerSec: 1234.5, p50Ms: 0.812, p99Ms: 1200, errors: 15 });
  });
});
