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

interface Entry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  bytes: Buffer;
}

export class ContentCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(
    readonly maxBytes = 16 * 1024 * 1024,
    readonly maxFile = 64 * 1024,
    readonly maxEntries = 4096,
    private readonly now: () => number = Date.now,
  ) {}

  get(st: FileFacts): Buffer | undefined {
    const key = `${st.dev}:${st.ino}`;
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.size !== st.size || e.mtimeMs !== st.mtimeMs || e.ctimeMs !== st.ctimeMs) {
      this.drop(key, e);
      return undefined;
    }
    // Least recently used goes first: a hit moves to the end.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.bytes;
  }

  /** Keeps `bytes`, read from the file `st` describes, if it is small and old enough. */
  offer(st: FileFacts, bytes: Buffer): void {
    if (st.ctimeMs === undefined || bytes.length !== st.size || st.size > this.maxFile || st.size > this.maxBytes) return;
    if (this.now() - Math.max(st.mtimeMs, st.ctimeMs) < MIN_AGE_MS) return;
    const key = `${st.dev}:${st.ino}`;
    const old = this.entries.get(key);
    if (old !== undefined) this.drop(key, old);
    while (this.entries.size > 0 && (this.total + bytes.length > this.maxBytes || this.entries.size >= this.maxEntries)) {
      const [k, e] = this.entries.entries().next().value as [string, Entry];
      this.drop(k, e);
    }
    // A small Buffer is a slice of node's shared 8 KiB pool; keeping it would keep the whole
    // slab. Kept bytes get their own memory, so the budget counts what is really held.
    const own = Buffer.allocUnsafeSlow(bytes.length);
    bytes.copy(own);
    this.entries.set(key, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, bytes: own });
    this.total += own.length;
  }

  get size(): number {
    return this.total;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  private drop(key: string, e: Entry): void {
    this.entries.delete(key);
    this.total -= e.bytes.length;
  }
}
