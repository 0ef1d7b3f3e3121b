// HTTP and API probes against local servers that record what they received: the published request
// shape (path prefix dropped, host/scheme, method, templated headers, redirects), the verdicts
// (default rules and response.cel), timeouts, the Connector's CA, and messages that never carry a
// credential.

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createCA, issueCert } from '../../../hack/pki.js';
import {
  authAccepts,
  livenessAccepts,
  Prober,
  type HttpProbeSpec,
  type ProbeTarget,
  type SecretData,
} from '../../../controller/probe.js';
import { scrub, sensitiveValues } from '../../../controller/redaction.js';
import { DispatcherCache } from '../../../proxy/dispatchers.js';
import type { Connector } from '../../../registry/types.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const password = 'Sup3r-S3cret-pw';
const basic = `Basic ${b64(`alice:${password}`)}`;

function handler(seen: Seen[], other: () => string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const path = (req.url ?? '/').split('?')[0];
    req.resume();
    switch (path) {
      case '/auth':
        res.writeHead(req.headers.authorization === basic ? 200 : 401).end();
        return;
      case '/redirect-same':
        res.writeHead(302, { location: '/final' }).end();
        return;
      case '/redirect-other':
        res.writeHead(302, { location: `${other()}/elsewhere` }).end();
        return;
      case '/hang':
        return;
      case '/echo-auth':
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: `bad ${String(req.headers.authorization)}` }));
        return;
      case '/json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","items":[1,2,3]}');
        return;
      case '/status/404':
        res.writeHead(404).end();
        return;
      case '/status/503':
        res.writeHead(503).end();
        return;
      case '/mysql/login':
        // The class API backend's refusal, a metav1.Status that (wrongly) repeats the password.
        res.writeHead(401, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: `the MySQL server refused the Connector's credential: Access denied (${password})`,
            reason: 'Unauthorized',
            code: 401,
          }),
        );
        return;
      default:
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    }
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('controller/probe', function () {
  const seen: Seen[] = [];
  const seenOther: Seen[] = [];
  let main: Server;
  let other: Server;
  let tls: Server;
  let host = '';
  let otherHost = '';
  let tlsHost = '';
  let caPem = '';
  let pools: DispatcherCache;
  let prober: Prober;

  const secret: SecretData = {
    name: 'creds',
    namespace: 'ns',
    type: 'kubernetes.io/basic-auth',
    data: { username: b64('alice'), password: b64(password) },
  };
  const connector = (address: string, params: { name: string; value: string }[] = []): Connector => ({
    metadata: { name: 'c', namespace: 'ns' },
    spec: {
      connectorClassName: 'x',
      address,
      auth: { name: 'basicAuth', secretRef: { name: 'creds' }, params },
    },
  });
  const target = (address: string, withSecret = true, ca?: string): ProbeTarget => ({
    connector: connector(address),
    secret: withSecret ? secret : null,
    ca,
  });
  const authHeader = {
    name: 'Authorization',
    value:
      '{{- if .Secret }}Basic {{ printf "%s:%s" .Secret.StringData.username .Secret.StringData.password | b64enc }}{{ end }}',
  };

  before(async () => {
    main = createHttpServer(handler(seen, () => `http://${otherHost}`));
    other = createHttpServer(handler(seenOther, () => `http://${host}`));
    host = await listen(main);
    otherHost = await listen(other);
    const ca = await createCA('probe-test-ca');
    const cert = await issueCert(ca, { commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], server: true });
    caPem = ca.certPem;
    tls = createHttpsServer(
      { cert: cert.certPem, key: cert.keyPem },
      handler([], () => ''),
    );
    tlsHost = await listen(tls);
    pools = new DispatcherCache(
      { connectMs: 1000, headersMs: 1000, bodyMs: 1000 },
      { connectionsPerOrigin: 4 },
    );
    prober = new Prober({ pools, timeoutMs: 500 });
  });

  beforeEach(() => {
    seen.length = 0;
    seenOther.length = 0;
  });

  after(async () => {
    await pools.close();
    for (const s of [main, other, tls]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  const http = (spec: HttpProbeSpec, t: ProbeTarget, accept = authAccepts) => prober.http(spec, t, accept);

  it('appends the path to the scheme and host of the address, dropping its path prefix', async () => {
    const r = await http({ path: '/auth' }, target(`http://${host}/some/prefix/`));
    expect(r).to.deep.equal({ kind: 'answered', statusCode: 401, accepted: false });
    expect(seen[0]?.url).to.equal('/auth');
  });

  it('renders templated path and headers; a header that renders empty is not sent', async () => {
    const c: ProbeTarget = {
      connector: connector(`http://${host}`, [{ name: 'repository', value: 'org/repo.git' }]),
      secret,
      ca: undefined,
    };
    const spec: HttpProbeSpec = {
      path: '/{{- range .Connector.Spec.Auth.Params }}{{ if eq .Name "repository" }}{{ .Value.StringVal }}{{ end }}{{ end }}/info/refs?service=git-upload-pack',
      httpHeaders: [authHeader, { name: 'X-Empty', value: '{{ if false }}x{{ end }}' }],
    };
    expect((await http(spec, c)).kind).to.equal('answered');
    expect(seen[0]?.url).to.equal('/org/repo.git/info/refs?service=git-upload-pack');
    expect(seen[0]?.headers.authorization).to.equal(basic);
    expect(seen[0]?.headers).to.not.have.property('x-empty');

    await http(spec, { ...c, secret: null });
    expect(seen[1]?.headers).to.not.have.property('authorization');
  });

  it('auth probe: 2xx succeeds, 401 does not', async () => {
    expect(await http({ path: '/auth', httpHeaders: [authHeader] }, target(`http://${host}`))).to.deep.equal({
      kind: 'answered',
      statusCode: 200,
      accepted: true,
    });
    expect(
      await http({ path: '/auth', httpHeaders: [authHeader] }, target(`http://${host}`, false)),
    ).to.deep.equal({
      kind: 'answered',
      statusCode: 401,
      accepted: false,
    });
  });

  it('liveness without CEL: 2xx, 401 and 403 mean the tool is up; 404 and 5xx do not', async () => {
    const live = async (path: string): Promise<boolean> => {
      const r = await http({ path }, target(`http://${host}`), livenessAccepts);
      return r.kind === 'answered' && r.accepted;
    };
    expect(await live('/')).to.equal(true);
    expect(await live('/auth')).to.equal(true);
    expect(await live('/status/404')).to.equal(false);
    expect(await live('/status/503')).to.equal(false);
    expect([200, 204, 401, 403].every(livenessAccepts)).to.equal(true);
    expect([404, 500, 502].some(livenessAccepts)).to.equal(false);
  });

  it('uses the probe host and scheme (http when the host differs) and the method', async () => {
    const r = await http({ path: '/x', host: otherHost, method: 'POST' }, target(`https://${host}`));
    expect(r.kind).to.equal('answered');
    expect(seenOther[0]).to.include({ method: 'POST', url: '/x' });
    expect(seen).to.have.length(0);
  });

  it('follows same-origin redirects with the headers, drops them for another origin, or stops when told', async () => {
    await http({ path: '/redirect-same', httpHeaders: [authHeader] }, target(`http://${host}`));
    expect(seen.map((s) => s.url)).to.deep.equal(['/redirect-same', '/final']);
    expect(seen[1]?.headers.authorization).to.equal(basic);

    await http({ path: '/redirect-other', httpHeaders: [authHeader] }, target(`http://${host}`));
    expect(seenOther[0]?.url).to.equal('/elsewhere');
    expect(seenOther[0]?.headers).to.not.have.property('authorization');

    seen.length = 0;
    const r = await http({ path: '/redirect-same', disableRedirect: true }, target(`http://${host}`));
    expect(r).to.deep.equal({ kind: 'answered', statusCode: 302, accepted: false });
    expect(seen).to.have.length(1);
  });

  it('lets response.cel decide, over status, headers and the JSON body', async () => {
    const cel = async (expr: string, path = '/json') =>
      http({ path, response: { cel: expr } }, target(`http://${host}`));
    expect(await cel("response.body.status == 'ok' && size(response.body.items) == 3")).to.deep.equal({
      kind: 'answered',
      statusCode: 200,
      accepted: true,
    });
    expect(await cel("response.headers['Content-Type'][0] == 'application/json'")).to.include({
      accepted: true,
    });
    expect(await cel('response.statusCode == 401', '/auth')).to.include({ accepted: true });
    expect(await cel('response.statusCode == 200', '/auth')).to.deep.equal({
      kind: 'answered',
      statusCode: 401,
      accepted: false,
      detail: 'response.cel is false',
    });
    expect(await cel('response.statusCode ==')).to.have.property('kind', 'invalid');
  });

  it('reports a refused connection as unreachable, Go-style, naming the method and URL', async () => {
    // A port nobody listens on: the server is closed right away.
    const s = createHttpServer();
    const port = Number((await listen(s)).split(':')[1]);
    await new Promise((r) => s.close(r));
    const r = await http({ path: '/info/refs?service=x' }, target(`http://127.0.0.1:${port}`));
    expect(r.kind).to.equal('unreachable');
    expect(r.kind === 'unreachable' ? r.message : '').to.match(
      new RegExp(`^Get "http://127.0.0.1:${port}/info/refs": .*ECONNREFUSED`),
    );
  });

  it('gives up after the probe timeout', async () => {
    const started = Date.now();
    const r = await http({ path: '/hang' }, target(`http://${host}`));
    expect(r.kind).to.equal('unreachable');
    expect(Date.now() - started).to.be.below(2000);
    expect(r.kind === 'unreachable' ? r.message : '').to.match(/^Get "http:\/\/127.0.0.1:\d+\/hang": /);
  });

  it('trusts the Connector’s CA for https tools, and only with it', async () => {
    const withCa = await http({ path: '/' }, target(`https://${tlsHost}`, true, caPem));
    expect(withCa).to.include({ kind: 'answered', statusCode: 200 });
    const without = await http({ path: '/' }, target(`https://${tlsHost}`));
    expect(without.kind).to.equal('unreachable');
  });

  it('turns template errors into an invalid probe naming the construct', async () => {
    const r = await http({ path: '/{{ lower .Connector.Name }}' }, target(`http://${host}`));
    expect(r.kind).to.equal('invalid');
    expect(r.kind === 'invalid' ? r.message : '').to.match(
      /^path: template: 1:5: function "lower" is not supported/,
    );
    const h = await http(
      { path: '/', httpHeaders: [{ name: 'bad header', value: 'x' }] },
      target(`http://${host}`),
    );
    expect(h).to.deep.equal({
      kind: 'invalid',
      message: 'httpHeaders: "bad header" is not a valid header name',
    });
    const p = await http({ path: '/a b' }, target(`http://${host}`));
    expect(p.kind).to.equal('invalid');
    expect(seen).to.have.length(0);
  });

  it('never puts a credential into a message', async () => {
    const s = createHttpServer();
    const port = Number((await listen(s)).split(':')[1]);
    await new Promise((r) => s.close(r));
    const messages: string[] = [];
    const collect = (r: Awaited<ReturnType<Prober['http']>>): void => {
      if (r.kind === 'unreachable' || r.kind === 'invalid') messages.push(r.message);
      if (r.kind === 'answered' && r.detail) messages.push(r.detail);
    };
    // The password in the path (a badly written class), to a dead tool.
    collect(
      await http(
        { path: '/{{ .Secret.StringData.password }}/x', httpHeaders: [authHeader] },
        target(`http://127.0.0.1:${port}`),
      ),
    );
    // The tool echoes the credential in its body and a CEL expression trips over it.
    collect(
      await http(
        { path: '/echo-auth', httpHeaders: [authHeader], response: { cel: 'int(response.body.error) == 1' } },
        target(`http://${host}`),
      ),
    );
    // A template error in a header that reads the Secret.
    collect(
      await http(
        {
          path: '/',
          httpHeaders: [{ name: 'X', value: '{{ printf "%s" .Secret.StringData.password | lower }}' }],
        },
        target(`http://${host}`),
      ),
    );
    expect(messages).to.have.length(3);
    for (const m of messages) {
      expect(m).to.not.contain(password);
      expect(m).to.not.contain(b64(`alice:${password}`));
    }
    expect(messages[0]).to.match(new RegExp(`^Get "http://127.0.0.1:${port}": `));
  });

  it('scrubs every Secret value and rendered header value, longest first', () => {
    const values = sensitiveValues(secret, [basic]);
    expect(scrub(`a ${password} b ${basic} c`, values)).to.equal('a [redacted] b [redacted] c');
    expect(values.some((v) => v.length < 4)).to.equal(false);
  });

  it('API probe: path under the class API address, with the published X-Plugin-* headers', async () => {
    const r = await prober.api(
      { path: '/tags?repository={{ "org/app" | urlquery }}' },
      target('https://registry.example.com'),
      `http://${host}/oci`,
    );
    expect(r).to.deep.equal({ kind: 'answered', statusCode: 200, accepted: true });
    expect(seen[0]?.url).to.equal('/oci/tags?repository=org%2Fapp');
    const h = seen[0]?.headers ?? {};
    expect(JSON.parse(Buffer.from(String(h['x-plugin-meta']), 'base64').toString())).to.deep.equal({
      baseURL: 'https://registry.example.com',
    });
    expect(Buffer.from(String(h['x-plugin-auth']), 'base64').toString()).to.equal('kubernetes.io/basic-auth');
    expect(JSON.parse(Buffer.from(String(h['x-plugin-secret']), 'base64').toString())).to.deep.equal(
      secret.data,
    );
    expect(await prober.api({ path: '/x' }, target('https://r'), null)).to.have.property('kind', 'invalid');
  });

  it('API probe: a refusal’s Status message is the detail, scrubbed; the Connector’s CA goes in X-Plugin-Meta', async () => {
    seen.length = 0;
    const r = await prober.api(
      { path: '/login' },
      target('mysql://db:3306', true, caPem),
      `http://${host}/mysql`,
    );
    expect(r).to.deep.equal({
      kind: 'answered',
      statusCode: 401,
      accepted: false,
      detail: "the MySQL server refused the Connector's credential: Access denied ([redacted])",
    });
    const meta = JSON.parse(Buffer.from(String(seen[0]?.headers['x-plugin-meta']), 'base64').toString()) as {
      caCert?: string;
    };
    expect(meta).to.deep.equal({ baseURL: 'mysql://db:3306', caCert: caPem });
    // A body that is not a Status adds nothing.
    expect(await prober.api({ path: '/status/503' }, target('mysql://db'), `http://${host}`)).to.deep.equal({
      kind: 'answered',
      statusCode: 503,
      accepted: false,
    });
  });

  it('reachable: any HTTP answer counts; no answer does not', async () => {
    expect(await prober.reachable(`http://${host}/status/503`)).to.deep.equal({ ok: true });
    const s = createHttpServer();
    const port = Number((await listen(s)).split(':')[1]);
    await new Promise((r) => s.close(r));
    const r = await prober.reachable(`http://127.0.0.1:${port}/git`);
    expect(r.ok).to.equal(false);
  });
});
