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
//
// lexer.ts → parser.ts → evaluator.ts (calling functions.ts) over values.ts; this module compiles
// and caches.

import { Evaluator } from './evaluator.js';
import { lex } from './lexer.js';
import { Parser } from './parser.js';

export { GoMap, GoStruct, TemplateError, unstructured } from './values.js';

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
