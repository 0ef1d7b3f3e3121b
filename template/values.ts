// The values a template sees, as Go's text/template sees them: structs that refuse unknown fields,
// maps that read a missing key as their zero value, unstructured JSON as map[string]interface{};
// how fmt names and prints them, and what counts as true. TemplateError is every failure's type, at
// compile and at render time.

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

export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (v instanceof GoStruct || v instanceof GoMap) return v.typeName;
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'number') return 'int';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

/** fmt's %v, enough for what templates print. */
export function formatValue(v: unknown): string {
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

export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof GoMap) return v.entries.size > 0;
  return true;
}
