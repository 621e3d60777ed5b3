// `keycard export nginx`: the effective policy as an nginx server block, with the map and geo
// blocks it needs (all for the http { } context). Pure: a Config in, text out.
//
// How keycard's model maps onto nginx's:
//   - nginx's locations are first match, keycard's rules all apply, later wins key by key. So
//     the refusals are not locations but a chain of `map` blocks: one per rule (does its glob
//     match `"$uri/"`, common.ts coverRegex), one per setting several rules may set (the last
//     matching rule wins: map regexes are tried in order, last rule first), and a final map
//     that gives the status, checked by two `if … return` at server level, before any location
//     and before the filesystem, as keycard's preflight is;
//   - every map is `volatile`, so an error_page or index redirect is judged under its own path
//     (a cached value would refuse the error page itself);
//   - IP lists are `geo` blocks over $remote_addr, after the realip module (trustProxy);
//   - headers are maps too (an empty value sends no header), set once at server level;
//   - only autoindex and disable_symlinks, which take no variables, need locations, and those
//     are first match: that difference is noted when two such rules exist.
import type { CompiledRule, Config } from '../config/load.js';
import type { SymlinkPolicy } from '../config/schema.js';
import {
  cascade, cidrText, commonNotes, coverRegex, errorPagePath, globNotes, headerPlan, hostPort, isWildcardHost, note, pathRegex, ruleIp,
  type Cascade,
} from './common.js';

const IND = '    ';

/** A double-quoted nginx string, for a context without variables (regexes, map keys). */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A map value: quoted when it refers to a variable. */
function mv(x: string): string {
  return x.includes('$') ? `"${x}"` : x;
}

const GZIP_TYPES = 'text/plain text/css text/xml text/javascript application/javascript application/json application/xml application/wasm image/svg+xml';

function disableSymlinks(p: SymlinkPolicy): string {
  return p === 'follow' ? 'disable_symlinks off;' : p === 'deny' ? 'disable_symlinks on from=$document_root;' : 'disable_symlinks if_not_owner from=$document_root;';
}

export function exportNginx(config: Config): string {
  const d = config.data;
  const port = d.port || 80;
  /** A variable as declared (`$kc8080_x`), and as used inside a string (`${kc8080_x}`). */
  const v = (name: string): string => `$kc${port}_${name}`;
  const r = (name: string): string => `\${kc${port}_${name}}`;
  let needDollar = false;
  /** A double-quoted string where nginx would expand `$name`: a literal `$` goes through a variable. */
  const qv = (s: string): string => {
    if (s.includes('$')) needDollar = true;
    return q(s).replace(/\$/g, `\${kc${port}_dollar}`);
  };
  const used = new Set<CompiledRule>();
  const ref = (rule: CompiledRule): string => {
    used.add(rule);
    return r(`r${rule.index}`);
  };
  const notes: string[] = [];
  const http: string[] = []; // maps and geos, after the rule maps
  const server: string[] = [];
  const s = (...lines: string[]): void => {
    for (const l of lines) server.push(l === '' ? '' : IND + l);
  };

  // --- notes --------------------------------------------------------------------------------
  const symlinkPolicies = [d.symlinks, ...config.rules.flatMap((r) => (r.symlinks ? [r.symlinks] : []))];
  if (symlinkPolicies.includes('inside-root')) {
    notes.push('symlinks "inside-root" has no nginx equivalent: disable_symlinks if_not_owner stands in, which refuses an inside link whose owner differs from its target\'s and follows a link out of the root whose owner matches; keycard follows exactly the links that stay under the root');
  }
  notes.push('a dangling symlink, or a refused one in the middle of a path, is 404 in nginx, 403 in keycard (and Apache)');
  const hides = config.rules.filter((r) => r.hide === true);
  if (!d.hideForbidden && hides.length) {
    notes.push('a rule\'s hide answers 404 only for refusals by configuration (IP ACL, access, dotfiles) here; keycard hides every cause, and nginx still answers 403 for an unreadable file, a directory without search permission or a directory without index or listing');
  }
  notes.push('OPTIONS is 405 in nginx (keycard: 200 with Allow), an unknown method 405 (keycard: 501), and POST for a missing file 404 (keycard: 405)');
  notes.push('nginx decodes %2F in a path (keycard and Apache: 404) and answers %00 with 400 (keycard: 404)');
  if (d.precompressed) notes.push('precompressed: gzip_static serves file.gz; file.br needs the third-party brotli module');
  if (!d.serverSignature) notes.push('serverSignature off: server_tokens off drops the version, but nginx pages still say "nginx"');
  if (d.accessLog) notes.push('accessLog: keycard writes the Combined Log Format to stdout; nginx logs where the http { } context says');
  if (d.dotfiles === 'allow' || config.rules.some((r) => r.dotfiles === 'allow')) notes.push('autoindex never lists dotfiles; keycard lists them where dotfiles is "allow"');
  notes.push(...commonNotes(config, 'nginx'));

  // --- listen, root, defaults ---------------------------------------------------------------
  s(`listen ${hostPort(d.host, port)};`);
  if (!isWildcardHost(d.host)) s(`server_name ${d.host.includes(':') ? `[${d.host}]` : d.host};`);
  s(`root ${qv(config.root)};`);
  s(d.index.length ? `index ${d.index.map(qv).join(' ')};` : 'index "/.keycard-no-index";');
  s(`autoindex ${d.listing ? 'on' : 'off'};`, disableSymlinks(d.symlinks));
  s('absolute_redirect off;', `server_tokens ${d.serverSignature ? 'on' : 'off'};`, `default_type ${qv(d.defaultType)};`);
  if (!d.accessLog) s('access_log off;');
  if (d.compress) s('gzip on;', 'gzip_vary on;', `gzip_types ${GZIP_TYPES};`);
  if (d.precompressed) s('gzip_static on;');
  if (d.trustProxy.length) {
    s('', '# trustProxy: X-Forwarded-For is believed only from these peers, right to left');
    for (const c of d.trustProxy) s(`set_real_ip_from ${cidrText(c)};`);
    s('real_ip_header X-Forwarded-For;', 'real_ip_recursive on;');
  }
  const pages = Object.entries(d.errorPages);
  if (pages.length || d.hideForbidden) s('');
  for (const [status, page] of pages) {
    if (d.hideForbidden && status === '403') continue;
    s(`error_page ${status} ${qv(errorPagePath(page))};`);
  }
  if (d.hideForbidden) {
    // Every 403, whatever its cause, becomes the 404 a missing file gets.
    const page = d.errorPages['404'];
    s('# hideForbidden: every 403 is answered as the 404 a missing file gets');
    s(`error_page 403 =404 ${page !== undefined ? qv(errorPagePath(page)) : `@kc${port}_hidden`};`);
    if (page === undefined) s(`location @kc${port}_hidden { return 404; }`);
  }

  // --- refusals -----------------------------------------------------------------------------
  /** A map: the last matching rule that sets the key decides; a constant when no rule sets it. */
  const chainMap = <T>(name: string, title: string, c: Cascade<T>, value: (t: T) => string, key: (r: CompiledRule | undefined) => string): string => {
    if (c.rules.length === 0) return value(c.fallback);
    http.push('', `# ${title}: the last matching rule that sets it wins`);
    http.push(`map "${c.rules.map(({ rule }) => ref(rule)).join('')}" ${v(name)} {`, `${IND}volatile;`);
    c.rules.forEach(({ rule, value: val }, i) => http.push(`${IND}${q(`~^${'.'.repeat(i)}1`)} ${mv(value(val))};  # ${key(rule)}`));
    http.push(`${IND}default ${mv(value(c.fallback))};  # ${key(undefined)}`, '}');
    return r(name);
  };
  const geos: string[] = [];
  const geo = (name: string, list: readonly string[], inside: '1' | '0', title: string): string => {
    if (list.length === 0) return '0';
    geos.push('', `# ${title}`, `geo ${v(name)} {`, `${IND}default ${inside === '1' ? '0' : '1'};`);
    for (const c of list) geos.push(`${IND}${c} ${inside};`);
    geos.push('}');
    return r(name);
  };
  const ipDeny = cascade(config, (r) => ruleIp(config, r).deny, d.ip.deny.map(cidrText));
  const ipAllow = cascade(config, (r) => ruleIp(config, r).allow, d.ip.allow.map(cidrText));
  const listKey = (which: string) => (r: CompiledRule | undefined) => (r ? `rules[${r.index}].ip.${which}` : `ip.${which}`);
  const denyVar = chainMap('ip_deny', 'ip.deny (1: the client is in the list)', ipDeny,
    (list) => geo(`in_${geoName(ipDeny, list, 'ip_deny')}`, list, '1', 'client in ip.deny'), listKey('deny'));
  const allowVar = chainMap('ip_allow', 'ip.allow (1: the list is not empty and the client is not in it)', ipAllow,
    (list) => geo(`out_${geoName(ipAllow, list, 'ip_allow')}`, list, '0', 'client not in ip.allow'), listKey('allow'));
  const access = cascade<'allow' | 'deny'>(config, (r) => r.access, 'allow');
  const accessVar = chainMap('access', 'access (1: deny)', access, (a) => (a === 'deny' ? '1' : '0'), (r) => (r ? `rules[${r.index}].access` : 'access'));
  const dotfiles = cascade(config, (r) => r.dotfiles, d.dotfiles);
  const dotVar = chainMap('dotfiles', 'dotfiles', dotfiles, (p) => p, (r) => (r ? `rules[${r.index}].dotfiles` : 'dotfiles'));
  const hideVar = d.hideForbidden ? '1' : hides.length ? r('hide') : '0';
  if (!d.hideForbidden && hides.length) {
    http.push('', `# hide: 1 where a matching rule hides refusals`);
    http.push(`map "${hides.map(ref).join('')}" ${v('hide')} {`, `${IND}volatile;`, `${IND}"~1" 1;`, `${IND}default 0;`, '}');
  }
  const mayRefuse = denyVar !== '0' || allowVar !== '0' || accessVar !== '0' || dotVar !== 'allow';
  if (mayRefuse) {
    http.push('', '# A path segment that starts with "."');
    http.push(`map $uri ${v('dot')} {`, `${IND}volatile;`, `${IND}"~/\\\\." 1;`, `${IND}default 0;`, '}');
    http.push('', '# The decision, in keycard\'s order: IP ACL and access refuse (403), then dotfiles (403 for "deny",');
    http.push('# 404 for "ignore"). A refusal keycard hides is answered as a missing file is: 404 for GET, HEAD and');
    http.push('# POST, 405 for other methods. Key: deny allow access:dotfiles dot:hide:method');
    http.push(`map "${denyVar}${allowVar}${accessVar}:${dotVar}${r('dot')}:${hideVar}:$request_method" ${v('refuse')} {`, `${IND}volatile;`);
    http.push(`${IND}"~^(?:1|.1|..1).*:1:(?:GET|HEAD|POST)$" 404;  # refused by ip.deny, ip.allow or access, hidden`);
    http.push(`${IND}"~^(?:1|.1|..1).*:1:" 405;  # the same, another method`);
    http.push(`${IND}"~^(?:1|.1|..1)" 403;  # refused by ip.deny, ip.allow or access`);
    http.push(`${IND}"~^...:deny1:1:(?:GET|HEAD|POST)$" 404;  # a dotfile under "deny", hidden`);
    http.push(`${IND}"~^...:deny1:1:" 405;  # the same, another method`);
    http.push(`${IND}"~^...:deny1" 403;  # a dotfile under "deny"`);
    http.push(`${IND}"~^...:ignore1" 404;  # a dotfile under "ignore"`);
    http.push(`${IND}default 0;`, '}');
    s('', '# Refusals by configuration, before any location and before the filesystem');
    s(`if (${v('refuse')} = 403) { return 403; }`, `if (${v('refuse')} = 404) { return 404; }`);
    if (hideVar !== '0') s(`if (${v('refuse')} = 405) { return 405; }`);
  }

  // --- headers ------------------------------------------------------------------------------
  const plan = headerPlan(config);
  for (const key of plan.skipped) notes.push(`${key} is not exported: keycard does not send it either (a protected header or a value outside latin1)`);
  if (plan.replace.size || plan.vary.length) {
    notes.push('headers and cacheControl are also sent on redirects here (add_header applies to 2xx and 3xx); keycard sends them on successful responses');
    s('', '# Response headers (an empty value sends none)');
  }
  let h = 0;
  for (const [name, sources] of plan.replace) {
    if (name.toLowerCase() === 'content-type' || name.toLowerCase() === 'server') notes.push(`headers.${name}: add_header adds a second ${name} header instead of replacing nginx's own`);
    const last = sources[sources.length - 1]!;
    if (sources.length === 1 && last.rule === undefined) {
      s(`add_header ${name} ${qv(last.value)};  # ${last.key}`);
      continue;
    }
    const ruled = sources.filter((x) => x.rule !== undefined);
    const name_ = `h${h++}`;
    http.push('', `# ${name}: the last matching of ${sources.map((x) => x.key).join(', ')}`);
    http.push(`map "${ruled.map((x) => ref(x.rule!)).join('')}" ${v(name_)} {`, `${IND}volatile;`);
    ruled.forEach((x, i) => http.push(`${IND}${q(`~^${'.'.repeat(i)}1`)} ${qv(x.value)};  # ${x.key}`));
    http.push(`${IND}default ${last.rule === undefined ? `${qv(last.value)};  # ${last.key}` : '"";'}`, '}');
    s(`add_header ${name} ${v(name_)};`);
  }
  for (const x of plan.vary) {
    if (x.rule === undefined) s(`add_header Vary ${qv(x.value)};  # ${x.key}`);
    else {
      const name_ = `h${h++}`;
      http.push('', `# Vary from ${x.key}`, `map "${ref(x.rule)}" ${v(name_)} {`, `${IND}volatile;`, `${IND}1 ${qv(x.value)};`, `${IND}default "";`, '}');
      s(`add_header Vary ${v(name_)};`);
    }
  }

  // --- listing and symlinks: locations, first match ------------------------------------------
  const located = config.rules.filter((r) => r.listing !== undefined || r.symlinks !== undefined);
  if (located.length) {
    s('', '# listing and symlinks per rule. nginx uses the first regex location that matches, so the rules are');
    s('# listed last first; keycard merges every matching rule, key by key.');
  }
  for (let i = located.length - 1; i >= 0; i--) {
    const r = located[i]!;
    s(`# rules[${r.index}] ${JSON.stringify(r.glob)}`, `location ~ ${q(pathRegex(r))} {`);
    if (r.listing !== undefined) s(`${IND}autoindex ${r.listing ? 'on' : 'off'};`);
    if (r.symlinks !== undefined) s(`${IND}${disableSymlinks(r.symlinks)}`);
    s('}');
  }
  if (located.length > 1) {
    notes.push(`nginx takes the first matching location: where ${located.map((r) => `rules[${r.index}]`).join(', ')} overlap, only the last of them in the file sets listing and symlinks; keycard merges them key by key`);
  }
  if (located.some((r) => r.symlinks !== undefined)) {
    notes.push('a location matches the path as requested: a rule "/dir/**" sets disable_symlinks below /dir/, not for a request for /dir itself');
  }

  for (const r of used) notes.push(...globNotes(r));
  for (const r of located) if (!used.has(r)) notes.push(...globNotes(r));

  // --- assemble -----------------------------------------------------------------------------
  const out: string[] = [
    note(`nginx server block exported by \`keycard export nginx\` from ${config.file ?? '(defaults)'}`),
    note('include this file in the http { } context: the map and geo blocks must sit there'),
    note('where this configuration does not answer as keycard does:'),
    ...notes.map((n) => note(`- ${n}`)),
  ];
  if (needDollar) out.push('', '# A literal "$" for strings where nginx expands variables', `geo $kc${port}_dollar {`, `${IND}default "$";`, '}');
  const rules = config.rules.filter((r) => used.has(r));
  if (rules.length) {
    out.push('', '# Rule globs, matched on the decoded, canonical path with a "/" added, so that "/private/**" also');
    out.push('# covers "/private", as in keycard. 1: the rule applies.');
    for (const r of rules) {
      out.push(`# rules[${r.index}] ${JSON.stringify(r.glob)}`);
      out.push(`map "$uri/" ${v(`r${r.index}`)} {`, `${IND}volatile;`, `${IND}${q(`~${coverRegex(r)}`)} 1;`, `${IND}default 0;`, '}');
    }
  }
  out.push(...geos, ...http, '', 'server {', ...server, '}', '');
  return out.join('\n');
}

/** A geo variable name for one list of a cascade: the rule's index, or `global`. */
function geoName(c: Cascade<readonly string[]>, list: readonly string[], what: string): string {
  const hit = c.rules.find((x) => x.value === list);
  return hit ? `r${hit.rule.index}_${what}` : what;
}
