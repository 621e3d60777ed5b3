// Small files' bytes, kept so a request can skip the read. Every request still opens the file
// (the kernel's permission check) and fstats the descriptor; the bytes are used only when that
// fresh fstat names the same inode with the same size, modification time and change time as
// when they were read. A chmod, a rename over the file, a write or a deletion is therefore seen
// by the very next request.
//
// A write lands within the granularity of the filesystem's clock (a few ms on ext4, 2 s on
// FAT), so a file changed in the same tick as it was read could keep its timestamps: only a
// file whose times are at least MIN_AGE_MS old when read is kept (git's "racy clean" rule).
import type { FileFacts } from './probe.js';

export const MIN_AGE_MS = 2000;
/** Files up to this size are also kept as latin1 text, which node sends in one write with the head. */
export const TEXT_MAX = 16 * 1024;

/** What a file of `size` bytes holds in memory: its bytes, and up to TEXT_MAX its text too. */
function costOf(size: number): number {
  return size <= TEXT_MAX ? 2 * size : size;
}

interface Entry {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  bytes: Buffer;
  /** The bytes as latin1 text (one character per byte), for files up to TEXT_MAX. */
  text: string | undefined;
  /** Used since eviction last passed it (CLOCK's second chance: a hit costs no reordering). */
  used: boolean;
}

export class ContentCache {
  // device → inode → entry: numeric keys, no string built per request.
  private readonly byDev = new Map<number, Map<number, Entry>>();
  // Insertion order, oldest first: eviction walks it, sparing entries used since.
  private readonly order = new Set<Entry>();
  private total = 0;

  constructor(
    readonly maxBytes = 16 * 1024 * 1024,
    readonly maxFile = 64 * 1024,
    readonly maxEntries = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  get(st: FileFacts): Buffer | undefined {
    return this.kept(st)?.bytes;
  }

  /** Both forms at once, while the fresh fstat `st` matches what they were read from. */
  kept(st: FileFacts): { readonly bytes: Buffer; readonly text: string | undefined } | undefined {
    const e = this.byDev.get(st.dev)?.get(st.ino);
    if (e === undefined) return undefined;
    if (e.size !== st.size || e.mtimeMs !== st.mtimeMs || e.ctimeMs !== st.ctimeMs) {
      this.drop(e);
      return undefined;
    }
    e.used = true;
    return e;
  }

  /** Keeps `bytes`, read from the file `st` describes, if it is small and old enough. */
  offer(st: FileFacts, bytes: Buffer): void {
    if (st.ctimeMs === undefined || bytes.length !== st.size || st.size > this.maxFile || costOf(st.size) > this.maxBytes) return;
    if (this.now() - Math.max(st.mtimeMs, st.ctimeMs) < MIN_AGE_MS) return;
    const old = this.byDev.get(st.dev)?.get(st.ino);
    if (old !== undefined) this.drop(old);
    const cost = costOf(bytes.length);
    while (this.order.size > 0 && (this.total + cost > this.maxBytes || this.order.size >= this.maxEntries)) {
      const oldest = this.order.values().next().value as Entry;
      if (oldest.used) {
        oldest.used = false;
        this.order.delete(oldest);
        this.order.add(oldest);
      } else this.drop(oldest);
    }
    // A small Buffer is a slice of node's shared 8 KiB pool; keeping it would keep the whole
    // slab. Kept bytes get their own memory, so the budget counts what is really held.
    const own = Buffer.allocUnsafeSlow(bytes.length);
    bytes.copy(own);
    const text = own.length <= TEXT_MAX ? own.toString('latin1') : undefined;
    const e: Entry = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, bytes: own, text, used: false };
    let inodes = this.byDev.get(st.dev);
    if (inodes === undefined) this.byDev.set(st.dev, (inodes = new Map()));
    inodes.set(st.ino, e);
    this.order.add(e);
    this.total += cost;
  }

  get size(): number {
    return this.total;
  }

  clear(): void {
    this.byDev.clear();
    this.order.clear();
    this.total = 0;
  }

  private drop(e: Entry): void {
    const inodes = this.byDev.get(e.dev);
    inodes?.delete(e.ino);
    if (inodes?.size === 0) this.byDev.delete(e.dev);
    this.order.delete(e);
    this.total -= costOf(e.bytes.length);
  }
}
