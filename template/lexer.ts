// The lexer: a template's text split into literal text and actions ({{ … }}), each action into
// tokens (fields, variables, identifiers, string and integer literals, punctuation), with
// {{- … -}} trimming applied to the neighbouring text. Errors name the line and column.

import { TemplateError } from './values.js';

export type Token =
  | { k: 'field'; name: string; pos: number; space: boolean }
  | { k: 'dot'; pos: number; space: boolean }
  | { k: 'ident'; name: string; pos: number; space: boolean }
  | { k: 'variable'; name: string; pos: number; space: boolean }
  | { k: 'string'; value: string; pos: number; space: boolean }
  | { k: 'number'; value: number; pos: number; space: boolean }
  | { k: Punctuation[1]; pos: number; space: boolean };

export type Item =
  | { kind: 'text'; text: string }
  | { kind: 'action'; toks: Token[]; pos: number; trimLeft: boolean; trimRight: boolean };

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const identStart = /[A-Za-z_]/;
const identChar = /[A-Za-z0-9_]/;

function where(src: string, pos: number): string {
  const before = src.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${line}:${col}`;
}

export function fail(src: string, pos: number, message: string): never {
  throw new TemplateError(`template: ${where(src, pos)}: ${message}`);
}

function readString(src: string, start: number): { value: string; end: number } {
  const quote = src[start];
  let i = start + 1;
  let out = '';
  if (quote === '`') {
    const close = src.indexOf('`', i);
    if (close < 0) fail(src, start, 'unterminated raw string');
    return { value: src.slice(i, close), end: close + 1 };
  }
  const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
  for (;;) {
    const c = src[i];
    if (c === undefined || c === '\n') fail(src, start, 'unterminated quoted string');
    if (c === '"') return { value: out, end: i + 1 };
    if (c === '\\') {
      const e = src[i + 1];
      const mapped = e === undefined ? undefined : escapes[e];
      if (mapped === undefined) fail(src, i, `escape sequence "\\${e ?? ''}" is not supported in templates`);
      out += mapped;
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
}

export type Punctuation = [text: string, k: 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma'];
/** Longest first: ":=" before "=". */
export const punctuation: Punctuation[] = [
  [':=', 'declare'],
  ['|', 'pipe'],
  ['(', 'lparen'],
  [')', 'rparen'],
  ['=', 'assign'],
  [',', 'comma'],
];

export function lex(src: string): Item[] {
  const items: Item[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      items.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    if (open > i) items.push({ kind: 'text', text: src.slice(i, open) });
    let j = open + 2;
    let trimLeft = false;
    let trimRight = false;
    // As in Go, "{{-" trims only when followed by a space ("{{-3}}" is the number -3).
    if (src[j] === '-' && isSpace(src[j + 1])) {
      trimLeft = true;
      j += 1;
    }
    const toks: Token[] = [];
    let space = false;
    for (;;) {
      const c = src[j];
      if (c === undefined) fail(src, open, 'unclosed action: missing "}}"');
      if (isSpace(c)) {
        let k = j;
        while (isSpace(src[k])) k++;
        if (src.startsWith('-}}', k)) {
          trimRight = true;
          j = k + 3;
          break;
        }
        space = true;
        j = k;
        continue;
      }
      if (src.startsWith('}}', j)) {
        j += 2;
        break;
      }
      const pos = j;
      if (src.startsWith('/*', j)) fail(src, pos, 'comments ({{/* … */}}) are not supported in templates');
      const punct = punctuation.find(([text]) => src.startsWith(text, j));
      if (c === '$') {
        let k = j + 1;
        while (identChar.test(src[k] ?? '')) k++;
        toks.push({ k: 'variable', name: src.slice(j, k), pos, space });
        j = k;
      } else if (c === '.') {
        let k = j + 1;
        if (identStart.test(src[k] ?? '')) {
          while (identChar.test(src[k] ?? '')) k++;
          toks.push({ k: 'field', name: src.slice(j + 1, k), pos, space });
        } else {
          toks.push({ k: 'dot', pos, space });
        }
        j = k;
      } else if (identStart.test(c)) {
        let k = j;
        while (identChar.test(src[k] ?? '')) k++;
        toks.push({ k: 'ident', name: src.slice(j, k), pos, space });
        j = k;
      } else if (c === '"' || c === '`') {
        const s = readString(src, j);
        toks.push({ k: 'string', value: s.value, pos, space });
        j = s.end;
      } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[j + 1] ?? ''))) {
        let k = j + 1;
        while (/[0-9]/.test(src[k] ?? '')) k++;
        if (/[.xXeE_]/.test(src[k] ?? ''))
          fail(src, pos, 'only decimal integer numbers are supported in templates');
        toks.push({ k: 'number', value: Number(src.slice(j, k)), pos, space });
        j = k;
      } else if (punct) {
        toks.push({ k: punct[1], pos, space });
        j += punct[0].length;
      } else {
        fail(src, pos, `unexpected character "${c}" in action`);
      }
      space = false;
    }
    items.push({ kind: 'action', toks, pos: open, trimLeft, trimRight });
    i = j;
  }
  // Trim markers eat the whitespace of the neighbouring text (spaces, tabs, newlines).
  items.forEach((item, n) => {
    if (item.kind !== 'action') return;
    const prev = items[n - 1];
    const next = items[n + 1];
    if (item.trimLeft && prev?.kind === 'text') prev.text = prev.text.replace(/[ \t\r\n]+$/, '');
    if (item.trimRight && next?.kind === 'text') next.text = next.text.replace(/^[ \t\r\n]+/, '');
  });
  return items;
}
