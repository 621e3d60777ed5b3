// Gathering a directory listing: read the directory in batches, stat each entry, and filter it
// through the same policy the server applies to a click on it, so a listing never shows what a
// request would hide, and marks what a request would refuse.
//
// Each entry is judged as this client's click on it would be: with the request's headers
// (filters, credentials) and, with `htaccess` on, the .htaccess files along its path.
//   - hidden or ignored → left out: a dotfile under `dotfiles: deny` or `ignore` (Apache's
//     IndexIgnore .??*), anything a click would answer 404 (a 403 masked by a rule's `hide` or
//     by hideForbidden), behind a login the client has not given (401, as Apache's autoindex
//     leaves out), under a broken .htaccess (500), and a name that vanished while read;
//   - refused → listed with `denied: true` (or left out with `listingDenied: 'omit'`): a path
//     rule, IP ACL or .htaccess that refuses it, a user the login does not admit, a file the
//     process cannot read, a directory it cannot search, a symbolic link the symlink policy
//     refuses or that dangles, a FIFO or device;
//   - everything else → listed.
// Credentials an entry asks for and the server has not checked yet are checked once (then
// remembered, as for any request); a wrong one met while listing counts as no failed login.
//
// Readability is judged from each entry's mode bits and the server's uid and groups, as the
// kernel does for a file without ACLs; where the bits refuse, access(2) asks the kernel, which
// may grant through an ACL or a capability. So the mark can miss only a refusal by an ACL entry
// or a security module on an entry whose bits allow it: the click itself is always judged by
// the kernel (and `explain` shows why). Apache and nginx do not mark entries at all.
//
// Large directories: names come READ_BATCH at a time, and the synchronous work (the policy
// preflight, one stat per entry) runs in slices of at most SLICE_MS before yielding to the
// event loop, so other requests are served while 10,000 entries are judged
// (bench/listing.mjs measures it).
import * as fs from 'node:fs';
import type { Config } from '../config/load.js';
import { preflight, type AuthPending, type AuthState, type RequestFacts } from '../policy/request.js';
import type { AuthVerifier } from '../auth/verifier.js';
import { htaccessStage } from '../htaccess/stage.js';
import { defaultReader } from '../htaccess/reader.js';
import { effectiveFor, type Effective } from '../policy/effective.js';
import { walk } from '../policy/walk.js';
import { kernelProbe, quietly } from '../fs/probe.js';
import { mayAccess, R, X, type Creds } from '../policy/perms.js';
import { SLICE_MS, yieldToEventLoop, type ListingEntry } from '../listing/autoindex.js';

/**
 * Names handed to JavaScript per readdir batch (the C library reads the directory 32 KiB at a
 * time either way). Small on purpose: Dir#readSync takes each name off the front of its batch
 * array, which costs more the longer the array; 32 measured cheapest, and fs.readdir (which
 * also sorts the names, in the thread pool) dearer than either.
 */
const READ_BATCH = 32;

/**
 * Listings built at once; the rest wait their turn. Fifty listings built side by side (each
 * yielding every SLICE_MS) finish no sooner than one after another, yet hold fifty sets of
 * entries across garbage collections; a few at a time also keep one huge directory from
 * holding every other listing up.
 */
export const LISTINGS_AT_ONCE = 4;

/** A counting semaphore, first come first served. */
export class Turns {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  take(): Promise<void> | undefined {
    if (this.running < this.limit) {
      this.running++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  /** Hands the turn to the next in line (who then runs), or frees it. */
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

export type ListingResult = { ok: true; entries: ListingEntry[] } | { ok: false; errno: string };

export interface ListingInput {
  config: Config;
  fsPath: string;
  /** Canonical URL path of the directory, ending in '/'. */
  urlPath: string;
  peer: string;
  forwardedFor: string | undefined;
  /** The listing request's headers: each entry is judged as this client's click on it would be. */
  headers?: RequestFacts['headers'];
  /** The server's verified credentials, so a logged-in client's entries are judged logged in. */
  auth?: AuthVerifier;
}

interface Context {
  inp: ListingInput;
  /** The directory's canonical segments. */
  segments: string[];
  /** The directory's path, percent-encoded, ending in '/': a child's request target is this plus its encoded name. */
  targetPrefix: string;
  omitDenied: boolean;
  /**
   * The settings every entry shares when no rule, IP list, ban or .htaccess can tell one child
   * from another: then only the dotfile rule is left to judge per entry, without a preflight.
   */
  plain: Effective | undefined;
  /** Every entry's verdict when `plain` is set: listed, unmarked, under those settings. */
  plainVerdict: PolicyVerdict | undefined;
  /** Who the server runs as, for the mode bits of each entry. */
  creds: Creds;
  auth: AuthState | undefined;
  verifier: AuthVerifier | undefined;
  authorization: string | undefined;
}

const encodeSegment = (s: string): string => encodeURIComponent(s);

/** `path`: the canonical URL path the link leads to; undefined where the caller can build it. */
type PolicyVerdict =
  | { omit: true }
  | { omit: false; denied: boolean; effective: Effective | undefined; path: string | undefined }
  /** Credentials the entry asks for, not verified yet: verify them, then judge it again. */
  | { verify: AuthPending };

const OMIT = Object.freeze({ omit: true as const });

/**
 * The checks a click on the entry would meet before the filesystem (URL, IP ACL, path rules,
 * dotfiles, filters, login, .htaccess), for the URL its link has: a directory's ends in `/`. The target is percent-encoded, because the
 * canonical path is decoded and a name may hold `%`, `?` or `#`.
 */
function policyFor(ctx: Context, name: string, isDir: boolean): PolicyVerdict {
  if (ctx.plain) {
    if (name.startsWith('.') && ctx.plain.dotfiles !== 'allow') return OMIT;
    return ctx.plainVerdict!;
  }
  try {
    return judgedByPolicy(ctx, name, isDir);
  } catch {
    return OMIT; // a password file that cannot be read, say: the click would be a 500
  }
}

function judgedByPolicy(ctx: Context, name: string, isDir: boolean): PolicyVerdict {
  const { inp } = ctx;
  const target = ctx.targetPrefix + encodeSegment(name) + (isDir ? '/' : '');
  const pre = preflight({ method: 'GET', target, peer: inp.peer, forwardedFor: inp.forwardedFor, headers: inp.headers }, inp.config, false, ctx.auth);
  if (pre.done) {
    if (pre.authPending && ctx.verifier) return { verify: pre.authPending };
    const d = pre.decision;
    // Hidden (a masked 403), ignored (404), a dotfile under "deny", or behind a login this
    // client has not given (401): never listed, as Apache's autoindex leaves them out.
    if (d.masked || d.status !== 403 || d.reason === 'DOTFILE_DENIED') return OMIT;
    return { omit: false, denied: true, effective: undefined, path: d.urlPath }; // a rule or an IP ACL refuses it: listed, marked
  }
  if (inp.config.data.htaccess) {
    // The .htaccess files along the entry's path, as the click would meet them (the stage
    // also applies their Options to the settings the symlink check below uses).
    const ht = htaccessStage({
      config: inp.config, segments: pre.segments, trailingSlash: pre.trailingSlash, urlPath: pre.path, client: pre.client.client,
      authorization: ctx.authorization, effective: pre.effective, auth: ctx.auth, reader: defaultReader, trace: undefined,
    });
    if (ht.done) {
      if (ht.authPending && ctx.verifier) return { verify: ht.authPending };
      // Refused (403) is marked; hidden, behind a login, or a broken .htaccess (500) is left out.
      if (ht.decision.status !== 403 || pre.effective.hide) return OMIT;
      return { omit: false, denied: true, effective: undefined, path: pre.path };
    }
  }
  return { omit: false, denied: false, effective: pre.effective, path: pre.path };
}

/** Judging entries is not a login: a password that fails in another realm counts no failure. */
function judgingOnly(a: AuthState): AuthState {
  return {
    lookup: (file, user, password) => a.lookup(file, user, password),
    groupsOf: (file, user) => a.groupsOf(file, user),
    recordFailure: () => undefined,
    retryAfter: (client) => a.retryAfter(client),
  };
}

/** Undefined: leave the entry out. */
function judgeEntry(ctx: Context, dirent: fs.Dirent): ListingEntry | { verify: AuthPending } | undefined {
  const { inp } = ctx;
  const name = dirent.name;
  let policy = policyFor(ctx, name, dirent.isDirectory());
  if ('verify' in policy) return policy;
  if (policy.omit) return undefined;

  const full = inp.fsPath + '/' + name;
  let denied = false;
  let st: fs.Stats | undefined;
  let isDir: boolean;
  let size = -1;
  let mtimeMs = Number.NaN;
  try {
    st = fs.statSync(full, { throwIfNoEntry: false });
  } catch {
    st = undefined; // EACCES, ELOOP…: judged below
  }
  if (st !== undefined) {
    isDir = st.isDirectory();
    size = st.size;
    mtimeMs = st.mtimeMs;
    if (!isDir && !st.isFile()) denied = true; // FIFO, socket, device: keycard never serves them
  } else {
    // A dangling or looping link, or a directory the process may read but not search.
    let l: fs.Stats | undefined;
    try {
      l = fs.lstatSync(full, { throwIfNoEntry: false });
      if (l === undefined) return undefined; // vanished while listing
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') return undefined;
      // Not searchable: the name is known, its size and time are not.
    }
    isDir = l !== undefined ? l.isDirectory() : dirent.isDirectory();
    if (l !== undefined) {
      mtimeMs = l.mtimeMs;
      if (!l.isSymbolicLink()) size = l.size; // a link's own size is not what a click would get
    }
    denied = true;
  }
  if (isDir && !dirent.isDirectory()) {
    // A link to a directory (or a file system without d_type): its link ends in '/'.
    policy = policyFor(ctx, name, true);
    if ('verify' in policy) return policy;
    if (policy.omit) return undefined;
  }
  const eff = policy.effective;
  denied ||= policy.denied;
  const hide = eff?.hide ?? false;

  if (!denied && eff && dirent.isSymbolicLink() && eff.symlinks !== 'follow') {
    // The symlink policy, judged by the same walk a click would trigger.
    const w = walk(inp.config.root, [...ctx.segments, name], policy.path ?? inp.urlPath + name + (isDir ? '/' : ''), eff.symlinks, eff.source.symlinks, kernelProbe);
    if (!w.ok) {
      if (w.decision.status === 404) return undefined;
      denied = true;
    }
  }
  if (!denied && (ctx.creds.uid === 0 || !mayAccess(st!, ctx.creds, isDir ? X : R))) {
    // The mode bits refuse it; the kernel has the last word (an ACL entry or a capability may
    // grant what the bits do not). A root server always asks: it may lack CAP_DAC_OVERRIDE, or
    // sit on an NFS export that squashes root.
    try {
      quietly(() => fs.accessSync(full, isDir ? fs.constants.X_OK : fs.constants.R_OK));
    } catch {
      denied = true;
    }
  }
  if (denied && (hide || ctx.omitDenied)) return undefined; // a click would be a 404, or the config says omit
  const entry: ListingEntry = { name, isDir, size, mtimeMs };
  if (denied) entry.denied = true;
  return entry;
}

export async function gatherListing(inp: ListingInput): Promise<ListingResult> {
  let dir: fs.Dir;
  try {
    dir = fs.opendirSync(inp.fsPath, { bufferSize: READ_BATCH });
  } catch (err) {
    return { ok: false, errno: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  }
  const segments = inp.urlPath.split('/').filter((s) => s !== '');
  const ctx: Context = {
    inp,
    segments,
    targetPrefix: '/' + segments.map((s) => encodeSegment(s) + '/').join(''),
    omitDenied: inp.config.data.listingDenied === 'omit',
    plain: undefined,
    plainVerdict: undefined,
    creds: { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, groups: process.getgroups?.() ?? [] },
    auth: inp.auth && judgingOnly(inp.auth),
    verifier: inp.auth,
    authorization: typeof inp.headers?.['authorization'] === 'string' ? inp.headers['authorization'] : undefined,
  };
  const c = inp.config;
  if (c.rules.length === 0 && c.ipAllow.size === 0 && c.ipDeny.size === 0 && !c.bans && !c.data.htaccess) {
    ctx.plain = effectiveFor(c, inp.urlPath);
    ctx.plainVerdict = { omit: false, denied: false, effective: ctx.plain, path: undefined };
  }
  const entries: ListingEntry[] = [];
  try {
    let started = performance.now();
    for (let dirent = dir.readSync(); dirent !== null; dirent = dir.readSync()) {
      let e = judgeEntry(ctx, dirent);
      if (e !== undefined && 'verify' in e) {
        // One password check (then remembered by the server), as the click would make.
        const { file, user, password } = e.verify;
        const checked = await ctx.verifier!.verify(file, user, password).then(() => true, () => false);
        e = checked ? judgeEntry(ctx, dirent) : undefined;
        if (e !== undefined && 'verify' in e) e = undefined;
      }
      if (e) entries.push(e);
      if (performance.now() - started >= SLICE_MS) {
        await yieldToEventLoop();
        started = performance.now();
      }
    }
  } catch (err) {
    return { ok: false, errno: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  } finally {
    dir.closeSync();
  }
  return { ok: true, entries };
}
