// The evaluator: runs a parsed template over its data as Go's text/template does (the dot, `$`,
// variable scopes, nil pointers, typed-map zero values), printing with fmt's %v. The output is
// bounded, so that a range over a large map cannot grow it without end.

import { callFunction } from './functions.js';
import { fail } from './lexer.js';
import type { Command, Node, Operand, Pipeline } from './parser.js';
import { formatValue, goTypeName, GoMap, GoStruct, TemplateError, truthy } from './values.js';

const maxOutput = 1 << 20;

export class Evaluator {
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
