// Apache's merge and authorization for .htaccess directives. Pure: the parsed files along the
// path (root first) and the client in; the access verdict and the settings that apply out.
//
// Merging follows Apache 2.4's defaults: a deeper directory's Require lines replace its
// parent's (AuthMerging Off); Options +/- edit and bare Options replace; DirectoryIndex,
// ErrorDocument and the Auth* directives are inherited until overridden; <Files>/<FilesMatch>
// sections apply after the directory's own directives, in file order.
// Authorization follows mod_authz_core: Require lines at the top are an implicit <RequireAny>,
// and user-based lines yield "denied, no user" until a user is known, which is what makes the
// difference between 401 (who are you?) and 403 (no).
import { parseCidr } from '../config/schema.js';
import { parseAddr, type Addr } from '../policy/ip.js';
import type { Authz, Directives, Legacy, Parsed } from './parse.js';
import type ipaddr from 'ipaddr.js';

export type AuthzResult = 'granted' | 'denied' | 'denied-no-user' | 'neutral';

export interface HtFile {
  parsed: Parsed;
  /** The directory it sits in, absolute. */
  dir: string;
}

export interface Merged {
  require: Authz[] | undefined;
  requireFrom: string | undefined;
  legacy: Legacy | undefined;
  indexes: boolean | undefined;
  followSymlinks: boolean | undefined;
  ownerMatch: boolean | undefined;
  directoryIndex: string[] | undefined;
  errorDocuments: Record<string, { path: string } | { text: string }>;
  auth: { type?: string | undefined; name?: string | undefined; userFile?: string | undefined; groupFile?: string | undefined; dir?: string | undefined };
  /** Files whose directives applied, for traces. */
  sources: string[];
  errors: { file: string; line: number; message: string }[];
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) re += ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  return new RegExp(`^${re}$`, 's');
}

function apply(m: Merged, d: Directives, file: string, dir: string): void {
  if (d.require) {
    m.require = d.require;
    m.requireFrom = file;
  }
  if (d.legacy) {
    const prev = m.legacy ?? { allow: [], deny: [] };
    const next: Legacy = { allow: d.legacy.allow.length ? d.legacy.allow : prev.allow, deny: d.legacy.deny.length ? d.legacy.deny : prev.deny };
    const order = d.legacy.order ?? prev.order;
    const satisfy = d.legacy.satisfy ?? prev.satisfy;
    if (order) next.order = order;
    if (satisfy) next.satisfy = satisfy;
    m.legacy = next;
  }
  for (const o of d.options ?? []) {
    if (o.replace) {
      const all = o.set.all === true;
      m.indexes = all || o.set.indexes === true;
      m.followSymlinks = all || o.set.followsymlinks === true;
      m.ownerMatch = o.set.symlinksifownermatch === true;
    } else {
      if (o.set.indexes !== undefined) m.indexes = o.set.indexes;
      if (o.set.followsymlinks !== undefined) m.followSymlinks = o.set.followsymlinks;
      if (o.set.symlinksifownermatch !== undefined) m.ownerMatch = o.set.symlinksifownermatch;
    }
  }
  if (d.directoryIndex) m.directoryIndex = d.directoryIndex;
  Object.assign(m.errorDocuments, d.errorDocuments);
  if (d.auth.type !== undefined) m.auth.type = d.auth.type;
  if (d.auth.name !== undefined) m.auth.name = d.auth.name;
  if (d.auth.userFile !== undefined) m.auth = { ...m.auth, userFile: d.auth.userFile, dir };
  if (d.auth.groupFile !== undefined) m.auth.groupFile = d.auth.groupFile;
}

/** Merges the files along the path (root first); `basename` selects <Files> sections. */
export function merge(files: readonly HtFile[], basename: string | undefined): Merged {
  const m: Merged = { require: undefined, requireFrom: undefined, legacy: undefined, indexes: undefined, followSymlinks: undefined, ownerMatch: undefined, directoryIndex: undefined, errorDocuments: {}, auth: {}, sources: [], errors: [] };
  for (const f of files) {
    m.sources.push(f.parsed.file);
    for (const e of f.parsed.errors) m.errors.push({ file: f.parsed.file, ...e });
    apply(m, f.parsed.directives, f.parsed.file, f.dir);
  }
  if (basename !== undefined) {
    for (const f of files) {
      for (const s of f.parsed.directives.files) {
        let hit = false;
        try {
          hit = 'glob' in s.match ? globToRegExp(s.match.glob).test(basename) : new RegExp(s.match.regex).test(basename);
        } catch {
          hit = false;
        }
        if (hit) apply(m, s.directives, f.parsed.file, f.dir);
      }
    }
  }
  return m;
}

/** Apache's host forms for Require ip / Allow from: full addresses, CIDRs, netmasks and partial IPv4 prefixes. */
export function hostMatches(spec: string, addr: Addr | undefined): boolean | 'unsupported' {
  if (spec.toLowerCase() === 'all') return true;
  if (!addr) return false;
  let range = parseCidr(spec);
  const mask = /^(\d+\.\d+\.\d+\.\d+)\/(\d+\.\d+\.\d+\.\d+)$/.exec(spec);
  if (!range && mask) {
    const bits = mask[2]!.split('.').map(Number).reduce((n, o) => n + ((o >>> 0).toString(2).match(/1/g)?.length ?? 0), 0);
    range = parseCidr(`${mask[1]}/${bits}`);
  }
  if (!range && /^\d{1,3}(\.\d{1,3}){0,2}\.?$/.test(spec)) {
    const parts = spec.replace(/\.$/, '').split('.');
    range = parseCidr(`${[...parts, ...Array(4 - parts.length).fill('0')].join('.')}/${parts.length * 8}`);
  }
  if (!range) return 'unsupported';
  const [net, bits] = range;
  return net.kind() === addr.kind() && (addr as ipaddr.IPv4).match(net as ipaddr.IPv4, bits);
}

function evalNode(n: Authz, client: Addr | undefined, user: string | undefined, groups: ReadonlySet<string>): AuthzResult {
  const neg = (r: AuthzResult, negate: boolean): AuthzResult => (!negate ? r : r === 'granted' ? 'denied' : r === 'denied' ? 'neutral' : r);
  switch (n.kind) {
    case 'all':
      return n.granted ? 'granted' : 'denied';
    case 'ip':
      return neg(n.cidrs.some((c) => hostMatches(c, client) === true) ? 'granted' : 'denied', n.negate);
    case 'valid-user':
      return neg(user === undefined ? 'denied-no-user' : 'granted', n.negate);
    case 'user':
      return neg(user === undefined ? 'denied-no-user' : n.names.includes(user) ? 'granted' : 'denied', n.negate);
    case 'group':
      return neg(user === undefined ? 'denied-no-user' : n.names.some((g) => groups.has(g)) ? 'granted' : 'denied', n.negate);
    case 'container':
      return evalContainer(n.op, n.children, client, user, groups);
  }
}

export function evalContainer(op: 'all' | 'any' | 'none', children: readonly Authz[], client: Addr | undefined, user: string | undefined, groups: ReadonlySet<string>): AuthzResult {
  const rs = children.map((c) => evalNode(c, client, user, groups));
  if (op === 'none') return rs.includes('granted') ? 'denied' : rs.includes('denied-no-user') ? 'denied-no-user' : 'neutral';
  if (op === 'any') return rs.includes('granted') ? 'granted' : rs.includes('denied-no-user') ? 'denied-no-user' : rs.includes('denied') ? 'denied' : 'neutral';
  return rs.includes('denied') ? 'denied' : rs.includes('denied-no-user') ? 'denied-no-user' : rs.includes('granted') ? 'granted' : 'neutral';
}

/** mod_access_compat's Order/Allow/Deny: true when the host is allowed. */
export function legacyAllows(l: Legacy, clientText: string): boolean {
  const addr = parseAddr(clientText);
  const allowed = l.allow.some((h) => hostMatches(h, addr) === true);
  const denied = l.deny.some((h) => hostMatches(h, addr) === true);
  switch (l.order ?? 'deny,allow') {
    case 'allow,deny':
      return allowed && !denied;
    case 'mutual-failure':
      return allowed && !denied;
    default:
      return !denied || allowed;
  }
}

export interface Verdict {
  result: AuthzResult;
  detail: string;
}

/**
 * Access for one request: the legacy host check (with Satisfy) and the Require tree. `user`
 * is undefined until credentials are verified. Mixed legacy and Require: both must grant,
 * unless `Satisfy Any`, where either the host or the Require tree suffices.
 */
export function authorize(m: Merged, clientText: string, user: string | undefined, groups: ReadonlySet<string>): Verdict {
  const client = parseAddr(clientText);
  const hostOk = m.legacy && (m.legacy.allow.length || m.legacy.deny.length || m.legacy.order) ? legacyAllows(m.legacy, clientText) : undefined;
  const tree: AuthzResult = m.require ? evalContainer('any', m.require, client, user, groups) : 'granted';
  const treeResult: AuthzResult = tree === 'neutral' ? 'denied' : tree;
  if (m.legacy?.satisfy === 'any' && hostOk !== undefined) {
    if (hostOk) return { result: 'granted', detail: `host ${clientText} allowed by Allow/Deny (Satisfy Any)` };
    return { result: treeResult, detail: `host not allowed by Allow/Deny; Require gives ${treeResult} (Satisfy Any)` };
  }
  if (hostOk === false) return { result: 'denied', detail: `host ${clientText} refused by Order/Allow/Deny` };
  if (!m.require) return { result: 'granted', detail: 'no Require applies' };
  return { result: treeResult, detail: `Require (${m.requireFrom}) gives ${treeResult}` };
}
