// .htaccess as Apache reads it: one tree of per-directory files, served by Debian's apache2
// (AllowOverride All) and by keycard (`htaccess: true`), and the same request table run against
// both. Apache's answers are recorded by running it here, not written down by hand.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, runCli, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';
import { HAVE_APACHE, freePort, startApache, type RealServer } from '../helpers/real-servers.js';

const HTPASSWD = ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].find((p) => existsSync(p));
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

interface Row {
  path: string;
  headers?: Record<string, string>;
  /** keycard's answer; Apache must give the same unless `apache` says otherwise. */
  status: number;
  apache?: number;
  body?: string;
}

const ROWS: Row[] = [
  { path: '/open/a.txt', status: 200 },
  { path: '/denied/a.txt', status: 403 },
  { path: '/denied/missing.txt', status: 403 },
  { path: '/denied/', status: 403 },
  { path: '/denied', status: 403 },
  { path: '/denied/regranted/a.txt', status: 200 },
  { path: '/iponly/a.txt', status: 403 },
  { path: '/iplocal/a.txt', status: 200 },
  { path: '/notip/a.txt', status: 403 },
  { path: '/legacy-allow/a.txt', status: 200 },
  { path: '/legacy-deny/a.txt', status: 403 },
  { path: '/listing/', status: 200 },
  { path: '/nolisting/', status: 403 },
  { path: '/dirindex/', status: 200, body: 'home page' },
  { path: '/errdoc/missing.txt', status: 404, body: 'custom not found' },
  { path: '/files/secret.txt', status: 403 },
  { path: '/files/other.txt', status: 200 },
  { path: '/filesmatch/x.bak', status: 403 },
  { path: '/filesmatch/x.txt', status: 200 },
  { path: '/auth/a.txt', status: 401 },
  { path: '/auth/a.txt', headers: { Authorization: basic('alice', 'wonderland') }, status: 200 },
  { path: '/auth/a.txt', headers: { Authorization: basic('alice', 'nope') }, status: 401 },
  // A known user the Require does not admit: keycard says 403 (README); Apache asks again (401).
  { path: '/authuser/a.txt', headers: { Authorization: basic('alice', 'wonderland') }, status: 403, apache: 401 },
  { path: '/authany/a.txt', status: 200 },
  { path: '/syntax/a.txt', status: 500 },
  { path: '/ignored/a.txt', status: 200 },
  { path: '/open/.htaccess', status: 403 },
  { path: '/.htaccess', status: 403 },
  { path: '/links/link.txt', status: 200 },
  { path: '/nolinks/link.txt', status: 403 },
];

let fx: Fixture;
let keycard: Running;
let apache: RealServer | undefined;

beforeAll(async () => {
  const pw = HTPASSWD ? execFileSync(HTPASSWD, ['-nbB', 'alice', 'wonderland'], { encoding: 'utf8' }).trim() : 'alice:$2b$10$VfJBRGj18C3BLwWJV9ZQoO.RMXrZ/0ZbeQugyHKqUhlxjbrpSnJle';
  fx = makeTree({ conf: { dir: { htpasswd: pw + '\n' } }, site: { dir: {} } });
  const users = fx.path('conf', 'htpasswd');
  // The site is written here, now that the absolute path of the password file is known.
  const site = fx.path('site');
  const put = (rel: string, content: string): void => {
    const p = `${site}/${rel}`;
    mkdirSync(p.slice(0, p.lastIndexOf('/')), { recursive: true });
    writeFileSync(p, content);
  };
  put('.htaccess', 'Options -Indexes\n');
  put('open/a.txt', 'a');
  put('open/.htaccess', 'Require all granted\n');
  put('denied/.htaccess', 'Require all denied\n');
  put('denied/a.txt', 'a');
  put('denied/regranted/.htaccess', 'Require all granted\n');
  put('denied/regranted/a.txt', 'a');
  put('iponly/.htaccess', 'Require ip 10.0.0.0/8\n');
  put('iponly/a.txt', 'a');
  put('iplocal/.htaccess', 'Require ip 127.0.0.1\n');
  put('iplocal/a.txt', 'a');
  put('notip/.htaccess', '<RequireAll>\n  Require all granted\n  Require not ip 127.0.0.1\n</RequireAll>\n');
  put('notip/a.txt', 'a');
  put('legacy-allow/.htaccess', 'Order deny,allow\nDeny from all\nAllow from 127.0.0.1\n');
  put('legacy-allow/a.txt', 'a');
  put('legacy-deny/.htaccess', 'Order allow,deny\nAllow from 10.0.0.0/8\n');
  put('legacy-deny/a.txt', 'a');
  put('listing/.htaccess', 'Options +Indexes\n');
  put('listing/a.txt', 'a');
  put('nolisting/a.txt', 'a');
  put('dirindex/.htaccess', 'DirectoryIndex home.html\n');
  put('dirindex/home.html', 'home page');
  put('errdoc/.htaccess', 'ErrorDocument 404 "custom not found"\n');
  put('files/.htaccess', '<Files "secret.txt">\n  Require all denied\n</Files>\n');
  put('files/secret.txt', 's');
  put('files/other.txt', 'o');
  put('filesmatch/.htaccess', '<FilesMatch "\\.bak$">\n  Require all denied\n</FilesMatch>\n');
  put('filesmatch/x.bak', 'b');
  put('filesmatch/x.txt', 't');
  put('auth/.htaccess', `AuthType Basic\nAuthName "Staff"\nAuthUserFile ${users}\nRequire valid-user\n`);
  put('auth/a.txt', 'a');
  put('authuser/.htaccess', `AuthType Basic\nAuthName "Staff"\nAuthUserFile ${users}\nRequire user bob\n`);
  put('authuser/a.txt', 'a');
  put('authany/.htaccess', `AuthType Basic\nAuthName "Staff"\nAuthUserFile ${users}\nRequire valid-user\nRequire ip 127.0.0.1\n`);
  put('authany/a.txt', 'a');
  put('syntax/.htaccess', 'Require bogus words\n');
  put('syntax/a.txt', 'a');
  put('ignored/.htaccess', 'Header set X-Example yes\n');
  put('ignored/a.txt', 'a');
  put('links/.htaccess', 'Options +FollowSymLinks\n');
  put('links/target.txt', 't');
  symlinkSync('target.txt', `${site}/links/link.txt`);
  put('nolinks/target.txt', 't');
  // A listed directory whose entries each meet a different .htaccess verdict.
  put('listed/.htaccess', 'Options +Indexes\n<Files "secret.txt">\n  Require all denied\n</Files>\n');
  put('listed/open.txt', 'o');
  put('listed/secret.txt', 's');
  put('listed/closed/.htaccess', 'Require all denied\n');
  put('listed/closed/a.txt', 'a');
  put('listed/login/.htaccess', `AuthType Basic\nAuthName "Staff"\nAuthUserFile ${users}\nRequire valid-user\n`);
  put('listed/login/a.txt', 'a');
  put('listed/broken/.htaccess', 'Require bogus words\n');
  put('listed/broken/a.txt', 'a');
  put('listed/nofile/.htaccess', `AuthType Basic\nAuthName "Staff"\nAuthUserFile ${users}-missing\nRequire valid-user\n`);
  put('listed/nofile/a.txt', 'a');
  symlinkSync('target.txt', `${site}/nolinks/link.txt`);

  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, htaccess: true, dotfiles: 'allow', symlinks: 'deny', ...(SERVER_USER ? { user: SERVER_USER } : {}) });
  keycard = await startServer(['--config', config]);
  if (HAVE_APACHE) {
    const port = await freePort();
    const vhost = [
      `Listen 127.0.0.1:${port}`,
      `<VirtualHost 127.0.0.1:${port}>`,
      `  DocumentRoot "${site}"`,
      `  <Directory "${site}">`,
      '    AllowOverride All',
      '    Options -Indexes -FollowSymLinks',
      '    Require all granted',
      '  </Directory>',
      '  <Files ".ht*">',
      '    Require all denied',
      '  </Files>',
      '  DirectoryIndex index.html',
      '</VirtualHost>',
      '',
    ].join('\n');
    apache = await startApache(fx.path('apache'), vhost, port, ['auth_basic', 'authn_file', 'authn_core', 'authz_user', 'authz_groupfile', 'access_compat']);
  }
});

afterAll(async () => {
  await keycard?.stop();
  await apache?.stop();
  fx?.cleanup();
});

describe('keycard reads .htaccess', () => {
  it.each(ROWS.map((r) => [`${r.path}${r.headers ? ' (credentials)' : ''}`, r] as const))('%s', async (_name, row) => {
    const res = await request(keycard.port, { path: row.path, headers: row.headers ?? {} });
    expect(res.status).toBe(row.status);
    if (row.body !== undefined) expect(res.text).toContain(row.body);
    if (row.status === 401) expect(res.headers['www-authenticate']).toBe('Basic realm="Staff", charset="UTF-8"');
  });

  it('names the file and line of a syntax error, and reports ignored directives', () => {
    expect(keycard.stderr()).toMatch(/syntax\/\.htaccess:1: error: Require bogus words/);
    expect(keycard.stderr()).toMatch(/ignored\/\.htaccess:1: ignored: Header/);
  });

  it('explain shows the .htaccess in the trace', () => {
    const r = runCli(['explain', '/denied/a.txt', '--config', fx.path('server.config.json')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('KC330 HTACCESS_DENIED');
    expect(r.stdout).toMatch(/htaccess\s+read .*denied\/\.htaccess/);
  });
});

describe('a listing judges each entry by the .htaccess files a click on it would meet', () => {
  const listed = async (headers: Record<string, string> = {}) => {
    const res = await request(keycard.port, { path: '/listed/', headers });
    expect(res.status).toBe(200);
    return [...res.text.matchAll(/<a href="[^"]*">([^<]*)<\/a><\/td>.*?(<td class="denied">forbidden<\/td>)?<\/tr>/g)]
      .map((m) => m[1] + (m[2] ? ' (forbidden)' : ''))
      .filter((n) => n !== 'Parent Directory');
  };

  it('refused (403) is marked; behind a login or a broken file it is left out', async () => {
    // .htaccess itself is listed (dotfiles "allow") and refused, as a .ht* file always is.
    expect(await listed()).toEqual(['.htaccess (forbidden)', 'closed/ (forbidden)', 'open.txt', 'secret.txt (forbidden)']);
    for (const [path, status] of [['/listed/secret.txt', 403], ['/listed/closed/', 403], ['/listed/login/', 401], ['/listed/broken/', 500], ['/listed/open.txt', 200]] as const) {
      expect((await request(keycard.port, { path })).status).toBe(status);
    }
  });

  it('with a valid login, the entry behind it is listed; one whose password file is missing is not', async () => {
    const names = await listed({ Authorization: basic('alice', 'wonderland') });
    expect(names).toContain('login/');
    expect(names).not.toContain('nofile/');
    expect((await request(keycard.port, { path: '/listed/nofile/', headers: { Authorization: basic('alice', 'wonderland') } })).status).toBe(500);
  });
});

describe.skipIf(!HAVE_APACHE)('Apache httpd answers the same', () => {
  it.each(ROWS.map((r) => [`${r.path}${r.headers ? ' (credentials)' : ''}`, r] as const))('%s', async (_name, row) => {
    const res = await request(apache!.port, { path: row.path, headers: row.headers ?? {} });
    expect(res.status).toBe(row.apache ?? row.status);
    if (row.body !== undefined) expect(res.text).toContain(row.body);
  });
});

describe('check and audit report what keycard does not read', () => {
  it('lists ignored directives and syntax errors with file and line', () => {
    const config = fx.path('server.config.json');
    const check = runCli(['check', '--config', config]);
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/ignored\/\.htaccess:1: ignored: Header/);
    expect(check.stdout).toMatch(/syntax\/\.htaccess:1: error \(the directory answers 500\): Require bogus words/);
    const audit = runCli(['audit', '--json', '--config', config, ...(SERVER_USER ? ['--as', SERVER_USER] : [])]);
    const out = JSON.parse(audit.stdout);
    expect(out.htaccess.map((i: { kind: string; line: number }) => `${i.kind}:${i.line}`)).toEqual(expect.arrayContaining(['ignored:1', 'error:1']));
    expect(out.entries.find((e: { path: string }) => e.path === '/denied/a.txt').code).toBe('KC330');
  });
});
