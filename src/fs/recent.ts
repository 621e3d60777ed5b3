// What the server learned about paths in the last second, so that a request does not pay again
// for a syscall whose answer cannot have changed what it serves. Two facts are kept:
//
//   - the real path of an opened file, keyed by the path it was opened by and checked against
//     a fresh fstat of the new descriptor (device, inode, change time, size, modification
//     time): the /proc readlink is skipped only when the descriptor is the very file, unchanged,
//     whose real path was read;
//   - directories known to be searchable and free of symbolic links up to the root, from which a
//     refusal's explanation (the component walk) may start instead of from the root;
//   - paths whose open failed: the next request for one asks the walk first, whose lstat
//     answers a missing path without the exception a failed open costs (several times the
//     syscall). For a file the open found unreadable (EACCES), what the walk saw of it is kept.
//
// STALENESS BOUND: an entry is used for at most RECENT_TTL_MS after it was learned. Neither fact
// ever turns a refusal into a success by itself: the open, and with it the kernel's permission
// check on every component and on the file, runs on every request (a `chmod 000` is honoured
// on the very next one). What the bound allows, for at most that long after a directory on the
// path is replaced by a symbolic link:
//   - the same file, unchanged (its ctime too) and reached through the new link, is served as it
//     was a moment before (the symlink policy would now refuse the path; the bytes are those
//     already served by it);
//   - a refusal names the reason its last component gives (404 missing, 403 unreadable) where a
//     fresh walk would name the link (SYMLINK_*).
// A failed open remembered changes no answer but one: the walk runs on every request and its
// refusal is the one a failed open would have led to, and a path the walk now finds is opened
// again. The exception is a file found unreadable: it is refused again without an open while a
// fresh walk shows the very same inode with the same mode, owner, group, size and times. Any
// chmod, chown, ACL change (setxattr), write or replacement moves one of those, so it is seen
// at once; what the bound allows, for at most that long, is a change the inode does not record
// (an LSM policy reloaded, a mount option) or a second ACL change within the kernel's ctime
// tick that leaves the mode as it was.
import type { FileFacts } from './probe.js';

export const RECENT_TTL_MS = 1000;
/** Entries per map; past it the map starts afresh (a scan of random paths must not grow it). */
const MAX_ENTRIES = 4096;

/** What tells one unchanged file from another: ctime moves on any rename, link, chmod or write. */
type Identity = Pick<FileFacts, 'dev' | 'ino' | 'size' | 'mtimeMs'> & { ctimeMs: number };

function identityOf(st: FileFacts): Identity | undefined {
  // Without a ctime there is nothing to tell a changed file by: nothing is remembered.
  return st.ctimeMs === undefined ? undefined : { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function sameFile(id: Identity, st: FileFacts): boolean {
  return id.ino === st.ino && id.dev === st.dev && id.ctimeMs === st.ctimeMs && id.size === st.size && id.mtimeMs === st.mtimeMs;
}

interface RealEntry {
  id: Identity;
  real: string;
  at: number;
}

interface FailedOpen {
  at: number;
  /** For EACCES on a regular file: what the walk saw of it then. */
  unreadable?: { id: Identity; mode: number; uid: number; gid: number };
}

export class RecentPaths {
  private readonly reals = new Map<string, RealEntry>();
  private readonly dirs = new Map<string, number>();
  private readonly failed = new Map<string, FailedOpen>();

  constructor(
    private readonly ttlMs = RECENT_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The real path recorded for `p`, if it was read within the bound for this very file: same
   * device and inode, and the same change time, size and modification time. ctime moves on any
   * rename, new link, chmod or write, so a recycled inode number or a file moved and edited
   * meanwhile is read afresh.
   */
  realOf(p: string, st: FileFacts): string | undefined {
    const e = this.reals.get(p);
    if (e === undefined || this.now() - e.at > this.ttlMs || !sameFile(e.id, st)) return undefined;
    return e.real;
  }

  rememberReal(p: string, st: FileFacts, real: string): void {
    const id = identityOf(st);
    if (id === undefined) return;
    if (this.reals.size >= MAX_ENTRIES) this.reals.clear();
    this.reals.set(p, { id, real, at: this.now() });
  }

  /** Was `dir` seen, within the bound, as a searchable directory with no link on its path? */
  isPlainDir(dir: string): boolean {
    const at = this.dirs.get(dir);
    return at !== undefined && this.now() - at <= this.ttlMs;
  }

  rememberPlainDir(dir: string): void {
    if (this.dirs.size >= MAX_ENTRIES) this.dirs.clear();
    this.dirs.set(dir, this.now());
  }

  /** Did opening `p` fail within the bound? Then the walk is asked before any open. */
  openFailed(p: string): boolean {
    const e = this.failed.get(p);
    return e !== undefined && this.now() - e.at <= this.ttlMs;
  }

  /** Records a failed open of `p`; `unreadable` is what the walk saw of the file when the open met EACCES. */
  rememberFailedOpen(p: string, unreadable?: FileFacts): void {
    if (this.failed.size >= MAX_ENTRIES) this.failed.clear();
    const id = unreadable === undefined ? undefined : identityOf(unreadable);
    const entry: FailedOpen = { at: this.now() };
    if (unreadable !== undefined && id !== undefined) entry.unreadable = { id, mode: unreadable.mode, uid: unreadable.uid, gid: unreadable.gid };
    this.failed.set(p, entry);
  }

  /** Is `st` (what a fresh walk saw at `p`) the very file whose open met EACCES within the bound? */
  stillUnreadable(p: string, st: FileFacts): boolean {
    const e = this.failed.get(p);
    if (e?.unreadable === undefined || this.now() - e.at > this.ttlMs) return false;
    const u = e.unreadable;
    return sameFile(u.id, st) && u.mode === st.mode && u.uid === st.uid && u.gid === st.gid;
  }

  forgetFailedOpen(p: string): void {
    this.failed.delete(p);
  }

  clear(): void {
    this.reals.clear();
    this.dirs.clear();
    this.failed.clear();
  }
}
