// Rendered listings, remembered while every fact they were rendered from is unchanged.
//
// A listing page is a pure function of its entries (name, kind, size, time, mark), in the
// order the directory gave them, and of its key (format, sort order, URL path, signature
// line). Every request still reads the directory and stats and judges each entry, so the
// kernel's and the policy's answers are always fresh; only the sorting and rendering are
// skipped, when those fresh facts equal the ones the kept page was rendered from. A chmod,
// a write, a new or removed name changes a fact, and the next listing is rendered anew.
import type { ListingEntry } from './autoindex.js';

/** A page larger than this is not kept. */
export const PAGE_MAX = 1024 * 1024;
/** What all kept pages may hold together, their entries counted at ENTRY_COST each. */
export const TOTAL_MAX = 8 * 1024 * 1024;
const ENTRY_COST = 64;

interface Page {
  entries: readonly ListingEntry[];
  body: Buffer;
  cost: number;
}

const sameTime = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

function sameEntries(a: readonly ListingEntry[], b: readonly ListingEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.name !== y.name || x.isDir !== y.isDir || x.size !== y.size || !sameTime(x.mtimeMs, y.mtimeMs) || (x.denied === true) !== (y.denied === true)) return false;
  }
  return true;
}

export class RememberedListings {
  // Insertion order is age: the oldest page goes first when room is needed.
  private readonly pages = new Map<string, Page>();
  private total = 0;

  /** The page kept under `key`, if it was rendered from entries equal to these. */
  get(key: string, entries: readonly ListingEntry[]): Buffer | undefined {
    const page = this.pages.get(key);
    return page !== undefined && sameEntries(page.entries, entries) ? page.body : undefined;
  }

  /** Keeps `body`, rendered from `entries`, under `key` (replacing what was there). */
  keep(key: string, entries: readonly ListingEntry[], body: Buffer): void {
    this.drop(key);
    const cost = body.length + entries.length * ENTRY_COST;
    if (cost > PAGE_MAX) return;
    for (const oldest of this.pages.keys()) {
      if (this.total + cost <= TOTAL_MAX) break;
      this.drop(oldest);
    }
    this.pages.set(key, { entries, body, cost });
    this.total += cost;
  }

  clear(): void {
    this.pages.clear();
    this.total = 0;
  }

  get size(): number {
    return this.pages.size;
  }

  private drop(key: string): void {
    const page = this.pages.get(key);
    if (page === undefined) return;
    this.pages.delete(key);
    this.total -= page.cost;
  }
}
