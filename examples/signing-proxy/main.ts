// An example custom Connectors Proxy, written with the kit: it signs each request with an
// HMAC-SHA256 key from the Connector's Secret, for tools that accept signed requests instead of a
// password (docs/custom-proxy.md walks through it). Everything else (who the caller is, RBAC, which
// Connector, its Secret, streaming, redirects, health, metrics, logs, drain) is the kit's.
//
//   node dist/examples/signing-proxy/main.js --connector-classes=signed-http \
//     --tls-cert-file=… --tls-private-key-file=… --client-ca-file=… --allowed-client-names=…
//
// The Connector's Secret: type Opaque, key `signingKey`. Each request gets
//   X-Signature-Timestamp        Unix seconds
//   X-Signature-Content-SHA256   hex SHA-256 of the body: of the empty body for a request without
//                                one; UNSIGNED-PAYLOAD for one with a body, which streams through
//                                unread (hashing it would mean holding it whole before sending)
//   X-Signature                  hex HMAC-SHA256(key, METHOD "\n" path?query "\n" timestamp "\n" content)
// where path?query is the request target the tool receives.

import { createHash, createHmac } from 'node:crypto';
import { runHttpProxy } from '../../kit/index.js';
import { hasBody } from '../../machinery/body.js';
import { badRequest } from '../../machinery/status.js';

const emptySha256 = createHash('sha256').update('').digest('hex');

runHttpProxy({
  name: 'signing-proxy',
  entry: 'dist/examples/signing-proxy/main.js',
  about: 'signs each request with the HMAC-SHA256 key in the Connector Secret’s signingKey.',
  async handle(ctx) {
    const key = ctx.tool.secret?.data.signingKey;
    if (!key || key.length === 0) {
      throw badRequest(
        `Connector ${ctx.tool.ref.namespace}/${ctx.tool.ref.name}: its Secret (spec.auth.secretRef) needs a signingKey`,
      );
    }
    const timestamp = String(Math.floor(Date.now() / 1000));
    const content = hasBody(ctx.req.headers) ? 'UNSIGNED-PAYLOAD' : emptySha256;
    const target = ctx.query ? `${ctx.path}?${ctx.query}` : ctx.path;
    const signature = createHmac('sha256', key)
      .update(`${ctx.req.method ?? 'GET'}\n${target}\n${timestamp}\n${content}`)
      .digest('hex');
    await ctx.forward({
      headers: {
        'x-signature-timestamp': timestamp,
        'x-signature-content-sha256': content,
        'x-signature': signature,
      },
    });
  },
});
