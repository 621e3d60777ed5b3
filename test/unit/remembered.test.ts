// Rendered listings kept while the facts they came from are the same (src/listing/remembered.ts).
import { describe, expect, it } from 'vitest';
import { PAGE_MAX, RememberedListings, TOTAL_MAX } from '../../src/listing/remembered.js';
import type { ListingEntry } from '../../src/listing/autoindex.js';

const entries = (): ListingEntry[] => [
  { name: 'a.txt', isDir: false, size: 1, mtimeMs: 1_000 },
  { name: 'sub', isDir: true, size: 4096, mtimeMs: 2_000 },
  { name: 'locked', isDir: false, size: -1, mtimeMs: Number.NaN, denied: true },
];
const body = Buffer.from('<html>page</html>');

describe('RememberedListings', () => {
  it('gives the page back for equal facts (fresh objects), under the same key only', () => {
    const r = new RememberedListings();
    expect(r.get('k', entries())).toBeUndefined();
    r.keep('k', entries(), body);
    expect(r.get('k', entries())).toBe(body);
    expect(r.get('other', entries())).toBeUndefined();
  });

  it.each<[string, (e: ListingEntry[]) => void]>([
    ['a name', (e) => (e[0]!.name = 'b.txt')],
    ['a kind', (e) => (e[1]!.isDir = false)],
    ['a size', (e) => (e[0]!.size = 2)],
    ['a time', (e) => (e[1]!.mtimeMs = 2_001)],
    ['a known time', (e) => (e[2]!.mtimeMs = 3_000)],
    ['a mark', (e) => delete e[2]!.denied],
    ['a new mark', (e) => (e[0]!.denied = true)],
    ['an entry more', (e) => e.push({ name: 'new', isDir: false, size: 0, mtimeMs: 0 })],
    ['an entry less', (e) => e.pop()],
    ['the order', (e) => e.reverse()],
  ])('misses when %s differs', (_, change) => {
    const r = new RememberedListings();
    r.keep('k', entries(), body);
    const now = entries();
    change(now);
    expect(r.get('k', now)).toBeUndefined();
  });

  it('keeps no page over PAGE_MAX, and no more than TOTAL_MAX in all, dropping the oldest', () => {
    const r = new RememberedListings();
    r.keep('huge', entries(), Buffer.alloc(PAGE_MAX + 1));
    expect(r.get('huge', entries())).toBeUndefined();
    const page = Buffer.alloc(PAGE_MAX / 2);
    const n = Math.ceil((2 * TOTAL_MAX) / page.length);
    for (let i = 0; i < n; i++) r.keep(`p${i}`, entries(), page);
    expect(r.size).toBeLessThanOrEqual(TOTAL_MAX / page.length);
    expect(r.get('p0', entries())).toBeUndefined();
    expect(r.get(`p${n - 1}`, entries())).toBe(page);
  });

  it('a page kept again under its key replaces the old one', () => {
    const r = new RememberedListings();
    r.keep('k', entries(), body);
    const other = Buffer.from('other');
    r.keep('k', entries(), other);
    expect(r.size).toBe(1);
    expect(r.get('k', entries())).toBe(other);
    r.clear();
    expect(r.size).toBe(0);
  });
});
