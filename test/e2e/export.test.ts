// `keycard export apache|nginx`, tested for real: the exported configuration is loaded by the
// installed Apache httpd and nginx (each with a minimal wrapper config written here), and one
// request table runs against keycard and against each. Every row must get the same status (and,
// where the row says, the same headers and error page). A row a target cannot match is left
// out for that target, and the generated text must carry the `# keycard:` note that says so.
//
// Skipped cleanly when apache2 or nginx is not installed (CI installs both). When the tests run
// as root, keycard runs as `nobody` and Apache and nginx as `www-data`, so file modes count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { runCli, startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';
import { HAVE_APACHE, HAVE_NGINX, freePort, startApache, startNginx } from '../helpers/real-servers.js';

type Target = 'keycard' | 'apache' | 'nginx';

interface Row {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  /** keycard's status; every target that is not excused must give the same. */
  status: number;
  /** Response headers that must match too. */
  expectHeaders?: Record<string, string>;
  /** A substring of the body (the custom error page). */
  body?: string;
  /** Targets that cannot match, with a substring of the `# keycard:` note that says so. */
  not?: Partial<Record<'apache' | 'nginx', string>>;
}

const TREE = {
  site: {
    dir: {
      'hello.txt': 'hello\n',
      '.env': 'SECRET=1\n',
      'mode000.txt': { content: 'secret', mode: 0o000 },
      'link-in.txt': { symlink: 'hello.txt' },
      'link-out.txt': { symlink: '../outside.txt' },
      'link-broken': { symlink: 'nowhere.txt' },
      private: { dir: { 'a.txt': 'private', sub: { dir: { 'b.txt': 'b' } }, open: { dir: { 'x.txt': 'open' } } } },
      'secret-area': { dir: { 'plans.txt': 'plans' } },
      nolist: { dir: { 'a.txt': 'a' } },
      list: { dir: { 'a.txt': 'a', '.hidden': 'h' } },
      withindex: { dir: { 'index.html': '<h1>index</h1>\n' } },
      'dot-ignore': { dir: { '.secret': 's', 'visible.txt': 'v' } },
      ipallow: { dir: { 'secret.txt': 's' } },
      ipdeny: { dir: { 'x.txt': 'x' } },
      cached: { dir: { 'a.txt': 'a' } },
      'dot-allow': { dir: { '.ok.txt': 'ok' } },
      links: { dir: { 'in.txt': { symlink: '../hello.txt' } } },
      errors: { dir: { '404.html': '<h1>custom not found</h1>\n', '403.html': '<h1>custom forbidden</h1>\n' } },
    },
  },
  'outside.txt': 'outside\n',
};

const CONFIG = {
  root: 'site',
  trustProxy: ['127.0.0.1'],
  cacheControl: 'max-age=60',
  headers: { 'X-Frame-Options': 'DENY' },
  errorPages: { '403': 'errors/403.html', '404': 'errors/404.html' },
  rules: [
    { path: '/private/**', access: 'deny' },
    { path: '/private/open/**', access: 'allow' },
    { path: '/secret-area/**', access: 'deny', hide: true },
    { path: '/list/**', listing: true },
    { path: '/dot-ignore/**', dotfiles: 'ignore' },
    { path: '/ipallow/**', ip: { allow: ['10.9.9.0/24'] } },
    { path: '/ipdeny/**', ip: { deny: ['127.0.0.0/8', '::1'] } },
    { path: '/cached/**', cacheControl: 'no-store', headers: { 'X-Kc': 'cost $5 100%' } },
    { path: '/dot-allow/**', dotfiles: 'allow' },
    { path: '/links/**', symlinks: 'deny' },
  ],
};

const ROWS: Row[] = [
  { name: 'a plain file', path: '/hello.txt', status: 200, expectHeaders: { 'cache-control': 'max-age=60', 'x-frame-options': 'DENY' } },
  { name: 'a dotfile (dotfiles "deny")', path: '/.env', status: 403, body: 'custom forbidden' },
  { name: 'a missing dotfile', path: '/.nonexistent', status: 403 },
  { name: 'a dotfile under a rule dotfiles "ignore"', path: '/dot-ignore/.secret', status: 404, body: 'custom not found' },
  { name: 'a plain file under that rule', path: '/dot-ignore/visible.txt', status: 200 },
  { name: 'a dotfile under a rule dotfiles "allow"', path: '/dot-allow/.ok.txt', status: 200 },
  { name: 'access "deny": a file', path: '/private/a.txt', status: 403, body: 'custom forbidden' },
  { name: 'access "deny": a missing file', path: '/private/missing.txt', status: 403 },
  { name: 'access "deny": the directory with its slash', path: '/private/', status: 403 },
  { name: 'access "deny": the directory without its slash', path: '/private', status: 403 },
  { name: 'access "deny": a subdirectory without its slash', path: '/private/sub', status: 403 },
  { name: 'access "deny": a doubled slash', path: '//private/a.txt', status: 403 },
  { name: 'access "deny": an encoded letter', path: '/%70rivate/a.txt', status: 403 },
  { name: 'access "deny": a dot-dot inside the root', path: '/x/../private/a.txt', status: 403 },
  { name: 'a later rule access "allow" wins', path: '/private/open/x.txt', status: 200 },
  { name: 'hide: a file', path: '/secret-area/plans.txt', status: 404, body: 'custom not found' },
  { name: 'hide: a missing file', path: '/secret-area/missing.txt', status: 404 },
  { name: 'hide: the directory with its slash', path: '/secret-area/', status: 404 },
  { name: 'hide: the directory without its slash', path: '/secret-area', status: 404 },
  { name: 'a directory with no index and listing off', path: '/nolist/', status: 403 },
  { name: 'a directory without its slash', path: '/nolist', status: 301 },
  { name: 'a listed directory (rule listing: true)', path: '/list/', status: 200 },
  { name: 'a listed directory without its slash', path: '/list', status: 301 },
  { name: 'a directory with an index', path: '/withindex/', status: 200 },
  { name: 'ip.allow the loopback client fails', path: '/ipallow/secret.txt', status: 403 },
  { name: 'ip.allow through a trusted proxy', path: '/ipallow/secret.txt', headers: { 'X-Forwarded-For': '10.9.9.5' }, status: 200 },
  { name: 'ip.allow, rightmost untrusted hop', path: '/ipallow/secret.txt', headers: { 'X-Forwarded-For': '10.9.9.5, 192.0.2.7' }, status: 403 },
  { name: 'ip.deny: a file', path: '/ipdeny/x.txt', status: 403 },
  { name: 'ip.deny: a missing file', path: '/ipdeny/missing.txt', status: 403 },
  { name: 'a missing file, with the custom 404 page', path: '/missing.txt', status: 404, body: 'custom not found' },
  { name: 'an unreadable file', path: '/mode000.txt', status: 403 },
  { name: 'a symlink inside the root', path: '/link-in.txt', status: 200 },
  { name: 'a symlink out of the root', path: '/link-out.txt', status: 403, not: { apache: 'symlinks "inside-root" has no Apache equivalent', nginx: 'symlinks "inside-root" has no nginx equivalent' } },
  { name: 'a symlink under a rule symlinks "deny"', path: '/links/in.txt', status: 403 },
  { name: 'a dangling symlink', path: '/link-broken', status: 403, not: { nginx: 'a dangling symlink' } },
  { name: 'rule cacheControl and headers', path: '/cached/a.txt', status: 200, expectHeaders: { 'cache-control': 'no-store', 'x-kc': 'cost $5 100%', 'x-frame-options': 'DENY' } },
  { name: 'POST to a file', method: 'POST', path: '/hello.txt', status: 405 },
  { name: 'OPTIONS', method: 'OPTIONS', path: '/hello.txt', status: 200, not: { nginx: 'OPTIONS is 405 in nginx' } },
  { name: 'OPTIONS on a hidden path', method: 'OPTIONS', path: '/secret-area/plans.txt', status: 200, not: { nginx: 'OPTIONS is 405 in nginx' } },
  { name: 'OPTIONS on a missing file', method: 'OPTIONS', path: '/missing.txt', status: 200, not: { nginx: 'OPTIONS is 405 in nginx' } },
  { name: 'DELETE on a hidden path', method: 'DELETE', path: '/secret-area/plans.txt', status: 405 },
  { name: 'DELETE on a missing file', method: 'DELETE', path: '/missing.txt', status: 405 },
  { name: 'POST on a hidden path', method: 'POST', path: '/secret-area/plans.txt', status: 405, not: { nginx: 'POST for a missing file 404' } },
  { name: 'DELETE on an ignored dotfile', method: 'DELETE', path: '/dot-ignore/.secret', status: 404 },
  { name: 'an unknown method', method: 'FOO', path: '/hello.txt', status: 501, not: { apache: 'an unknown method is 405 here', nginx: 'an unknown method 405' } },
  { name: 'DELETE on a dotfile', method: 'DELETE', path: '/.env', status: 403, not: { apache: 'DELETE /.env is 405 here' } },
  { name: 'a dot-dot above the root', path: '/../etc/passwd', status: 400 },
  { name: 'an encoded slash', path: '/private%2fa.txt', status: 404, not: { nginx: 'nginx decodes %2F' } },
];

// hideForbidden: nginx masks every 403 (error_page 403 =404); Apache only the configured refusals.
const HIDE_CONFIG = { root: 'site' as const, hideForbidden: true };
const HIDE_ROWS: Row[] = [
  { name: 'a plain file', path: '/hello.txt', status: 200 },
  { name: 'a dotfile', path: '/.env', status: 404 },
  { name: 'DELETE on a dotfile, as on a missing file', method: 'DELETE', path: '/.env', status: 405 },
  { name: 'OPTIONS on a dotfile, as on a missing file', method: 'OPTIONS', path: '/.env', status: 200, not: { nginx: 'OPTIONS is 405 in nginx' } },
  { name: 'a missing file', path: '/missing.txt', status: 404 },
  { name: 'a directory with no index and listing off', path: '/nolist/', status: 404, not: { apache: 'hideForbidden answers 404 only for refusals by configuration' } },
  { name: 'an unreadable file', path: '/mode000.txt', status: 404, not: { apache: 'hideForbidden answers 404 only for refusals by configuration' } },
];

function exportFor(fx: Fixture, name: string, target: 'apache' | 'nginx', config: Record<string, unknown>, port: number): string {
  const file = writeConfig(fx.path(`${name}-${target}.json`), { ...config, port });
  const r = runCli(['export', target, '--config', file]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

const ask = (port: number, row: Row): Promise<RawResponse> => request(port, { method: row.method ?? 'GET', path: row.path, headers: { Host: `127.0.0.1:${port}`, ...row.headers } });

/** One scenario: a config, keycard plus each installed target, and the rows run against each. */
function scenario(title: string, config: Record<string, unknown>, rows: Row[]): void {
  describe(title, () => {
    let fx: Fixture;
    const servers: Partial<Record<Target, { port: number; stop(): Promise<void> }>> = {};
    const exported: Partial<Record<'apache' | 'nginx', string>> = {};
    const user = SERVER_USER ? { user: SERVER_USER } : {};

    beforeAll(async () => {
      fx = makeTree(TREE);
      const name = title.replace(/\W+/g, '-');
      const keycard = startServer(['--config', writeConfig(fx.path(`${name}-keycard.json`), { ...config, ...user, port: 0 })]);
      const starts: Promise<void>[] = [keycard.then((k: Running) => void (servers.keycard = k))];
      if (HAVE_APACHE) {
        const port = await freePort();
        exported.apache = exportFor(fx, name, 'apache', config, port);
        starts.push(startApache(fx.path('apache'), exported.apache, port).then((t) => void (servers.apache = t)));
      }
      if (HAVE_NGINX) {
        const port = await freePort();
        exported.nginx = exportFor(fx, name, 'nginx', config, port);
        starts.push(startNginx(fx.path('nginx'), exported.nginx, port).then((t) => void (servers.nginx = t)));
      }
      await Promise.all(starts);
    });

    afterAll(async () => {
      await Promise.all(Object.values(servers).map((s) => s.stop()));
      fx?.cleanup();
    });

    const check = async (target: Target, row: Row): Promise<void> => {
      const srv = servers[target]!;
      const res = await ask(srv.port, row);
      expect(res.status, `${target} ${row.method ?? 'GET'} ${row.path}`).toBe(row.status);
      for (const [k, v] of Object.entries(row.expectHeaders ?? {})) expect(res.headers[k], `${target} ${row.path} ${k}`).toBe(v);
      if (row.body !== undefined) expect(res.text, `${target} ${row.path} body`).toContain(row.body);
    };

    it.each(rows)('keycard: $name ($path) → $status', (row) => check('keycard', row));

    for (const target of ['apache', 'nginx'] as const) {
      const have = target === 'apache' ? HAVE_APACHE : HAVE_NGINX;
      describe.skipIf(!have)(target, () => {
        const same = rows.filter((r) => r.not?.[target] === undefined);
        const differ = rows.filter((r) => r.not?.[target] !== undefined);
        it.each(same)('$name ($path) → $status, as keycard', (row) => check(target, row));
        if (differ.length) {
          it.each(differ)('$name ($path): differs, and the export says why', async (row) => {
            const lines = exported[target]!.split('\n').filter((l) => l.startsWith('# keycard: '));
            expect(lines.join('\n')).toContain(row.not![target]!);
            // The note is still true: this target really answers otherwise.
            const res = await ask(servers[target]!.port, row);
            expect(res.status, `${target} ${row.method ?? 'GET'} ${row.path}`).not.toBe(row.status);
          });
        }
      });
    }
  });
}

describe.skipIf(!HAVE_APACHE && !HAVE_NGINX)('keycard export, served by Apache and nginx', () => {
  scenario('rules, ACLs, dotfiles, listing, error pages', CONFIG, ROWS);
  scenario('hideForbidden', HIDE_CONFIG, HIDE_ROWS);
});

// Every construct at once, in both targets' own config check: quoting of an odd root, `$` and
// `%` in header values, IPv6 lists, each symlink policy on a rule, hideForbidden, Vary.
const EVERYTHING = {
  root: 'we"ird $dir',
  host: '127.0.0.1',
  index: [],
  listing: true,
  dotfiles: 'ignore',
  symlinks: 'owner-match',
  ip: { allow: ['127.0.0.0/8', '::1'], deny: ['10.6.6.6', '2001:db8::/32'] },
  hideForbidden: true,
  serverSignature: false,
  accessLog: false,
  compress: false,
  precompressed: false,
  defaultType: 'text/plain',
  errorPages: { '403': 'errors/for bidden.html', '404': 'errors/404.html', '500': '/e/500.html' },
  trustProxy: ['127.0.0.1', '::1'],
  cacheControl: 'no-cache',
  headers: { 'Cache-Control': 'private', Vary: 'Origin', 'X-Cost': '$5 = 100%', ETag: 'skipped' },
  rules: [
    { path: '/a/**', symlinks: 'follow', listing: false, dotfiles: 'allow' },
    { path: '/b/**', symlinks: 'deny', ip: { allow: [] } },
    { path: '/c/*.txt', symlinks: 'inside-root', hide: true, access: 'deny' },
    { path: '/{d,e}/**', ip: { deny: ['::ffff:192.0.2.1'] }, headers: { Vary: 'Cookie', 'X-Cost': 'free' }, cacheControl: 'max-age=1' },
    { path: '/#x"/**', dotfiles: 'deny' },
  ],
};

describe('keycard export: every construct passes the target\'s own config check', () => {
  let fx: Fixture;
  beforeAll(() => {
    fx = makeTree({ 'we"ird $dir': { dir: { 'hello.txt': 'hello\n' } } });
  });
  afterAll(() => fx?.cleanup());

  it.skipIf(!HAVE_APACHE)('apache2 -t', async () => {
    const port = await freePort();
    const srv = await startApache(fx.path('apache'), exportFor(fx, 'everything', 'apache', EVERYTHING, port), port);
    try {
      const res = await request(port, { path: '/hello.txt' });
      expect(res.status).toBe(200);
      expect(res.headers['x-cost']).toBe('$5 = 100%');
      expect(res.headers['cache-control']).toBe('private');
    } finally {
      await srv.stop();
    }
  });

  it.skipIf(!HAVE_NGINX)('nginx -t', async () => {
    const port = await freePort();
    const srv = await startNginx(fx.path('nginx'), exportFor(fx, 'everything', 'nginx', EVERYTHING, port), port);
    try {
      const res = await request(port, { path: '/hello.txt' });
      expect(res.status).toBe(200);
      expect(res.headers['x-cost']).toBe('$5 = 100%');
      expect(res.headers['cache-control']).toBe('private');
    } finally {
      await srv.stop();
    }
  });
});

describe('keycard export: the command line', () => {
  it('refuses a missing or unknown target with exit 2', () => {
    expect(runCli(['export']).status).toBe(2);
    const r = runCli(['export', 'caddy']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown export target "caddy"');
  });

  it('reports a bad config as check does, exit 2', () => {
    const fx = makeTree({ 'bad.json': JSON.stringify({ rules: [{ path: '/x/**', dotfiles: 'nope' }] }) });
    try {
      const r = runCli(['export', 'nginx', '--config', fx.path('bad.json')]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('rules[0].dotfiles');
    } finally {
      fx.cleanup();
    }
  });

  it('listens on the config\'s host and port', () => {
    const fx = makeTree({ 'c.json': JSON.stringify({ host: '::1', port: 8443, root: 'missing-is-fine' }) });
    try {
      const apache = runCli(['export', 'apache', '--config', fx.path('c.json')]);
      expect(apache.status).toBe(0);
      expect(apache.stdout).toMatch(/^Listen \[::1\]:8443$/m);
      expect(apache.stdout).toMatch(/^<VirtualHost \[::1\]:8443>$/m);
      const nginx = runCli(['export', 'nginx', '--config', fx.path('c.json')]);
      expect(nginx.stdout).toMatch(/^ {4}listen \[::1\]:8443;$/m);
    } finally {
      fx.cleanup();
    }
  });
});
