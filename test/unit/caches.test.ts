// The two caches of the serving path, on their own: what they keep, for how long, and what
// makes them forget (fs/content.ts, fs/recent.ts), plus the walk resuming from a directory the
// serving probe knows, counted in syscalls on a real tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentCache, MIN_AGE_MS, TEXT_MAX } from '../../src/fs/content.js';
import { RecentPaths, RECENT_TTL_MS } from '../../src/fs/recent.js';
import { kernelProbe, servingProbe, type FileFacts, type FsProbe } from '../../src/fs/probe.js';
import { walk } from '../../src/policy/walk.js';
import { makeTree, type Fixture } from '../helpers/tree.js';

const T0 = 1_000_000_000_000;
function facts(over: Partial<FileFacts> = {}): FileFacts {
  return { dev: 1, ino: 7, mode: 0o100644, uid: 0, gid: 0, size: 5, mtimeMs: T0 - 10_000, ctimeMs: T0 - 10_000, isFile: () => true, isDirectory: () => false, isSymbolicLink: () => false, ...over };
}

describe('ContentCache', () => {
  let now = T0;
  const cache = (maxBytes?: number, maxFile?: number, maxEntries?: number) => new ContentCache(maxBytes, maxFile, maxEntries, () => now);

  it('gives the bytes back only while inode, size, mtime and ctime all match', () => {
    const c = cache();
    c.offer(facts(), Buffer.from('hello'));
    expect(c.get(facts())?.toString()).toBe('hello');
    for (const changed of [{ ino: 8 }, { dev: 2 }, { size: 6 }, { mtimeMs: T0 - 9_000 }, { ctimeMs: T0 - 9_000 }]) {
      const c2 = cache();
      c2.offer(facts(), Buffer.from('hello'));
      expect(c2.get(facts(changed)), JSON.stringify(changed)).toBeUndefined();
    }
  });

  it(`keeps nothing changed in the last ${MIN_AGE_MS} ms (a write in the same clock tick could keep the times)`, () => {
    const c = cache();
    c.offer(facts({ mtimeMs: now - MIN_AGE_MS + 1 }), Buffer.from('hello'));
    c.offer(facts({ ino: 9, ctimeMs: now - 10 }), Buffer.from('hello'));
    expect(c.size).toBe(0);
  });

  it('keeps nothing without a ctime, nothing short of the fstat size, nothing above maxFile', () => {
    const c = cache(1024, 4);
    const { ctimeMs: _none, ...noCtime } = facts();
    c.offer(noCtime, Buffer.from('hello'));
    c.offer(facts({ ino: 2 }), Buffer.from('hell'));
    c.offer(facts({ ino: 3 }), Buffer.from('hello'));
    expect(c.size).toBe(0);
  });

  it('evicts the oldest not used since eviction last passed it, to stay within its byte and entry budgets', () => {
    const c = cache(20, 64, 100); // a 5-byte file costs 10: kept as bytes and as latin1 text
    c.offer(facts({ ino: 1 }), Buffer.from('aaaaa'));
    c.offer(facts({ ino: 2 }), Buffer.from('bbbbb'));
    c.get(facts({ ino: 1 })); // 1 is now the most recent
    c.offer(facts({ ino: 3 }), Buffer.from('ccccc'));
    expect([c.get(facts({ ino: 1 }))?.toString(), c.get(facts({ ino: 2 })), c.get(facts({ ino: 3 }))?.toString()]).toEqual(['aaaaa', undefined, 'ccccc']);
    expect(c.size).toBe(20);
    const few = cache(1000, 64, 2);
    for (let ino = 1; ino <= 5; ino++) few.offer(facts({ ino, size: 0 }), Buffer.alloc(0));
    expect([1, 2, 3, 4, 5].filter((ino) => few.get(facts({ ino, size: 0 })) !== undefined)).toEqual([4, 5]);
  });

  it('gives the same bytes as latin1 text, one character per byte, up to TEXT_MAX', () => {
    const c = cache(1 << 20, 1 << 16);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    c.offer(facts({ size: 256 }), all);
    expect(Buffer.from(c.kept(facts({ size: 256 }))!.text!, 'latin1').equals(all)).toBe(true);
    c.offer(facts({ ino: 9, size: TEXT_MAX + 1 }), Buffer.alloc(TEXT_MAX + 1));
    expect(c.get(facts({ ino: 9, size: TEXT_MAX + 1 }))?.length).toBe(TEXT_MAX + 1);
    expect(c.kept(facts({ ino: 9, size: TEXT_MAX + 1 }))?.text).toBeUndefined();
  });

  it('holds its own copy, never a slice of a shared pool', () => {
    const c = cache();
    const pooled = Buffer.from('hello'); // small Buffers share node's 8 KiB pool
    c.offer(facts(), pooled);
    const kept = c.get(facts())!;
    expect(kept.buffer.byteLength).toBe(5);
    pooled.write('HELLO');
    expect(kept.toString()).toBe('hello');
  });
});

describe('RecentPaths', () => {
  it(`remembers a real path for ${RECENT_TTL_MS} ms, for the same inode only`, () => {
    let now = T0;
    const r = new RecentPaths(RECENT_TTL_MS, () => now);
    r.rememberReal('/srv/a.txt', facts(), '/srv/a.txt');
    expect(r.realOf('/srv/a.txt', facts())).toBe('/srv/a.txt');
    expect(r.realOf('/srv/a.txt', facts({ ino: 8 }))).toBeUndefined();
    // The inode number recycled, or the file renamed, linked or written: its ctime moved.
    expect(r.realOf('/srv/a.txt', facts({ ctimeMs: T0 - 5 }))).toBeUndefined();
    expect(r.realOf('/srv/a.txt', facts({ size: 6 }))).toBeUndefined();
    expect(r.realOf('/srv/b.txt', facts())).toBeUndefined();
    now += RECENT_TTL_MS + 1;
    expect(r.realOf('/srv/a.txt', facts())).toBeUndefined();
  });

  it(`remembers a plain directory for ${RECENT_TTL_MS} ms`, () => {
    let now = T0;
    const r = new RecentPaths(RECENT_TTL_MS, () => now);
    r.rememberPlainDir('/srv/d');
    expect(r.isPlainDir('/srv/d')).toBe(true);
    now += RECENT_TTL_MS + 1;
    expect(r.isPlainDir('/srv/d')).toBe(false);
  });

  it(`remembers a failed open for ${RECENT_TTL_MS} ms, and an unreadable file by every fact that records a change`, () => {
    let now = T0;
    const r = new RecentPaths(RECENT_TTL_MS, () => now);
    r.rememberFailedOpen('/srv/missing');
    expect(r.openFailed('/srv/missing')).toBe(true);
    expect(r.stillUnreadable('/srv/missing', facts())).toBe(false); // a missing path is walked, then opened
    const locked = facts({ mode: 0o100000 });
    r.rememberFailedOpen('/srv/locked', locked);
    expect(r.stillUnreadable('/srv/locked', facts({ mode: 0o100000 }))).toBe(true);
    for (const changed of [{ mode: 0o100644 }, { ino: 8 }, { dev: 2 }, { uid: 1 }, { gid: 1 }, { size: 6 }, { mtimeMs: T0 - 9_000 }, { ctimeMs: T0 - 9_000 }]) {
      expect(r.stillUnreadable('/srv/locked', facts({ mode: 0o100000, ...changed })), JSON.stringify(changed)).toBe(false);
    }
    r.forgetFailedOpen('/srv/locked');
    expect(r.openFailed('/srv/locked')).toBe(false);
    r.rememberFailedOpen('/srv/locked', locked);
    now += RECENT_TTL_MS + 1;
    expect(r.openFailed('/srv/missing')).toBe(false);
    expect(r.stillUnreadable('/srv/locked', locked)).toBe(false);
  });
});

describe('the walk with a serving probe', () => {
  let fx: Fixture;
  beforeAll(() => {
    fx = makeTree({ www: { dir: { a: { dir: { b: { dir: { 'f.txt': 'f' } } } } } } });
  });
  afterAll(() => fx?.cleanup());

  function counting(base: FsProbe): { probe: FsProbe; calls: string[] } {
    const calls: string[] = [];
    const probe: FsProbe = {
      ...base,
      stat: (p) => (calls.push(`stat ${p}`), base.stat(p)),
      lstat: (p) => (calls.push(`lstat ${p}`), base.lstat(p)),
      canSearch: (d, st) => (calls.push(`search ${d}`), base.canSearch(d, st)),
    };
    return { probe, calls };
  }

  it('starts from the deepest directory it saw plain, and looks only at what is left', () => {
    const root = fx.path('www');
    const { probe, calls } = counting(servingProbe());
    const first = walk(root, ['a', 'b', 'missing.txt'], '/a/b/missing.txt', 'inside-root', 'symlinks', probe);
    expect(first.ok).toBe(false);
    expect(calls.length).toBe(7); // stat root; search + lstat for root, a, b
    calls.length = 0;
    const second = walk(root, ['a', 'b', 'other.txt'], '/a/b/other.txt', 'inside-root', 'symlinks', probe);
    expect(second.ok ? '' : second.decision.reason).toBe('NOT_FOUND');
    expect(calls).toEqual([`lstat ${root}/a/b/other.txt`]);
    const found = walk(root, ['a', 'b', 'f.txt'], '/a/b/f.txt', 'inside-root', 'symlinks', probe);
    expect(found.ok && found.real).toBe(`${root}/a/b/f.txt`);
  });

  it('a resumed walk remembers nothing new, so no directory outlives the bound by being passed down', () => {
    const root = fx.path('www');
    let now = T0;
    const recent = new RecentPaths(RECENT_TTL_MS, () => now);
    const { probe, calls } = counting(servingProbe(recent));
    walk(root, ['a', 'b', 'x'], '/a/b/x', 'inside-root', 'symlinks', probe); // from the root: remembers root, a, b
    now += RECENT_TTL_MS - 1;
    walk(root, ['a', 'b', 'y'], '/a/b/y', 'inside-root', 'symlinks', probe); // resumed at b
    now += 2; // past the bound of the first walk's facts
    calls.length = 0;
    walk(root, ['a', 'b', 'z'], '/a/b/z', 'inside-root', 'symlinks', probe);
    expect(calls[0]).toBe(`stat ${root}`); // from the root again
  });

  it('the probe explain and audit use (kernelProbe) remembers nothing: it walks from the root every time', () => {
    const root = fx.path('www');
    const { probe, calls } = counting(kernelProbe);
    walk(root, ['a', 'b', 'x'], '/a/b/x', 'inside-root', 'symlinks', probe);
    calls.length = 0;
    walk(root, ['a', 'b', 'x'], '/a/b/x', 'inside-root', 'symlinks', probe);
    expect(calls.length).toBe(7);
    expect(calls[0]).toBe(`stat ${root}`);
  });
});
