// Admission for Connectors, served to kube-apiserver as two webhooks:
// - validating (manifests/apiserver/validatingwebhook.yaml): the rules that need the Connector's
//   ConnectorClass. Rules that need only the Connector itself (http(s) addresses, unique names, an
//   extension differing from spec.address) are CEL rules in the CRD; the checks are repeated here so
//   a CRD from an older install cannot let them through.
// - mutating (manifests/apiserver/mutatingwebhook.yaml): stamps the state it accepted
//   (registry/admitted.ts), so that the status controller sends a credential only for a state
//   admission accepted.
// Both check the author's authority: whoever creates a Connector, or changes where it sends its
// credential (address, address extensions, class) or which credential (auth.secretRef,
// caCertSecretRef), must be allowed to `get` each Secret it references. Otherwise writing a
// Connector would be reading its Secret: point it at your own listener and let /proxy or the status
// controller's auth probe deliver the credential there. Updates that change none of those fields
// (labels, params, status) are not re-checked.
//
// The class rules are a pure function of the AdmissionReview and the informer's view of the
// classes. The authority check asks kube-apiserver, with a SubjectAccessReview for the request's
// userInfo (the authorizer's short cache absorbs repeated writes); any error denies. A Connector
// whose class is not (yet) known is allowed with a warning, as the status controller reports it
// (ConnectorClassReady=False, ConnectorClassNotFound): classes and Connectors are often applied
// together, and the informer may see the class a moment later.
//
// The endpoint sits before authentication (kube-apiserver presents no credential to webhooks unless
// configured to). Only a connection with a client certificate issued by the cluster's client or
// front-proxy CA may send a body of up to maxAdmissionReviewBytes; anyone else gets a small limit,
// a deadline and a cap on concurrent bodies (apiserver/app.ts), so that unauthenticated callers
// cannot hold the server's memory.
//
// The wire format is admissionreview.ts, the class rules validation.ts, the authority check
// authority.ts; the endpoint, its body limits and reader are apiserver/app.ts and machinery/body.ts.

import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { isDeepStrictEqual } from 'node:util';
import type { Authorizer } from '../kube/authz.js';
import { badRequest } from '../machinery/status.js';
import { admittedAnnotation, admittedStamp, admittedState } from '../registry/admitted.js';
import type { ConnectorLister } from '../registry/store.js';
import { crdGroup } from '../registry/types.js';
import type { AuthenticationConfig } from './authconfig.js';
import {
  isObject,
  parseAdmissionReview,
  quoted,
  respond,
  str,
  type AdmissionRequest,
  type AdmissionReview,
  type DenialStatus,
  type FieldProblem,
} from './admissionreview.js';
import { authorityProblems } from './authority.js';
import { validateConnector } from './validation.js';

/** Where the server answers validating AdmissionReviews for Connectors (POST, JSON). */
export const admissionPath = '/admission/connectors';

/** Where the server answers mutating AdmissionReviews for Connectors: the admitted-state stamp. */
export const mutationPath = '/admission/connectors/admit';

/**
 * The largest AdmissionReview accepted from kube-apiserver (a client certificate of the cluster's
 * CAs): object and oldObject of up to 3 MiB each, plus the envelope.
 */
export const maxAdmissionReviewBytes = 8 * 1024 * 1024;

/**
 * How much an unauthenticated caller may send, for how long, and how many at once.
 *
 * A Connector's review is a few KiB: a shipped-class Connector with address extension, both Secret
 * references, labels, kubectl's last-applied annotation, managedFields and six status conditions is
 * about 3 KiB of JSON, so an UPDATE (object and oldObject) about 7 KiB. 256 KiB is over thirty times
 * that, and at most 16 such bodies (4 MiB) are held at once. What exceeds it (annotations near
 * kube-apiserver's 256 KiB cap, huge params) needs kube-apiserver to present a client certificate
 * to the webhook (AdmissionConfiguration kubeConfigFile; see the README). kube-apiserver sends the
 * whole body at once; a 429 carries Retry-After, which client-go's REST client (kube-apiserver's
 * webhook client) honours with a retry within the webhook timeout.
 */
export interface AdmissionBodyLimits {
  /** Bytes from a caller without a cluster client certificate. */
  untrustedBytes: number;
  /** Bodies from such callers read or answered at the same time; more get a 429. */
  untrustedConcurrency: number;
  /** The whole body must arrive within this, from anyone. */
  deadlineMs: number;
}

export const defaultAdmissionBodyLimits: AdmissionBodyLimits = {
  untrustedBytes: 256 * 1024,
  untrustedConcurrency: 16,
  deadlineMs: 10_000,
};

// ---- AdmissionReview in, AdmissionReview out -------------------------------------------------------

function denial(name: string, problems: FieldProblem[]): DenialStatus {
  const errors = problems.map((p) => `${p.field}: ${p.message}`);
  const list = errors.length === 1 ? (errors[0] ?? '') : `[${errors.join(', ')}]`;
  return {
    status: 'Failure',
    code: 422,
    reason: 'Invalid',
    message: `Connector.${crdGroup} ${quoted(name)} is invalid: ${list}`,
    details: { name, group: crdGroup, kind: 'Connector', causes: problems },
  };
}

function forbiddenDenial(name: string, problems: FieldProblem[]): DenialStatus {
  const errors = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return {
    status: 'Failure',
    code: 403,
    reason: 'Forbidden',
    message:
      `connectors.${crdGroup} ${quoted(name)} is forbidden: ${errors}. Whoever creates a Connector or ` +
      `changes its address, address extensions, class or Secret references must be allowed to get each ` +
      `Secret it references`,
    details: { name, group: crdGroup, kind: 'connectors', causes: problems },
  };
}

/** What both webhooks read from a review of a Connector CREATE or UPDATE. */
interface ConnectorWrite {
  request: AdmissionRequest;
  namespace: string;
  name: string;
  /**
   * Whether the author's authority is checked: on CREATE, and on an UPDATE that changes where the
   * credential goes or which credential it is (registry/admitted.ts names those fields).
   */
  changesAuthority: boolean;
  state: string;
}

/**
 * The write a review is about, or the response for a review that is none of the webhook's business
 * (another resource, a subresource, DELETE and CONNECT).
 */
function connectorWrite(
  review: AdmissionReview,
  webhook: string,
): { write: ConnectorWrite } | { answer: AdmissionReview } {
  const request = review.request;
  if (!request) throw badRequest('AdmissionReview.request is missing');
  const res = request.resource;
  if (res?.group !== crdGroup || res.resource !== 'connectors' || request.subResource) {
    const what = res ? `${res.resource}${res.group ? `.${res.group}` : ''}` : 'an unknown resource';
    const sub = request.subResource ? `/${request.subResource}` : '';
    return {
      answer: respond({
        uid: request.uid,
        allowed: true,
        warnings: [`${webhook} checks connectors.${crdGroup} only; ${what}${sub} was not checked`],
      }),
    };
  }
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE')
    return { answer: respond({ uid: request.uid, allowed: true }) };
  const namespace = request.namespace ?? '';
  const meta = isObject(request.object) && isObject(request.object.metadata) ? request.object.metadata : {};
  const state = admittedState(request.object, namespace);
  return {
    write: {
      request,
      namespace,
      name: request.name || str(meta.name) || str(meta.generateName),
      changesAuthority:
        request.operation === 'CREATE' || admittedState(request.oldObject, namespace) !== state,
      state,
    },
  };
}

/** The verdict of the validating webhook on one AdmissionReview; anything but a Connector write is allowed. */
export async function reviewConnector(
  review: AdmissionReview,
  lister: ConnectorLister,
  authorizer: Authorizer,
): Promise<AdmissionReview> {
  const triage = connectorWrite(review, 'validate.connectors.alauda.io');
  if ('answer' in triage) return triage.answer;
  const write = triage.write;
  const { request, namespace, name } = write;
  const uid = request.uid;
  const object = request.object;

  if (write.changesAuthority) {
    const forbidden = await authorityProblems(request.userInfo, object, namespace, authorizer);
    if (forbidden.length) return respond({ uid, allowed: false, status: forbiddenDenial(name, forbidden) });
  }

  const spec = isObject(object) && isObject(object.spec) ? object.spec : {};
  const className = str(spec.connectorClassName);
  const cls = className ? lister.connectorClass(className) : undefined;
  const { problems, warnings } = validateConnector(object, namespace, cls);
  const allow = (w: string[]): AdmissionReview =>
    respond({ uid, allowed: true, ...(w.length ? { warnings: w } : {}) });
  if (!problems.length) return allow(warnings);

  // An UPDATE that leaves spec alone (labels, annotations, finalizers) is never refused, so a
  // Connector that a class change made invalid can still be relabelled and deleted.
  const old = request.oldObject;
  if (
    request.operation === 'UPDATE' &&
    isObject(old) &&
    isObject(object) &&
    isDeepStrictEqual(old.spec, object.spec)
  ) {
    return allow([
      ...warnings,
      ...problems.map(
        (p) => `spec unchanged, so allowed, but invalid for its class: ${p.field}: ${p.message}`,
      ),
    ]);
  }
  return respond({
    uid,
    allowed: false,
    status: denial(name, problems),
    ...(warnings.length ? { warnings } : {}),
  });
}

/** JSON Patch path segment escaping (RFC 6901). */
const pointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON Patch that makes the object's stamp `stamp` ('' removes it), or [] when it already is. */
function stampPatch(object: unknown, stamp: string): object[] {
  if (admittedStamp(object) === stamp) return [];
  const meta = isObject(object) && isObject(object.metadata) ? object.metadata : {};
  const path = `/metadata/annotations/${pointer(admittedAnnotation)}`;
  if (!stamp) return [{ op: 'remove', path }];
  return isObject(meta.annotations)
    ? [{ op: 'add', path, value: stamp }]
    : [{ op: 'add', path: '/metadata/annotations', value: { [admittedAnnotation]: stamp } }];
}

/**
 * The verdict of the mutating webhook: refuses an author who may not read the Secrets, as the
 * validating webhook does, and stamps the state it accepted. Whatever stamp the caller sent is
 * overwritten, so only this webhook can stamp.
 */
export async function admitConnector(
  review: AdmissionReview,
  authorizer: Authorizer,
): Promise<AdmissionReview> {
  const triage = connectorWrite(review, 'admit.connectors.alauda.io');
  if ('answer' in triage) return triage.answer;
  const write = triage.write;
  const { request, namespace, name, state } = write;
  const object = request.object;
  const answer = (stamp: string, warnings: string[] = []): AdmissionReview => {
    const patch = stampPatch(object, stamp);
    return respond({
      uid: request.uid,
      allowed: true,
      ...(patch.length
        ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
        : {}),
      ...(warnings.length ? { warnings } : {}),
    });
  };

  if (write.changesAuthority) {
    const forbidden = await authorityProblems(request.userInfo, object, namespace, authorizer);
    if (forbidden.length)
      return respond({ uid: request.uid, allowed: false, status: forbiddenDenial(name, forbidden) });
    return answer(state);
  }
  // An UPDATE that leaves the credential's destination alone keeps the stamp it had.
  if (admittedStamp(request.oldObject) === state) return answer(state);
  // Never admitted in this state (written before the webhook was registered, or while it was not):
  // such an update is not refused, but it admits the state only if its author may read the Secrets.
  const forbidden = await authorityProblems(request.userInfo, object, namespace, authorizer);
  if (!forbidden.length) return answer(state);
  return answer('', [
    `not admitted: ${forbidden.map((p) => `${p.field}: ${p.message}`).join('; ')}; the status controller ` +
      `does not probe this Connector until a user who may get its Secrets updates it`,
  ]);
}

/** An endpoint's handler: a parsed body in, the AdmissionReview response out. */
export type AdmissionHandler = (body: unknown) => Promise<object>;

/**
 * The handlers of both webhooks, by path. They throw StatusError (400) for a body that is not an
 * AdmissionReview.
 */
export function admissionHandlers(
  lister: ConnectorLister,
  authorizer: Authorizer,
): Map<string, AdmissionHandler> {
  return new Map<string, AdmissionHandler>([
    [admissionPath, (body) => reviewConnector(parseAdmissionReview(body), lister, authorizer)],
    [mutationPath, (body) => admitConnector(parseAdmissionReview(body), authorizer)],
  ]);
}

/**
 * Whether the connection presents a client certificate that the cluster's client CA or front-proxy
 * CA issued: the only callers that may send a full-size AdmissionReview. The TLS layer verified the
 * chain against the CAs the server trusts; this checks that the chain ends at one of the cluster's
 * CAs as published now (not Node's default roots, which verify client certificates before the
 * cluster's CAs are known).
 */
export function clusterClientCertificate(socket: Socket, cfg: AuthenticationConfig | null): boolean {
  const tls = socket as Partial<TLSSocket>;
  if (!cfg || tls.authorized !== true || typeof tls.getPeerCertificate !== 'function') return false;
  const trusted = new Set([...cfg.clientCAs, ...(cfg.requestHeader?.cas ?? [])].map((c) => c.fingerprint256));
  let cert: DetailedPeerCertificate | undefined = tls.getPeerCertificate(true);
  for (let depth = 0; depth < 10; depth++) {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Node's types promise a certificate, but it is empty without one and undefined past an unknown issuer
    if (!cert?.fingerprint256) return false;
    if (trusted.has(cert.fingerprint256)) return true;
    if (cert.issuerCertificate === cert) return false; // a root that is not one of ours
    cert = cert.issuerCertificate;
  }
  return false;
}
