// Each Secret type turns into exactly one header on the outbound request, and a Secret that cannot
// be used is named in the error without ever showing what it holds.
import { expect } from 'chai';
import { ProxyError } from '../../../../proxy/errors.js';
import { injectorFor, type SecretMaterial } from '../../../../proxy/credentials/index.js';
import type { OutgoingHeaders } from '../../../../proxy/headers.js';

const request = { method: 'GET', origin: 'https://gitlab.example.com', path: '/api/v4/user' };
const SECRET_VALUE = 'glpat-Sup3rS3cret';

function secret(type: string, data: Record<string, string>): SecretMaterial {
  return {
    namespace: 'team-a',
    name: 'gitlab-cred',
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8')])),
  };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

describe('proxy/credentials injectorFor', () => {
  const produced: { title: string; secret: SecretMaterial; headers: OutgoingHeaders }[] = [
    {
      title: 'kubernetes.io/basic-auth → Basic base64(user:pass)',
      secret: secret('kubernetes.io/basic-auth', { username: 'root', password: 'pa:ss word' }),
      headers: { authorization: `Basic ${b64('root:pa:ss word')}` },
    },
    {
      title: 'kubernetes.io/basic-auth with non-ASCII is UTF-8 before base64',
      secret: secret('kubernetes.io/basic-auth', { username: 'jürgen', password: 'größe' }),
      headers: { authorization: `Basic ${b64('jürgen:größe')}` },
    },
    {
      title: 'kubernetes.io/basic-auth without a username sends an empty user',
      secret: secret('kubernetes.io/basic-auth', { password: 'pat' }),
      headers: { authorization: `Basic ${b64(':pat')}` },
    },
    {
      title: 'connectors.cpaas.io/bearer-token → Bearer',
      secret: secret('connectors.cpaas.io/bearer-token', { token: SECRET_VALUE }),
      headers: { authorization: `Bearer ${SECRET_VALUE}` },
    },
    {
      title: 'Opaque with a token key → Bearer',
      secret: secret('Opaque', { token: 'ghp_abc', other: 'ignored' }),
      headers: { authorization: 'Bearer ghp_abc' },
    },
    {
      title: 'connectors.cpaas.io/gitlab-pat-auth → private-token',
      secret: secret('connectors.cpaas.io/gitlab-pat-auth', { token: SECRET_VALUE }),
      headers: { 'private-token': SECRET_VALUE },
    },
  ];
  for (const c of produced) {
    it(c.title, async () => {
      const headers: OutgoingHeaders = { accept: 'application/json' };
      await injectorFor(c.secret).inject(headers, request);
      expect(headers).to.deep.equal({ accept: 'application/json', ...c.headers });
    });
  }

  const schemed: { title: string; secret: SecretMaterial; headers: OutgoingHeaders }[] = [
    {
      title: 'basic-username: a bearer-token Secret → Basic base64(token:)',
      secret: secret('connectors.cpaas.io/bearer-token', { token: SECRET_VALUE }),
      headers: { authorization: `Basic ${b64(`${SECRET_VALUE}:`)}` },
    },
    {
      title: 'basic-username: an Opaque Secret with a token key → Basic base64(token:)',
      secret: secret('Opaque', { token: 'squ_abc', other: 'ignored' }),
      headers: { authorization: `Basic ${b64('squ_abc:')}` },
    },
  ];
  for (const c of schemed) {
    it(c.title, async () => {
      const headers: OutgoingHeaders = { authorization: 'Basic cGxhY2Vob2xkZXI6' };
      await injectorFor(c.secret, 'basic-username').inject(headers, request);
      expect(headers).to.deep.equal(c.headers);
    });
  }

  const unusableWithScheme: { title: string; secret: SecretMaterial; scheme: string; mentions: RegExp }[] = [
    {
      title: 'basic-username for a basic-auth Secret',
      secret: secret('kubernetes.io/basic-auth', { username: 'u', password: SECRET_VALUE }),
      scheme: 'basic-username',
      mentions:
        /the credential scheme "basic-username" takes a Secret of type connectors\.cpaas\.io\/bearer-token or Opaque, not "kubernetes\.io\/basic-auth"/,
    },
    {
      title: 'an unknown scheme',
      secret: secret('connectors.cpaas.io/bearer-token', { token: SECRET_VALUE }),
      scheme: 'digest',
      mentions: /the credential scheme "digest" is not one of basic-username/,
    },
    {
      title: "basic-username with a token holding ':' (it would become the password)",
      secret: secret('connectors.cpaas.io/bearer-token', { token: `a:${SECRET_VALUE}` }),
      scheme: 'basic-username',
      mentions: /key "token" of Secret team-a\/gitlab-cred contains ':'/,
    },
    {
      title: 'basic-username for an Opaque Secret without a token key',
      secret: secret('Opaque', { password: SECRET_VALUE }),
      scheme: 'basic-username',
      mentions: /"token"/,
    },
  ];
  for (const c of unusableWithScheme) {
    it(`refuses ${c.title}, naming the Secret and not its value`, () => {
      let caught: unknown;
      try {
        injectorFor(c.secret, c.scheme);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ProxyError);
      expect((caught as ProxyError).code).to.equal('InvalidCredential');
      expect((caught as ProxyError).message)
        .to.match(c.mentions)
        .and.not.include(SECRET_VALUE);
    });
  }

  it('a token with inner spaces or tabs is a valid header value and is sent as is', async () => {
    const headers: OutgoingHeaders = {};
    const token = 'part one\tpart-two';
    await injectorFor(secret('connectors.cpaas.io/gitlab-pat-auth', { token })).inject(headers, request);
    expect(headers).to.deep.equal({ 'private-token': token });
  });

  it('a basic-auth password with any printable Unicode is fine: it travels base64-encoded', async () => {
    const headers: OutgoingHeaders = {};
    const password = `${SECRET_VALUE}… \u{1f511}`;
    await injectorFor(secret('kubernetes.io/basic-auth', { username: 'u', password })).inject(
      headers,
      request,
    );
    expect(headers).to.deep.equal({ authorization: `Basic ${b64(`u:${password}`)}` });
  });

  it('replaces an authorization header already present rather than adding a second', async () => {
    const headers: OutgoingHeaders = { authorization: 'Bearer caller' };
    await injectorFor(secret('connectors.cpaas.io/bearer-token', { token: 'tool' })).inject(headers, request);
    expect(headers).to.deep.equal({ authorization: 'Bearer tool' });
  });

  const unusable: { title: string; secret: SecretMaterial; mentions: RegExp }[] = [
    {
      title: 'an unsupported type',
      secret: secret('kubernetes.io/ssh-auth', { 'ssh-privatekey': SECRET_VALUE }),
      mentions: /kubernetes\.io\/ssh-auth/,
    },
    {
      title: 'an Opaque Secret without a token key',
      secret: secret('Opaque', { password: SECRET_VALUE }),
      mentions: /"token"/,
    },
    {
      title: 'an Opaque Secret with an empty token',
      secret: secret('Opaque', { token: '' }),
      mentions: /"token"/,
    },
    {
      title: 'a bearer-token Secret without a token key',
      secret: secret('connectors.cpaas.io/bearer-token', { password: SECRET_VALUE }),
      mentions: /"token"/,
    },
    {
      title: 'a gitlab-pat-auth Secret without a token key',
      secret: secret('connectors.cpaas.io/gitlab-pat-auth', { username: SECRET_VALUE }),
      mentions: /"token"/,
    },
    {
      title: 'a basic-auth Secret without a password',
      secret: secret('kubernetes.io/basic-auth', { username: SECRET_VALUE }),
      mentions: /"password"/,
    },
    {
      title: 'a token with a line break (header injection)',
      secret: secret('connectors.cpaas.io/bearer-token', { token: `${SECRET_VALUE}\r\nX-Admin: 1` }),
      mentions: /"token".*line break/,
    },
    {
      title: 'a token with a trailing newline',
      secret: secret('connectors.cpaas.io/gitlab-pat-auth', { token: `${SECRET_VALUE}\n` }),
      mentions: /line break/,
    },
    {
      title: 'a token with a NUL',
      secret: secret('Opaque', { token: `${SECRET_VALUE}\u0000` }),
      mentions: /NUL/,
    },
    // A token travels as a header value as is: only visible ASCII (and inner spaces) can. The
    // README's own example, `glpat-…`, was a 503 "cannot be reached (UND_ERR_INVALID_ARG)".
    ...(
      [
        ['connectors.cpaas.io/gitlab-pat-auth', 'the ellipsis of an example (U+2026)', `${SECRET_VALUE}…`],
        ['connectors.cpaas.io/bearer-token', 'the ellipsis of an example (U+2026)', `${SECRET_VALUE}…`],
        ['Opaque', 'the ellipsis of an example (U+2026)', `${SECRET_VALUE}…`],
        ['connectors.cpaas.io/gitlab-pat-auth', 'a latin-1 letter, sent as another byte', `${SECRET_VALUE}é`],
        ['connectors.cpaas.io/bearer-token', 'an emoji', `${SECRET_VALUE}\u{1f511}`],
        ['Opaque', 'a non-breaking space', `${SECRET_VALUE}\u00a0x`],
        ['connectors.cpaas.io/gitlab-pat-auth', 'a control character (ESC)', `${SECRET_VALUE}\u001b`],
        ['connectors.cpaas.io/bearer-token', 'DEL', `${SECRET_VALUE}\u007f`],
        ['connectors.cpaas.io/bearer-token', 'a leading space', ` ${SECRET_VALUE}`],
        ['Opaque', 'a trailing tab', `${SECRET_VALUE}\t`],
      ] as const
    ).map(([type, what, token]) => ({
      title: `a ${type} token with ${what}`,
      secret: secret(type, { token }),
      mentions: /key "token" of Secret team-a\/gitlab-cred cannot be sent as an HTTP header value/,
    })),
    {
      title: 'a password with a line break',
      secret: secret('kubernetes.io/basic-auth', { username: 'root', password: `${SECRET_VALUE}\n` }),
      mentions: /"password"/,
    },
    {
      title: "a username with ':' (it would shift the password)",
      secret: secret('kubernetes.io/basic-auth', { username: `root:${SECRET_VALUE}`, password: 'x' }),
      mentions: /username/,
    },
    {
      title: 'a username with a line break',
      secret: secret('kubernetes.io/basic-auth', { username: `${SECRET_VALUE}\r\n`, password: 'x' }),
      mentions: /username/,
    },
  ];
  for (const c of unusable) {
    it(`refuses ${c.title}, naming the Secret and not its value`, () => {
      let caught: unknown;
      try {
        injectorFor(c.secret);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ProxyError);
      const err = caught as ProxyError;
      expect(err.code).to.equal('InvalidCredential');
      expect(err.message).to.include('team-a/gitlab-cred');
      expect(err.message).to.match(c.mentions);
      expect(err.message).to.not.include(SECRET_VALUE);
      expect(String(err.stack)).to.not.include(SECRET_VALUE);
      expect(JSON.stringify(err)).to.not.include(SECRET_VALUE);
    });
  }
});
