// The list shape of the published backend contract, `{"listMeta":{"totalItems":N},"items":[…]}`,
// with its query parameters: `search` (case-insensitive substring of the name, applied first),
// then `page` (1-based) and `itemsPerPage` (absent: everything on page 1). `totalItems` counts
// what the search matched, before paging, so a client can compute the number of pages.

import { badRequest } from '../machinery/status.js';

export interface ListQuery {
  search: string;
  page: number;
  /** Undefined: all items on one page. */
  itemsPerPage: number | undefined;
}

export interface List<T> {
  listMeta: { totalItems: number };
  items: T[];
}

const maxPageNumber = 1_000_000_000;

function positiveInteger(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  // An empty value (`?page=`) is what many form-driven clients send for "not set".
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > maxPageNumber) {
    throw badRequest(`query parameter ${name} must be a whole number from 1 to ${maxPageNumber}`, {
      causes: [{ reason: 'FieldValueInvalid', message: `invalid value for ${name}`, field: name }],
    });
  }
  return Number(raw);
}

export function parseListQuery(params: URLSearchParams): ListQuery {
  return {
    search: params.get('search') ?? '',
    page: positiveInteger(params, 'page') ?? 1,
    itemsPerPage: positiveInteger(params, 'itemsPerPage'),
  };
}

/** Sorts by name (code point order, as `git ls-remote` does), filters by `search`, then pages. */
export function listOf<T extends { name: string }>(all: readonly T[], query: ListQuery): List<T> {
  const needle = query.search.toLowerCase();
  const matched = (needle ? all.filter((item) => item.name.toLowerCase().includes(needle)) : [...all]).sort(
    (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const size = query.itemsPerPage ?? Math.max(matched.length, 1);
  const start = (query.page - 1) * size;
  return { listMeta: { totalItems: matched.length }, items: matched.slice(start, start + size) };
}
