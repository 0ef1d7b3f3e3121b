// Errors of the CSI driver, each with the gRPC status code the CSI specification gives its
// situation ("Error Scheme"). Handlers throw them; the one wrapper in server.ts turns every error,
// expected or not, into a gRPC status, so a call never hangs until the caller's deadline.
//
// How kubelet reads a failed NodePublishVolume (pkg/volume/csi/csi_client.go isFinalError):
// UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, CANCELLED and RESOURCE_EXHAUSTED leave the volume
// "uncertain" and kubelet retries; every other code is final, and kubelet removes the mount
// directory before it retries. Messages reach the pod's events: they name what to fix and never
// hold a token or a rendered file.

import { status } from '@grpc/grpc-js';

export class CsiError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'CsiError';
  }
}

export const invalidArgument = (message: string): CsiError => new CsiError(status.INVALID_ARGUMENT, message);
export const notFound = (message: string): CsiError => new CsiError(status.NOT_FOUND, message);
export const permissionDenied = (message: string): CsiError =>
  new CsiError(status.PERMISSION_DENIED, message);
export const unauthenticated = (message: string): CsiError => new CsiError(status.UNAUTHENTICATED, message);
export const failedPrecondition = (message: string): CsiError =>
  new CsiError(status.FAILED_PRECONDITION, message);
/** Non-final: kubelet keeps the volume and asks again (e.g. kube-apiserver unreachable). */
export const unavailable = (message: string): CsiError => new CsiError(status.UNAVAILABLE, message);
/** Non-final: another operation on the same volume is still running. */
export const aborted = (message: string): CsiError => new CsiError(status.ABORTED, message);
export const internal = (message: string): CsiError => new CsiError(status.INTERNAL, message);
