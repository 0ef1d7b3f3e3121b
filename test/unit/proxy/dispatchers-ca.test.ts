// Which CAs a pool trusts. A Connector with a CA of its own trusts it in addition to what every
// other Connector trusts: Node's default CA list, which holds NODE_EXTRA_CA_CERTS and, with
// --use-system-ca, the system's store. Those are read once at process start, so each case runs in
// a process of its own, started with exactly that environment.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createCA, issueCert } from '../../../hack/pki.js';

const run = promisify(execFile);
const dispatchers = new URL('../../../proxy/dispatchers.js', import.meta.url).href;

// A tool serving a certificate of `TOOL_CA`, asked through a pool with the Connector's CA
// `CONNECTOR_CA` (absent: none) and through one without; prints what each got.
const probe = `
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { DispatcherCache } from ${JSON.stringify(dispatchers)};
const file = (name) => readFileSync(process.env[name], 'utf8');
const server = createServer({ cert: file('TOOL_CERT'), key: file('TOOL_KEY') }, (_req, res) => res.end('ok'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = 'https://127.0.0.1:' + server.address().port;
const pools = new DispatcherCache({ connectMs: 5000, headersMs: 5000, bodyMs: 5000 });
const ask = (ca) =>
  pools.get(origin, ca).request({ path: '/', method: 'GET' }).then(
    async (res) => String(res.statusCode) + ' ' + (await res.body.text()),
    (err) => err.code ?? err.message,
  );
const connectorCa = process.env.CONNECTOR_CA ? file('CONNECTOR_CA') : undefined;
console.log(JSON.stringify({ withConnectorCa: await ask(connectorCa), without: await ask(undefined) }));
await pools.close();
server.close();
`;

describe('proxy/dispatchers trusted CAs', function () {
  this.timeout(30_000);
  let dir: string;
  const files: Record<string, string> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dispatchers-ca-'));
    const [toolCa, connectorCa] = await Promise.all([createCA('tool-ca'), createCA('connector-ca')]);
    const tool = await issueCert(toolCa, { commonName: 'tool', ipAddresses: ['127.0.0.1'], server: true });
    const viaConnector = await issueCert(connectorCa, {
      commonName: 'tool',
      ipAddresses: ['127.0.0.1'],
      server: true,
    });
    const write = async (name: string, pem: string): Promise<void> => {
      files[name] = join(dir, `${name}.pem`);
      await writeFile(files[name], pem);
    };
    await Promise.all([
      write('tool-ca', toolCa.certPem),
      write('tool-cert', tool.certPem),
      write('tool-key', tool.keyPem),
      write('connector-ca', connectorCa.certPem),
      write('connector-tool-cert', viaConnector.certPem),
      write('connector-tool-key', viaConnector.keyPem),
    ]);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the probe with only the given trust settings; the test's own are not passed on. */
  async function probeWith(
    env: Record<string, string>,
    nodeArgs: string[] = [],
  ): Promise<{ withConnectorCa: string; without: string }> {
    const ownTrust = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_OPTIONS'];
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !ownTrust.includes(k)));
    const { stdout } = await run(process.execPath, [...nodeArgs, '--input-type=module', '-e', probe], {
      env: {
        ...inherited,
        // An empty system store unless a case fills it, so that the machine's own CAs play no part.
        SSL_CERT_FILE: join(dir, 'none.pem'),
        SSL_CERT_DIR: dir,
        TOOL_CERT: files['tool-cert'] ?? '',
        TOOL_KEY: files['tool-key'] ?? '',
        CONNECTOR_CA: files['connector-ca'] ?? '',
        ...env,
      },
    });
    return JSON.parse(stdout) as { withConnectorCa: string; without: string };
  }

  it('trusts NODE_EXTRA_CA_CERTS with and without a CA of the Connector', async () => {
    expect(await probeWith({ NODE_EXTRA_CA_CERTS: files['tool-ca'] ?? '' })).to.deep.equal({
      withConnectorCa: '200 ok',
      without: '200 ok',
    });
  });

  it('trusts the system store under --use-system-ca with and without a CA of the Connector', async () => {
    expect(await probeWith({ SSL_CERT_FILE: files['tool-ca'] ?? '' }, ['--use-system-ca'])).to.deep.equal({
      withConnectorCa: '200 ok',
      without: '200 ok',
    });
  });

  it('trusts neither without them, and the Connector’s CA only for the pools that have it', async () => {
    expect(await probeWith({})).to.deep.equal({
      withConnectorCa: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      without: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const viaConnector = {
      TOOL_CERT: files['connector-tool-cert'] ?? '',
      TOOL_KEY: files['connector-tool-key'] ?? '',
    };
    expect(await probeWith(viaConnector)).to.deep.equal({
      withConnectorCa: '200 ok',
      without: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });
});
