// Self-registration and /healthz, with this test playing kubelet's plugin watcher over real unix
// sockets: GetInfo names the driver and its socket as kubelet sees it; a refused registration makes
// /healthz fail (the container restarts and registers again); shutdown removes the registration
// socket so kubelet deregisters; /healthz fails when the CSI socket stops answering Probe.

import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { request } from 'undici';
import { createLogger } from '../../../machinery/log.js';
import { driverHealthCheck, startHealthServer } from '../../../csi/health.js';
import type { HealthServer } from '../../../machinery/healthserver.js';
import { DirectoryMedium } from '../../../csi/medium.js';
import { DriverServices, driverName } from '../../../csi/node.js';
import { registrationPackage, startRegistration, type Registration } from '../../../csi/registration.js';
import { startCsiServer, type CsiServer } from '../../../csi/server.js';
import { servedMethods, unservedMethods } from '../../helpers/methods.js';

type Unary = (
  request: unknown,
  options: { deadline: number },
  cb: (err: ServiceError | null, res: unknown) => void,
) => void;

function kubeletCall(client: Client, method: string, body: unknown): Promise<unknown> {
  const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
  return new Promise((resolve, reject) => {
    fn.call(client, body, { deadline: Date.now() + 5000 }, (err, res) => {
      if (err) reject(err);
      else resolve(res);
    });
  });
}

describe('csi/registration: registering with kubelet, and /healthz', function () {
  let dir: string;
  let csi: CsiServer;
  let registration: Registration;
  let health: ReturnType<typeof driverHealthCheck>;
  let healthServer: HealthServer;
  let kubelet: Client;
  const logs: string[] = [];

  const healthz = async (): Promise<{ status: number; body: string }> => {
    const res = await request(`http://127.0.0.1:${healthServer.port}/healthz`);
    return { status: res.statusCode, body: await res.body.text() };
  };

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'csi-reg-'));
    const log = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    const services = new DriverServices({
      nodeId: 'node-1',
      operationTimeoutMs: 1000,
      vendorVersion: '1.2.3',
      medium: new DirectoryMedium(),
      content: { render: () => Promise.resolve(new Map()), forget: () => undefined },
      log,
    });
    csi = await startCsiServer(join(dir, 'csi.sock'), {
      identity: services.identityHandlers(),
      node: services.nodeHandlers(),
    });
    registration = await startRegistration({
      dir,
      driverName,
      kubeletEndpoint: '/var/lib/kubelet/plugins/connectors-csi/csi.sock',
      log,
    });
    health = driverHealthCheck({ endpoint: csi.endpoint, registration: registration.state, timeoutMs: 1000 });
    healthServer = await startHealthServer(0, health.check);
    const Registration = registrationPackage['Registration'] as ServiceClientConstructor;
    kubelet = new Registration(`unix://${registration.socketPath}`, credentials.createInsecure());
  });

  after(async function () {
    kubelet.close();
    health.close();
    await healthServer.close();
    await registration.shutdown();
    await csi.shutdown(100);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves <name>-reg.sock, root only, where kubelet watches', function () {
    expect(registration.socketPath).to.equal(join(dir, 'connectors-csi-reg.sock'));
    const st = statSync(registration.socketPath);
    expect(st.isSocket()).to.equal(true);
    expect(st.mode & 0o777).to.equal(0o600);
  });

  it('GetInfo: a CSI plugin named connectors-csi at its socket as kubelet sees it', async function () {
    expect(await kubeletCall(kubelet, 'GetInfo', {})).to.deep.equal({
      type: 'CSIPlugin',
      name: 'connectors-csi',
      endpoint: '/var/lib/kubelet/plugins/connectors-csi/csi.sock',
      supported_versions: ['1.0.0'],
    });
  });

  it('/healthz is ok while the driver answers Probe and kubelet has not refused it', async function () {
    expect(registration.state()).to.deep.equal({ kind: 'pending' });
    expect(await healthz()).to.deep.equal({ status: 200, body: 'ok\n' });
    await kubeletCall(kubelet, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });
    expect(registration.state()).to.deep.equal({ kind: 'registered' });
    expect(await healthz()).to.deep.equal({ status: 200, body: 'ok\n' });
  });

  it('a refused registration fails /healthz with kubelet’s reason, and is logged', async function () {
    await kubeletCall(kubelet, 'NotifyRegistrationStatus', {
      plugin_registered: false,
      error: 'plugin name connectors-csi already registered',
    });
    expect(await healthz()).to.deep.equal({
      status: 503,
      body: 'kubelet refused the registration: plugin name connectors-csi already registered\n',
    });
    expect(logs.join('\n')).to.contain('kubelet refused the registration');
    // Kubelet accepts it on a later attempt: healthy again.
    await kubeletCall(kubelet, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });
    expect((await healthz()).status).to.equal(200);
  });

  it('answers only GET /healthz and /livez: every other method and path form is a 404', async function () {
    // Any pod that reaches the driver pod's address can send these (hardening: least-privileged caller).
    const paths = [
      '/healthz',
      '/livez',
      '/metrics',
      '/readyz',
      '/watch/healthz',
      '//healthz',
      '/healthz/../metrics',
      '/',
    ];
    for (const method of [...servedMethods, ...unservedMethods.filter((m) => m !== 'CONNECT')]) {
      for (const path of paths) {
        const res = await request(`http://127.0.0.1:${healthServer.port}${path}`, { method });
        const body = await res.body.text();
        const served = method === 'GET' && (path === '/healthz' || path === '/livez');
        expect(res.statusCode, `${method} ${path}`).to.equal(served ? 200 : 404);
        expect(body, `${method} ${path}`).to.equal(method === 'HEAD' ? '' : served ? 'ok\n' : 'not found\n');
      }
    }
  });

  it('/healthz fails once the CSI socket stops answering; shutdown removes the registration socket', async function () {
    await csi.shutdown(100);
    const answer = await healthz();
    expect(answer.status).to.equal(503);
    expect(answer.body).to.match(/^Probe failed: /);
    await registration.shutdown();
    expect(existsSync(registration.socketPath)).to.equal(false);
  });
});
