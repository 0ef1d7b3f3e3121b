// The leak check of SECURITY.md's promise: a credential never appears in a log, an answer, a
// metric, a status or an event, and reaches no tool but its own Connector's. While the
// integration tests run, this module keeps what the check needs and would be gone by the end:
// every secret value the suite uses (with a label that may be printed), what our components
// answered to the suite's clients, what each recording tool received and which secrets it may see,
// and metrics of processes that stop early. scanForLeaks() then looks for every secret, plain and
// encoded, in all of that and in the logs and objects read at the end
// (test/integration/leak-check.ts, which the integration fixture runs after the last test).

import type { RecordedRequest } from '../../hack/tools/echo-tool.js';

// --- the secrets -------------------------------------------------------------------------------

/** Passwords and tokens used anywhere in the suite; none may appear where it does not belong. */
export const knownSecrets: string[] = [];
const labels = new Map<string, string>();

/** Registers a credential the suite got from elsewhere (a forged token, say); returns it. */
export function registerSecret(label: string, value: string): string {
  if (!labels.has(value)) {
    knownSecrets.push(value);
    labels.set(value, label);
  }
  return value;
}

/** A fresh secret value starting with `label`, registered: a finding names the label, never the value. */
export function secretValue(label: string): string {
  return registerSecret(label, `${label}-${Math.random().toString(36).slice(2, 10)}-s3cr3t`);
}

export function secretLabel(value: string): string {
  return labels.get(value) ?? 'an unlabelled secret';
}

// --- what the tests saw ------------------------------------------------------------------------

export type Headers = Record<string, string | string[] | undefined>;

/** An answer a test client got from our components (or through them), as the client saw it. */
export interface RecordedResponse {
  /** The request, e.g. `kube-apiserver GET /apis/…`; redacted before it is printed. */
  where: string;
  headers: Headers;
  body: string;
}

/** The secrets a recording tool may receive: those of the Connectors whose address it is. */
export interface Allowance {
  secret: string;
  /** The Connector's address path ('' for the origin): the secret may go there and below. */
  pathPrefix: string;
}

export interface Recorder {
  name: string;
  requests: readonly RecordedRequest[];
  allowed: Allowance[];
}

export interface Text {
  where: string;
  text: string;
}

export const recordedResponses: RecordedResponse[] = [];
export const recorders: Recorder[] = [];
export const metricsSnapshots: Text[] = [];

export function recordResponse(where: string, headers: Headers, body: string): void {
  recordedResponses.push({ where, headers, body });
}

/** What a client program (git, skopeo, kubectl) printed: the answers it got show there. */
export function recordOutput(where: string, out: { stdout: string; stderr: string }): void {
  if (out.stdout !== '') recordResponse(`${where} (stdout)`, {}, out.stdout);
  if (out.stderr !== '') recordResponse(`${where} (stderr)`, {}, out.stderr);
}

/** Metrics of a process that is gone by the time the check runs. */
export function recordMetrics(where: string, text: string): void {
  metricsSnapshots.push({ where, text });
}

/**
 * Registers a recording tool: every request it receives is checked at the end, and `allowed` (the
 * secrets of the Connectors addressing its origin) are the only known secrets it may see.
 */
export function registerRecorder(
  name: string,
  tool: { requests: readonly RecordedRequest[] },
  allowed: string[] = [],
): void {
  recorders.push({
    name,
    requests: tool.requests,
    allowed: allowed.map((secret) => ({ secret, pathPrefix: '' })),
  });
}

/** Lets a registered recording tool see `secret` at `pathPrefix` and below (a Connector's address path). */
export function allowSecret(
  tool: { requests: readonly RecordedRequest[] },
  secret: string,
  pathPrefix = '',
): void {
  const recorder = recorders.find((r) => r.requests === tool.requests);
  if (!recorder) throw new Error('allowSecret: the tool is not a registered recorder');
  recorder.allowed.push({ secret, pathPrefix: pathPrefix.replace(/\/+$/, '') });
}

// --- the scanner -------------------------------------------------------------------------------

export interface Secret {
  label: string;
  value: string;
}

export interface ScanInput {
  secrets: Secret[];
  logs: { file: string; text: string }[];
  responses: RecordedResponse[];
  recorders: Recorder[];
  metrics: Text[];
  /** Connectors, classes and events, one item each. */
  objects: Text[];
}

export type Channel = 'log' | 'response' | 'tool' | 'metrics' | 'object';

export interface Finding {
  channel: Channel;
  /** file:line, a request, a tool request or an object; never the secret itself. */
  where: string;
  /** The secret's label, or what a credential-shaped match looks like. */
  label: string;
  /** plain, base64, percent-encoded, … */
  form: string;
}

export interface ScanResult {
  findings: Finding[];
  scanned: {
    secrets: number;
    logFiles: number;
    logLines: number;
    responses: number;
    toolEchoes: number;
    toolRequests: number;
    /** Secrets seen where they belong: at their own Connector's tool. */
    allowedAtTools: number;
    metrics: number;
    objects: number;
  };
}

interface Needle {
  label: string;
  value: string;
  text: string;
  form: string;
}

const minEncodedLength = 16;

/**
 * The secret as it may be written: plain, percent-encoded, and base64 (standard and URL-safe) at
 * each of the three alignments it can have inside a longer encoded string such as `user:password`
 * in a Basic header; an aligned core drops the characters that mix in neighbouring bytes.
 */
function needlesOf(secret: Secret): Needle[] {
  const forms = new Map<string, string>();
  const add = (text: string, form: string): void => {
    if (!forms.has(text) && (form === 'plain' || text.length >= minEncodedLength)) forms.set(text, form);
  };
  add(secret.value, 'plain');
  add(encodeURIComponent(secret.value), 'percent-encoded');
  const bytes = Buffer.from(secret.value, 'utf8');
  for (const shift of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const core = encoded.slice(shift === 0 ? 0 : 4, 4 * Math.floor((shift + bytes.length) / 3));
    add(core, 'base64');
    add(core.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
  }
  return [...forms].map(([text, form]) => ({ label: secret.label, value: secret.value, text, form }));
}

/** What looks like a credential in a log whatever its value: an Authorization header's value. */
const credentialShape = /\b(?:Basic|Bearer) [A-Za-z0-9+/=._~-]{8,}/g;
const base64Run = /[A-Za-z0-9+/]{24,}={0,2}/g;

interface Hit {
  index: number;
  label: string;
  value: string | undefined;
  form: string;
}

/**
 * Every needle in `text`; and, in the base64 runs of `text` once decoded, every encoded needle: a
 * secret encoded twice, such as a base64 field of base64 JSON (X-Plugin-Secret). Encoded once, the
 * needles' aligned forms find it already.
 */
function hitsIn(text: string, needles: Needle[], shapes = false): Hit[] {
  const hits: Hit[] = [];
  const search = (haystack: string, among: Needle[], at: (i: number) => number, prefix: string): void => {
    for (const n of among) {
      for (let i = haystack.indexOf(n.text); i !== -1; i = haystack.indexOf(n.text, i + 1)) {
        hits.push({ index: at(i), label: n.label, value: n.value, form: `${prefix}${n.form}` });
      }
    }
  };
  search(text, needles, (i) => i, '');
  const encoded = needles.filter((n) => n.form !== 'plain');
  for (const run of text.matchAll(base64Run)) {
    const decoded = Buffer.from(run[0], 'base64').toString('latin1');
    if (printable(decoded)) search(decoded, encoded, () => run.index, 'inside base64: ');
  }
  if (shapes) {
    for (const m of text.matchAll(credentialShape)) {
      hits.push({ index: m.index, label: 'an Authorization value', value: undefined, form: 'Basic/Bearer' });
    }
  }
  return hits;
}

function printable(text: string): boolean {
  let ok = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x20 && c < 0x7f) || c === 0x0a || c === 0x0d || c === 0x09) ok++;
  }
  return text.length > 0 && ok / text.length > 0.95;
}

/** The line (1-based) of each offset, for file:line. */
function lineAt(text: string): (index: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (index) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

function headerLines(headers: Headers): [string, string][] {
  return Object.entries(headers).flatMap(([name, v]) =>
    v === undefined ? [] : [[name, Array.isArray(v) ? v.join(', ') : v] as [string, string]],
  );
}

function echoKey(method: string, url: string, headers: unknown, bodyBytes: unknown): string {
  return JSON.stringify({ method, url, headers, bodyBytes });
}

/**
 * Whether `body` is a recording tool's echo (its JSON record of a request it received): the tool's
 * own body, not ours. It counts only when it is exactly a request a registered recorder holds,
 * which the tool channel checks against that tool's allowed secrets.
 */
function isToolEcho(body: string, echoes: Set<string>): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null) return false;
  const { method, url, headers, bodyBytes } = parsed as Record<string, unknown>;
  if (typeof method !== 'string' || typeof url !== 'string') return false;
  return echoes.has(echoKey(method, url, headers, bodyBytes));
}

function underPrefix(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

/** Looks for every secret in every channel; each finding says where, never what. */
export function scanForLeaks(input: ScanInput): ScanResult {
  const needles = input.secrets.flatMap(needlesOf);
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const add = (channel: Channel, where: string, hit: Hit): void => {
    const finding = { channel, where: redact(where, needles), label: hit.label, form: hit.form };
    const key = JSON.stringify(finding);
    if (seen.has(key)) return;
    seen.add(key);
    findings.push(finding);
  };

  let logLines = 0;
  for (const log of input.logs) {
    const line = lineAt(log.text);
    logLines += (log.text.match(/\n/g) ?? []).length;
    for (const hit of hitsIn(log.text, needles, true)) add('log', `${log.file}:${line(hit.index)}`, hit);
  }

  const echoes = new Set(
    input.recorders.flatMap((r) => r.requests.map((q) => echoKey(q.method, q.url, q.headers, q.bodyBytes))),
  );
  let toolEchoes = 0;
  for (const r of input.responses) {
    for (const [name, value] of headerLines(r.headers)) {
      for (const hit of hitsIn(`${name}: ${value}`, needles))
        add('response', `${r.where} (header ${name})`, hit);
    }
    if (isToolEcho(r.body, echoes)) {
      toolEchoes++;
      continue;
    }
    for (const hit of hitsIn(r.body, needles)) add('response', `${r.where} (body)`, hit);
  }

  let toolRequests = 0;
  let allowedAtTools = 0;
  for (const recorder of input.recorders) {
    for (const q of recorder.requests) {
      toolRequests++;
      const path = q.url.split('?')[0] ?? '';
      const allowed = (hit: Hit): boolean =>
        recorder.allowed.some((a) => a.secret === hit.value && underPrefix(path, a.pathPrefix));
      const parts: [string, string][] = [
        ['URL', q.url],
        ...headerLines(q.headers).map(([n, v]) => [`header ${n}`, `${n}: ${v}`] as [string, string]),
      ];
      for (const [part, text] of parts) {
        for (const hit of hitsIn(text, needles)) {
          if (allowed(hit)) allowedAtTools++;
          else add('tool', `${recorder.name}: ${q.method} ${q.url} (${part})`, hit);
        }
      }
    }
  }

  for (const m of input.metrics)
    for (const hit of hitsIn(m.text, needles, true)) add('metrics', m.where, hit);
  for (const o of input.objects) for (const hit of hitsIn(o.text, needles, true)) add('object', o.where, hit);

  return {
    findings,
    scanned: {
      secrets: input.secrets.length,
      logFiles: input.logs.length,
      logLines,
      responses: input.responses.length,
      toolEchoes,
      toolRequests,
      allowedAtTools,
      metrics: input.metrics.length,
      objects: input.objects.length,
    },
  };
}

/** Replaces every form of every secret in `text` by its label: locations may hold a secret too. */
function redact(text: string, needles: Needle[]): string {
  let out = text;
  for (const n of needles) out = out.split(n.text).join(`<${n.label}>`);
  return out;
}

/** One line per finding, for the assertion message: where, which secret (its label) and how written. */
export function describeFindings(findings: Finding[], max = 40): string {
  const lines = findings.slice(0, max).map((f) => `  [${f.channel}] ${f.label} (${f.form}) in ${f.where}`);
  if (findings.length > max) lines.push(`  … and ${findings.length - max} more`);
  return `${findings.length} leak(s) of a known secret:\n${lines.join('\n')}`;
}
