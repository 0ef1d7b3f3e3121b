// The parser: the lexer's items into a tree of text, prints, ifs and ranges over pipelines of
// commands, with variables checked against their scope. Every construct outside the supported subset
// (`with`, `define`, unknown functions…) fails here, at compile time, naming the construct.

import { fail, punctuation, type Item, type Token } from './lexer.js';
import { supportedFunctions } from './functions.js';

export type Operand =
  | { k: 'field'; chain: string[]; pos: number }
  | { k: 'variable'; name: string; chain: string[]; pos: number }
  | { k: 'literal'; value: unknown; pos: number }
  | { k: 'func'; name: string; pos: number }
  | { k: 'paren'; pipe: Pipeline; chain: string[]; pos: number };

export interface Command {
  args: Operand[];
  pos: number;
}

export interface Pipeline {
  /** `$x :=` declares (`$i, $e :=` in range), `$x =` assigns; the pipeline then prints nothing. */
  decl?: { names: string[]; assign: boolean };
  cmds: Command[];
  pos: number;
}

const tokenText: Partial<Record<Token['k'], string>> = Object.fromEntries(
  punctuation.map(([text, k]) => [k, text]),
);

export type Node =
  | { k: 'text'; text: string }
  | { k: 'print'; pipe: Pipeline }
  | { k: 'if'; pipe: Pipeline; then: Node[]; otherwise: Node[] }
  | { k: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

const unsupportedKeywords = new Set(['with', 'define', 'template', 'block', 'break', 'continue']);
const structuralKeywords = new Set(['if', 'range', 'else', 'end', ...unsupportedKeywords]);

export class Parser {
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
