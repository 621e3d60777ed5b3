// The component walk: lstat each segment from the root down, applying the symlink policy and
// search permission one directory at a time. The server never walks to serve a success (the
// kernel already checks every component on open); it walks to explain a refusal, to apply a
// symlink policy once a link is known to be on the path, and `explain` walks always.
import { decision, type Decision, type TraceStep } from '../decision.js';
import type { ReasonName } from '../reasons.js';
import type { SymlinkPolicy } from '../config/schema.js';
import type { FileFacts, FsProbe } from '../fs/probe.js';
import { formatMode } from './perms.js';

export type WalkResult = { ok: true; real: string; stat: FileFacts } | { ok: false; decision: Decision };

export function isUnder(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : root + '/');
}

function ancestors(dir: string): string[] {
  const out = ['/'];
  let acc = '';
  for (const part of dir.split('/').filter(Boolean)) out.push((acc += '/' + part));
  return out;
}

/** The first directory on the way to `dir` (inclusive) that the judged user may not search. */
export function firstUnsearchable(dir: string, probe: FsProbe): { path: string; stat: FileFacts | undefined } | undefined {
  for (const a of ancestors(dir)) {
    const st = probe.stat(a);
    if (typeof st === 'string') return { path: a, stat: undefined };
    if (!probe.canSearch(a, st)) return { path: a, stat: st };
  }
  return undefined;
}

function judged(probe: FsProbe): string {
  return probe.judge === 'kernel' ? 'the server' : `uid ${probe.judge.uid}`;
}

export function errnoReason(errno: string): ReasonName {
  switch (errno) {
    case 'ENOENT':
    case 'ENAMETOOLONG':
      return 'NOT_FOUND';
    case 'ENOTDIR':
      return 'PATH_INFO';
    case 'EACCES':
    case 'EPERM':
      return 'FILE_PERMISSION';
    case 'ELOOP':
      return 'SYMLINK_BROKEN';
    case 'EMFILE':
    case 'ENFILE':
      return 'RESOURCES_EXHAUSTED';
    default:
      return 'INTERNAL';
  }
}

export function searchDenied(urlPath: string, dir: string, st: FileFacts | undefined, probe: FsProbe, fsPath: string): Decision {
  const evidence = st ? { fsPath: dir, errno: 'EACCES', mode: formatMode(st.mode), uid: st.uid, gid: st.gid } : { fsPath: dir, errno: 'EACCES' };
  return decision('deny', 'SEARCH_PERMISSION', urlPath, `access to ${urlPath} denied (filesystem path '${fsPath}') because search permissions are missing on a component of the path: ${judged(probe)} may not search ${dir}`, evidence);
}

/**
 * The deepest directory on the way to the target (not the target itself) that the serving probe
 * saw, within its bound, as searchable and reached without a link; the walk may start there.
 */
function resumeAt(root: string, segments: readonly string[], probe: FsProbe): { dir: string; depth: number } | undefined {
  const recent = probe.recent;
  if (recent === undefined) return undefined;
  let dir = segments.length > 1 ? root + '/' + segments.slice(0, -1).join('/') : root;
  for (let depth = segments.length - 1; depth >= 0; depth--) {
    if (recent.isPlainDir(dir)) return { dir, depth };
    dir = dir.slice(0, dir.lastIndexOf('/'));
  }
  return undefined;
}

export function walk(root: string, segments: readonly string[], urlPath: string, policy: SymlinkPolicy, policyKey: string, probe: FsProbe, trace?: TraceStep[]): WalkResult {
  const target = segments.length ? root + '/' + segments.join('/') : root;
  // explain always walks from the root: its trace names every component.
  const resume = trace === undefined && segments.length > 0 ? resumeAt(root, segments, probe) : undefined;
  let cur = root;
  let node: FileFacts | undefined;
  let start = 0;
  if (resume) {
    cur = resume.dir;
    start = resume.depth;
  } else {
    const rootStat = probe.stat(root);
    if (typeof rootStat === 'string') {
      const blocked = rootStat === 'EACCES' ? firstUnsearchable(root, probe) : undefined;
      if (blocked) return { ok: false, decision: searchDenied(urlPath, blocked.path, blocked.stat, probe, target) };
      return { ok: false, decision: decision('error', errnoReason(rootStat), urlPath, `document root ${root}: ${rootStat}`, { fsPath: root, errno: rootStat }) };
    }
    node = rootStat;
    trace?.push({ check: 'path', detail: `${root} ${formatMode(rootStat.mode)} uid ${rootStat.uid} gid ${rootStat.gid} (document root)` });
  }
  // No link followed yet: a directory found searchable here is plain, for the next walk. A
  // resumed walk stands on a remembered fact, so it remembers nothing new (the memory must
  // not outlive its bound by being passed down a level at a time).
  let plain = resume === undefined;
  for (let i = start; i < segments.length; i++) {
    if (node !== undefined) {
      if (!node.isDirectory()) {
        return { ok: false, decision: decision('notFound', 'PATH_INFO', urlPath, `File does not exist: ${target} (${cur} is not a directory)`, { fsPath: cur, errno: 'ENOTDIR' }) };
      }
      if (!probe.canSearch(cur, node)) {
        const blocked = firstUnsearchable(cur, probe) ?? { path: cur, stat: node };
        trace?.push({ check: 'path', detail: `${blocked.path}: ${judged(probe)} may not search it` });
        return { ok: false, decision: searchDenied(urlPath, blocked.path, blocked.stat, probe, target) };
      }
      if (plain) probe.recent?.rememberPlainDir(cur);
    }
    const p = cur + '/' + segments[i]!;
    const l = probe.lstat(p);
    if (typeof l === 'string') {
      if (l === 'EACCES') {
        const blocked = firstUnsearchable(cur, probe) ?? { path: cur, stat: node };
        return { ok: false, decision: searchDenied(urlPath, blocked.path, blocked.stat, probe, target) };
      }
      const reason = errnoReason(l);
      const verdict = reason === 'NOT_FOUND' || reason === 'PATH_INFO' ? 'notFound' : reason === 'RESOURCES_EXHAUSTED' || reason === 'INTERNAL' ? 'error' : 'deny';
      trace?.push({ check: 'path', detail: `${p}: ${l}` });
      return { ok: false, decision: decision(verdict, reason, urlPath, `File does not exist: ${p}${l === 'ENOENT' ? '' : ` (${l})`}`, { fsPath: p, errno: l }) };
    }
    if (l.isSymbolicLink()) {
      if (policy === 'deny') {
        trace?.push({ check: 'symlink', detail: `${p} is a symbolic link; ${policyKey} is "deny"`, decided: true });
        return { ok: false, decision: decision('deny', 'SYMLINK_DENIED', urlPath, `Symbolic link not allowed or link target not accessible: ${p} (${policyKey} is "deny")`, { fsPath: p, key: policyKey }) };
      }
      const t = probe.stat(p);
      const real = probe.realpath(p);
      if (typeof t === 'string' || typeof real === 'string' && !real.startsWith('/')) {
        const errno = typeof t === 'string' ? t : String(real);
        trace?.push({ check: 'symlink', detail: `${p} is a symbolic link whose target cannot be reached (${errno})`, decided: true });
        return { ok: false, decision: decision('deny', 'SYMLINK_BROKEN', urlPath, `Symbolic link not allowed or link target not accessible: ${p} (${errno})`, { fsPath: p, errno }) };
      }
      const realPath = real as string;
      if (policy === 'owner-match' && l.uid !== t.uid) {
        trace?.push({ check: 'symlink', detail: `${p} (uid ${l.uid}) → ${realPath} (uid ${t.uid}): owners differ; ${policyKey} is "owner-match"`, decided: true });
        return { ok: false, decision: decision('deny', 'SYMLINK_OWNER_MISMATCH', urlPath, `Symbolic link not allowed or link target not accessible: ${p} (owner uid ${l.uid}, target ${realPath} owner uid ${t.uid})`, { fsPath: p, linkTarget: realPath, uid: l.uid, key: policyKey }) };
      }
      if (policy === 'inside-root' && !isUnder(realPath, root)) {
        trace?.push({ check: 'symlink', detail: `${p} → ${realPath}: outside the root; ${policyKey} is "inside-root"`, decided: true });
        return { ok: false, decision: decision('deny', 'SYMLINK_ESCAPES_ROOT', urlPath, `Symbolic link not allowed or link target not accessible: ${p} resolves to ${realPath}, outside the document root`, { fsPath: p, linkTarget: realPath, key: policyKey }) };
      }
      trace?.push({ check: 'symlink', detail: `${p} → ${realPath}: allowed by ${policyKey} "${policy}"` });
      cur = realPath;
      node = t;
      plain = false;
    } else {
      cur = p;
      node = l;
      trace?.push({ check: 'path', detail: `${p} ${formatMode(l.mode)} uid ${l.uid} gid ${l.gid}` });
    }
  }
  // A resumed walk starts above the target, so the loop has looked at least at its last component.
  return { ok: true, real: cur, stat: node! };
}
