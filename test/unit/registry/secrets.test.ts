// A Secret that cannot be read because kube-apiserver is down is a passing state: 503 naming the
// Secret, not a 500 InternalError (and a stack trace in the log) for every request meanwhile.

import { expect } from 'chai';
import { StatusError } from '../../../machinery/status.js';
import { freePort } from '../../../hack/process.js';
import { KubeClient } from '../../../kube/client.js';
import { staticAccess } from '../../../kube/config.js';
import { SecretCache } from '../../../registry/secrets.js';

describe('registry/secrets SecretCache with kube-apiserver unreachable', () => {
  let kube: KubeClient;

  before(async () => {
    kube = new KubeClient(staticAccess(`https://127.0.0.1:${await freePort()}`, { token: 'not-used' }));
  });

  after(async () => {
    await kube.close();
  });

  async function failure(read: () => Promise<unknown>): Promise<StatusError> {
    try {
      await read();
    } catch (err) {
      expect(err).to.be.instanceOf(StatusError);
      return err as StatusError;
    }
    return expect.fail('expected a StatusError');
  }

  for (const [what, read] of [
    ['a credential', (c: SecretCache) => c.credential('team-a', 'creds')],
    ['a CA bundle', (c: SecretCache) => c.caBundle('team-a', 'creds')],
  ] as const) {
    it(`reading ${what} → 503 ServiceUnavailable naming the Secret, and not cached`, async () => {
      const cache = new SecretCache(kube, 60_000);
      const err = await failure(() => read(cache));
      expect(err.status).to.include({ code: 503, reason: 'ServiceUnavailable' });
      expect(err.message).to.equal(
        'Secret team-a/creds cannot be read from kube-apiserver right now (ECONNREFUSED); try again',
      );
      // The next request asks again instead of being served the failure for the TTL.
      expect(await failure(() => read(cache))).to.not.equal(err);
    });
  }
});

describe('registry/secrets SecretCache: a credential per Secret and credential scheme', () => {
  it('builds and keeps one injector per scheme, each read once', async () => {
    let reads = 0;
    const kube = {
      get: () => {
        reads++;
        return Promise.resolve({
          type: 'connectors.cpaas.io/bearer-token',
          data: { token: Buffer.from('squ_token').toString('base64') },
        });
      },
    } as unknown as KubeClient;
    const cache = new SecretCache(kube, 60_000);
    const sent = async (scheme?: string): Promise<string | undefined> => {
      const found = await cache.credential('team-a', 'sonar', scheme);
      if (!found.found) return expect.fail(found.message);
      const headers: Record<string, string> = {};
      await found.injector.inject(headers, { method: 'GET', origin: 'https://sonar.example.com', path: '/' });
      return headers.authorization;
    };
    expect(await sent()).to.equal('Bearer squ_token');
    expect(await sent('basic-username')).to.equal(`Basic ${Buffer.from('squ_token:').toString('base64')}`);
    expect(await sent()).to.equal('Bearer squ_token');
    expect(await sent('basic-username')).to.equal(`Basic ${Buffer.from('squ_token:').toString('base64')}`);
    expect(reads).to.equal(2);
  });
});
