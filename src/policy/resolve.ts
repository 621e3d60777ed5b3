// Stage two: the canonical path meets the filesystem. The success path costs one open and one
// fstat (plus the real path of the descriptor when a symlink policy needs it, which the serving
// probe remembers for a second, fs/recent.ts); every
// anomaly — an errno, a symlink on the path, a directory — is then explained by the walk, so
// the refusal names the component and the bit that decided.
import { decision, type Decision, type TraceStep } from '../decision.js';
import type { Effective } from './effective.js';
import type { FsProbe, Opened } from '../fs/probe.js';
import { errnoReason, isUnder, walk } from './walk.js';
import { encodePath } from './url.js';

export interface ResolveInput {
  root: string;
  segments: readonly string[];
  trailingSlash: boolean;
  urlPath: string;
  query: string;
  effective: Effective;
  index: readonly string[];
  probe: FsProbe;
  trace?: TraceStep[] | undefined;
}

export interface Resolution {
  decision: Decision;
  /** For `allow`: the opened file. The caller owns the descriptor and must close it. */
  file?: { opened: Opened; fsPath: string };
  /** For `listing`: the directory to list. */
  dir?: { fsPath: string };
}

function errnoDecision(urlPath: string, fsPath: string, errno: string): Decision {
  const reason = errnoReason(errno);
  const verdict = reason === 'NOT_FOUND' || reason === 'PATH_INFO' ? 'notFound' : reason === 'FILE_PERMISSION' || reason === 'SYMLINK_BROKEN' ? 'deny' : 'error';
  const message =
    reason === 'FILE_PERMISSION' ? `file permissions deny server access: ${fsPath}` :
    reason === 'NOT_FOUND' ? `File does not exist: ${fsPath}` :
    reason === 'PATH_INFO' ? `File does not exist: ${fsPath} (a component is not a directory)` :
    reason === 'RESOURCES_EXHAUSTED' ? `cannot open ${fsPath}: ${errno} (out of file descriptors)` :
    `cannot open ${fsPath}: ${errno}`;
  return decision(verdict, reason, urlPath, message, { fsPath, errno });
}

/** Applies the symlink policy to an opened descriptor; undefined means allowed. */
function symlinkRefusal(inp: ResolveInput, segments: readonly string[], urlPath: string, opened: Opened, fsPath: string): Decision | undefined {
  const { probe, root, effective: eff } = inp;
  if (eff.symlinks === 'follow') return undefined;
  const real = probe.realpathOf(opened, fsPath);
  if (real === fsPath) return undefined;
  if (eff.symlinks === 'inside-root' && isUnder(real, root)) return undefined;
  // A link is on the path (or the file moved): the walk finds which one and judges it.
  const w = walk(root, segments, urlPath, eff.symlinks, eff.source.symlinks, probe);
  if (!w.ok) return w.decision;
  // SECURITY: the walk looks at the path as it is now; the descriptor was opened through the
  // path as it was. If a link was swapped in between, the walk can pass while the descriptor
  // went elsewhere: serve it only when the walk arrived at the very file the descriptor is.
  // A real path that could not be read (no /proc, and the lookup by name failed) is refused
  // too: the walk alone cannot vouch for the descriptor.
  if (!real.startsWith('/') || w.real !== real) {
    const reason = eff.symlinks === 'inside-root' ? 'SYMLINK_ESCAPES_ROOT' : eff.symlinks === 'deny' ? 'SYMLINK_DENIED' : 'SYMLINK_OWNER_MISMATCH';
    const opened = real.startsWith('/') ? `was opened as ${real}` : `was opened, but its real path cannot be read (${real})`;
    return decision('deny', reason, urlPath, `Symbolic link not allowed or link target not accessible: ${fsPath} ${opened}, but the path now leads to ${w.real} (it changed while it was checked)`, { fsPath, linkTarget: real, key: eff.source.symlinks });
  }
  return undefined;
}

function allowFile(urlPath: string, opened: Opened, fsPath: string): Resolution {
  return { decision: decision('allow', 'OK', urlPath, `serving ${fsPath}`, { fsPath }), file: { opened, fsPath } };
}

function directory(inp: ResolveInput, fsPath: string, readable: boolean): Resolution {
  const { urlPath, probe, effective: eff } = inp;
  if (!inp.trailingSlash) {
    const location = encodePath(inp.segments, true) + (inp.query ? '?' + inp.query : '');
    inp.trace?.push({ check: 'directory', detail: `${fsPath} is a directory requested without its trailing slash → 301 ${location}`, decided: true });
    const d = decision('redirect', 'DIRECTORY_REDIRECT', urlPath, `directory requested without trailing slash; redirecting to ${location}`, { fsPath });
    d.location = location;
    return { decision: d };
  }
  for (const name of inp.index) {
    const indexPath = `${fsPath}/${name}`;
    const segments = [...inp.segments, name];
    const indexUrl = urlPath + name;
    // Most directories have no index: once its open failed, a missing index is seen by an
    // lstat, which answers without an exception (fs/recent.ts).
    if (probe.recent?.openFailed(indexPath)) {
      const l = probe.lstat(indexPath);
      if (l === 'ENOENT' || l === 'ENOTDIR') {
        inp.trace?.push({ check: 'index', detail: `${indexPath}: ${l}` });
        continue;
      }
      probe.recent.forgetFailedOpen(indexPath);
    }
    const r = probe.open(indexPath);
    if (typeof r === 'string') {
      if (r === 'ENOENT' || r === 'ENOTDIR' || r === 'ENAMETOOLONG') {
        if (r !== 'ENAMETOOLONG') probe.recent?.rememberFailedOpen(indexPath);
        inp.trace?.push({ check: 'index', detail: `${indexPath}: ${r}` });
        continue;
      }
      if (r === 'EMFILE' || r === 'ENFILE') return { decision: errnoDecision(urlPath, indexPath, r) };
      const w = walk(inp.root, segments, indexUrl, eff.symlinks, eff.source.symlinks, probe);
      // An index that exists but cannot be read is a 403, never a fallback to a listing (Apache).
      const d = w.ok ? errnoDecision(urlPath, indexPath, r) : w.decision;
      d.urlPath = urlPath;
      inp.trace?.push({ check: 'index', detail: `${indexPath}: ${d.reason}`, decided: true });
      return { decision: d };
    }
    if (!r.stat.isFile()) {
      probe.close(r.fd);
      inp.trace?.push({ check: 'index', detail: `${indexPath} is not a regular file` });
      continue;
    }
    const refused = symlinkRefusal(inp, segments, indexUrl, r, indexPath);
    if (refused) {
      probe.close(r.fd);
      refused.urlPath = urlPath;
      return { decision: refused };
    }
    inp.trace?.push({ check: 'index', detail: `serving index ${indexPath}`, decided: true });
    return allowFile(urlPath, r, indexPath);
  }
  if (!eff.listing) {
    inp.trace?.push({ check: 'directory', detail: `no index (${inp.index.join(', ')}) and ${eff.source.listing} is off`, decided: true });
    return { decision: decision('deny', 'DIRECTORY_NO_INDEX', urlPath, `Cannot serve directory ${fsPath}/: No matching index (${inp.index.join(', ')}) found, and directory listing is off (${eff.source.listing})`, { fsPath, key: eff.source.listing }) };
  }
  if (!readable) {
    inp.trace?.push({ check: 'directory', detail: `listing is on but the directory cannot be read`, decided: true });
    return { decision: decision('deny', 'DIRECTORY_UNREADABLE', urlPath, `Can't open directory for index: ${fsPath}/ (EACCES)`, { fsPath, errno: 'EACCES' }) };
  }
  inp.trace?.push({ check: 'directory', detail: `no index; listing on (${eff.source.listing})`, decided: true });
  return { decision: decision('listing', 'LISTING', urlPath, `listing ${fsPath}/`, { fsPath }), dir: { fsPath } };
}

export function resolve(inp: ResolveInput): Resolution {
  const { root, segments, urlPath, probe, effective: eff } = inp;
  const fsPath = segments.length ? root + '/' + segments.join('/') : root;
  // explain: record every component once; later walks on this request add no trace lines.
  if (inp.trace) walk(root, segments, urlPath, eff.symlinks, eff.source.symlinks, probe, inp.trace);
  const recent = probe.recent;
  if (recent?.openFailed(fsPath)) {
    // Refused a moment ago: the walk answers first, as it would after a failed open, without
    // the exception that open costs. A path it now finds is opened as usual (fs/recent.ts).
    const w = walk(root, segments, urlPath, eff.symlinks, eff.source.symlinks, probe);
    if (!w.ok) return { decision: w.decision };
    if (!inp.trailingSlash && recent.stillUnreadable(fsPath, w.stat)) return { decision: errnoDecision(urlPath, fsPath, 'EACCES') };
    recent.forgetFailedOpen(fsPath);
  }
  const r = probe.open(fsPath);
  if (typeof r === 'string') {
    if (r === 'EMFILE' || r === 'ENFILE' || r === 'ENAMETOOLONG') return { decision: errnoDecision(urlPath, fsPath, r) };
    const w = walk(root, segments, urlPath, eff.symlinks, eff.source.symlinks, probe);
    if (!w.ok) {
      recent?.rememberFailedOpen(fsPath);
      return { decision: w.decision };
    }
    // Everything on the way is searchable and allowed, so the object itself refused the open.
    if (w.stat.isDirectory()) return directory(inp, fsPath, false);
    if (inp.trailingSlash && segments.length) return { decision: errnoDecision(urlPath, fsPath + '/', 'ENOTDIR') };
    if (r === 'EACCES' && w.stat.isFile()) recent?.rememberFailedOpen(fsPath, w.stat);
    return { decision: errnoDecision(urlPath, fsPath, r) };
  }
  const refused = symlinkRefusal(inp, segments, urlPath, r, fsPath);
  if (refused) {
    probe.close(r.fd);
    return { decision: refused };
  }
  if (r.stat.isDirectory()) {
    probe.close(r.fd);
    return directory(inp, fsPath, true);
  }
  if (inp.trailingSlash && segments.length) {
    probe.close(r.fd);
    return { decision: errnoDecision(urlPath, fsPath + '/', 'ENOTDIR') };
  }
  if (!r.stat.isFile()) {
    probe.close(r.fd);
    return { decision: decision('deny', 'NOT_REGULAR_FILE', urlPath, `Forbidden: ${fsPath} doesn't point to a file or directory`, { fsPath }) };
  }
  inp.trace?.push({ check: 'file', detail: `${fsPath} opened for reading`, decided: true });
  return allowFile(urlPath, r, fsPath);
}
