// The functions templates may call: Go's builtins eq, ne, not, printf and urlquery, and sprig's
// b64enc, trim, trimPrefix, trimSuffix, replace and urlParse, with their Go semantics (eq on basic
// kinds only, printf's %!verb(…) for a mismatch). A function's error never shows an argument's
// value: templates see Secrets and tokens.

import { formatValue, goTypeName, GoMap, TemplateError, truthy } from './values.js';

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

export function callFunction(name: string, args: unknown[]): unknown {
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
