// Lists: sorted by name, searched (case-insensitive substring) before paging, totalItems counts
// the matches, and a bad page or itemsPerPage is a 400 Status naming the parameter.
import { expect } from 'chai';
import { StatusError } from '../../../machinery/status.js';
import { listOf, parseListQuery } from '../../../classapi/list.js';

const items = ['release/2.0', 'main', 'Feature-B', 'feature-a', 'dev', 'release/1.0', 'hotfix'].map(
  (name) => ({
    name,
  }),
);
const names = (q: string): { total: number; names: string[] } => {
  const list = listOf(items, parseListQuery(new URLSearchParams(q)));
  return { total: list.listMeta.totalItems, names: list.items.map((i) => i.name) };
};

describe('classapi/list', function () {
  const cases: { query: string; total: number; names: string[] }[] = [
    {
      query: '',
      total: 7,
      names: ['Feature-B', 'dev', 'feature-a', 'hotfix', 'main', 'release/1.0', 'release/2.0'],
    },
    { query: 'search=FEATURE', total: 2, names: ['Feature-B', 'feature-a'] },
    { query: 'search=release/', total: 2, names: ['release/1.0', 'release/2.0'] },
    { query: 'search=nothing-matches', total: 0, names: [] },
    { query: 'itemsPerPage=3', total: 7, names: ['Feature-B', 'dev', 'feature-a'] },
    { query: 'itemsPerPage=3&page=2', total: 7, names: ['hotfix', 'main', 'release/1.0'] },
    { query: 'itemsPerPage=3&page=3', total: 7, names: ['release/2.0'] },
    { query: 'itemsPerPage=3&page=4', total: 7, names: [] },
    { query: 'itemsPerPage=1&page=2&search=e', total: 5, names: ['dev'] },
    {
      query: 'page=1',
      total: 7,
      names: ['Feature-B', 'dev', 'feature-a', 'hotfix', 'main', 'release/1.0', 'release/2.0'],
    },
    { query: 'page=2', total: 7, names: [] },
    {
      query: 'page=&itemsPerPage=',
      total: 7,
      names: ['Feature-B', 'dev', 'feature-a', 'hotfix', 'main', 'release/1.0', 'release/2.0'],
    },
    {
      query: 'itemsPerPage=100',
      total: 7,
      names: ['Feature-B', 'dev', 'feature-a', 'hotfix', 'main', 'release/1.0', 'release/2.0'],
    },
  ];
  for (const c of cases) {
    it(`?${c.query} → ${c.total} matches, ${JSON.stringify(c.names)}`, function () {
      expect(names(c.query)).to.deep.equal({ total: c.total, names: c.names });
    });
  }

  it('an empty list is a list with totalItems 0', function () {
    expect(listOf([], parseListQuery(new URLSearchParams('itemsPerPage=5')))).to.deep.equal({
      listMeta: { totalItems: 0 },
      items: [],
    });
  });

  it("does not reorder the caller's array", function () {
    const copy = items.map((i) => i.name);
    listOf(items, parseListQuery(new URLSearchParams('')));
    expect(items.map((i) => i.name)).to.deep.equal(copy);
  });

  const invalid: [string, string][] = [
    ['page=0', 'page'],
    ['page=-1', 'page'],
    ['page=1.5', 'page'],
    ['page=abc', 'page'],
    ['page=1e3', 'page'],
    ['page=99999999999', 'page'],
    ['itemsPerPage=0', 'itemsPerPage'],
    ['itemsPerPage=ten', 'itemsPerPage'],
    ['itemsPerPage=%201', 'itemsPerPage'],
  ];
  for (const [query, parameter] of invalid) {
    it(`?${query} → 400 BadRequest naming ${parameter}`, function () {
      let caught: unknown;
      try {
        parseListQuery(new URLSearchParams(query));
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(StatusError);
      const status = (caught as StatusError).status;
      expect(status).to.include({ code: 400, reason: 'BadRequest' });
      expect(status.message).to.include(parameter);
      expect(status.details?.causes?.[0]?.field).to.equal(parameter);
    });
  }
});
