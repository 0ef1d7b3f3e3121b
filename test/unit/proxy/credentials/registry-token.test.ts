// The OCI Distribution token flow, against a local fake registry and token service: the challenge
// is asked once, the token service gets Basic with the right service and scope, the registry gets
// Bearer, tokens are reused until shortly before they expire, and a refusal is a ProxyError that
// names the registry and the status, never the password.
import { expect } from 'chai';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { createCA, issueCert } from '../../../../hack/pki.js';
import { injectorFor, type CredentialInjector } from '../../../../proxy/credentials/index.js';
import {
  parseWwwAuthenticate,
  registryScope,
  RegistryTokenStrategy,
} from '../../../../proxy/credentials/registry-token.js';
import { ProxyError } from '../../../../proxy/errors.js';
import type { OutgoingHeaders } from '../../../../proxy/headers.js';

const USER = 'robot$ci';
const PASSWORD = 'r3gistry-Pa55word';
const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

interface Fake {
  origin: string;
  probes: number;
  tokenRequests: { url: URL; authorization: string | undefined }[];
  /** What /v2/ answers: a challenge, or 200 for an open registry. */
  challenge: string | null;
  tokenStatus: number;
  tokenBody: () => Record<string, unknown>;
  issued: number;
  close(): Promise<void>;
}

async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function fakeRegistry(): Promise<Fake> {
  const fake = {
    probes: 0,
    tokenRequests: [],
    challenge: null,
    tokenStatus: 200,
    issued: 0,
    tokenBody: () => ({ token: `tok-${++fake.issued}`, expires_in: 300 }),
  } as unknown as Fake;
  const server = await listen((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/v2/') {
      fake.probes++;
      if (fake.challenge === null) res.writeHead(200).end('{}');
      else res.writeHead(401, { 'www-authenticate': fake.challenge }).end();
      return;
    }
    if (url.pathname === '/token') {
      fake.tokenRequests.push({ url, authorization: req.headers.authorization });
      if (fake.tokenStatus !== 200 || req.headers.authorization !== basic) {
        res.writeHead(fake.tokenStatus === 200 ? 401 : fake.tokenStatus).end('{"details":"denied"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fake.tokenBody()));
      return;
    }
    res.writeHead(404).end();
  });
  fake.origin = server.origin;
  fake.close = server.close;
  fake.challenge = `Bearer realm="${server.origin}/token",service="fake-registry"`;
  return fake;
}

function secret(data: Record<string, string>) {
  return {
    namespace: 'team-a',
    name: 'registry-cred',
    type: 'cpaas.io/distribution-registry-token',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

async function inject(injector: CredentialInjector, origin: string, path: string, method = 'GET') {
  const headers: OutgoingHeaders = {};
  await injector.inject(headers, { method, origin, path });
  return headers;
}

async function refusal(p: Promise<unknown>): Promise<ProxyError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error('expected a ProxyError');
}

describe('proxy/credentials registry-token', function () {
  let fake: Fake;
  let clock: number;
  let strategy: RegistryTokenStrategy;
  let injector: CredentialInjector;

  beforeEach(async function () {
    fake = await fakeRegistry();
    clock = 1_000_000;
    strategy = new RegistryTokenStrategy({ now: () => clock, responseTimeoutMs: 2_000 });
    injector = strategy.create(secret({ username: USER, password: PASSWORD }));
  });

  afterEach(async function () {
    await strategy.close();
    await fake.close();
  });

  it('is registered for cpaas.io/distribution-registry-token', function () {
    expect(() => injectorFor(secret({ username: USER, password: PASSWORD }))).to.not.throw();
  });

  it('Bearer challenge: Basic to the token service for the pull scope, Bearer to the registry', async function () {
    const headers = await inject(injector, fake.origin, '/v2/library/alpine/tags/list?n=10');
    expect(headers).to.deep.equal({ authorization: 'Bearer tok-1' });
    expect(fake.tokenRequests).to.have.length(1);
    const t = fake.tokenRequests[0]!;
    expect(t.authorization).to.equal(basic);
    expect(t.url.searchParams.get('service')).to.equal('fake-registry');
    expect(t.url.searchParams.get('scope')).to.equal('repository:library/alpine:pull');
  });

  it('asks for push as well for writes, and registry:catalog:* for the catalog', async function () {
    await inject(injector, fake.origin, '/v2/team/app/blobs/uploads/', 'POST');
    await inject(injector, fake.origin, '/v2/team/app/manifests/v1', 'PUT');
    await inject(injector, fake.origin, '/v2/_catalog');
    // The PUT after the POST needs the same (registry, scope) token: one token request for both.
    expect(fake.tokenRequests.map((t) => t.url.searchParams.get('scope'))).to.deep.equal([
      'repository:team/app:pull,push',
      'registry:catalog:*',
    ]);
  });

  it('asks the challenge once per registry and reuses a token until shortly before it expires', async function () {
    fake.tokenBody = () => ({ access_token: `tok-${++fake.issued}`, expires_in: 60 });
    expect(await inject(injector, fake.origin, '/v2/a/manifests/1')).to.deep.equal({
      authorization: 'Bearer tok-1',
    });
    clock += 49_000;
    expect(await inject(injector, fake.origin, '/v2/a/blobs/sha256:00')).to.deep.equal({
      authorization: 'Bearer tok-1',
    });
    clock += 2_000; // 51 s: within the renewal margin of a 60 s token
    expect(await inject(injector, fake.origin, '/v2/a/tags/list')).to.deep.equal({
      authorization: 'Bearer tok-2',
    });
    expect(await inject(injector, fake.origin, '/v2/b/tags/list')).to.deep.equal({
      authorization: 'Bearer tok-3',
    });
    expect(fake.probes).to.equal(1);
    expect(fake.tokenRequests).to.have.length(3);
  });

  it('defaults to 60 s when the token service gives no expires_in', async function () {
    fake.tokenBody = () => ({ token: `tok-${++fake.issued}` });
    await inject(injector, fake.origin, '/v2/a/tags/list');
    clock += 45_000;
    expect(await inject(injector, fake.origin, '/v2/a/tags/list')).to.deep.equal({
      authorization: 'Bearer tok-1',
    });
    clock += 20_000;
    expect(await inject(injector, fake.origin, '/v2/a/tags/list')).to.deep.equal({
      authorization: 'Bearer tok-2',
    });
  });

  it('concurrent requests for the same token share one token request', async function () {
    const all = await Promise.all(
      Array.from({ length: 10 }, () => inject(injector, fake.origin, '/v2/a/tags/list')),
    );
    expect(new Set(all.map((h) => h.authorization))).to.deep.equal(new Set(['Bearer tok-1']));
    expect(fake.tokenRequests).to.have.length(1);
    expect(fake.probes).to.equal(1);
  });

  it("another Secret never gets this Secret's token", async function () {
    await inject(injector, fake.origin, '/v2/a/tags/list');
    const other = strategy.create(secret({ username: 'other', password: 'x' }));
    const err = await refusal(inject(other, fake.origin, '/v2/a/tags/list'));
    expect(err.code).to.equal('UpstreamAuth');
  });

  it('a Basic challenge gets Basic, and an open registry gets nothing', async function () {
    fake.challenge = 'Basic realm="Registry Realm"';
    expect(await inject(injector, fake.origin, '/v2/a/tags/list')).to.deep.equal({ authorization: basic });
    const open = await fakeRegistry();
    open.challenge = null;
    try {
      expect(await inject(injector, open.origin, '/v2/a/tags/list')).to.deep.equal({});
    } finally {
      await open.close();
    }
    expect(fake.tokenRequests).to.have.length(0);
  });

  it('the token service refusing the credential → UpstreamAuth naming the registry and status, not the password', async function () {
    for (const status of [401, 403]) {
      fake.tokenStatus = status;
      const err = await refusal(inject(injector, fake.origin, '/v2/a/tags/list'));
      expect(err.code).to.equal('UpstreamAuth');
      expect(err.message).to.include(fake.origin).and.include(`(${status})`);
      expect(err.message).to.not.include(PASSWORD);
      expect(JSON.stringify(err)).to.not.include(PASSWORD);
    }
    const wrong = strategy.create(secret({ username: USER, password: 'wrong' }));
    fake.tokenStatus = 200;
    const err = await refusal(inject(wrong, fake.origin, '/v2/a/tags/list'));
    expect(err.code).to.equal('UpstreamAuth');
    expect(err.message).to.match(/refused the Connector's credential \(401\)/);
  });

  it('a token service that fails otherwise, or answers without a token, is not an auth failure', async function () {
    fake.tokenStatus = 500;
    expect((await refusal(inject(injector, fake.origin, '/v2/a/tags/list'))).code).to.equal(
      'UpstreamUnreachable',
    );
    fake.tokenStatus = 200;
    fake.tokenBody = () => ({ nothing: true });
    const err = await refusal(inject(injector, fake.origin, '/v2/b/tags/list'));
    expect(err.code).to.equal('UpstreamUnreachable');
    expect(err.message).to.match(/without a usable token/);
  });

  for (const [what, token] of [
    ['an ellipsis (U+2026)', 'Zq9Xv…'],
    ['a latin-1 letter', 'Zq9Xv-é'],
    ['a control character', 'Zq9Xv\u001b'],
    ['a trailing space', 'Zq9Xv '],
  ]) {
    it(`a token service answering a token with ${what}, which is no header value, is refused`, async function () {
      fake.tokenBody = () => ({ token, expires_in: 300 });
      const err = await refusal(inject(injector, fake.origin, '/v2/a/tags/list'));
      expect(err.code).to.equal('UpstreamUnreachable');
      expect(err.message).to.match(/without a usable token/);
      expect(err.message).to.not.contain('Zq9Xv');
    });
  }

  it('an unreachable registry → UpstreamUnreachable, and the next attempt probes again', async function () {
    const gone = await fakeRegistry();
    await gone.close();
    const err = await refusal(inject(injector, gone.origin, '/v2/a/tags/list'));
    expect(err.code).to.equal('UpstreamUnreachable');
    expect(err.message).to.include(gone.origin);
    // The failure is not cached: a registry that comes back is asked again.
    const err2 = await refusal(inject(injector, gone.origin, '/v2/a/tags/list'));
    expect(err2.code).to.equal('UpstreamUnreachable');
  });

  it('an https registry never sends the password to a plain-http token service', async function () {
    const ca = await createCA('registry-token-test-ca');
    const cert = await issueCert(ca, { commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'], server: true });
    const tls = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      req.resume();
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${fake.origin}/token",service="x"` }).end();
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    const dispatcher = new Agent({ connect: { ca: ca.certPem } });
    const strict = new RegistryTokenStrategy({ dispatcher });
    try {
      const origin = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
      const err = await refusal(
        inject(strict.create(secret({ username: USER, password: PASSWORD })), origin, '/v2/a/tags/list'),
      );
      expect(err.code).to.equal('UpstreamAuth');
      expect(err.message).to.match(/not a safe place for the password/);
      expect(fake.tokenRequests).to.have.length(0);
    } finally {
      tls.closeAllConnections();
      await new Promise((resolve) => tls.close(resolve));
      await dispatcher.close();
    }
  });

  it('a challenge with an unsupported scheme → UpstreamAuth', async function () {
    fake.challenge = 'Negotiate';
    const err = await refusal(inject(injector, fake.origin, '/v2/a/tags/list'));
    expect(err.code).to.equal('UpstreamAuth');
    expect(err.message).to.match(/negotiate/);
  });

  it('refuses a Secret without username or password, naming the key', function () {
    for (const [data, key] of [
      [{ password: PASSWORD }, 'username'],
      [{ username: USER }, 'password'],
    ] as const) {
      let caught: unknown;
      try {
        injectorFor(secret(data));
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ProxyError);
      expect((caught as ProxyError).message)
        .to.include(`"${key}"`)
        .and.include('team-a/registry-cred');
    }
  });
});

describe('proxy/credentials registry-token parsing', function () {
  const challenges: [string, { scheme: string; params: Record<string, string> }[]][] = [
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io' },
        },
      ],
    ],
    [
      'Bearer realm="https://h/token", service="harbor-registry", scope="repository:p/app:pull"',
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://h/token', service: 'harbor-registry', scope: 'repository:p/app:pull' },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Basic realm="a, b", Bearer realm="https://t/x",service=svc',
      [
        { scheme: 'basic', params: { realm: 'a, b' } },
        { scheme: 'bearer', params: { realm: 'https://t/x', service: 'svc' } },
      ],
    ],
    [
      'Basic, Negotiate',
      [
        { scheme: 'basic', params: {} },
        { scheme: 'negotiate', params: {} },
      ],
    ],
    ['', []],
    ['Bearer realm="with \\"quotes\\""', [{ scheme: 'bearer', params: { realm: 'with "quotes"' } }]],
  ];
  for (const [header, parsed] of challenges) {
    it(`WWW-Authenticate: ${header || '(empty)'}`, function () {
      expect(parseWwwAuthenticate(header)).to.deep.equal(parsed);
    });
  }

  const scopes: [string, string, string | undefined, string][] = [
    ['GET', '/v2/library/alpine/tags/list', 'repository:library/alpine:pull', '/v2/'],
    ['HEAD', '/v2/a/b/c/manifests/latest', 'repository:a/b/c:pull', '/v2/'],
    ['GET', '/v2/app/blobs/sha256:abc', 'repository:app:pull', '/v2/'],
    ['POST', '/v2/app/blobs/uploads/', 'repository:app:pull,push', '/v2/'],
    ['PATCH', '/v2/app/blobs/uploads/uuid-1?_state=x', 'repository:app:pull,push', '/v2/'],
    ['DELETE', '/v2/app/manifests/sha256:abc', 'repository:app:pull,push', '/v2/'],
    ['GET', '/v2/app/referrers/sha256:abc', 'repository:app:pull', '/v2/'],
    ['GET', '/v2/tags/tags/list', 'repository:tags:pull', '/v2/'],
    ['GET', '/v2/_catalog?n=100', 'registry:catalog:*', '/v2/'],
    ['GET', '/v2/', undefined, '/v2/'],
    ['GET', '/mirror/v2/library/alpine/tags/list', 'repository:library/alpine:pull', '/mirror/v2/'],
    ['GET', '/api/v2.0/projects', undefined, '/v2/'],
  ];
  for (const [method, path, scope, apiRoot] of scopes) {
    it(`${method} ${path} → ${scope ?? 'no scope'}`, function () {
      expect(registryScope(method, path)).to.deep.equal({ apiRoot, scope });
    });
  }
});
