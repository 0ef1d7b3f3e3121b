// metav1.Status: the one shape every error of ours takes on the wire. Handlers throw StatusError;
// one outer middleware writes it. Constructors mirror k8s.io/apimachinery/pkg/api/errors so
// kubectl renders "Error from server (<Reason>): <message>".

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'Invalid'
  | 'RequestEntityTooLarge'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'BadGateway';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason?: string; message: string; field?: string }[];
  /** When to try again, as the Retry-After header also says (429). */
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: StatusReason;
  details?: StatusDetails;
  code: number;
}

export class StatusError extends Error {
  readonly status: Status;

  constructor(code: number, reason: StatusReason, message: string, details?: StatusDetails) {
    super(message);
    this.name = 'StatusError';
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
      ...(details ? { details } : {}),
    };
  }

  get code(): number {
    return this.status.code;
  }
}

/** A resource named the way kube-apiserver names it in messages: `<resource>.<group>`. */
export interface GroupResource {
  group: string;
  resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

export const badRequest = (message: string, details?: StatusDetails): StatusError =>
  new StatusError(400, 'BadRequest', message, details);

export const unauthorized = (message = 'Unauthorized'): StatusError =>
  new StatusError(401, 'Unauthorized', message);

export function forbidden(gr: GroupResource, name: string, reason: string): StatusError {
  const subject = name ? `${qualified(gr)} "${name}"` : qualified(gr);
  return new StatusError(403, 'Forbidden', `${subject} is forbidden: ${reason}`, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

export function notFound(gr: GroupResource, name: string, why?: string): StatusError {
  const base = `${qualified(gr)} "${name}" not found`;
  return new StatusError(404, 'NotFound', why ? `${base}: ${why}` : base, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

export const pathNotFound = (message = 'the server could not find the requested resource'): StatusError =>
  new StatusError(404, 'NotFound', message);

/** 422: the request was understood but what it names cannot be computed (kube-apiserver's Invalid). */
export const unprocessable = (message: string, details?: StatusDetails): StatusError =>
  new StatusError(422, 'Invalid', message, details);

export const methodNotAllowed = (message: string): StatusError =>
  new StatusError(405, 'MethodNotAllowed', message);

export const notAcceptable = (message: string): StatusError => new StatusError(406, 'NotAcceptable', message);

export const serviceUnavailable = (message: string): StatusError =>
  new StatusError(503, 'ServiceUnavailable', message);

export const gatewayTimeout = (message: string): StatusError => new StatusError(504, 'Timeout', message);

export const badGateway = (message: string): StatusError => new StatusError(502, 'BadGateway', message);

/** 429, as kube-apiserver answers beyond --max-requests-inflight; send `Retry-After` with it. */
export const tooManyRequests = (message: string, retryAfterSeconds: number): StatusError =>
  new StatusError(429, 'TooManyRequests', message, { retryAfterSeconds });

/** 408: the client stopped sending its request (kube-apiserver's reason for it is Timeout). */
export const requestTimeout = (message: string): StatusError => new StatusError(408, 'Timeout', message);

export const internalError = (message = 'an internal error occurred; see the server log'): StatusError =>
  new StatusError(500, 'InternalError', message);

/** The headers of a response whose body is a Status, plus `extra` (e.g. a challenge). */
export function statusResponseHeaders(
  body: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'x-content-type-options': 'nosniff',
    ...extra,
  };
}

/** Writes `err` as the response, or cuts the response if its head has already gone out. */
export function writeStatus(res: ServerResponse, err: StatusError, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(err.status);
  res.writeHead(err.code, statusResponseHeaders(body, extra));
  res.end(body);
}

/**
 * A whole HTTP/1.1 response carrying `err`, ending the connection: for a socket that no
 * ServerResponse owns, such as one a CONNECT request handed over.
 */
export function rawStatusResponse(err: StatusError, extra: Record<string, string> = {}): string {
  const body = JSON.stringify(err.status);
  const head = Object.entries({ ...statusResponseHeaders(body, extra), connection: 'close' })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/1.1 ${err.code} ${STATUS_CODES[err.code] ?? 'Error'}\r\n${head}\r\n${body}`;
}

/** A 'connect' or 'upgrade' listener that answers `err` on the socket handed over, and closes it. */
export function refuseHandOff(err: StatusError): (req: IncomingMessage, socket: Duplex) => void {
  return (_req, socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(rawStatusResponse(err));
  };
}
