// Command lines as kubectl reads them (spf13/pflag): flags anywhere among the arguments,
// `--name=value`, `--name value`, `-n value`, `-nvalue`, `-n=value`, boolean shorthands grouped
// (`-Ai`), `--bool=false`, repeatable flags collected in order, `--` ending the flags; an unknown
// flag or a missing value is an error worded as pflag words it.

export type FlagKind = 'string' | 'bool' | 'list';

export interface FlagDef {
  name: string;
  short?: string;
  kind: FlagKind;
  /** What the value is, for help: `--namespace=NAMESPACE`. */
  value?: string;
  /** Shown in help, as kubectl shows defaults (`-o ''`). */
  default?: string | boolean;
  help: string;
}

export interface ParsedArgs {
  positionals: string[];
  /** Every flag given, by long name: a string, a boolean, or a list of strings in order. */
  values: Map<string, string | boolean | string[]>;
}

/** A command line that cannot be read; the command's help tells how to write it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function boolValue(text: string, flag: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(text)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(text)) return false;
  throw new UsageError(
    `invalid argument "${text}" for "${flag}" flag: strconv.ParseBool: parsing "${text}": invalid syntax`,
  );
}

export function parseArgs(argv: readonly string[], defs: readonly FlagDef[]): ParsedArgs {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const byShort = new Map(defs.flatMap((d) => (d.short ? [[d.short, d] as const] : [])));
  const values = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  const set = (def: FlagDef, value: string | boolean): void => {
    if (def.kind === 'list') {
      const list = values.get(def.name);
      values.set(def.name, [...(Array.isArray(list) ? list : []), String(value)]);
    } else values.set(def.name, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const def = byName.get(name);
      if (!def) throw new UsageError(`unknown flag: --${name}`);
      const flag = `--${name}`;
      if (def.kind === 'bool') {
        set(def, eq < 0 ? true : boolValue(arg.slice(eq + 1), flag));
      } else if (eq >= 0) {
        set(def, arg.slice(eq + 1));
      } else {
        const next = argv[i + 1];
        if (next === undefined) throw new UsageError(`flag needs an argument: ${flag}`);
        set(def, next);
        i++;
      }
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      // A group of shorthands: booleans, and at most one that takes the rest (or the next argument).
      for (let j = 1; j < arg.length; j++) {
        const c = arg.charAt(j);
        const def = byShort.get(c);
        if (!def) throw new UsageError(`unknown shorthand flag: '${c}' in ${arg}`);
        const rest = arg.slice(j + 1);
        if (def.kind === 'bool') {
          if (rest.startsWith('=')) {
            set(def, boolValue(rest.slice(1), `-${c}`));
            break;
          }
          set(def, true);
          continue;
        }
        if (rest !== '') {
          set(def, rest.startsWith('=') ? rest.slice(1) : rest);
        } else {
          const next = argv[i + 1];
          if (next === undefined) throw new UsageError(`flag needs an argument: '${c}' in -${c}`);
          set(def, next);
          i++;
        }
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { positionals, values };
}

/** Reading a parsed command line: typed getters with defaults. */
export class Args {
  constructor(private readonly parsed: ParsedArgs) {}

  get positionals(): readonly string[] {
    return this.parsed.positionals;
  }

  has(name: string): boolean {
    return this.parsed.values.has(name);
  }

  str(name: string, fallback = ''): string {
    const v = this.parsed.values.get(name);
    return typeof v === 'string' ? v : fallback;
  }

  bool(name: string): boolean {
    return this.parsed.values.get(name) === true;
  }

  list(name: string): string[] {
    const v = this.parsed.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}

/** `name=value` pairs (--param): the name up to the first '='. */
export function keyValues(items: readonly string[], flag: string): [string, string][] {
  return items.map((item) => {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${flag} ${item}: write NAME=VALUE`);
    return [item.slice(0, eq), item.slice(eq + 1)];
  });
}
