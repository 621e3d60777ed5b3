// What `keycard export apache` and `keycard export nginx` share: the rule globs as PCRE, the
// header plan (which value wins where), CIDRs in plain form, and the notes both targets carry.
// Pure: a Config in, plain data out; nothing here touches the filesystem.
//
// Rule matching. keycard tests a rule's compiled RegExp (minimatch) against the canonical path P,
// and also against P + "/" when P has no trailing slash, so `/private/**` covers `/private`
// (policy/effective.ts ruleMatches). Neither Apache nor nginx can append a character to the
// string a regex sees, but both can build the string: Apache's `'%{REQUEST_URI}/'` and nginx's
// `map "$uri/"`. So each rule becomes one regex over S = P + "/":
//
//   ^(?: (?:A)/\z  |  (?![\s\S]*//\z)(?:B) )
//
// where A is the rule's pattern with `$` read as "just before the final slash" (it matched P)
// and B is the pattern with `$` as the end (it matched P + "/", and P did not end in "/").
// JavaScript's `$` (no m flag) is PCRE's `\z`, and its `.` excludes CR and LF where PCRE's
// excludes only LF, so both are rewritten; everything else minimatch emits is valid PCRE.
import type { CompiledRule, Config } from '../config/load.js';
import { parseCidr } from '../config/schema.js';

/** A `# keycard: …` line for the generated text. */
export function note(text: string): string {
  return `# keycard: ${text}`;
}

/**
 * The rule's RegExp source rewritten for PCRE: `$` outside a character class becomes `dollar`,
 * `.` outside a class becomes what JavaScript means by it.
 */
function toPcre(re: RegExp, dollar: string, hex: string): string {
  const src = re.source;
  const esc = (c: string): string => (c.length === 1 && hex.includes(c) ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c);
  const dot = re.flags.includes('s') ? '[\\s\\S]' : '[^\\n\\r]';
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const next = src[i + 1] ?? '';
      out += next.length === 1 && hex.includes(next) ? esc(next) : c + next;
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += esc(c);
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (src[i + 1] === '^') out += src[++i];
    } else if (c === '$') out += dollar;
    else if (c === '.') out += dot;
    else out += esc(c);
  }
  return out;
}

/**
 * PCRE that matches the canonical path P exactly when the rule's own RegExp does. Characters in
 * `hex` (quotes, a delimiter) are written as `\xNN`, so the regex can sit in any quoting.
 */
export function pathRegex(rule: CompiledRule, hex = ''): string {
  return toPcre(rule.re, '\\z', hex);
}

/**
 * PCRE over S = P + "/" that matches exactly when keycard applies the rule to P: the rule's
 * RegExp matches P, or P without its trailing slash, or (P having none) P + "/".
 */
export function coverRegex(rule: CompiledRule, hex = ''): string {
  const a = toPcre(rule.re, '(?=/\\z)', hex);
  const b = toPcre(rule.re, '\\z', hex);
  const c = toPcre(rule.re, '(?=//\\z)', hex);
  return `^(?:(?:${a})/\\z|(?![\\s\\S]*//\\z)(?:${b})|(?:${c})//\\z)`;
}

/** Notes for a glob the targets match differently (they see bytes, keycard UTF-16 units). */
export function globNotes(rule: CompiledRule): string[] {
  const out: string[] = [];
  if (rule.re.flags.includes('u') || (/[^\x00-\x7f]/.test(rule.glob) && /[?[]/.test(rule.glob))) {
    out.push(`rules[${rule.index}] ${JSON.stringify(rule.glob)} uses Unicode classes or "?" next to non-ASCII text: the target matches bytes of UTF-8, keycard characters`);
  }
  return out;
}

/** `10.0.0.0/8`, `::1`, `::ffff:10.0.0.1` → the plain address/prefix a target understands. */
export function cidrText(text: string): string {
  const parsed = parseCidr(text);
  if (!parsed) return text;
  const [addr, prefix] = parsed;
  const full = addr.kind() === 'ipv4' ? 32 : 128;
  return prefix === full ? addr.toString() : `${addr.toString()}/${prefix}`;
}

/** `errors/403.html` → `/errors/403.html`: error pages are paths under the root. */
export function errorPagePath(page: string): string {
  return page.startsWith('/') ? page : '/' + page;
}

/** The same page as a URL path, each segment percent-encoded (Apache's ErrorDocument wants a URL). */
export function errorPageUrl(page: string): string {
  return errorPagePath(page)
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
    .join('/');
}

/** Headers keycard never lets a config set (http/respond.ts PROTECTED). */
const PROTECTED = new Set([
  'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'trailer', 'te',
  'content-range', 'content-encoding', 'etag', 'last-modified', 'date', 'accept-ranges',
]);

/** One value a header may take, and where it comes from. `rule` undefined: the global config. */
export interface HeaderSource {
  rule: CompiledRule | undefined;
  value: string;
  /** The config key, for comments: `cacheControl`, `rules[2].headers.X-Frame-Options`. */
  key: string;
}

export interface HeaderPlan {
  /** Display name (as first written) → sources, highest priority first; the first without a rule ends the list. */
  replace: Map<string, HeaderSource[]>;
  /** Vary is merged, not replaced: every matching source adds its tokens. */
  vary: HeaderSource[];
  /** Keys that keycard skips (protected names, values Node cannot send), for comments. */
  skipped: string[];
}

/**
 * Which value each response header gets, in keycard's order (http/respond.ts
 * applyPolicyHeaders): the effective cacheControl first, then every `headers` set (global, then
 * matching rules in file order), later sets replacing earlier ones, Vary merged.
 */
export function headerPlan(config: Config): HeaderPlan {
  const d = config.data;
  const skipped: string[] = [];
  const sets: { rule: CompiledRule | undefined; headers: Readonly<Record<string, string>>; key: string }[] = [];
  sets.push({ rule: undefined, headers: d.headers, key: 'headers' });
  for (const r of config.rules) if (r.headers) sets.push({ rule: r, headers: r.headers, key: `rules[${r.index}].headers` });

  const names = new Map<string, string>(); // lower → display
  const bySet = new Map<string, HeaderSource[]>(); // lower → sources in file order
  const vary: HeaderSource[] = [];
  for (const set of sets) {
    for (const [name, value] of Object.entries(set.headers)) {
      const lower = name.toLowerCase();
      const key = `${set.key}.${name}`;
          if (PROTECTED.has(lower) || /[^\t\x20-\x7e\x80-\xff]/.test(value)) {
        skipped.push(key);
        continue;
      }
      const src: HeaderSource = { rule: set.rule, value, key };
      if (lower === 'vary') {
        vary.push(src);
        continue;
      }
      if (!names.has(lower)) names.set(lower, name);
      const list = bySet.get(lower) ?? [];
      list.push(src);
      bySet.set(lower, list);
    }
  }

  const replace = new Map<string, HeaderSource[]>();
  // Cache-Control: a `headers` entry beats cacheControl at any level, since headers come after.
  const cc: HeaderSource[] = [];
  const ccHeaders = bySet.get('cache-control') ?? [];
  for (let i = ccHeaders.length - 1; i >= 0; i--) cc.push(ccHeaders[i]!);
  if (!cc.some((s) => s.rule === undefined)) {
    for (let i = config.rules.length - 1; i >= 0; i--) {
      const r = config.rules[i]!;
      if (r.cacheControl !== undefined) cc.push({ rule: r, value: r.cacheControl, key: `rules[${r.index}].cacheControl` });
    }
    if (d.cacheControl !== undefined) cc.push({ rule: undefined, value: d.cacheControl, key: 'cacheControl' });
  }
  if (cc.length) replace.set(names.get('cache-control') ?? 'Cache-Control', cutAtGlobal(cc));
  for (const [lower, list] of bySet) {
    if (lower === 'cache-control') continue;
    replace.set(names.get(lower)!, cutAtGlobal([...list].reverse()));
  }
  return { replace, vary, skipped };
}

function cutAtGlobal(list: HeaderSource[]): HeaderSource[] {
  const i = list.findIndex((s) => s.rule === undefined);
  return i === -1 ? list : list.slice(0, i + 1);
}

/** One setting's cascade: candidates highest priority first (the last matching rule wins). */
export interface Cascade<T> {
  rules: { rule: CompiledRule; value: T }[];
  fallback: T;
}

export function cascade<T>(config: Config, pick: (r: CompiledRule) => T | undefined, fallback: T): Cascade<T> {
  const rules: { rule: CompiledRule; value: T }[] = [];
  for (let i = config.rules.length - 1; i >= 0; i--) {
    const r = config.rules[i]!;
    const v = pick(r);
    if (v !== undefined) rules.push({ rule: r, value: v });
  }
  return { rules, fallback };
}

/** The rule's raw IP lists, from the config data (compiled CidrLists do not keep their text). */
export function ruleIp(config: Config, rule: CompiledRule): { allow?: string[]; deny?: string[] } {
  const ip = config.data.rules[rule.index]?.ip;
  const out: { allow?: string[]; deny?: string[] } = {};
  if (ip?.allow !== undefined) out.allow = ip.allow.map(cidrText);
  if (ip?.deny !== undefined) out.deny = ip.deny.map(cidrText);
  return out;
}

/**
 * A glob that names one directory and everything below it (`/a/b/**`), as the directory's URL
 * path (`/a/b`, or `` for the root); undefined for any other glob. Used where a target can only
 * attach a setting to a directory (Apache's symlink options).
 */
export function directoryPrefix(glob: string): string | undefined {
  const m = /^((?:\/[^/*?[\]{}()!+@\\]+)*)\/\*\*$/.exec(glob);
  return m ? m[1]! : undefined;
}

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '*';
}

/** `host:port` for a listen directive; IPv6 in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Notes shared by both targets, for settings that have no equivalent in either. */
export function commonNotes(config: Config, target: 'apache' | 'nginx'): string[] {
  const targetUser = target === 'apache' ? 'User and Group' : 'user';
  const d = config.data;
  const out: string[] = [];
  if (d.port === 0) out.push('port 0 (any free port) has no equivalent: port 80 is used instead');
  if (d.user !== undefined) out.push(`user ${JSON.stringify(d.user)}${d.group !== undefined ? ` and group ${JSON.stringify(d.group)}` : ''}: set the server's ${targetUser} in the main configuration`);
  if (d.explainErrors) out.push('explainErrors has no equivalent: error pages do not say why');
  if (d.index.length === 0 && target === 'nginx') out.push('index is empty: nginx needs an index name, so none that can exist is given');
  out.push('keycard answers an Accept: application/json client with a JSON error body, and adds Vary: Accept, X-Content-Type-Options and a Content-Security-Policy to the pages it generates; the target does not');
  out.push('an index file is looked up under its own path (/dir/index.html), and that lookup meets the rules again; keycard applies the rules of /dir/ only');
  if (Object.keys(d.errorPages).length) out.push('an error page is fetched through the rules and ACLs like any request; keycard reads it directly, so a refused client still sees it');
  return out;
}
