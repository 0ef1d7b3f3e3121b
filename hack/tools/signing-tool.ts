// A tool that serves only signed requests (the echo tool's answers, behind a signature check): the
// witness of the signing proxy's tests (examples/signing-proxy), so that a request reaches it only
// if the proxy signed it with the Connector's key. Written here from the scheme's description in
// docs/custom-proxy.md, not from the proxy's code, so that the two check each other.
//
//   X-Signature-Timestamp        Unix seconds, within five minutes of the tool's clock
//   X-Signature-Content-SHA256   hex SHA-256 of the body, or UNSIGNED-PAYLOAD (a streamed body)
//   X-Signature                  hex HMAC-SHA256(key, METHOD "\n" path?query "\n" timestamp "\n" content)
//
// Anything else is a 401 that says what was wrong.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { startEchoTool, type EchoTool } from './echo-tool.js';

const emptySha256 = createHash('sha256').update('').digest('hex');

function one(v: string | string[] | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** Why `req` is not signed with `key`, or null when it is. */
export function signatureProblem(key: Buffer, req: IncomingMessage, nowMs = Date.now()): string | null {
  const timestamp = one(req.headers['x-signature-timestamp']);
  const content = one(req.headers['x-signature-content-sha256']);
  const signature = one(req.headers['x-signature']);
  if (!timestamp || !content || !signature) return 'the request is not signed';
  if (!/^\d+$/.test(timestamp) || Math.abs(nowMs / 1000 - Number(timestamp)) > 300) {
    return 'the signature timestamp is not within five minutes';
  }
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (content !== 'UNSIGNED-PAYLOAD' && (hasBody || chunked || content !== emptySha256)) {
    return 'the content hash does not match the body';
  }
  const expected = createHmac('sha256', key)
    .update(`${req.method ?? ''}\n${req.url ?? ''}\n${timestamp}\n${content}`)
    .digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return 'the signature does not match';
  return null;
}

/** An echo tool that answers only requests signed with `key`. */
export function startSigningTool(key: Buffer): Promise<EchoTool> {
  return startEchoTool({ authorize: (req) => signatureProblem(key, req) });
}
