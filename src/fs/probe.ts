// The filesystem port: the few calls the decision needs, returning an errno code instead of
// throwing. `kernelProbe` asks the kernel as the running process (what the server uses: its
// answer includes ACLs and LSMs); `modesProbe` simulates another user from mode bits, for
// `explain --as`. The walk and the resolver see only this interface.
import * as fs from 'node:fs';
import path from 'node:path';
import { mayAccess, R, X, type Creds } from '../policy/perms.js';
import { RecentPaths } from './recent.js';

export interface FileFacts {
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  /** Inode change time; absent where the probe cannot tell (then nothing is cached by it). */
  ctimeMs?: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export type Errno = string;
export type Opened = { fd: number; stat: FileFacts };

export interface FsProbe {
  /** Opens for reading, following symlinks; fd is -1 for a simulated open. */
  open(p: string): Opened | Errno;
  close(fd: number): void;
  /** The real path of what was opened (fd), without a second lookup by name where possible. */
  realpathOf(opened: Opened, p: string): string | Errno;
  lstat(p: string): FileFacts | Errno;
  stat(p: string): FileFacts | Errno;
  realpath(p: string): string | Errno;
  /** May the judged user search (x) this directory? */
  canSearch(dir: string, st: FileFacts): boolean;
  /** May the judged user read this file or directory? */
  canRead(p: string, st: FileFacts): boolean;
  /** Who is judged: `process` (the kernel's answer) or the simulated credentials. */
  readonly judge: 'kernel' | Creds;
  /** What the serving probe learned in the last second (fs/recent.ts); never for explain/audit. */
  readonly recent?: RecentPaths;
}

function errnoOf(err: unknown): Errno {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

// O_NONBLOCK: opening a FIFO must never hang the server (it is then refused by type).
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
const hasProcFd = fs.existsSync('/proc/self/fd');

/**
 * Runs a call that may throw an errno, without the stack trace: a refusal (ENOENT, EACCES) is
 * a common answer here, and capturing the trace of its exception costs more than the syscall.
 */
export function quietly<T>(f: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return f();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export const kernelProbe: FsProbe = {
  judge: 'kernel',
  open(p) {
    let fd: number;
    try {
      fd = quietly(() => fs.openSync(p, OPEN_FLAGS));
    } catch (err) {
      return errnoOf(err);
    }
    try {
      return { fd, stat: fs.fstatSync(fd) };
    } catch (err) {
      fs.closeSync(fd);
      return errnoOf(err);
    }
  },
  close(fd) {
    // Synchronous: closing a regular file never blocks, and a thread-pool round trip per
    // request costs more than the syscall.
    if (fd < 0) return;
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  },
  realpathOf(opened, p) {
    // SECURITY: the link /proc/self/fd/N names the file actually opened, so the symlink policy
    // judges the very descriptor that will be served; no swap between check and use.
    if (hasProcFd && opened.fd >= 0) {
      try {
        return fs.readlinkSync(`/proc/self/fd/${opened.fd}`);
      } catch {
        /* fall through to a lookup by name */
      }
    }
    try {
      return fs.realpathSync.native(p);
    } catch (err) {
      return errnoOf(err);
    }
  },
  // A missing path is the common refusal (404): asked without an exception, which costs
  // several times the syscall itself.
  lstat(p) {
    try {
      return quietly(() => fs.lstatSync(p, { throwIfNoEntry: false })) ?? 'ENOENT';
    } catch (err) {
      return errnoOf(err);
    }
  },
  stat(p) {
    try {
      return quietly(() => fs.statSync(p, { throwIfNoEntry: false })) ?? 'ENOENT';
    } catch (err) {
      return errnoOf(err);
    }
  },
  realpath(p) {
    try {
      return fs.realpathSync.native(p);
    } catch (err) {
      return errnoOf(err);
    }
  },
  canSearch(dir) {
    try {
      quietly(() => fs.accessSync(dir, fs.constants.X_OK));
      return true;
    } catch {
      return false;
    }
  },
  canRead(p) {
    try {
      quietly(() => fs.accessSync(p, fs.constants.R_OK));
      return true;
    } catch {
      return false;
    }
  },
};

/**
 * The server's probe: the kernel's answers, with the real path of an opened file remembered
 * for RECENT_TTL_MS by (path, device, inode), so most requests skip the /proc readlink. A file
 * opened by its own real path also marks its directory as plain (searchable, no link on the
 * way), where the walk that explains a refusal may start. See fs/recent.ts for the bound.
 */
export function servingProbe(recent = new RecentPaths()): FsProbe {
  return {
    ...kernelProbe,
    recent,
    realpathOf(opened, p) {
      const known = recent.realOf(p, opened.stat);
      if (known !== undefined) return known;
      const real = kernelProbe.realpathOf(opened, p);
      if (typeof real === 'string' && real.startsWith('/')) {
        recent.rememberReal(p, opened.stat, real);
        if (real === p) recent.rememberPlainDir(p.slice(0, p.lastIndexOf('/')) || '/');
      }
      return real;
    },
  };
}

/**
 * Simulates `creds` from mode bits, with the caller's own access to read the metadata. A lookup
 * fails with EACCES where a directory on the way denies `creds` search permission, as the kernel
 * would; an open fails with EACCES where the final object denies read.
 */
export function modesProbe(creds: Creds): FsProbe {
  const reach = (p: string): Errno | undefined => {
    // Every directory the kernel would search to reach p, symlinks resolved as it goes.
    const abs = path.resolve(p);
    const parts = abs.split('/').filter(Boolean);
    let cur = '/';
    for (let i = 0; i < parts.length; i++) {
      const dirSt = kernelProbe.stat(cur);
      if (typeof dirSt === 'string') return dirSt;
      if (!dirSt.isDirectory()) return 'ENOTDIR';
      if (!mayAccess(dirSt, creds, X)) return 'EACCES';
      const next = path.join(cur, parts[i]!);
      const l = kernelProbe.lstat(next);
      if (typeof l === 'string') return l;
      if (l.isSymbolicLink()) {
        const real = kernelProbe.realpath(next);
        if (typeof real === 'string' && real.startsWith('/')) {
          const sub = reach(real);
          if (sub) return sub;
          cur = real;
          continue;
        }
        return typeof real === 'string' ? 'ENOENT' : real;
      }
      cur = next;
    }
    return undefined;
  };
  return {
    judge: creds,
    open(p) {
      const blocked = reach(p);
      if (blocked) return blocked;
      const st = kernelProbe.stat(p);
      if (typeof st === 'string') return st;
      if (!mayAccess(st, creds, R)) return 'EACCES';
      return { fd: -1, stat: st };
    },
    close() {},
    realpathOf(_opened, p) {
      return kernelProbe.realpath(p);
    },
    lstat(p) {
      const blocked = reach(path.dirname(path.resolve(p)));
      return blocked ?? kernelProbe.lstat(p);
    },
    stat(p) {
      const blocked = reach(p);
      return blocked ?? kernelProbe.stat(p);
    },
    realpath(p) {
      const blocked = reach(p);
      return blocked ?? kernelProbe.realpath(p);
    },
    canSearch(_dir, st) {
      return mayAccess(st, creds, X);
    },
    canRead(_p, st) {
      return mayAccess(st, creds, R);
    },
  };
}
