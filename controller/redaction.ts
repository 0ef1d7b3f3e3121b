// What a probe message must never contain: every value of the Connector's Secret (decoded, as
// stored, and line by line) and every rendered header value (and its parts after the scheme), so
// that a tool echoing a credential back in an error cannot put it into a status condition.

import type { SecretData } from './probe.js';

/** Values that must never appear in a message: every Secret value, and rendered header values. */
export function sensitiveValues(secret: SecretData | null, headerValues: readonly string[] = []): string[] {
  const out = new Set<string>();
  const add = (v: string): void => {
    // Shorter strings would blank out ordinary words of the message; they carry no useful secret.
    if (v.length >= 4) out.add(v);
  };
  for (const v of Object.values(secret?.data ?? {})) {
    const decoded = Buffer.from(v, 'base64').toString('utf8');
    add(decoded);
    add(v);
    for (const line of decoded.split(/\r?\n/)) add(line.trim());
  }
  for (const h of headerValues) {
    add(h);
    for (const part of h.split(/\s+/).slice(1)) add(part);
  }
  // Longest first, so that a value containing another is removed whole.
  return [...out].sort((a, b) => b.length - a.length);
}

export function scrub(message: string, sensitive: readonly string[]): string {
  let out = message;
  for (const s of sensitive) out = out.split(s).join('[redacted]');
  return out;
}
