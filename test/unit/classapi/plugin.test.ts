// The backend contract's headers: X-Plugin-Meta gives the Connector address, X-Plugin-Auth and
// X-Plugin-Secret the credential. Bad headers are 400s that name the header and never its value.
import { expect } from 'chai';
import type { IncomingHttpHeaders } from 'node:http';
import { StatusError } from '../../../machinery/status.js';
import { PluginDecoder } from '../../../classapi/plugin.js';
import type { OutgoingHeaders } from '../../../proxy/headers.js';
import { ProxyError } from '../../../proxy/errors.js';
import { b64, pluginHeaders } from './helpers.js';

const PASSWORD = 'pl4gin-S3cret-value';

async function failure(decoder: PluginDecoder, headers: IncomingHttpHeaders): Promise<Error> {
  try {
    await decoder.decode(headers);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the headers to be refused');
}

describe('classapi/plugin headers', function () {
  const decoder = new PluginDecoder();
  const basic = { type: 'kubernetes.io/basic-auth', data: { username: 'bot', password: PASSWORD } };

  it('decodes the address (path prefix kept) and builds the credential with the shared strategy', async function () {
    const p = await decoder.decode(pluginHeaders('https://git.example.com/gitlab/', basic));
    expect(p.address).to.deep.equal({ origin: 'https://git.example.com', prefix: '/gitlab' });
    expect(p.secretType).to.equal('kubernetes.io/basic-auth');
    const headers: OutgoingHeaders = {};
    await p.injector?.inject(headers, { method: 'GET', origin: p.address.origin, path: '/x' });
    expect(headers).to.deep.equal({ authorization: `Basic ${b64(`bot:${PASSWORD}`)}` });
  });

  it('without X-Plugin-Secret the tool is called without a credential', async function () {
    const p = await decoder.decode(pluginHeaders('http://127.0.0.1:8080'));
    expect(p).to.deep.equal({
      address: { origin: 'http://127.0.0.1:8080', prefix: '' },
      secretType: undefined,
      injector: null,
    });
    const onlyAuth = { ...pluginHeaders('http://127.0.0.1:8080'), 'x-plugin-auth': b64('Opaque') };
    expect((await decoder.decode(onlyAuth)).injector).to.equal(null);
  });

  it('reuses one injector for the same Secret (so registry tokens are reused across requests)', async function () {
    const a = await decoder.decode(pluginHeaders('https://a.example.com', basic));
    const b = await decoder.decode(pluginHeaders('https://b.example.com', basic));
    const other = await decoder.decode(
      pluginHeaders('https://a.example.com', { ...basic, data: { ...basic.data, password: 'other' } }),
    );
    expect(a.injector).to.equal(b.injector);
    expect(other.injector).to.not.equal(a.injector);
  });

  const bad: { title: string; headers: IncomingHttpHeaders; mentions: RegExp }[] = [
    {
      title: 'no X-Plugin-Meta',
      headers: pluginHeaders(undefined, basic),
      mentions: /X-Plugin-Meta.*missing/,
    },
    {
      title: 'X-Plugin-Meta that is not base64',
      headers: { 'x-plugin-meta': '{"baseURL":1}' },
      mentions: /X-Plugin-Meta.*base64/,
    },
    {
      title: 'X-Plugin-Meta that is not JSON',
      headers: { 'x-plugin-meta': b64('baseURL=x') },
      mentions: /X-Plugin-Meta.*JSON/,
    },
    {
      title: 'X-Plugin-Meta without baseURL',
      headers: { 'x-plugin-meta': b64('{"url":"x"}') },
      mentions: /baseURL/,
    },
    { title: 'a relative baseURL', headers: pluginHeaders('/just/a/path'), mentions: /baseURL.*absolute/ },
    { title: 'an ftp baseURL', headers: pluginHeaders('ftp://files.example.com'), mentions: /http or https/ },
    {
      title: 'a baseURL with user information',
      headers: pluginHeaders(`https://bot:${PASSWORD}@git.example.com`),
      mentions: /user information/,
    },
    {
      title: 'X-Plugin-Secret without X-Plugin-Auth',
      headers: { ...pluginHeaders('https://x.example.com', basic), 'x-plugin-auth': undefined },
      mentions: /X-Plugin-Auth/,
    },
    {
      title: 'X-Plugin-Secret that is not JSON',
      headers: {
        ...pluginHeaders('https://x.example.com', basic),
        'x-plugin-secret': b64(`password=${PASSWORD}`),
      },
      mentions: /X-Plugin-Secret.*JSON/,
    },
    {
      title: 'X-Plugin-Secret whose values are not base64',
      headers: {
        ...pluginHeaders('https://x.example.com', basic),
        'x-plugin-secret': b64(JSON.stringify({ username: 'bot', password: `${PASSWORD}!` })),
      },
      mentions: /"password".*not base64/,
    },
    {
      title: 'a Secret type no strategy knows',
      headers: pluginHeaders('https://x.example.com', {
        type: 'kubernetes.io/ssh-auth',
        data: { key: PASSWORD },
      }),
      mentions: /^the Secret sent in X-Plugin-Secret cannot be used: type "kubernetes\.io\/ssh-auth"/,
    },
    {
      title: 'a basic-auth Secret without a password',
      headers: pluginHeaders('https://x.example.com', {
        type: 'kubernetes.io/basic-auth',
        data: { username: PASSWORD },
      }),
      mentions:
        /^the Secret sent in X-Plugin-Secret \(type kubernetes\.io\/basic-auth\) has no "password" key$/,
    },
    {
      title: 'a registry-token Secret without a username',
      headers: pluginHeaders('https://x.example.com', {
        type: 'cpaas.io/distribution-registry-token',
        data: { password: PASSWORD },
      }),
      mentions: /the Secret sent in X-Plugin-Secret .*"username"/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.title} with a 400 that names the problem, not the value`, async function () {
      const err = await failure(decoder, c.headers);
      const message =
        err instanceof StatusError
          ? (expect(err.status).to.include({ code: 400, reason: 'BadRequest' }), err.message)
          : (expect(err).to.be.instanceOf(ProxyError),
            expect((err as ProxyError).code).to.be.oneOf(['InvalidCredential', 'InvalidTarget']),
            err.message);
      expect(message).to.match(c.mentions);
      expect(message).to.not.include(PASSWORD);
      expect(message).to.not.include('/(X-Plugin-Secret)');
    });
  }
});
