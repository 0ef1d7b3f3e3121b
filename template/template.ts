// The Go text/template subset that ConnectorClass templates use, and nothing more. Upstream renders
// probe templates (`probe.http.path`, `httpHeaders[].value`, `probe.api.path`) over `.Connector` (the
// Go struct, so `.Connector.Spec.Auth.Params`, `.Value.StringVal`) and `.Secret` (nil without a
// Secret), and the CSI driver renders `configurations[].data` over `.connector`, `.connectors`,
// `.context` and `.configurations` (unstructured maps: csi/content.ts), both with Go's text/template
// plus sprig. No maintained JavaScript library evaluates Go templates with Go's semantics (nil
// pointers, typed-map zero values, `eq` on basic kinds, variable scopes), so this is a small
// tokenizer, parser and evaluator for exactly the constructs the published and shipped classes use:
//
//   text, {{ pipeline }}, {{- … -}} whitespace trimming, {{ if }} / {{ else }} / {{ end }},
//   {{ range }} / {{ else }} / {{ end }} over a list or map, field chains (.A.B, (pipeline).field),
//   variables ($ for the data, {{ $x := … }}, {{ $x = … }}, {{ range $i, $e := … }}, $x.field),
//   pipes, string and integer literals, true/false/nil, and the functions
//   eq, ne, not, printf (%s %v %d %q %%), b64enc, trim, trimPrefix, trimSuffix, replace, urlParse,
//   urlquery.
//
// Anything else (`with`, comments, other functions…) fails at compile time with an error that names
// the construct. Errors never include an evaluated value: templates see Secrets and tokens.

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** A Go struct: reading a field it does not have is an error, as in Go. */
export class GoStruct {
  constructor(
    readonly typeName: string,
    readonly fields: Readonly<Record<string, unknown>>,
  ) {}
}

/** A Go map: a missing key reads as the map's zero value (`""` for map[string]string). */
export class GoMap {
  constructor(
    readonly typeName: string,
    readonly entries: ReadonlyMap<string, unknown>,
    readonly zero: unknown,
  ) {}
}

/**
 * Unstructured JSON as Go's text/template sees a map[string]interface{} (a Kubernetes object read
 * without a typed struct): a missing key reads as nil and prints "<no value>".
 */
export function unstructured(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unstructured);
  if (value === null || typeof value !== 'object') return value ?? null;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]): [string, unknown] => [
    k,
    unstructured(v),
  ]);
  return new GoMap('map[string]interface {}', new Map(entries), null);
}

export const supportedFunctions = [
  'b64enc',
  'eq',
  'ne',
  'not',
  'printf',
  'replace',
  'trim',
  'trimPrefix',
  'trimSuffix',
  'urlParse',
  'urlquery',
] as const;

// --- lexer ---------------------------------------------------------------------------------------

type Token =
  | { k: 'field'; name: string; pos: number; space: boolean }
  | { k: 'dot'; pos: number; space: boolean }
  | { k: 'ident'; name: string; pos: number; space: boolean }
  | { k: 'variable'; name: string; pos: number; space: boolean }
  | { k: 'string'; value: string; pos: number; space: boolean }
  | { k: 'number'; value: number; pos: number; space: boolean }
  | { k: Punctuation[1]; pos: number; space: boolean };

type Item =
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

function fail(src: string, pos: number, message: string): never {
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

type Punctuation = [text: string, k: 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma'];
/** Longest first: ":=" before "=". */
const punctuation: Punctuation[] = [
  [':=', 'declare'],
  ['|', 'pipe'],
  ['(', 'lparen'],
  [')', 'rparen'],
  ['=', 'assign'],
  [',', 'comma'],
];

function lex(src: string): Item[] {
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

// --- parser --------------------------------------------------------------------------------------

type Operand =
  | { k: 'field'; chain: string[]; pos: number }
  | { k: 'variable'; name: string; chain: string[]; pos: number }
  | { k: 'literal'; value: unknown; pos: number }
  | { k: 'func'; name: string; pos: number }
  | { k: 'paren'; pipe: Pipeline; chain: string[]; pos: number };

interface Command {
  args: Operand[];
  pos: number;
}

interface Pipeline {
  /** `$x :=` declares (`$i, $e :=` in range), `$x =` assigns; the pipeline then prints nothing. */
  decl?: { names: string[]; assign: boolean };
  cmds: Command[];
  pos: number;
}

const tokenText: Partial<Record<Token['k'], string>> = Object.fromEntries(
  punctuation.map(([text, k]) => [k, text]),
);

type Node =
  | { k: 'text'; text: string }
  | { k: 'print'; pipe: Pipeline }
  | { k: 'if'; pipe: Pipeline; then: Node[]; otherwise: Node[] }
  | { k: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

const unsupportedKeywords = new Set(['with', 'define', 'template', 'block', 'break', 'continue']);
const structuralKeywords = new Set(['if', 'range', 'else', 'end', ...unsupportedKeywords]);

class Parser {
  private n = 0;
  /** Variables in scope, innermost last; `$` (the data) always is. */
  private readonly vars: string[] = ['$'];

  constructor(
    private readonly src: string,
    private readonly items: Item[],
  ) {}

  parse(): Node[] {
    const { nodes, stop } = this.list();
    if (stop) fail(this.src, stop.pos, `unexpected {{ ${stop.word} }}`);
    return nodes;
  }

  /** Nodes up to (and consuming) an {{ else }} or {{ end }}, which is returned as `stop`. */
  private list(): { nodes: Node[]; stop?: { word: 'else' | 'end'; pos: number } } {
    const nodes: Node[] = [];
    while (this.n < this.items.length) {
      const item = this.items[this.n++] as Item;
      if (item.kind === 'text') {
        if (item.text) nodes.push({ k: 'text', text: item.text });
        continue;
      }
      const first = item.toks[0];
      if (!first) fail(this.src, item.pos, 'empty action');
      if (first.k === 'ident' && structuralKeywords.has(first.name)) {
        const word = first.name;
        if (unsupportedKeywords.has(word)) {
          fail(this.src, first.pos, `"${word}" is not supported in templates`);
        }
        if (word === 'else' || word === 'end') {
          if (item.toks.length > 1) {
            const second = item.toks[1];
            fail(
              this.src,
              first.pos,
              word === 'else' && second?.k === 'ident' && second.name === 'if'
                ? '"else if" is not supported in templates; nest an {{ if }} inside {{ else }}'
                : `{{ ${word} }} takes no arguments`,
            );
          }
          return { nodes, stop: { word, pos: first.pos } };
        }
        // As in Go, variables declared in the pipeline or the body end with the {{ end }}.
        const mark = this.vars.length;
        const pipe = this.pipeline(item.toks, 1, item.pos, word === 'range' ? 2 : 1);
        const body = this.list();
        if (!body.stop) fail(this.src, item.pos, `{{ ${word} }} without {{ end }}`);
        let otherwise: Node[] = [];
        if (body.stop.word === 'else') {
          const rest = this.list();
          if (rest.stop?.word !== 'end')
            fail(this.src, item.pos, `{{ ${word} }} … {{ else }} without {{ end }}`);
          otherwise = rest.nodes;
        }
        this.vars.length = mark;
        nodes.push(
          word === 'if'
            ? { k: 'if', pipe, then: body.nodes, otherwise }
            : { k: 'range', pipe, body: body.nodes, otherwise },
        );
        continue;
      }
      nodes.push({ k: 'print', pipe: this.pipeline(item.toks, 0, item.pos, 1) });
    }
    return { nodes };
  }

  /** A pipeline, optionally after a declaration of up to `maxVars` variables (or an assignment). */
  private pipeline(toks: Token[], start: number, pos: number, maxVars: number): Pipeline {
    const names: string[] = [];
    let i = start;
    for (let t = toks[i]; t?.k === 'variable'; t = toks[i]) {
      const after = toks[i + 1];
      if (after?.k !== 'declare' && after?.k !== 'assign' && after?.k !== 'comma') break;
      names.push(t.name);
      i += 2;
      if (after.k === 'comma') continue;
      if (names.length > maxVars) fail(this.src, t.pos, 'too many declarations in pipeline');
      if (after.k === 'assign' && names.length > 1)
        fail(this.src, t.pos, 'only one variable can be assigned');
      if (after.k === 'assign' && !this.vars.includes(t.name)) {
        fail(this.src, t.pos, `undefined variable "${t.name}"`);
      }
      const { pipe, next } = this.pipelineUntil(toks, i, pos, false);
      if (next < toks.length) fail(this.src, (toks[next] as Token).pos, 'unexpected ")"');
      if (after.k === 'declare') this.vars.push(...names);
      return { ...pipe, decl: { names, assign: after.k === 'assign' } };
    }
    if (names.length > 0) fail(this.src, pos, 'missing ":=" after the variables');
    const { pipe, next } = this.pipelineUntil(toks, start, pos, false);
    if (next < toks.length) fail(this.src, (toks[next] as Token).pos, 'unexpected ")"');
    return pipe;
  }

  private pipelineUntil(
    toks: Token[],
    start: number,
    pos: number,
    inParen: boolean,
  ): { pipe: Pipeline; next: number } {
    const cmds: Command[] = [];
    let i = start;
    let args: Operand[] = [];
    let cmdPos = toks[i]?.pos ?? pos;
    const endCommand = (at: number): void => {
      if (args.length === 0) fail(this.src, at, 'missing command in pipeline');
      cmds.push({ args, pos: cmdPos });
      args = [];
    };
    for (;;) {
      const t = toks[i];
      if (!t || t.k === 'rparen') {
        if (t && !inParen) fail(this.src, t.pos, 'unexpected ")"');
        if (!t && inParen) fail(this.src, pos, 'unclosed "("');
        endCommand(t?.pos ?? pos);
        return { pipe: { cmds, pos }, next: t ? i + 1 : i };
      }
      if (t.k === 'pipe') {
        endCommand(t.pos);
        i++;
        cmdPos = toks[i]?.pos ?? t.pos;
        continue;
      }
      const { operand, next } = this.operand(toks, i);
      args.push(operand);
      i = next;
    }
  }

  private operand(toks: Token[], i: number): { operand: Operand; next: number } {
    const t = toks[i] as Token;
    const chainAfter = (from: number): { chain: string[]; next: number } => {
      const chain: string[] = [];
      let j = from;
      for (let f = toks[j]; f?.k === 'field' && !f.space; f = toks[j]) {
        chain.push(f.name);
        j++;
      }
      return { chain, next: j };
    };
    switch (t.k) {
      case 'field': {
        const { chain, next } = chainAfter(i + 1);
        return { operand: { k: 'field', chain: [t.name, ...chain], pos: t.pos }, next };
      }
      case 'dot':
        return { operand: { k: 'field', chain: [], pos: t.pos }, next: i + 1 };
      case 'variable': {
        if (!this.vars.includes(t.name)) fail(this.src, t.pos, `undefined variable "${t.name}"`);
        const { chain, next } = chainAfter(i + 1);
        return { operand: { k: 'variable', name: t.name, chain, pos: t.pos }, next };
      }
      case 'string':
      case 'number':
        return { operand: { k: 'literal', value: t.value, pos: t.pos }, next: i + 1 };
      case 'ident': {
        if (t.name === 'true' || t.name === 'false') {
          return { operand: { k: 'literal', value: t.name === 'true', pos: t.pos }, next: i + 1 };
        }
        if (t.name === 'nil') return { operand: { k: 'literal', value: null, pos: t.pos }, next: i + 1 };
        if (structuralKeywords.has(t.name)) fail(this.src, t.pos, `unexpected "${t.name}" in pipeline`);
        if (!(supportedFunctions as readonly string[]).includes(t.name)) {
          fail(
            this.src,
            t.pos,
            `function "${t.name}" is not supported in templates (supported: ${supportedFunctions.join(', ')})`,
          );
        }
        return { operand: { k: 'func', name: t.name, pos: t.pos }, next: i + 1 };
      }
      case 'lparen': {
        const { pipe, next } = this.pipelineUntil(toks, i + 1, t.pos, true);
        const after = chainAfter(next);
        return { operand: { k: 'paren', pipe, chain: after.chain, pos: t.pos }, next: after.next };
      }
      default:
        return fail(this.src, t.pos, `unexpected "${tokenText[t.k] ?? t.k}"`);
    }
  }
}

// --- evaluator -----------------------------------------------------------------------------------

function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (v instanceof GoStruct || v instanceof GoMap) return v.typeName;
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'number') return 'int';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

/** fmt's %v, enough for what templates print. */
function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (v instanceof GoMap) {
    const keys = [...v.entries.keys()].sort();
    return `map[${keys.map((k) => `${k}:${formatValue(v.entries.get(k))}`).join(' ')}]`;
  }
  if (v instanceof GoStruct) return `{${Object.values(v.fields).map(formatValue).join(' ')}}`;
  return JSON.stringify(v);
}

function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof GoMap) return v.entries.size > 0;
  return true;
}

function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i] as string;
    if (c !== '%') {
      out += c;
      continue;
    }
    const verb = format[++i];
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (!'svdq'.includes(verb)) {
      throw new TemplateError(`printf: verb "%${verb}" is not supported in templates (use %s, %v, %d, %q)`);
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[argi++];
    if (verb === 'd') {
      out +=
        typeof arg === 'number' ? String(Math.trunc(arg)) : `%!d(${goTypeName(arg)}=${formatValue(arg)})`;
    } else if (verb === 'q') {
      out += typeof arg === 'string' ? JSON.stringify(arg) : `%!q(${goTypeName(arg)}=${formatValue(arg)})`;
    } else {
      out += formatValue(arg);
    }
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => `${goTypeName(a)}=${formatValue(a)}`)
      .join(', ')})`;
  }
  return out;
}

/** Go's url.QueryEscape: everything but A-Z a-z 0-9 - _ . ~ is escaped, and a space becomes '+'. */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** sprig's urlParse: the parts of a URL as a map (path as written, '' when there is none). */
function urlParse(raw: string): GoMap {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TemplateError('urlParse: the argument is not an absolute URL');
  }
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(raw)?.[1] ?? '';
  const userinfo = url.username ? `${url.username}${url.password ? ':' + url.password : ''}` : '';
  const parts: [string, string][] = [
    ['scheme', url.protocol.replace(/:$/, '')],
    ['host', url.host],
    ['hostname', url.hostname],
    ['path', path],
    ['query', url.search.replace(/^\?/, '')],
    ['opaque', ''],
    ['fragment', url.hash.replace(/^#/, '')],
    ['userinfo', userinfo],
  ];
  return new GoMap('map[string]interface {}', new Map(parts), null);
}

function isBasic(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function expectString(fn: string, v: unknown, which: string): string {
  if (typeof v !== 'string')
    throw new TemplateError(`${fn}: ${which} must be a string, not ${goTypeName(v)}`);
  return v;
}

function callFunction(name: string, args: unknown[]): unknown {
  switch (name) {
    case 'eq': {
      if (args.length < 2) throw new TemplateError('eq: missing argument for comparison');
      const [first, ...rest] = args;
      return rest.some((other) => {
        if (first === null || other === null) return first === other;
        if (!isBasic(first) || !isBasic(other) || typeof first !== typeof other) {
          throw new TemplateError(
            `eq: incompatible types for comparison (${goTypeName(first)} and ${goTypeName(other)})`,
          );
        }
        return first === other;
      });
    }
    case 'ne':
      if (args.length !== 2) throw new TemplateError(`ne: wants 2 arguments, got ${args.length}`);
      return !callFunction('eq', args);
    case 'not':
      if (args.length !== 1) throw new TemplateError(`not: wants 1 argument, got ${args.length}`);
      return !truthy(args[0]);
    case 'printf': {
      if (args.length < 1) throw new TemplateError('printf: missing format');
      return sprintf(expectString('printf', args[0], 'the format'), args.slice(1));
    }
    case 'b64enc':
      if (args.length !== 1) throw new TemplateError(`b64enc: wants 1 argument, got ${args.length}`);
      return Buffer.from(expectString('b64enc', args[0], 'the argument'), 'utf8').toString('base64');
    case 'trimSuffix': {
      if (args.length !== 2) throw new TemplateError(`trimSuffix: wants 2 arguments, got ${args.length}`);
      const suffix = expectString('trimSuffix', args[0], 'the suffix');
      const s = expectString('trimSuffix', args[1], 'the string');
      return suffix && s.endsWith(suffix) ? s.slice(0, -suffix.length) : s;
    }
    case 'trimPrefix': {
      if (args.length !== 2) throw new TemplateError(`trimPrefix: wants 2 arguments, got ${args.length}`);
      const prefix = expectString('trimPrefix', args[0], 'the prefix');
      const s = expectString('trimPrefix', args[1], 'the string');
      return prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s;
    }
    case 'trim':
      // sprig's trim is Go's strings.TrimSpace.
      if (args.length !== 1) throw new TemplateError(`trim: wants 1 argument, got ${args.length}`);
      return expectString('trim', args[0], 'the argument').trim();
    case 'replace': {
      // sprig: replace OLD NEW SRC, every occurrence.
      if (args.length !== 3) throw new TemplateError(`replace: wants 3 arguments, got ${args.length}`);
      const from = expectString('replace', args[0], 'the text to replace');
      const to = expectString('replace', args[1], 'the replacement');
      return expectString('replace', args[2], 'the string').split(from).join(to);
    }
    case 'urlParse':
      if (args.length !== 1) throw new TemplateError(`urlParse: wants 1 argument, got ${args.length}`);
      return urlParse(expectString('urlParse', args[0], 'the argument'));
    case 'urlquery':
      return queryEscape(args.map((a) => formatValue(a)).join(''));
    default:
      throw new TemplateError(`function "${name}" is not supported in templates`);
  }
}

const maxOutput = 1 << 20;

class Evaluator {
  private out = '';
  /** Variables in scope, innermost last: `$` is the data (Go's state.vars). */
  private readonly vars: { name: string; value: unknown }[];

  constructor(
    private readonly src: string,
    private readonly root: unknown,
  ) {
    this.vars = [{ name: '$', value: root }];
  }

  run(nodes: Node[]): string {
    this.walk(nodes, this.root);
    return this.out;
  }

  private walk(nodes: Node[], dot: unknown): void {
    for (const node of nodes) {
      switch (node.k) {
        case 'text':
          this.emit(node.text);
          break;
        case 'print': {
          const v = this.pipeline(node.pipe, dot);
          if (node.pipe.decl) this.bind(node.pipe.decl, [v]);
          else this.emit(v === null || v === undefined ? '<no value>' : formatValue(v));
          break;
        }
        case 'if': {
          const mark = this.vars.length;
          const v = this.pipeline(node.pipe, dot);
          if (node.pipe.decl) this.bind(node.pipe.decl, [v]);
          this.walk(truthy(v) ? node.then : node.otherwise, dot);
          this.vars.length = mark;
          break;
        }
        case 'range': {
          const mark = this.vars.length;
          const v = this.pipeline(node.pipe, dot);
          let entries: [unknown, unknown][];
          if (v === null || v === undefined) entries = [];
          else if (Array.isArray(v)) entries = v.map((e, i) => [i, e]);
          else if (v instanceof GoMap)
            entries = [...v.entries.keys()].sort().map((k) => [k, v.entries.get(k)]);
          else fail(this.src, node.pipe.pos, `range can't iterate over ${goTypeName(v)}`);
          if (entries.length === 0) this.walk(node.otherwise, dot);
          const decl = node.pipe.decl;
          for (const [key, element] of entries) {
            // One variable is the element; two are the index (or key) and the element.
            if (decl) this.bind(decl, decl.names.length === 2 ? [key, element] : [element]);
            this.walk(node.body, element);
            this.vars.length = mark;
          }
          this.vars.length = mark;
          break;
        }
      }
    }
  }

  private bind(decl: NonNullable<Pipeline['decl']>, values: unknown[]): void {
    decl.names.forEach((name, i) => {
      const value = values[i];
      if (!decl.assign) {
        this.vars.push({ name, value });
        return;
      }
      // The parser has checked the variable is in scope.
      const v = this.vars.findLast((candidate) => candidate.name === name);
      if (v) v.value = value;
    });
  }

  private emit(s: string): void {
    this.out += s;
    if (this.out.length > maxOutput) throw new TemplateError('template: the output is larger than 1 MiB');
  }

  private pipeline(pipe: Pipeline, dot: unknown): unknown {
    let value: unknown;
    pipe.cmds.forEach((cmd, i) => {
      value = this.command(cmd, dot, i === 0 ? undefined : { value });
    });
    return value;
  }

  private command(cmd: Command, dot: unknown, piped: { value: unknown } | undefined): unknown {
    const [head, ...rest] = cmd.args;
    if (!head) fail(this.src, cmd.pos, 'empty command');
    if (head.k === 'func') {
      const args = rest.map((a) => this.operand(a, dot));
      if (piped) args.push(piped.value);
      try {
        return callFunction(head.name, args);
      } catch (err) {
        if (err instanceof TemplateError && !err.message.startsWith('template:')) {
          fail(this.src, head.pos, err.message);
        }
        throw err;
      }
    }
    if (rest.length > 0 || piped) {
      fail(this.src, cmd.pos, `can't give an argument to a non-function (${describe(head)})`);
    }
    return this.operand(head, dot);
  }

  private operand(op: Operand, dot: unknown): unknown {
    switch (op.k) {
      case 'literal':
        return op.value;
      case 'func':
        return this.command({ args: [op], pos: op.pos }, dot, undefined);
      case 'field':
        return this.chain(dot, op.chain, '', op.pos);
      case 'variable':
        return this.chain(this.vars.findLast((v) => v.name === op.name)?.value, op.chain, op.name, op.pos);
      case 'paren':
        return this.chain(this.pipeline(op.pipe, dot), op.chain, '(…)', op.pos);
    }
  }

  private chain(start: unknown, chain: string[], prefix: string, pos: number): unknown {
    let v = start;
    let path = prefix;
    for (const name of chain) {
      if (v instanceof GoStruct) {
        if (!Object.hasOwn(v.fields, name)) {
          fail(this.src, pos, `can't evaluate field ${name} in type ${v.typeName}`);
        }
        v = v.fields[name];
      } else if (v instanceof GoMap) {
        v = v.entries.has(name) ? v.entries.get(name) : v.zero;
      } else if (v === null || v === undefined) {
        fail(this.src, pos, `nil pointer evaluating ${path || '.'}.${name}`);
      } else {
        fail(this.src, pos, `can't evaluate field ${name} in type ${goTypeName(v)}`);
      }
      path += `.${name}`;
    }
    return v;
  }
}

function describe(op: Operand): string {
  switch (op.k) {
    case 'field':
      return op.chain.length ? `.${op.chain.join('.')}` : '.';
    case 'variable':
      return [op.name, ...op.chain].join('.');
    case 'literal':
      return 'a literal';
    case 'paren':
      return '(…)';
    case 'func':
      return op.name;
  }
}

// --- API -----------------------------------------------------------------------------------------

export interface CompiledTemplate {
  /** Renders with `data` as the initial dot; throws TemplateError. */
  render(data: unknown): string;
}

export function compileTemplate(source: string): CompiledTemplate {
  const nodes = new Parser(source, lex(source)).parse();
  return { render: (data) => new Evaluator(source, data).run(nodes) };
}

// Probe templates come from a handful of classes; compiled once each. Bounded all the same.
const compiled = new Map<string, CompiledTemplate>();
const maxCompiled = 1000;

/** Compiles (cached) and renders `source`; throws TemplateError naming the construct at fault. */
export function renderTemplate(source: string, data: unknown): string {
  if (!source.includes('{{')) return source;
  let t = compiled.get(source);
  if (!t) {
    t = compileTemplate(source);
    if (compiled.size >= maxCompiled) {
      const oldest = compiled.keys().next().value;
      if (oldest !== undefined) compiled.delete(oldest);
    }
    compiled.set(source, t);
  }
  return t.render(data);
}
