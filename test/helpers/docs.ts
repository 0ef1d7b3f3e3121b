// The fenced code blocks of the user documentation (README.md and docs/*.md) and the marker before
// each, which says what runs it:
//
//   <!-- test: test/integration/docs.test.ts#first-request -->   that test file reads the block by
//                                                                 its id (docBlock) and runs it
//   <!-- cluster-test: builder -->                                the cluster suite (test/cluster/)
//                                                                 reads it by id and runs it
//   <!-- not-run: sample output -->                               an illustration: output, a tree
//
// test/unit/docs/blocks.test.ts holds every block to a marker, and every id to a test that names it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../hack/binaries.js';

export type Marker =
  | { kind: 'test'; file: string; id: string }
  | { kind: 'cluster-test'; id: string }
  | { kind: 'not-run'; reason: string };

export interface DocBlock {
  /** The document, relative to the repository root. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string after the fence (e.g. `sh`, `yaml`), '' without one. */
  lang: string;
  /** The block's lines, each ending in a newline: byte for byte what the reader copies. */
  text: string;
  /** The marker comment before the fence (blank lines between them allowed), or null. */
  marker: Marker | null;
  /** The text of a comment before the fence that is no valid marker, for the checker's message. */
  badMarker?: string;
}

/** The user documentation, relative to the repository root: README.md, then docs/*.md by name. */
export function docFiles(root = repoRoot()): string[] {
  const dir = join(root, 'docs');
  const pages = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...pages];
}

const fence = /^(\s*)(`{3,}|~{3,})(.*)$/;
const markerComment = /^<!--\s*(test|cluster-test|not-run):\s*(.*?)\s*-->$/;

function parseMarker(comment: string): Marker | null {
  const m = markerComment.exec(comment);
  if (!m) return null;
  const [, kind, value = ''] = m;
  if (kind === 'not-run') return value ? { kind: 'not-run', reason: value } : null;
  if (kind === 'cluster-test') return /^[a-z0-9-]+$/.test(value) ? { kind: 'cluster-test', id: value } : null;
  const t = /^(\S+)#([a-z0-9-]+)$/.exec(value);
  return t?.[1] && t[2] ? { kind: 'test', file: t[1], id: t[2] } : null;
}

/** Every fenced block of one document, in order. */
export function blocksOf(doc: string, root = repoRoot()): DocBlock[] {
  const lines = readFileSync(join(root, doc), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = fence.exec(lines[i] ?? '');
    if (!open) continue;
    const [, indent = '', marks = '', info = ''] = open;
    let end = i + 1;
    while (end < lines.length) {
      const close = fence.exec(lines[end] ?? '');
      if (close?.[2]?.startsWith(marks) && (close[3] ?? '').trim() === '') break;
      end++;
    }
    let before = i - 1;
    while (before >= 0 && (lines[before] ?? '').trim() === '') before--;
    const previous = before >= 0 ? (lines[before] ?? '').trim() : '';
    const marker = previous.startsWith('<!--') ? parseMarker(previous) : null;
    blocks.push({
      doc,
      line: i + 1,
      lang: info.trim(),
      text: lines
        .slice(i + 1, end)
        .map((l) => `${l.startsWith(indent) ? l.slice(indent.length) : l}\n`)
        .join(''),
      marker,
      ...(previous.startsWith('<!--') && !marker ? { badMarker: previous } : {}),
    });
    i = end;
  }
  return blocks;
}

/** Every fenced block of the user documentation. */
export function allDocBlocks(root = repoRoot()): DocBlock[] {
  return docFiles(root).flatMap((doc) => blocksOf(doc, root));
}

function markerId(m: Marker | null): string | undefined {
  return m && m.kind !== 'not-run' ? m.id : undefined;
}

/** The block whose marker carries `id`, wherever in the documentation it stands. */
export function docBlock(id: string): DocBlock {
  const found = allDocBlocks().filter((b) => markerId(b.marker) === id);
  if (found.length !== 1) {
    throw new Error(
      found.length === 0
        ? `no block of README.md or docs/*.md is marked with the id "${id}"`
        : `the id "${id}" marks ${found.length} blocks`,
    );
  }
  return found[0] as DocBlock;
}

/**
 * The commands of a shell block, as a reader types them: comments and blank lines dropped, a line
 * ending in a backslash joined with the next.
 */
export function shellCommands(text: string): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
    if (line.trimEnd().endsWith('\\')) {
      pending += line.trimEnd().slice(0, -1);
      continue;
    }
    const command = (pending + line).trim();
    pending = '';
    if (command) commands.push(command.replace(/\s+/g, ' '));
  }
  return commands;
}

/** Where a test marker's id must appear, quoted, for the test to be the one that reads the block. */
function namesId(text: string, id: string): boolean {
  return [`'${id}'`, `"${id}"`, `\`${id}\``].some((q) => text.includes(q));
}

function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesBelow(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of text.split('\n')) {
    if (fence.test(line)) inFence = !inFence;
    const h = inFence ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (h?.[1]) anchors.add(headingAnchor(h[1]));
  }
  return anchors;
}

/** Text that points a reader to something the repository does not give them. */
const unavailable = /\bSPEC\b|ARCHITECTURE\.md|\breference\/[\w-]+\.md|\/work\/shared/;

/**
 * What is wrong with the documentation under `root`, one line each: a block without a valid marker,
 * a marker naming a test that does not exist or does not name the block's id, an id used twice, a
 * relative link to a file or heading that does not exist, a mention of material not in the repository.
 */
export function docProblems(root = repoRoot()): string[] {
  const problems: string[] = [];
  const clusterTests = filesBelow(join(root, 'test', 'cluster')).map((f) => readFileSync(f, 'utf8'));
  const ids = new Map<string, string>();
  for (const b of allDocBlocks(root)) {
    const where = `${b.doc}:${b.line}`;
    const m = b.marker;
    if (!m) {
      problems.push(
        b.badMarker
          ? `${where}: "${b.badMarker}" is no marker (test: <file>#<id>, cluster-test: <id>, not-run: <reason>)`
          : `${where}: a \`\`\`${b.lang} block without a marker comment before it`,
      );
      continue;
    }
    if (m.kind === 'not-run') continue;
    const seen = ids.get(m.id);
    if (seen) problems.push(`${where}: the id "${m.id}" also marks ${seen}`);
    ids.set(m.id, where);
    if (m.kind === 'test') {
      const path = join(root, m.file);
      if (!/^test\/.+\.test\.ts$/.test(m.file) || !existsSync(path)) {
        problems.push(`${where}: the marker names ${m.file}, which is no test file of the repository`);
      } else if (!namesId(readFileSync(path, 'utf8'), m.id)) {
        problems.push(`${where}: ${m.file} does not read the block "${m.id}"`);
      }
    } else if (!clusterTests.some((t) => namesId(t, m.id))) {
      problems.push(`${where}: no test of test/cluster/ reads the block "${m.id}"`);
    }
  }
  const docs = docFiles(root);
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8');
    text.split('\n').forEach((line, i) => {
      const where = `${doc}:${i + 1}`;
      if (unavailable.test(line)) problems.push(`${where}: points to material not in the repository`);
      for (const [, target = ''] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [file = '', anchor] = target.split('#');
        const linked = file ? join(root, doc.includes('/') ? 'docs' : '', file) : join(root, doc);
        if (!existsSync(linked)) {
          problems.push(`${where}: the link ${target} points to a file that does not exist`);
        } else if (anchor !== undefined && linked.endsWith('.md')) {
          if (!anchorsOf(readFileSync(linked, 'utf8')).has(anchor)) {
            problems.push(`${where}: the link ${target} points to a heading that does not exist`);
          }
        }
      }
    });
  }
  return problems;
}
