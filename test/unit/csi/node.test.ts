// The driver's gRPC surface over a real unix socket: identity answers, the validation every
// NodePublishVolume gets (INVALID_ARGUMENT before anything is touched), errors of any kind turned
// into a status instead of a hung call, unimplemented methods, idempotent publish and unpublish,
// republish that keeps the old files when it fails, and one operation per volume at a time. The
// volume content is a table here; csi/content.ts is tested on its own.

import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, status } from '@grpc/grpc-js';
import { expect } from 'chai';
import { createLogger } from '../../../machinery/log.js';
import { CsiError } from '../../../csi/errors.js';
import { DirectoryMedium } from '../../../csi/medium.js';
import { DriverServices, type PublishRequest, type VolumeContent } from '../../../csi/node.js';
import { startCsiServer, unary, type CsiServer } from '../../../csi/server.js';
import { callError, csiClient, kubeletPublishRequest, type CsiClient } from '../../helpers/csi.js';

/** Content decided by the volume attribute `test`: files, a CsiError, a plain Error, or a slow answer. */
class TableContent implements VolumeContent {
  renders: PublishRequest[] = [];
  forgotten: string[] = [];
  release: (() => void) | undefined;

  async render(request: PublishRequest): Promise<Map<string, string>> {
    this.renders.push(request);
    switch (request.volumeContext['test']) {
      case 'refuse':
        throw new CsiError(status.NOT_FOUND, 'connector "ghost" not found');
      case 'crash':
        throw new Error('boom in the renderer');
      case 'slow':
        await new Promise<void>((resolve) => (this.release = resolve));
        return new Map([['slow', 'done']]);
      default:
        return new Map([
          ['context.token', request.volumeContext['token'] ?? ''],
          ['.gitconfig', `[http]\n  extraHeader = ${request.volumeContext['token'] ?? ''}\n`],
        ]);
    }
  }

  forget(volumeId: string): void {
    this.forgotten.push(volumeId);
  }

  /** Lets the slow render in progress finish. */
  releaseSlow(): void {
    if (!this.release) throw new Error('no slow render is waiting');
    this.release();
    this.release = undefined;
  }
}

const pod = { namespace: 'team-a', name: 'app', uid: 'uid-1', serviceAccount: 'default' };

describe('csi/node: the gRPC services', function () {
  let dir: string;
  let server: CsiServer;
  let client: CsiClient;
  let content: TableContent;
  const logs: string[] = [];

  const publish = (
    volumeId: string,
    attributes: Record<string, string>,
    extra: Record<string, unknown> = {},
  ) =>
    client.call('Node', 'NodePublishVolume', {
      ...kubeletPublishRequest({ pod, volumeId, targetPath: join(dir, volumeId, 'mount'), attributes }),
      ...extra,
    });

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'csi-node-'));
    content = new TableContent();
    const log = createLogger({ level: 'debug', write: (l) => logs.push(l) });
    const services = new DriverServices({
      nodeId: 'node-1',
      operationTimeoutMs: 1000,
      vendorVersion: '1.2.3',
      medium: new DirectoryMedium(),
      content,
      log,
    });
    server = await startCsiServer(join(dir, 'csi.sock'), {
      identity: services.identityHandlers(),
      node: services.nodeHandlers(),
    });
    client = csiClient(server.endpoint);
  });

  after(async function () {
    client.close();
    await server.shutdown(1000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('Identity: name connectors-csi, the version, no capabilities, ready', async function () {
    expect(await client.call('Identity', 'GetPluginInfo', {})).to.deep.equal({
      name: 'connectors-csi',
      vendor_version: '1.2.3',
      manifest: {},
    });
    expect(await client.call('Identity', 'GetPluginCapabilities', {})).to.deep.equal({ capabilities: [] });
    expect(await client.call('Identity', 'Probe', {})).to.deep.equal({ ready: { value: true } });
  });

  it('Node: no capabilities; NodeGetInfo names the node', async function () {
    expect(await client.call('Node', 'NodeGetCapabilities', {})).to.deep.equal({ capabilities: [] });
    const info = await client.call('Node', 'NodeGetInfo', {});
    expect(info).to.include({ node_id: 'node-1', max_volumes_per_node: '0' });
  });

  it('the socket is 0600', function () {
    expect(statSync(join(dir, 'csi.sock')).mode & 0o777).to.equal(0o600);
  });

  it('methods it does not declare are UNIMPLEMENTED (NodeStageVolume)', async function () {
    const Generic = makeGenericClientConstructor(
      {
        NodeStageVolume: {
          path: '/csi.v1.Node/NodeStageVolume',
          requestStream: false,
          responseStream: false,
          requestSerialize: (v: Buffer) => v,
          requestDeserialize: (v: Buffer) => v,
          responseSerialize: (v: Buffer) => v,
          responseDeserialize: (v: Buffer) => v,
        },
      },
      'Raw',
    );
    const raw = new Generic(server.endpoint, credentials.createInsecure()) as unknown as {
      NodeStageVolume: (req: Buffer, cb: (err: { code: number } | null) => void) => void;
      close: () => void;
    };
    const code = await new Promise<number>((resolve) => {
      raw.NodeStageVolume(Buffer.alloc(0), (err) => {
        resolve(err?.code ?? 0);
      });
    });
    raw.close();
    expect(code).to.equal(status.UNIMPLEMENTED);
  });

  describe('NodePublishVolume validation: INVALID_ARGUMENT, nothing rendered or written', function () {
    const cases: { name: string; extra: Record<string, unknown>; message: RegExp }[] = [
      { name: 'no volume_id', extra: { volume_id: '' }, message: /volume_id is required/ },
      { name: 'no target_path', extra: { target_path: '' }, message: /target_path is required/ },
      { name: 'relative target_path', extra: { target_path: 'a/b' }, message: /absolute path/ },
      { name: 'no capability', extra: { volume_capability: null }, message: /volume_capability is required/ },
      {
        name: 'block access',
        extra: { volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } },
        message: /not a block volume/,
      },
      { name: 'readonly false', extra: { readonly: false }, message: /readOnly: true/ },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        const before = content.renders.length;
        const err = await callError(publish('vol-invalid', { token: 't' }, c.extra));
        expect(err.code).to.equal(status.INVALID_ARGUMENT);
        expect(err.details).to.match(c.message);
        expect(content.renders.length).to.equal(before);
        expect(existsSync(join(dir, 'vol-invalid'))).to.equal(false);
      });
    }

    it('NodeUnpublishVolume without volume_id or target_path', async function () {
      for (const req of [{ target_path: '/x' }, { volume_id: 'v' }]) {
        expect((await callError(client.call('Node', 'NodeUnpublishVolume', req))).code).to.equal(
          status.INVALID_ARGUMENT,
        );
      }
    });
  });

  it('publishes the files atomically, twice is fine, and unpublish removes the target (twice is fine)', async function () {
    const target = join(dir, 'vol-a', 'mount');
    await publish('vol-a', { token: 'token-1' });
    expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal('token-1');
    expect(readlinkSync(join(target, 'context.token'))).to.equal('..data/context.token');
    expect(content.renders.at(-1)?.republish).to.equal(false);

    // kubelet's periodic republish: new content in the same target.
    await publish('vol-a', { token: 'token-2' });
    expect(content.renders.at(-1)?.republish).to.equal(true);
    expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal('token-2');
    expect(readFileSync(join(target, '.gitconfig'), 'utf8')).to.contain('token-2');

    await client.call('Node', 'NodeUnpublishVolume', { volume_id: 'vol-a', target_path: target });
    expect(existsSync(target)).to.equal(false);
    expect(content.forgotten).to.include('vol-a');
    await client.call('Node', 'NodeUnpublishVolume', { volume_id: 'vol-a', target_path: target });
  });

  it('a refused first publish is the CsiError’s code and message, and leaves nothing at target_path', async function () {
    const err = await callError(publish('vol-refused', { test: 'refuse' }));
    expect(err).to.deep.equal({ code: status.NOT_FOUND, details: 'connector "ghost" not found' });
    expect(existsSync(join(dir, 'vol-refused'))).to.equal(false);
  });

  it('an unexpected error is INTERNAL at once, its text only in the log', async function () {
    const err = await callError(publish('vol-crash', { test: 'crash' }));
    expect(err.code).to.equal(status.INTERNAL);
    expect(err.details).to.equal('internal error in the connectors-csi driver; see its log');
    expect(existsSync(join(dir, 'vol-crash'))).to.equal(false);
    expect(logs.join('')).to.contain('"msg":"failed"').and.contain('boom in the renderer');
  });

  it('a failed republish answers OK and the pod keeps its previous files', async function () {
    const target = join(dir, 'vol-keep', 'mount');
    await publish('vol-keep', { token: 'kept' });
    await publish('vol-keep', { test: 'refuse' });
    expect(readFileSync(join(target, 'context.token'), 'utf8')).to.equal('kept');
    expect(logs.join('')).to.contain('republish failed; the volume keeps its previous files');
  });

  it('a second operation on a volume while one runs is ABORTED (kubelet retries)', async function () {
    const first = publish('vol-slow', { test: 'slow' });
    while (!content.release) await new Promise((r) => setTimeout(r, 10));
    const err = await callError(publish('vol-slow', { test: 'slow' }));
    expect(err.code).to.equal(status.ABORTED);
    content.releaseSlow();
    await first;
    expect(readFileSync(join(dir, 'vol-slow', 'mount', 'slow'), 'utf8')).to.equal('done');
  });

  it('a publish that outlasts --operation-timeout is DEADLINE_EXCEEDED; the work goes on', async function () {
    const late = await callError(publish('vol-late', { test: 'slow' }));
    expect(late.code).to.equal(status.DEADLINE_EXCEEDED);
    expect(late.details).to.equal('NodePublishVolume did not finish within 1s; kubelet will retry');
    // kubelet's retry while the first one still runs
    expect((await callError(publish('vol-late', { test: 'slow' }))).code).to.equal(status.ABORTED);
    content.releaseSlow();
    while (!existsSync(join(dir, 'vol-late', 'mount', 'slow'))) await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(join(dir, 'vol-late', 'mount', 'slow'), 'utf8')).to.equal('done');
  });

  it('unary answers a handler that throws synchronously (no hung call)', async function () {
    const handler = unary(
      'Sync',
      () => {
        throw new CsiError(status.FAILED_PRECONDITION, 'sync refusal');
      },
      createLogger({ write: () => undefined }),
    );
    const answer = await new Promise<unknown>((resolve) => {
      const call = { request: {} } as Parameters<typeof handler>[0];
      handler(call, (err) => {
        resolve(err);
      });
    });
    expect(answer).to.include({ code: status.FAILED_PRECONDITION, details: 'sync refusal' });
  });

  it('never logs the volume context', function () {
    const text = logs.join('');
    expect(text).to.contain('"volumeId":"vol-a"');
    expect(text).not.to.contain('token-1');
  });
});
