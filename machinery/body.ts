// Request bodies: whether a request has one (relays pass it on only then), and reading a small JSON
// body defensively, bounded in size and time, for the few endpoints that parse one.

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { badRequest, requestTimeout, StatusError } from './status.js';

/** Whether a request has a body: chunked, or a Content-Length above 0. */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
}

export interface JsonBodyLimits {
  /** The most bytes read. */
  limit: number;
  /** The whole body must arrive within this. */
  deadlineMs: number;
  /** Said after why a body over the limit was refused (how to send a larger one). */
  tooLargeHint?: string;
  /** Said after why a late body was refused (how to send it). */
  lateHint?: string;
}

/**
 * Reads a JSON request body: 413 beyond the limit (by Content-Length or by what arrives), 408 past
 * the deadline, 400 if it is not JSON or its sender goes away. On a refusal the body is left unread:
 * the caller answers and closes the connection.
 */
export function readJsonBody(req: IncomingMessage, limits: JsonBodyLimits): Promise<unknown> {
  const { limit, deadlineMs } = limits;
  const hint = (text: string | undefined): string => (text ? `; ${text}` : '');
  const tooLarge = (): StatusError =>
    new StatusError(
      413,
      'RequestEntityTooLarge',
      `the request body exceeds ${limit} bytes${hint(limits.tooLargeHint)}`,
    );
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: StatusError | undefined, value?: unknown): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      chunks.length = 0;
      if (err) {
        req.pause();
        reject(err);
      } else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      let value: unknown;
      try {
        value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      } catch {
        finish(badRequest('the request body is not valid JSON'));
        return;
      }
      finish(undefined, value);
    };
    const onClose = (): void => {
      finish(badRequest('the request body ended before it was complete'));
    };
    const timer = setTimeout(() => {
      finish(
        requestTimeout(
          `the request body did not arrive within ${deadlineMs / 1000}s${hint(limits.lateHint)}`,
        ),
      );
    }, deadlineMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}
