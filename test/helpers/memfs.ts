// A filesystem in memory behind the FsProbe port, judging one user from mode bits (as
// `explain --as` does): for unit tests of decide() that need modes, owners, loops or errnos
// a real disk cannot give without root.
import path from 'node:path';
import type { FileFacts, FsProbe } from '../../src/fs/probe.js';
import { mayAccess, R, X, type Creds } from '../../src/policy/perms.js';

export type MemNode =
  | { kind: 'file' | 'dir' | 'fifo'; mode: number; uid?: number; gid?: number }
  | { kind: 'link'; target: string; uid?: number };
const TYPE = { file: 0o100000, dir: 0o040000, fifo: 0o010000, link: 0o120000 } as const;

export function facts(n: MemNode): FileFacts {
  const mode = TYPE[n.kind] | (n.kind === 'link' ? 0o777 : n.mode);
  return { dev: 1, ino: 1, mode, uid: n.uid ?? 0, gid: 'gid' in n ? n.gid ?? 0 : 0, size: 4, mtimeMs: 0, isFile: () => n.kind === 'file', isDirectory: () => n.kind === 'dir', isSymbolicLink: () => n.kind === 'link' };
}

/** A probe over `nodes` (absolute paths) judging `creds`; `faults` make open() fail with an errno. */
export function memProbe(nodes: Record<string, MemNode>, creds: Creds, faults: Record<string, string> = {}): FsProbe {
  const all: Record<string, MemNode> = { '/': { kind: 'dir', mode: 0o755 }, ...nodes };
  const lookup = (p: string, followLast: boolean, depth = 0): { real: string; node: MemNode } | string => {
    const parts = p.split('/').filter(Boolean);
    let cur = '/';
    let node = all['/']!;
    for (let i = 0; i < parts.length; i++) {
      if (node.kind !== 'dir') return 'ENOTDIR';
      if (!mayAccess(facts(node), creds, X)) return 'EACCES';
      const next = path.posix.join(cur, parts[i]!);
      const child = all[next];
      if (!child) return 'ENOENT';
      if (child.kind === 'link' && (followLast || i < parts.length - 1)) {
        if (depth >= 8) return 'ELOOP';
        const r = lookup(path.posix.resolve(cur, child.target), true, depth + 1);
        if (typeof r === 'string') return r;
        ({ real: cur, node } = r);
        continue;
      }
      cur = next;
      node = child;
    }
    return { real: cur, node };
  };
  const stat = (p: string, follow: boolean): FileFacts | string => {
    const r = lookup(p, follow);
    return typeof r === 'string' ? r : facts(r.node);
  };
  return {
    judge: creds,
    open(p) {
      if (faults[p]) return faults[p]!;
      const r = lookup(p, true);
      if (typeof r === 'string') return r;
      if (!mayAccess(facts(r.node), creds, R)) return 'EACCES';
      return { fd: -1, stat: facts(r.node) };
    },
    close() {},
    realpathOf: (_o, p) => {
      const r = lookup(p, true);
      return typeof r === 'string' ? r : r.real;
    },
    realpath(p) {
      const r = lookup(p, true);
      return typeof r === 'string' ? r : r.real;
    },
    lstat: (p) => stat(p, false),
    stat: (p) => stat(p, true),
    canSearch: (_d, st) => mayAccess(st, creds, X),
    canRead: (_p, st) => mayAccess(st, creds, R),
  };
}

