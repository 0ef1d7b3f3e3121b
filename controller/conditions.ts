// Knative-shaped conditions (type, status, reason, message, severity, lastTransitionTime), the
// top-level Ready computed from the others, and the rule that decides whether a status write is
// needed at all: lastTransitionTime moves only when a condition's status changes, so an unchanged
// world yields a byte-identical status and no write.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  /** '' (omitted) = Error; 'Info' = informational, never affects Ready. */
  severity?: string;
  lastTransitionTime?: string;
}

/** A condition without empty optional fields (the published JSON omits them). */
export function condition(type: string, status: ConditionStatus, reason = '', message = ''): Condition {
  return { type, status, ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
}

export const isTrue = (c: Condition | undefined): boolean => c?.status === 'True';

/**
 * Ready from its dependents, in their order: any False → False with the first failing reason and
 * message; otherwise any Unknown → Unknown with the first unknown's; otherwise True.
 */
export function readyCondition(dependents: readonly Condition[]): Condition {
  const counted = dependents.filter((c) => c.severity !== 'Info');
  const failed = counted.find((c) => c.status === 'False');
  if (failed) return condition('Ready', 'False', failed.reason, failed.message);
  const unknown = counted.find((c) => c.status === 'Unknown');
  if (unknown) return condition('Ready', 'Unknown', unknown.reason, unknown.message);
  return condition('Ready', 'True');
}

/** Two conditions are the same observation when everything but lastTransitionTime matches. */
export function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.type === b.type &&
    a.status === b.status &&
    (a.reason ?? '') === (b.reason ?? '') &&
    (a.message ?? '') === (b.message ?? '') &&
    (a.severity ?? '') === (b.severity ?? '')
  );
}

/**
 * Stamps lastTransitionTime on `next`: kept from the previous condition of the same type when its
 * status did not change, `now` otherwise.
 */
export function withTransitionTimes(
  previous: readonly Condition[] | undefined,
  next: readonly Condition[],
  now: string,
): Condition[] {
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime =
      before?.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now;
    return { ...c, lastTransitionTime };
  });
}

/** Deep equality of JSON values (key order ignored, array order kept). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const k of keys) {
    if (ao[k] === undefined && bo[k] === undefined) continue;
    if (!jsonEqual(ao[k], bo[k])) return false;
  }
  return true;
}

export interface StatusWithConditions {
  conditions?: Condition[];
  [field: string]: unknown;
}

/**
 * The status to write, or null when the observed one already says the same: `desired` merged
 * over `observed` (fields the controller does not own, such as status.annotations, are kept), with
 * lastTransitionTime carried over for every condition whose status did not change.
 */
export function nextStatus<S extends StatusWithConditions>(
  observed: StatusWithConditions | undefined,
  desired: S,
  now: string,
): (StatusWithConditions & S) | null {
  const spread: Record<string, unknown> = {
    ...(observed ?? {}),
    ...desired,
    conditions: withTransitionTimes(observed?.conditions, desired.conditions ?? [], now),
  };
  // A field the controller clears (desired: undefined) is dropped, not written as null.
  const merged = Object.fromEntries(
    Object.entries(spread).filter(([, v]) => v !== undefined),
  ) as StatusWithConditions & S;
  return jsonEqual(observed ?? {}, merged) ? null : merged;
}
