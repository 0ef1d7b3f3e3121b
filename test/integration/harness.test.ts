// The local control plane harness fails fast and clearly, and leaves nothing behind.

import { createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { resolveBinaries } from '../../hack/binaries.js';
import { startControlPlane } from '../../hack/controlplane.js';
import { ManagedProcess } from '../../hack/process.js';

describe('control plane harness', function () {
  it('a missing binary is a clear error naming the path and the fix, not a hang', async function () {
    const real = await resolveBinaries();
    const missing = { ...real, etcd: '/nonexistent/etcd' };
    let err: Error | undefined;
    try {
      const cp = await startControlPlane({ binaries: missing });
      await cp.stop();
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.contain('/nonexistent/etcd');
    expect(err?.message).to.match(/build-k8s\.sh|KUBEBUILDER_ASSETS/);
  });

  it('a port already taken is a clear error naming the port', async function () {
    const { etcd } = await resolveBinaries();
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dir = await mkdtemp(join(tmpdir(), 'port-taken-'));
    const proc = ManagedProcess.start({
      name: 'etcd',
      binary: etcd,
      args: [
        `--data-dir=${join(dir, 'data')}`,
        `--listen-client-urls=http://127.0.0.1:${port}`,
        `--advertise-client-urls=http://127.0.0.1:${port}`,
        '--listen-peer-urls=http://127.0.0.1:0',
      ],
      logFile: join(dir, 'etcd.log'),
    });
    let err: Error | undefined;
    try {
      await proc.waitUntil(async () => Promise.resolve(false), { timeoutMs: 30_000, what: 'etcd /health' });
    } catch (e) {
      err = e as Error;
    } finally {
      await proc.stop();
      blocker.close();
    }
    expect(err?.message).to.contain('address already in use');
    expect(err?.message).to.contain(String(port));
  });

  it('stop() leaves no process and no temp dir behind', async function () {
    const cp = await startControlPlane();
    const pids = [cp.etcd.pid, cp.kubeApiserver.pid];
    await cp.stop();
    for (const pid of pids)
      expect(existsSync(`/proc/${String(pid)}`), `pid ${String(pid)} still running`).to.equal(false);
    expect(existsSync(cp.dir)).to.equal(false);
    await cp.stop(); // idempotent
  });
});
