// keycard export: the generated Apache and nginx text. Golden files for a representative config
// (test/golden/export-*.conf; UPDATE_GOLDEN=1 rewrites them), one check per construct that it
// emits the directive expected, and a differential test of the rule regexes against keycard's
// own ruleMatches. test/e2e/export.test.ts runs the output in the real servers.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { ruleMatches } from '../../src/policy/effective.js';
import { exportApache } from '../../src/export/apache.js';
import { exportNginx } from '../../src/export/nginx.js';
import { coverRegex, headerPlan, pathRegex } from '../../src/export/common.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../golden');

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

function config(raw: Record<string, unknown>): Config {
  const loaded = loadConfig({ raw: { root: '/srv/site', port: 8080, ...raw }, rootMayBeMissing: true, cwd: '/srv', env: {} });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

const REPRESENTATIVE = {
  host: '127.0.0.1',
  port: 8080,
  index: ['index.html', 'index.htm'],
  trustProxy: ['10.0.0.1', '::ffff:10.0.0.2'],
  ip: { deny: ['192.0.2.0/24'] },
  cacheControl: 'max-age=60',
  headers: { 'X-Frame-Options': 'DENY', Vary: 'Origin' },
  errorPages: { '403': 'errors/403.html', '404': '/errors/not found.html' },
  rules: [
    { path: '/private/**', access: 'deny' },
    { path: '/private/open/**', access: 'allow' },
    { path: '/secret-area/**', access: 'deny', hide: true },
    { path: '/files/**', listing: true, symlinks: 'follow' },
    { path: '/dot-ignore/**', dotfiles: 'ignore' },
    { path: '/office/**', ip: { allow: ['10.9.9.0/24', '2001:db8::/32'] } },
    { path: '/assets/*.css', cacheControl: 'public, max-age=31536000', headers: { 'X-Kc': '100% "quoted" $HOME' } },
  ],
};

describe('keycard export: golden files', () => {
  it('apache', () => golden('export-apache.conf', exportApache(config(REPRESENTATIVE))));
  it('nginx', () => golden('export-nginx.conf', exportNginx(config(REPRESENTATIVE))));
});

const notes = (text: string): string => text.split('\n').filter((l) => l.startsWith('# keycard: ')).join('\n');
const directives = (text: string): string => text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');

describe('keycard export apache: each construct', () => {
  it('listens on the host and port, with the vhost on the same address', () => {
    const out = exportApache(config({ host: '::1', port: 8443 }));
    expect(out).toMatch(/^Listen \[::1\]:8443$/m);
    expect(out).toMatch(/^<VirtualHost \[::1\]:8443>$/m);
    const any = exportApache(config({ host: '0.0.0.0', port: 8080 }));
    expect(any).toMatch(/^Listen 0\.0\.0\.0:8080$/m);
    expect(any).toMatch(/^<VirtualHost \*:8080>$/m);
    expect(any).not.toMatch(/ServerName/);
  });

  it('port 0 becomes 80, with a note', () => {
    const out = exportApache(config({ port: 0 }));
    expect(out).toMatch(/^Listen 127\.0\.0\.1:80$/m);
    expect(notes(out)).toContain('port 0');
  });

  it('root, index and the root directory, quoted', () => {
    const out = exportApache(config({ root: '/srv/my "site"\\x', index: ['index.html', 'home page.html'] }));
    expect(out).toContain('DocumentRoot "/srv/my \\"site\\"\\\\x"');
    expect(out).toContain('<Directory "/srv/my \\"site\\"\\\\x">');
    expect(out).toContain('DirectoryIndex index.html "home page.html"');
    expect(exportApache(config({ index: [] }))).toContain('DirectoryIndex disabled');
  });

  it('listing and symlinks build Options from scratch', () => {
    expect(exportApache(config({ listing: true, symlinks: 'follow' }))).toContain('Options Indexes FollowSymLinks');
    expect(exportApache(config({ symlinks: 'owner-match' }))).toContain('Options SymLinksIfOwnerMatch');
    expect(exportApache(config({ symlinks: 'deny' }))).toContain('Options None');
    const inside = exportApache(config({ symlinks: 'inside-root' }));
    expect(inside).toContain('Options SymLinksIfOwnerMatch');
    expect(notes(inside)).toContain('symlinks "inside-root" has no Apache equivalent');
  });

  it('dotfiles: deny refuses, ignore is a 404, allow emits nothing', () => {
    const deny = exportApache(config({ dotfiles: 'deny' }));
    expect(deny).toContain('<If "%{REQUEST_URI} =~ m#/\\.#">');
    expect(deny).toMatch(/# dotfiles "deny"\n\s+Require all denied/);
    expect(deny).toContain('IndexIgnore .??*');
    expect(exportApache(config({ dotfiles: 'ignore' }))).toMatch(/# dotfiles "ignore"\n\s+Redirect 404/);
    const allow = exportApache(config({ dotfiles: 'allow' }));
    expect(allow).not.toContain('REQUEST_URI} =~ m#/\\.#');
    expect(allow).not.toContain('IndexIgnore');
  });

  it('a rule dotfiles overrides the global one, later rule first', () => {
    const out = exportApache(config({ rules: [{ path: '/a/**', dotfiles: 'allow' }, { path: '/a/b/**', dotfiles: 'ignore' }] }));
    const dot = out.slice(out.indexOf('# dotfiles:'));
    expect(dot.indexOf('<If "${kc8080_r1}">')).toBeLessThan(dot.indexOf('<ElseIf "${kc8080_r0}">'));
    expect(dot).toMatch(/<Else>\n\s+# dotfiles "deny"\n\s+Require all denied/);
    expect(out).toContain('IndexIgnoreReset ON');
  });

  it('IP ACLs: -R expressions, allow negated', () => {
    const out = exportApache(config({ ip: { allow: ['10.0.0.0/8', '::ffff:192.0.2.1'], deny: ['10.6.6.6'] } }));
    expect(out).toContain(`<If "-R '10.6.6.6'">`);
    expect(out).toContain(`<If "!(-R '10.0.0.0/8' || -R '192.0.2.1')">`);
  });

  it('a rule: access deny, its later allow, hide, listing and ip, each in a section on the rule', () => {
    const out = exportApache(config(REPRESENTATIVE));
    expect(out).toMatch(/^Define kc8080_r0 "'%\{REQUEST_URI\}\/' =~ m#\^.*#"$/m);
    expect(out).toMatch(/<If "\$\{kc8080_r2\}">\n\s+# rules\[2\]\.access, hidden by rules\[2\]\.hide\n\s+<If "%\{REQUEST_METHOD\} in \{'GET', 'HEAD'\}">\n\s+Redirect 404/);
    expect(out).toMatch(/<ElseIf "\$\{kc8080_r1\}">\n\s+# nothing refused/);
    expect(out).toMatch(/<ElseIf "\$\{kc8080_r0\}">\n\s+<If "\$\{kc8080_r2\}">/);
    expect(out).toMatch(/<If "\$\{kc8080_r3\}">\n\s+Options \+Indexes/);
    expect(out).toContain(`<If "!(-R '10.9.9.0/24' || -R '2001:db8::/32')">`);
  });

  it('hideForbidden refuses with Redirect 404 everywhere, and says what stays 403', () => {
    const out = exportApache(config({ hideForbidden: true }));
    expect(out).toMatch(/# dotfiles "deny", hidden by hideForbidden\n\s+<If "%\{REQUEST_METHOD\} in \{'GET', 'HEAD'\}">\n\s+Redirect 404/);
    expect(directives(out)).not.toMatch(/^\s*<Else>\n\s+Require all denied/m);
    expect(out).toMatch(/<ElseIf "%\{REQUEST_METHOD\} != 'OPTIONS'">\n\s+Require all denied/);
    expect(notes(out)).toContain('hideForbidden answers 404 only for refusals by configuration');
  });

  it('rule symlinks: a <Directory> for /dir/**, a note for any other glob', () => {
    const out = exportApache(config({ rules: [{ path: '/links/**', symlinks: 'deny' }, { path: '/*.lnk', symlinks: 'follow' }] }));
    expect(out).toMatch(/<Directory "\/srv\/site\/links">\n\s+Options -FollowSymLinks -SymLinksIfOwnerMatch/);
    expect(notes(out)).toContain('rules[1].symlinks is not exported');
  });

  it('error pages, trustProxy, signature, methods', () => {
    const out = exportApache(config({ ...REPRESENTATIVE, serverSignature: false }));
    expect(out).toContain('ErrorDocument 403 /errors/403.html');
    expect(out).toContain('ErrorDocument 404 /errors/not%20found.html');
    expect(out).toContain('RemoteIPHeader X-Forwarded-For');
    expect(out).toContain('RemoteIPInternalProxy 10.0.0.1 10.0.0.2');
    expect(out).toContain('ServerSignature Off');
    expect(out).toContain('AllowMethods GET HEAD OPTIONS');
    expect(out).toContain('TraceEnable Off');
    expect(notes(out)).toContain('DELETE /.env is 405 here');
  });

  it('headers: cacheControl first, rules in order, % escaped, Vary merged', () => {
    const out = exportApache(config(REPRESENTATIVE));
    const cc = out.indexOf('Header set Cache-Control "max-age=60"');
    const ccRule = out.indexOf('Header set Cache-Control "public, max-age=31536000"');
    expect(cc).toBeGreaterThan(0);
    expect(ccRule).toBeGreaterThan(cc);
    expect(out).toContain('Header set X-Kc "100%% \\"quoted\\" $HOME"');
    expect(out).toContain('Header merge Vary "Origin"');
  });

  it('every line but comments is a directive: no trailing comments, which Apache would read as arguments', () => {
    for (const line of exportApache(config(REPRESENTATIVE)).split('\n')) {
      if (/^\s*#/.test(line) || line.startsWith('Define ')) continue;
      expect(line).not.toMatch(/\s#\s/);
    }
  });
});

describe('keycard export nginx: each construct', () => {
  it('listen, server_name, root, index, relative redirects', () => {
    const out = exportNginx(config({ host: '::1', port: 8443, index: ['index.html', 'home.htm'] }));
    expect(out).toMatch(/^ {4}listen \[::1\]:8443;$/m);
    expect(out).toMatch(/^ {4}server_name \[::1\];$/m);
    expect(out).toContain('root "/srv/site";');
    expect(out).toContain('index "index.html" "home.htm";');
    expect(out).toContain('absolute_redirect off;');
  });

  it('a literal $ goes through a geo variable', () => {
    const out = exportNginx(config({ root: '/srv/$site' }));
    expect(out).toContain('root "/srv/${kc8080_dollar}site";');
    expect(out).toMatch(/geo \$kc8080_dollar \{\n\s+default "\$";\n\}/);
  });

  it('listing, symlinks, defaultType, compression', () => {
    const out = exportNginx(config({ listing: true, symlinks: 'owner-match', defaultType: 'text/plain' }));
    expect(out).toContain('autoindex on;');
    expect(out).toContain('disable_symlinks if_not_owner from=$document_root;');
    expect(out).toContain('default_type "text/plain";');
    expect(out).toContain('gzip on;');
    expect(out).toContain('gzip_static on;');
    expect(exportNginx(config({ symlinks: 'follow' }))).toContain('disable_symlinks off;');
    expect(exportNginx(config({ symlinks: 'deny' }))).toContain('disable_symlinks on from=$document_root;');
    expect(notes(exportNginx(config({})))).toContain('symlinks "inside-root" has no nginx equivalent');
  });

  it('refusals are maps ending in one decision, checked before any location', () => {
    const out = exportNginx(config(REPRESENTATIVE));
    expect(out).toMatch(/map "\$uri\/" \$kc8080_r0 \{\n\s+volatile;\n\s+"~\^.*" 1;\n\s+default 0;\n\}/);
    expect(out).toMatch(/map "\$\{kc8080_r2\}\$\{kc8080_r1\}\$\{kc8080_r0\}" \$kc8080_access \{\n\s+volatile;\n\s+"~\^1" 1;  # rules\[2\]\.access\n\s+"~\^\.1" 0;  # rules\[1\]\.access\n\s+"~\^\.\.1" 1;  # rules\[0\]\.access\n\s+default 0;/);
    expect(out).toMatch(/geo \$kc8080_in_ip_deny \{\n\s+default 0;\n\s+192\.0\.2\.0\/24 1;\n\}/);
    expect(out).toMatch(/geo \$kc8080_out_r5_ip_allow \{\n\s+default 1;\n\s+10\.9\.9\.0\/24 0;\n\s+2001:db8::\/32 0;\n\}/);
    expect(out).toContain('map "${kc8080_in_ip_deny}${kc8080_ip_allow}${kc8080_access}:${kc8080_dotfiles}${kc8080_dot}:${kc8080_hide}:$request_method" $kc8080_refuse {');
    expect(out).toContain('"~^(?:1|.1|..1).*:1:" 405;');
    const server = out.slice(out.indexOf('server {'));
    expect(server.indexOf('if ($kc8080_refuse = 403) { return 403; }')).toBeLessThan(server.indexOf('location ~'));
    expect(server).toContain('if ($kc8080_refuse = 404) { return 404; }');
    expect(server).toContain('if ($kc8080_refuse = 405) { return 405; }');
    // every map is volatile, so an error page or index redirect is judged under its own path
    const maps = out.split('\n').filter((l) => l.startsWith('map '));
    const volatile = out.match(/^map [^\n]*\{\n\s+volatile;/gm) ?? [];
    expect(volatile.length).toBe(maps.length);
  });

  it('no refusal possible: no maps, no if', () => {
    const out = directives(exportNginx(config({ dotfiles: 'allow' })));
    expect(out).not.toContain('map ');
    expect(out).not.toContain('if (');
  });

  it('hideForbidden turns every 403 into the 404 page', () => {
    expect(exportNginx(config({ hideForbidden: true, errorPages: { '404': 'e/404.html' } }))).toContain('error_page 403 =404 "/e/404.html";');
    const out = exportNginx(config({ hideForbidden: true }));
    expect(out).toContain('error_page 403 =404 @kc8080_hidden;');
    expect(out).toContain('location @kc8080_hidden { return 404; }');
  });

  it('error pages and trustProxy', () => {
    const out = exportNginx(config(REPRESENTATIVE));
    expect(out).toContain('error_page 403 "/errors/403.html";');
    expect(out).toContain('error_page 404 "/errors/not found.html";');
    expect(out).toContain('set_real_ip_from 10.0.0.1;');
    expect(out).toContain('set_real_ip_from 10.0.0.2;');
    expect(out).toContain('real_ip_recursive on;');
  });

  it('headers: one add_header per name, a map when rules set it; Vary from every source', () => {
    const out = exportNginx(config(REPRESENTATIVE));
    expect(out).toMatch(/map "\$\{kc8080_r6\}" \$kc8080_h0 \{\n\s+volatile;\n\s+"~\^1" "public, max-age=31536000";  # rules\[6\]\.cacheControl\n\s+default "max-age=60";  # cacheControl/);
    expect(out).toContain('add_header Cache-Control $kc8080_h0;');
    expect(out).toContain('add_header X-Frame-Options "DENY";  # headers.X-Frame-Options');
    expect(out).toContain('"~^1" "100% \\"quoted\\" ${kc8080_dollar}HOME";  # rules[6].headers.X-Kc');
    expect(out).toContain('add_header Vary "Origin";');
  });

  it('listing and symlinks rules are locations, last rule first, with a note on first match', () => {
    const out = exportNginx(config({ rules: [{ path: '/a/**', listing: true }, { path: '/a/b/**', symlinks: 'deny' }] }));
    const a = out.indexOf('# rules[0] "/a/**"\n    location ~');
    const b = out.indexOf('# rules[1] "/a/b/**"\n    location ~');
    expect(b).toBeGreaterThan(0);
    expect(a).toBeGreaterThan(b);
    expect(notes(out)).toContain('nginx takes the first matching location');
  });
});

describe('keycard export: notes both targets carry', () => {
  it.each([['apache', exportApache], ['nginx', exportNginx]] as const)('%s', (_name, fn) => {
    const out = notes(fn(config({ user: 'www-data', explainErrors: true, errorPages: { '404': 'e.html' } })));
    expect(out).toContain('user "www-data"');
    expect(out).toContain('explainErrors has no equivalent');
    expect(out).toContain('an index file is looked up under its own path');
    expect(out).toContain('an error page is fetched through the rules');
  });
});

describe('headerPlan', () => {
  it('a headers Cache-Control beats cacheControl at every level', () => {
    const plan = headerPlan(config({ cacheControl: 'a', headers: { 'cache-control': 'b' }, rules: [{ path: '/x/**', cacheControl: 'c' }] }));
    expect(plan.replace.get('cache-control')!.map((s) => s.key)).toEqual(['headers.cache-control']);
  });

  it('skips what keycard never sends', () => {
    const plan = headerPlan(config({ headers: { ETag: 'x', 'X-Ok': 'y' } }));
    expect(plan.skipped).toEqual(['headers.ETag']);
    expect([...plan.replace.keys()]).toEqual(['X-Ok']);
  });
});

// The PCRE the exports use, read back as a JavaScript RegExp: `\z` is `$` without the m flag.
function asJs(pcre: string): RegExp {
  return new RegExp(pcre.replace(/\\z/g, '$'));
}

describe('rule regexes agree with keycard\'s ruleMatches', () => {
  const GLOBS = ['/private/**', '/private/*', '/a/*.txt', '/x/', '/x', '/{a,b}/**', '/a?c', '/[ab]x', '/a/**/b', '**/*.md', '/secret-area/**', '/a/+(x|y)', '/**', '/*/.git/**', '/a b/**', '/#x"/**'];
  const rules = config({ rules: GLOBS.map((p) => ({ path: p, access: 'deny' })) }).rules;
  const segment = fc.constantFrom('a', 'b', 'x', 'y', 'c', 'abc', 'ax', 'bx', 'a.txt', 'b.md', '.git', 'private', 'secret-area', 'a b', '#x"', 'é', '\n');
  const paths = fc.tuple(fc.array(segment, { maxLength: 5 }), fc.boolean()).map(([segs, slash]) => '/' + segs.join('/') + (slash && segs.length ? '/' : ''));

  it.each(rules.map((r) => [r.glob, r] as const))('%s', (_glob, rule) => {
    const cover = asJs(coverRegex(rule, '"#\'\\'));
    const plain = asJs(pathRegex(rule));
    fc.assert(
      fc.property(paths, (p) => {
        expect(cover.test(p + '/'), `cover ${p}`).toBe(ruleMatches(rule, p));
        expect(plain.test(p), `path ${p}`).toBe(rule.re.test(p));
      }),
      { numRuns: 400 },
    );
  });
});
