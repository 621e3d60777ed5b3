// Config loading: server.config.json, then PORT from the environment, then command-line flags,
// merged into one object, validated by the schema, compiled (CIDRs, globs, the real root) and
// frozen. Every problem is collected with the key it concerns; nothing is half-loaded.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { Minimatch } from 'minimatch';
import { configSchema, ruleSchema, type ConfigData, type DotfilesPolicy, type SymlinkPolicy } from './schema.js';
import { CidrList } from '../policy/ip.js';
import { compileFilter, type CompiledFilter } from '../policy/filters.js';
import type { CorsPolicy } from '../policy/cors.js';
import { loadGroupFile, loadPasswordFile } from '../auth/htpasswd.js';
import { BanList } from '../auth/bans.js';

export interface ConfigError {
  /** The key the problem concerns, e.g. `rules[2].dotfiles`; `(file)` for the file itself. */
  path: string;
  message: string;
}

export interface CompiledRule {
  readonly index: number;
  readonly glob: string;
  /** A regular expression for the glob (for exports); matching itself uses `matcher`. */
  readonly re: RegExp;
  readonly matcher: Minimatch;
  readonly listing?: boolean;
  readonly dotfiles?: DotfilesPolicy;
  readonly symlinks?: SymlinkPolicy;
  readonly ipAllow?: CidrList;
  readonly ipDeny?: CidrList;
  readonly access?: 'allow' | 'deny';
  readonly hide?: boolean;
  readonly cacheControl?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly auth?: CompiledAuth;
  readonly cors?: CorsPolicy;
  readonly filter?: CompiledFilter;
}

export interface CompiledAuth {
  readonly realm: string;
  /** Absolute paths: the files are re-read when they change. */
  readonly users: string;
  readonly groups: string | undefined;
  readonly require: readonly ({ kind: 'valid-user' } | { kind: 'user' | 'group'; names: readonly string[] })[];
  /** `rules[i].auth`, for traces and logs. */
  readonly key: string;
}

export interface Config {
  readonly data: ConfigData;
  /** Where the config came from, or undefined for defaults. */
  readonly file: string | undefined;
  /** The document root, absolute and with every symlink resolved. */
  readonly root: string;
  readonly ipAllow: CidrList;
  readonly ipDeny: CidrList;
  readonly trustProxy: CidrList;
  readonly rules: readonly CompiledRule[];
  readonly bans?: BanList | undefined;
}

export interface Overrides {
  root?: string;
  port?: number;
  host?: string;
  user?: string;
  group?: string;
  listing?: boolean;
  dotfiles?: string;
  allow?: string[];
  deny?: string[];
  /** --tls-cert / --tls-key: absolute paths (the flags are relative to the working directory). */
  tlsCert?: string;
  tlsKey?: string;
  workers?: number | 'auto';
}

export type LoadResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

export interface LoadOptions {
  /** Explicit --config; when absent, ./server.config.json is used if it exists. */
  file?: string | undefined;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Overrides;
  /** The parsed contents of a config file, instead of reading one (tests, embedding). */
  raw?: Record<string, unknown>;
  /** Skip checking that the root exists (for commands that do not serve). */
  rootMayBeMissing?: boolean;
}

function issuePath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`;
  return out || '(config)';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

const KNOWN_KEYS: Record<string, readonly string[]> = {
  top: Object.keys(configSchema.shape),
  rule: Object.keys(ruleSchema.shape),
  ip: ['allow', 'deny'],
};

function suggest(key: string, parentPath: readonly PropertyKey[]): string {
  const last = parentPath[parentPath.length - 1];
  const known = parentPath.length === 0 ? KNOWN_KEYS.top! : last === 'ip' ? KNOWN_KEYS.ip! : typeof last === 'number' ? KNOWN_KEYS.rule! : [];
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(key, k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  const expected = known.length ? `; known keys here: ${known.filter((k) => k !== '$schema').join(', ')}` : '';
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : expected;
}

function zodErrors(error: z.ZodError): ConfigError[] {
  const out: ConfigError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: issuePath([...issue.path, key]), message: `unknown key${suggest(key, issue.path)}` });
      }
    } else {
      out.push({ path: issuePath(issue.path), message: issue.message });
    }
  }
  return out;
}

function applyOverrides(raw: Record<string, unknown>, o: Overrides, env: NodeJS.ProcessEnv, errors: ConfigError[]): void {
  if (o.port !== undefined) raw.port = o.port;
  else if (env.PORT !== undefined && env.PORT !== '') {
    const n = Number(env.PORT);
    if (!/^\d+$/.test(env.PORT) || n > 65535) errors.push({ path: 'PORT', message: `environment variable PORT=${JSON.stringify(env.PORT)} is not a port number (0-65535)` });
    else raw.port = n;
  }
  if (o.host !== undefined) raw.host = o.host;
  if (o.user !== undefined) raw.user = o.user;
  if (o.group !== undefined) raw.group = o.group;
  if (o.listing !== undefined) raw.listing = o.listing;
  if (o.dotfiles !== undefined) raw.dotfiles = o.dotfiles;
  if (o.allow !== undefined || o.deny !== undefined) {
    const ip = (typeof raw.ip === 'object' && raw.ip !== null ? { ...(raw.ip as object) } : {}) as Record<string, unknown>;
    if (o.allow !== undefined) ip.allow = [...(Array.isArray(ip.allow) ? ip.allow : []), ...o.allow];
    if (o.deny !== undefined) ip.deny = [...(Array.isArray(ip.deny) ? ip.deny : []), ...o.deny];
    raw.ip = ip;
  }
  if (o.tlsCert !== undefined || o.tlsKey !== undefined) {
    const tls = (typeof raw.tls === 'object' && raw.tls !== null ? { ...(raw.tls as object) } : {}) as Record<string, unknown>;
    if (o.tlsCert !== undefined) tls.cert = o.tlsCert;
    if (o.tlsKey !== undefined) tls.key = o.tlsKey;
    raw.tls = tls;
  }
  if (o.workers !== undefined) raw.workers = o.workers;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const GLOB_OPTIONS = { dot: true, nocomment: true, nonegate: true } as const;

/**
 * SECURITY: rules match with Minimatch.match, not with the RegExp from makeRe: makeRe drops a
 * trailing `**` after an inner one (`/**\/.git/**` would not match `/x/.git/config`), and its
 * `.` stops at a newline (`/private/a%0Ab` would slip past `/private/**`).
 */
export function compileGlob(glob: string): { re: RegExp; matcher: Minimatch } {
  const matcher = new Minimatch(glob, GLOB_OPTIONS);
  const re = matcher.makeRe();
  if (!re) throw new TypeError(`invalid glob ${JSON.stringify(glob)}`);
  return { re: new RegExp(re.source, re.flags.includes('s') ? re.flags : re.flags + 's'), matcher };
}

export function loadConfig(options: LoadOptions = {}): LoadResult {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const errors: ConfigError[] = [];
  let file: string | undefined;
  let raw: Record<string, unknown> = {};

  if (options.raw !== undefined) raw = structuredClone(options.raw);
  else if (options.file !== undefined) file = path.resolve(cwd, options.file);
  else {
    const candidate = path.resolve(cwd, 'server.config.json');
    try {
      if (statSync(candidate).isFile()) file = candidate;
    } catch {
      /* no default config file: defaults apply */
    }
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return { ok: false, errors: [{ path: '(file)', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` }] };
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return { ok: false, errors: [{ path: '(file)', message: `${file} must contain a JSON object` }] };
      }
      raw = parsed as Record<string, unknown>;
    } catch (err) {
      return { ok: false, errors: [{ path: '(file)', message: `${file} is not valid JSON: ${(err as Error).message}` }] };
    }
  }

  const overrides = options.overrides ?? {};
  applyOverrides(raw, overrides, env, errors);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, errors: [...errors, ...zodErrors(parsed.error)] };
  if (errors.length) return { ok: false, errors };
  const data = parsed.data;

  const configDir = file !== undefined ? path.dirname(file) : cwd;
  const rootBase = overrides.root !== undefined ? cwd : file !== undefined ? path.dirname(file) : cwd;
  const rootWanted = path.resolve(rootBase, overrides.root ?? data.root);
  let root = rootWanted;
  try {
    root = realpathSync(rootWanted);
    if (!statSync(root).isDirectory()) errors.push({ path: 'root', message: `${rootWanted} is not a directory` });
  } catch (err) {
    if (!options.rootMayBeMissing) {
      const code = (err as NodeJS.ErrnoException).code;
      errors.push({ path: 'root', message: code === 'ENOENT' ? `${rootWanted} does not exist` : `${rootWanted} cannot be opened (${code ?? String(err)})` });
    }
  }

  const rules: CompiledRule[] = [];
  data.rules.forEach((r, index) => {
    let compiled: { re: RegExp; matcher: Minimatch };
    try {
      compiled = compileGlob(r.path);
    } catch (err) {
      errors.push({ path: `rules[${index}].path`, message: (err as Error).message });
      return;
    }
    const rule: { -readonly [K in keyof CompiledRule]: CompiledRule[K] } = { index, glob: r.path, ...compiled };
    if (r.listing !== undefined) rule.listing = r.listing;
    if (r.dotfiles !== undefined) rule.dotfiles = r.dotfiles;
    if (r.symlinks !== undefined) rule.symlinks = r.symlinks;
    if (r.ip?.allow !== undefined) rule.ipAllow = new CidrList(r.ip.allow);
    if (r.ip?.deny !== undefined) rule.ipDeny = new CidrList(r.ip.deny);
    if (r.access !== undefined) rule.access = r.access;
    if (r.hide !== undefined) rule.hide = r.hide;
    if (r.cacheControl !== undefined) rule.cacheControl = r.cacheControl;
    if (r.headers !== undefined) rule.headers = r.headers;
    if (r.auth !== undefined) {
      const users = path.resolve(configDir, r.auth.users);
      const groups = r.auth.groups !== undefined ? path.resolve(configDir, r.auth.groups) : undefined;
      try {
        loadPasswordFile(users);
        if (groups !== undefined) loadGroupFile(groups);
      } catch (err) {
        errors.push({ path: `rules[${index}].auth`, message: (err as Error).message });
      }
      const require = r.auth.require.map((line) => {
        const [kind, ...names] = line.split(' ');
        return kind === 'valid-user' ? { kind: 'valid-user' as const } : { kind: kind as 'user' | 'group', names };
      });
      if (groups === undefined && require.some((q) => q.kind === 'group')) errors.push({ path: `rules[${index}].auth.require`, message: '"group" needs auth.groups (an htgroup file)' });
      rule.auth = { realm: r.auth.realm, users, groups, require, key: `rules[${index}].auth` };
    }
    if (r.cors !== undefined) rule.cors = r.cors;
    if (r.filter !== undefined) rule.filter = compileFilter(r.filter);
    rules.push(rule);
  });
  if (data.tls !== undefined) {
    // PEM files are relative to the config file, as every other path in it.
    data.tls.cert = path.resolve(configDir, data.tls.cert);
    data.tls.key = path.resolve(configDir, data.tls.key);
    if (data.tls.ca !== undefined) data.tls.ca = path.resolve(configDir, data.tls.ca);
  }
  let bans: BanList | undefined;
  if (data.bans !== undefined) {
    try {
      bans = new BanList(path.resolve(configDir, data.bans));
    } catch (err) {
      errors.push({ path: 'bans', message: (err as Error).message });
    }
  }
  if (errors.length) return { ok: false, errors };

  const config: Config = {
    data: deepFreeze(data),
    file,
    root,
    ipAllow: new CidrList(data.ip.allow),
    ipDeny: new CidrList(data.ip.deny),
    trustProxy: new CidrList(data.trustProxy),
    rules: deepFreeze(rules),
    bans,
  };
  return { ok: true, config: Object.freeze(config) };
}

export function formatConfigErrors(errors: readonly ConfigError[], file: string | undefined): string {
  const where = file ? `${file}: ` : '';
  return errors.map((e) => `keycard: config error: ${where}${e.path}: ${e.message}`).join('\n');
}
