// `keycard export apache`: the effective policy as an Apache httpd 2.4 virtual host. Pure: a
// Config in, the text of a file to `Include` out.
//
// How keycard's model maps onto Apache's (shared/APACHE.md records the behaviours):
//   - the root, index names, listing and symlink policy are one <Directory> on the root, with
//     `Options` built from scratch so nothing leaks in from the main server config;
//   - each rule glob is an ap_expr over `'%{REQUEST_URI}/'` (common.ts coverRegex), kept in a
//     `Define` so the sections that use it stay readable;
//   - keycard merges every matching rule, later wins, key by key. <If> sections merge in file
//     order too, but a section holding `Require` replaces the requirement before it, so each
//     refusal is its own section that holds only `Require all denied`, and each setting that
//     several rules may set is an <If>/<ElseIf>/<Else> cascade, last rule first;
//   - a refusal that keycard hides (`hide`, `hideForbidden`) is `Redirect 404` instead, which
//     mod_alias applies in the fixups, after access control: the same order as keycard's, where
//     an IP refusal outranks `dotfiles: "ignore"`;
//   - what Apache cannot do the same way is said in `# keycard:` lines at the top.
import type { CompiledRule, Config } from '../config/load.js';
import type { SymlinkPolicy } from '../config/schema.js';
import {
  cascade, cidrText, commonNotes, coverRegex, directoryPrefix, errorPageUrl, globNotes, headerPlan, hostPort, isWildcardHost, note, ruleIp,
  type Cascade, type HeaderSource,
} from './common.js';

const IND = '    ';

/** A double-quoted Apache argument (ap_getword_conf reads `\\` and `\"` inside quotes). */
function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A mod_headers value: `%` starts a format specifier there. */
function headerValue(s: string): string {
  return q(s.replace(/%/g, '%%'));
}

function symlinkOptions(p: SymlinkPolicy): string[] {
  return p === 'follow' ? ['FollowSymLinks'] : p === 'deny' ? [] : ['SymLinksIfOwnerMatch'];
}

function symlinkRelative(p: SymlinkPolicy): string {
  return p === 'follow' ? '+FollowSymLinks -SymLinksIfOwnerMatch' : p === 'deny' ? '-FollowSymLinks -SymLinksIfOwnerMatch' : '-FollowSymLinks +SymLinksIfOwnerMatch';
}

function ipExpr(list: readonly string[]): string {
  return list.map((c) => `-R '${c}'`).join(' || ');
}

export function exportApache(config: Config): string {
  const d = config.data;
  const port = d.port || 80;
  const defineName = (r: CompiledRule): string => `kc${port}_r${r.index}`;
  const used = new Set<CompiledRule>();
  const ref = (r: CompiledRule): string => {
    used.add(r);
    return `\${${defineName(r)}}`;
  };
  const notes: string[] = [];
  const body: string[] = [];
  const emit = (depth: number, ...lines: string[]): void => {
    for (const l of lines) body.push(l === '' ? '' : IND.repeat(depth) + l);
  };

  // --- notes on what Apache cannot say the same way -------------------------------------
  notes.push('the trailing-slash redirect sends Location: http://HOST/dir/ (built from the Host header); keycard sends /dir/');
  const symlinkPolicies = [d.symlinks, ...config.rules.flatMap((r) => (r.symlinks ? [r.symlinks] : []))];
  if (symlinkPolicies.includes('inside-root')) {
    notes.push('symlinks "inside-root" has no Apache equivalent: SymLinksIfOwnerMatch stands in, which refuses an inside link whose owner differs from its target\'s and follows a link out of the root whose owner matches; keycard follows exactly the links that stay under the root');
  }
  const hides = config.rules.filter((r) => r.hide === true);
  if (d.hideForbidden || hides.length) {
    notes.push(`${d.hideForbidden ? 'hideForbidden' : 'hide'} answers 404 only for refusals by configuration (IP ACL, access, dotfiles) here; keycard hides every cause, and Apache still answers 403 for an unreadable file, a directory without search permission, a refused symlink or a directory without index or listing`);
  }
  notes.push('AllowMethods (mod_allowmethods) answers 405 for POST, PUT, DELETE… before access control, so DELETE /.env is 405 here and 403 in keycard; an unknown method is 405 here, 501 in keycard');
  if (d.compress || d.precompressed) notes.push('compress and precompressed are not exported: enable mod_deflate or mod_brotli for on-the-fly compression; serving file.br / file.gz sidecars needs mod_rewrite rules');
  notes.push(`defaultType ${JSON.stringify(d.defaultType)}: Apache 2.4 sends no Content-Type for an unknown extension`);
  if (d.accessLog) notes.push('accessLog: keycard writes the Combined Log Format to stdout; add a CustomLog … combined line where you want it');
  notes.push(...commonNotes(config, 'apache'));

  // --- the virtual host -------------------------------------------------------------------
  const listen = hostPort(d.host, port);
  const vhost = isWildcardHost(d.host) ? `*:${port}` : listen;
  emit(1, `DocumentRoot ${q(config.root)}`);
  if (!isWildcardHost(d.host)) emit(1, `ServerName ${d.host.includes(':') ? `[${d.host}]` : d.host}`);
  emit(1, `ServerSignature ${d.serverSignature ? 'On' : 'Off'}`);
  emit(1, 'AllowEncodedSlashes Off', 'TraceEnable Off');
  if (d.trustProxy.length) {
    emit(0, '', `${IND}# trustProxy: X-Forwarded-For is believed only from these peers, right to left (mod_remoteip)`);
    emit(1, 'RemoteIPHeader X-Forwarded-For', `RemoteIPInternalProxy ${d.trustProxy.map(cidrText).join(' ')}`);
  }
  const pages = Object.entries(d.errorPages);
  if (pages.length) {
    emit(0, '');
    for (const [status, page] of pages) emit(1, `ErrorDocument ${status} ${errorPageUrl(page)}`);
  }

  emit(0, '', `${IND}# root, index, listing, symlinks`);
  emit(1, `<Directory ${q(config.root)}>`);
  const options = [...(d.listing ? ['Indexes'] : []), ...symlinkOptions(d.symlinks)];
  emit(2, `Options ${options.length ? options.join(' ') : 'None'}`);
  emit(2, 'AllowOverride None');
  emit(2, `DirectoryIndex ${d.index.length ? d.index.map((n) => (/[\s"]/.test(n) ? q(n) : n)).join(' ') : 'disabled'}`);
  if (d.dotfiles !== 'allow') emit(2, 'IndexIgnore .??*');
  emit(2, 'AllowMethods GET HEAD OPTIONS');
  emit(2, 'Require all granted');
  emit(1, '</Directory>');

  // Symlink options work only in <Directory>: Apache checks links while it walks directories,
  // before <Location> or <If> are merged.
  const symlinkRules = config.rules.filter((r) => r.symlinks !== undefined);
  for (const r of symlinkRules) {
    const prefix = directoryPrefix(r.glob);
    if (prefix === undefined) {
      notes.push(`rules[${r.index}].symlinks is not exported: Apache sets symlink options per directory, and ${JSON.stringify(r.glob)} does not name one directory and everything below it (/dir/**)`);
      continue;
    }
    emit(0, '', `${IND}# rules[${r.index}] ${JSON.stringify(r.glob)}: symlinks ${JSON.stringify(r.symlinks)}`);
    emit(1, `<Directory ${q(config.root + prefix)}>`);
    emit(2, `Options ${symlinkRelative(r.symlinks!)}`);
    emit(1, '</Directory>');
  }
  if (symlinkRules.length > 1) notes.push('Apache merges <Directory> sections shortest path first, not in file order: where two symlinks rules overlap, the deeper directory wins');

  // --- refusals -----------------------------------------------------------------------------
  /**
   * A refusal keycard hides is answered as a missing file would be: 404 for GET and HEAD, 200 for
   * OPTIONS, and AllowMethods' 405 for the rest (it runs before Require, which stays as a
   * backstop), so the method cannot tell a hidden path from an absent one.
   */
  const hidden = (depth: number, why: string): void => {
    emit(depth, `# ${why}`, `<If "%{REQUEST_METHOD} in {'GET', 'HEAD'}">`);
    emit(depth + 1, 'Redirect 404');
    emit(depth, '</If>', `<ElseIf "%{REQUEST_METHOD} != 'OPTIONS'">`);
    emit(depth + 1, 'Require all denied');
    emit(depth, '</ElseIf>');
  };
  /** Refuse here: 403, or 404 where keycard would hide it. `rule`: the rule known to match. */
  const refuse = (depth: number, why: string, rule: CompiledRule | undefined): void => {
    if (rule?.hide === true) return hidden(depth, `${why}, hidden by rules[${rule.index}].hide`);
    if (d.hideForbidden) return hidden(depth, `${why}, hidden by hideForbidden`);
    if (hides.length === 0) {
      emit(depth, `# ${why}`, 'Require all denied');
      return;
    }
    emit(depth, `<If "${hides.map(ref).join(' || ')}">`);
    hidden(depth + 1, `${why}, hidden by ${hides.map((r) => `rules[${r.index}].hide`).join(', ')}`);
    emit(depth, '</If>', '<Else>');
    emit(depth + 1, `# ${why}`, 'Require all denied');
    emit(depth, '</Else>');
  };

  /** An <If>/<ElseIf>/<Else> chain: the last matching rule that sets `field` decides. */
  const chain = <T>(depth: number, c: Cascade<T>, field: string, branch: (depth: number, v: T, key: string, rule: CompiledRule | undefined) => void, empty: (v: T) => boolean): void => {
    if (c.rules.length === 0) {
      branch(depth, c.fallback, field, undefined);
      return;
    }
    c.rules.forEach(({ rule, value }, i) => {
      emit(depth, `# rules[${rule.index}] ${JSON.stringify(rule.glob)}`, `<${i === 0 ? 'If' : 'ElseIf'} "${ref(rule)}">`);
      if (empty(value)) emit(depth + 1, '# nothing refused');
      else branch(depth + 1, value, `rules[${rule.index}].${field}`, rule);
      emit(depth, `</${i === 0 ? 'If' : 'ElseIf'}>`);
    });
    if (!empty(c.fallback)) {
      emit(depth, '<Else>');
      branch(depth + 1, c.fallback, field, undefined);
      emit(depth, '</Else>');
    }
  };

  const ipDeny = cascade(config, (r) => ruleIp(config, r).deny, d.ip.deny.map(cidrText));
  const ipAllow = cascade(config, (r) => ruleIp(config, r).allow, d.ip.allow.map(cidrText));
  const access = cascade<'allow' | 'deny'>(config, (r) => r.access, 'allow');
  const dotfiles = cascade(config, (r) => r.dotfiles, d.dotfiles);
  const hasRefusals = ipDeny.rules.length || ipDeny.fallback.length || ipAllow.rules.length || ipAllow.fallback.length || access.rules.length || dotfiles.rules.length || dotfiles.fallback !== 'allow';
  if (hasRefusals) {
    emit(0, '', `${IND}# Refusals by configuration, in keycard's order: IP ACL, access, dotfiles. Each section holds only`);
    emit(0, `${IND}# "Require all denied" (or "Redirect 404" where keycard hides the refusal), so none undoes another.`);
  }
  if (ipDeny.rules.length || ipDeny.fallback.length) {
    emit(0, `${IND}# ip.deny${ipDeny.rules.length ? ': the last matching rule that sets it wins' : ''}`);
    chain(1, ipDeny, 'ip.deny', (dp, list, key, rule) => {
      emit(dp, `<If "${ipExpr(list)}">`);
      refuse(dp + 1, key, rule);
      emit(dp, '</If>');
    }, (l) => l.length === 0);
  }
  if (ipAllow.rules.length || ipAllow.fallback.length) {
    emit(0, `${IND}# ip.allow: when not empty the client must match it${ipAllow.rules.length ? '; the last matching rule that sets it wins' : ''}`);
    chain(1, ipAllow, 'ip.allow', (dp, list, key, rule) => {
      emit(dp, `<If "!(${ipExpr(list)})">`);
      refuse(dp + 1, key, rule);
      emit(dp, '</If>');
    }, (l) => l.length === 0);
  }
  if (access.rules.length) {
    emit(0, `${IND}# access: the last matching rule that sets it wins`);
    chain(1, access, 'access', (dp, _v, key, rule) => refuse(dp, key, rule), (v) => v === 'allow');
  }
  if (dotfiles.rules.length || dotfiles.fallback !== 'allow') {
    emit(0, `${IND}# dotfiles: a path segment that starts with "."${dotfiles.rules.length ? '; the last matching rule that sets it wins' : ''}`);
    emit(1, `<If "%{REQUEST_URI} =~ m#/\\.#">`);
    chain(2, dotfiles, 'dotfiles', (dp, v, key, rule) => {
      if (v === 'deny') refuse(dp, `${key} "deny"`, rule);
      else if (v === 'ignore') emit(dp, `# ${key} "ignore"`, 'Redirect 404');
    }, (v) => v === 'allow');
    emit(1, '</If>');
  }

  // --- listing, per rule: Options merge option by option, in file order ----------------------
  const listingRules = config.rules.filter((r) => r.listing !== undefined || (r.dotfiles !== undefined && (r.dotfiles === 'allow') !== (d.dotfiles === 'allow')));
  if (listingRules.length) emit(0, '', `${IND}# listing, per rule (later sections win)`);
  for (const r of listingRules) {
    emit(1, `# rules[${r.index}] ${JSON.stringify(r.glob)}`, `<If "${ref(r)}">`);
    if (r.listing !== undefined) emit(2, `Options ${r.listing ? '+' : '-'}Indexes`);
    if (r.dotfiles === 'allow' && d.dotfiles !== 'allow') emit(2, 'IndexIgnoreReset ON');
    else if (r.dotfiles !== undefined && r.dotfiles !== 'allow' && d.dotfiles === 'allow') emit(2, 'IndexIgnore .??*');
    emit(1, '</If>');
  }

  // --- response headers ---------------------------------------------------------------------
  const plan = headerPlan(config);
  for (const key of plan.skipped) notes.push(`${key} is not exported: keycard does not send it either (a protected header or a value outside latin1)`);
  if (plan.replace.size || plan.vary.length) {
    emit(0, '', `${IND}# Response headers for successful responses; a later Header set replaces an earlier one, as in keycard`);
  }
  const emitHeader = (verb: 'set' | 'merge', name: string, s: HeaderSource): void => {
    if (s.rule === undefined) emit(1, `# ${s.key}`, `Header ${verb} ${name} ${headerValue(s.value)}`);
    else {
      emit(1, `# ${s.key} (${JSON.stringify(s.rule.glob)})`, `<If "${ref(s.rule)}">`);
      emit(2, `Header ${verb} ${name} ${headerValue(s.value)}`);
      emit(1, '</If>');
    }
  };
  for (const [name, sources] of plan.replace) for (const s of [...sources].reverse()) emitHeader('set', name, s);
  for (const s of plan.vary) emitHeader('merge', 'Vary', s);

  for (const r of used) notes.push(...globNotes(r));

  // --- assemble -----------------------------------------------------------------------------
  const out: string[] = [
    note(`Apache httpd 2.4 virtual host exported by \`keycard export apache\` from ${config.file ?? '(defaults)'}`),
    note('needs mod_authz_core, mod_authz_host, mod_alias, mod_dir, mod_autoindex, mod_mime, mod_headers, mod_allowmethods' + (d.trustProxy.length ? ', mod_remoteip' : '')),
    note('where this configuration does not answer as keycard does:'),
    ...notes.map((n) => note(`- ${n}`)),
    '',
    `Listen ${listen}`,
  ];
  const rules = config.rules.filter((r) => used.has(r));
  if (rules.length) {
    out.push('', '# Rule globs as expressions on the decoded, canonical path. The path is tested with a "/" added, so');
    out.push('# that "/private/**" also covers "/private", as in keycard. Define names are global: rename them if');
    out.push('# two exported hosts share one server.');
    for (const r of rules) {
      out.push(`# rules[${r.index}] ${JSON.stringify(r.glob)}`);
      out.push(`Define ${defineName(r)} "'%{REQUEST_URI}/' =~ m#${coverRegex(r, '"#\'\\')}#"`);
    }
  }
  out.push('', `<VirtualHost ${vhost}>`, ...body, '</VirtualHost>', '');
  return out.join('\n');
}
