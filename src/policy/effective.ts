// The settings that apply to one URL path: the global config, then every rule whose glob
// matches, in file order, later wins. Each setting remembers which key set it, so a refusal
// can name the rule that decided.
import type { CompiledRule, Config } from '../config/load.js';
import { PARSED_LONGEST } from './url.js';
import type { DotfilesPolicy, SymlinkPolicy } from '../config/schema.js';
import type { CidrList } from './ip.js';
import type { CompiledAuth } from '../config/load.js';
import type { CorsPolicy } from './cors.js';
import type { CompiledFilter } from './filters.js';

export interface Effective {
  listing: boolean;
  dotfiles: DotfilesPolicy;
  symlinks: SymlinkPolicy;
  ipAllow: CidrList;
  ipDeny: CidrList;
  access: 'allow' | 'deny';
  hide: boolean;
  cacheControl: string | undefined;
  headers: Readonly<Record<string, string>>[];
  matched: readonly CompiledRule[];
  /** Index names when something (an .htaccess DirectoryIndex) overrides the config's. */
  index: readonly string[] | undefined;
  /** Error documents an .htaccess sets for this path: a local path or a text. */
  errorDocuments: Readonly<Record<string, { path: string } | { text: string }>> | undefined;
  auth: CompiledAuth | undefined;
  cors: CorsPolicy | undefined;
  /** Every matching rule's filter applies (filters only ever add refusals). */
  filters: readonly { key: string; filter: CompiledFilter }[];
  /** Which key set each setting: `listing` → `rules[3]` or `listing`. */
  source: Record<'listing' | 'dotfiles' | 'symlinks' | 'ipAllow' | 'ipDeny' | 'access' | 'hide' | 'cacheControl' | 'cors', string>;
}

const NO_RULES: readonly CompiledRule[] = Object.freeze([]);

/**
 * A glob like `/private/**` must also cover `/private` itself (Apache's <Directory> does), so a
 * path is tested both as written and with its trailing slash added or removed.
 */
export function ruleMatches(rule: CompiledRule, path: string): boolean {
  if (rule.matcher.match(path)) return true;
  // `/private/**` covers `/private`; `/private/*` covers the directory `/private/a/`.
  return path.endsWith('/') ? path.length > 1 && rule.matcher.match(path.slice(0, -1)) : rule.matcher.match(path + '/');
}

// With rules, every glob is matched against the path: remembered per config and path (the
// answer depends on nothing else), and handed out as a copy, since the .htaccess stage
// adjusts the settings of its own request.
const BY_CONFIG = new WeakMap<Config, Map<string, Effective>>();
const PATHS_KEPT = 1024;

export function effectiveFor(config: Config, path: string): Effective {
  if (config.rules.length === 0) return compute(config, path);
  let paths = BY_CONFIG.get(config);
  if (paths === undefined) BY_CONFIG.set(config, (paths = new Map()));
  let eff = paths.get(path);
  if (eff === undefined) {
    eff = compute(config, path);
    if (path.length <= PARSED_LONGEST) {
      if (paths.size >= PATHS_KEPT) paths.clear();
      paths.set(path, eff);
    }
  }
  return copyOf(eff);
}

/** A copy a request may adjust (the .htaccess stage does) without touching what is kept. */
export function copyOf(eff: Effective): Effective {
  return { ...eff, source: { ...eff.source } };
}

function compute(config: Config, path: string): Effective {
  const d = config.data;
  const eff: Effective = {
    listing: d.listing,
    dotfiles: d.dotfiles,
    symlinks: d.symlinks,
    ipAllow: config.ipAllow,
    ipDeny: config.ipDeny,
    access: 'allow',
    hide: d.hideForbidden,
    cacheControl: d.cacheControl,
    headers: Object.keys(d.headers).length ? [d.headers] : [],
    matched: NO_RULES,
    index: undefined,
    errorDocuments: undefined,
    auth: undefined,
    cors: undefined,
    filters: [],
    source: { listing: 'listing', dotfiles: 'dotfiles', symlinks: 'symlinks', ipAllow: 'ip.allow', ipDeny: 'ip.deny', access: 'access', hide: 'hideForbidden', cacheControl: 'cacheControl', cors: 'cors' },
  };
  if (config.rules.length === 0) return eff;
  const matched: CompiledRule[] = [];
  for (const rule of config.rules) {
    if (!ruleMatches(rule, path)) continue;
    matched.push(rule);
    const key = `rules[${rule.index}]`;
    if (rule.listing !== undefined) [eff.listing, eff.source.listing] = [rule.listing, `${key}.listing`];
    if (rule.dotfiles !== undefined) [eff.dotfiles, eff.source.dotfiles] = [rule.dotfiles, `${key}.dotfiles`];
    if (rule.symlinks !== undefined) [eff.symlinks, eff.source.symlinks] = [rule.symlinks, `${key}.symlinks`];
    if (rule.ipAllow !== undefined) [eff.ipAllow, eff.source.ipAllow] = [rule.ipAllow, `${key}.ip.allow`];
    if (rule.ipDeny !== undefined) [eff.ipDeny, eff.source.ipDeny] = [rule.ipDeny, `${key}.ip.deny`];
    if (rule.access !== undefined) [eff.access, eff.source.access] = [rule.access, `${key}.access`];
    // hideForbidden cannot be switched off by a rule's hide: false: hiding is only ever added.
    if (rule.hide === true) [eff.hide, eff.source.hide] = [true, `${key}.hide`];
    if (rule.cacheControl !== undefined) [eff.cacheControl, eff.source.cacheControl] = [rule.cacheControl, `${key}.cacheControl`];
    if (rule.headers !== undefined) eff.headers = [...eff.headers, rule.headers];
    if (rule.auth !== undefined) eff.auth = rule.auth;
    if (rule.cors !== undefined) [eff.cors, eff.source.cors] = [rule.cors, `${key}.cors`];
    if (rule.filter !== undefined) eff.filters = [...eff.filters, { key: `${key}.filter`, filter: rule.filter }];
  }
  eff.matched = matched;
  return eff;
}
