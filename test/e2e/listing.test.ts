// Directory listings over HTTP (issue 4), against the real binary. The server runs as `nobody`
// when the tests run as root, so "the process cannot read it" is the kernel's answer.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isRoot, makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

const XSS = '<img src=x onerror=alert(1)>.html';
const AMP = 'a&b "q".txt';
const JS = 'javascript:alert(1)';
const ODD_DIR = 'odd #?%dir';

let fx: Fixture;
let srv: Running; // listing on globally, unreadable entries marked
let omit: Running; // listing off globally, on by rule for /list/**, unreadable entries omitted
let bare: Running; // listing on, no index files at all

const day = (y: number): Date => new Date(Date.UTC(y, 0, 1, 12, 0, 0));

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        list: {
          dir: {
            'a.txt': 'aa',
            'b.html': '<p>b</p>\n',
            'big.bin': 'x'.repeat(5000),
            'with space.txt': 'with space\n',
            [XSS]: 'xss\n',
            [AMP]: 'amp\n',
            [JS]: 'js\n',
            '.secret': 'dotfile\n',
            '.git': { dir: { HEAD: 'ref\n' } },
            'locked.txt': { content: 'locked', mode: 0o000 },
            // Owned by root: 0700 keeps `nobody` out. Without root the owner is the server, so
            // only 0000 keeps it out.
            'private-dir': { dir: { 'p.txt': 'p' }, mode: isRoot ? 0o700 : 0o000 },
            subdir: { dir: { 'inner.txt': 'inner\n' } },
            fifo: { fifo: true },
            dangling: { symlink: 'no-such-target' },
            escape: { symlink: '/etc' },
            inlink: { symlink: 'a.txt' },
            dirlink: { symlink: 'subdir' },
            'rule-dir': { dir: { 'r.txt': 'r' } },
            'slash-rule-dir': { dir: { 's.txt': 's' } },
            'hidden-by-rule.txt': 'hidden\n',
            'hidden-locked.txt': { content: 'hidden and locked', mode: 0o000 },
            'denied-by-rule.txt': 'denied\n',
            [ODD_DIR]: { dir: { '.env': 'SECRET=1\n', 'x.txt': 'x\n' } },
          },
        },
        'dots-ignore': { dir: { '.env': 'e', 'visible.txt': 'v' } },
        'dots-allow': { dir: { '.env': 'e', '.well-known': { dir: { 'security.txt': 's' } }, 'visible.txt': 'v' } },
        sorted: { dir: { 'one.txt': 'x'.repeat(10), 'two.txt': 'x', 'three.txt': 'x'.repeat(100), dir: { dir: { 'f.txt': 'f' } } } },
        noread: { dir: { 'a.txt': 'a' }, mode: 0o711 },
        'noread-idx': { dir: { 'index.html': 'index through x\n' }, mode: 0o711 },
        withindex: { dir: { 'index.html': 'the index\n', 'other.txt': 'o' } },
        nolisting: { dir: { 'a.txt': 'a' } },
        noexec: { dir: { 'f.txt': 'f', sub: { dir: {} } }, mode: 0o644 },
      },
    },
  });
  // A name that is not UTF-8 cannot be requested (404 NOT_UTF8), so it is not listed.
  fs.writeFileSync(Buffer.concat([Buffer.from(fx.path('site/list/bad-')), Buffer.from([0xff]), Buffer.from('.txt')]), 'bad\n');
  fs.utimesSync(fx.path('site/sorted/one.txt'), day(2001), day(2001));
  fs.utimesSync(fx.path('site/sorted/three.txt'), day(2002), day(2002));
  fs.utimesSync(fx.path('site/sorted/two.txt'), day(2003), day(2003));
  fs.utimesSync(fx.path('site/sorted/dir'), day(2000), day(2000));

  const user = SERVER_USER ? { user: SERVER_USER } : {};
  const rules = [
    { path: '/list/hidden-*', access: 'deny', hide: true },
    { path: '/list/hidden-locked.txt', hide: true },
    { path: '/list/denied-*', access: 'deny' },
    // Exact globs: one names the directory without its slash, one only with it. A listing links
    // directories with a slash, so each entry is judged as that link will be.
    { path: '/list/rule-dir', access: 'deny' },
    { path: '/list/slash-rule-dir/', access: 'deny' },
    { path: '/list/dirlink/', access: 'deny' },
    { path: '/dots-ignore/**', dotfiles: 'ignore' },
    { path: '/dots-allow/**', dotfiles: 'allow' },
  ];
  srv = await startServer(['--config', writeConfig(fx.path('marked.json'), { root: 'site', port: 0, listing: true, rules: [...rules, { path: '/nolisting/**', listing: false }], ...user })]);
  omit = await startServer(['--config', writeConfig(fx.path('omit.json'), { root: 'site', port: 0, listing: false, listingDenied: 'omit', rules: [...rules, { path: '/list/**', listing: true }], ...user })]);
  bare = await startServer(['--config', writeConfig(fx.path('bare.json'), { root: 'site', port: 0, listing: true, index: [], ...user })]);
});

afterAll(async () => {
  await srv?.stop();
  await omit?.stop();
  await bare?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, s: Running = srv) => request(s.port, { path, headers });
const getJson = async (path: string, s: Running = srv) => {
  const res = await get(path, { Accept: 'application/json' }, s);
  return { res, rows: JSON.parse(res.text) as { name: string; type: string; size: number | null; mtime: string | null; denied?: true }[] };
};

/** The entry rows of a listing (not the header, not the parent), as { href, text, denied }. */
function rows(res: RawResponse): { href: string; text: string; denied: boolean }[] {
  const html = res.body.toString('utf8');
  return html
    .split('\n')
    .filter((l) => l.startsWith('<tr><td valign="top"><img') && !l.includes('alt="[PARENTDIR]"'))
    .map((l) => {
      const m = /<a href="([^"]*)">([^<]*)<\/a>/.exec(l);
      return { href: m?.[1] ?? '', text: m?.[2] ?? '', denied: l.includes('<td class="denied">forbidden</td>') };
    });
}

/** Decodes the HTML text of a row back to the name (the listing escapes & < > " '). */
const unescape = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('a directory without an index', () => {
  it('is listed when listing is on globally, as Apache 2.4 FancyIndexing', async () => {
    const res = await get('/list/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html;charset=UTF-8');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['vary']).toBe('Accept');
    const html = res.body.toString('utf8');
    expect(html.startsWith('<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN"')).toBe(true);
    expect(html).toContain('<title>Index of /list</title>');
    expect(html).toContain('<h1>Index of /list</h1>');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain('<a href="/">Parent Directory</a>');
    expect(html).toContain(`<address>keycard/`);
    expect(html).toContain(`Server at 127.0.0.1 Port ${srv.port}</address>`);
  });

  it('is listed when listing is on by a rule, and 403 KC501 where it is off', async () => {
    expect((await get('/list/', {}, omit)).status).toBe(200);
    const off = await get('/sorted/', { Accept: 'application/json' }, omit);
    expect(off.status).toBe(403);
    expect(JSON.parse(off.text).reason).toBe('KC501');
    const ruleOff = await get('/nolisting/', { Accept: 'application/json' });
    expect(ruleOff.status).toBe(403);
    expect(JSON.parse(ruleOff.text).reason).toBe('KC501');
  });

  it('with an index file serves the index, not a listing', async () => {
    const res = await get('/withindex/');
    expect(res.status).toBe(200);
    expect(res.text).toBe('the index\n');
  });

  it('HEAD gets the headers and no body', async () => {
    const res = await request(srv.port, { method: 'HEAD', path: '/list/' });
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBe((await get('/list/')).body.length);
    expect(res.body.length).toBe(0);
  });
});

describe('filtering: what the policy hides is not listed', () => {
  it('leaves out dotfiles under "deny" (the default), and hidden rules; marks the refused', async () => {
    const names = rows(await get('/list/')).map((r) => unescape(r.text));
    expect(names).not.toContain('.secret');
    expect(names).not.toContain('.git/');
    expect(names).not.toContain('hidden-by-rule.txt'); // access deny + hide: a click is 404
    expect(names).not.toContain('hidden-locked.txt'); // unreadable under hide: a click is 404
    expect(names.filter((n) => n.startsWith('bad-'))).toEqual([]); // not UTF-8: no URL reaches it
    expect(names).toEqual(
      expect.arrayContaining(['a.txt', 'b.html', 'big.bin', 'with space.txt', XSS, AMP, JS, 'subdir/', 'inlink', 'denied-by-rule.txt', 'locked.txt', 'private-dir/', `${ODD_DIR}/`]),
    );
  });

  it('leaves out dotfiles under a rule\'s "ignore"', async () => {
    expect(rows(await get('/dots-ignore/')).map((r) => r.text)).toEqual(['visible.txt']);
  });

  it('lists dotfiles under a rule\'s "allow"', async () => {
    expect(rows(await get('/dots-allow/')).map((r) => r.text)).toEqual(['.env', '.well-known/', 'visible.txt']);
    expect((await get('/dots-allow/.env')).status).toBe(200);
  });

  it('judges each entry by its full path, even when the directory name holds # ? %', async () => {
    const list = await get('/list/');
    const odd = rows(list).find((r) => unescape(r.text) === `${ODD_DIR}/`);
    expect(odd?.href).toBe('odd%20%23%3f%25dir/');
    const res = await get('/list/odd%20%23%3f%25dir/');
    expect(res.status).toBe(200);
    expect(rows(res).map((r) => r.text)).toEqual(['x.txt']); // .env is a dotfile under "deny"
    expect((await get('/list/odd%20%23%3f%25dir/x.txt')).text).toBe('x\n');
  });
});

describe('filtering: what the process cannot read is marked, or omitted', () => {
  const marked = ['locked.txt', 'private-dir/', 'fifo', 'dangling', 'escape/', 'denied-by-rule.txt', 'slash-rule-dir/', 'dirlink/'];

  it('marks unreadable files, unsearchable directories, refused links, FIFOs and rule denials', async () => {
    const r = rows(await get('/list/'));
    // rule-dir/ is left to the next test: whether "/list/rule-dir" covers "/list/rule-dir/" is
    // the rule matcher's business; the listing only has to agree with what a click gets.
    const deniedNames = r.filter((x) => x.denied).map((x) => unescape(x.text)).filter((n) => n !== 'rule-dir/');
    // `escape` → /etc: a directory, refused by symlinks "inside-root"; `dangling` cannot be followed.
    expect(deniedNames.sort()).toEqual([...marked].sort());
    expect(r.find((x) => x.text === 'a.txt')?.denied).toBe(false);
    expect(r.find((x) => x.text === 'inlink')?.denied).toBe(false);
  });

  it('every link in the listing works, and every marked one is refused with 403', async () => {
    for (const row of rows(await get('/list/'))) {
      const res = await get('/list/' + row.href.replace(/&amp;/g, '&').replace(/^\.\//, ''));
      expect({ name: row.text, status: res.status }).toEqual({ name: row.text, status: row.denied ? 403 : 200 });
    }
  });

  it('with listingDenied "omit", the refused entries are left out', async () => {
    const names = rows(await get('/list/', {}, omit)).map((r) => unescape(r.text));
    for (const m of marked) expect(names).not.toContain(m);
    expect(names).toEqual(expect.arrayContaining(['a.txt', 'subdir/', 'inlink', XSS]));
    expect(rows(await get('/list/', {}, omit)).some((r) => r.denied)).toBe(false);
    const { rows: json } = await getJson('/list/', omit);
    expect(json.some((r) => r.denied)).toBe(false);
    expect(json.map((r) => r.name)).not.toContain('locked.txt');
  });
});

describe('a directory the process can read but not search', () => {
  it('lists the names, all marked, with no size or time (nothing below can be reached)', async () => {
    const res = await get('/noexec/', {}, bare);
    expect(res.status).toBe(200);
    expect(rows(res)).toEqual([
      { href: 'f.txt', text: 'f.txt', denied: true },
      { href: 'sub/', text: 'sub/', denied: true },
    ]);
    expect(res.text).toContain('<a href="f.txt">f.txt</a></td><td>&nbsp;</td><td align="right">  - </td><td class="denied">forbidden</td>');
    expect((await getJson('/noexec/', bare)).rows).toEqual([
      { name: 'f.txt', type: 'file', size: null, mtime: null, denied: true },
      { name: 'sub', type: 'directory', size: null, mtime: null, denied: true },
    ]);
    expect((await get('/noexec/f.txt', {}, bare)).status).toBe(403);
  });

  it('with an index file configured, it is 403 KC401 (the index cannot be looked up)', async () => {
    const res = await get('/noexec/', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC401');
  });
});

describe('JSON listing', () => {
  it('Accept: application/json gives [{name, type, size, mtime}] with the same filtering', async () => {
    const { res, rows: json } = await getJson('/list/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const html = rows(await get('/list/')).map((r) => unescape(r.text).replace(/\/$/, ''));
    expect(json.map((r) => r.name)).toEqual(html);
    const a = json.find((r) => r.name === 'a.txt');
    expect(a).toEqual({ name: 'a.txt', type: 'file', size: 2, mtime: new Date(fs.statSync(fx.path('site/list/a.txt')).mtimeMs).toISOString() });
    expect(json.find((r) => r.name === 'subdir')).toMatchObject({ type: 'directory' });
    expect(json.find((r) => r.name === 'locked.txt')).toMatchObject({ type: 'file', size: 6, denied: true });
    expect(json.find((r) => r.name === XSS)).toMatchObject({ type: 'file', size: 4 });
    expect(json.map((r) => r.name)).not.toContain('.secret');
    // Never sniffable as HTML: < > & are escaped in the raw body.
    expect(res.text).not.toMatch(/[<>&]/);
    expect(res.text).toContain('\\u003cimg src=x onerror=alert(1)\\u003e.html');
  });

  it('follows the sort query too', async () => {
    const { rows: json } = await getJson('/sorted/?C=S;O=D');
    expect(json.map((r) => r.name)).toEqual(['three.txt', 'one.txt', 'two.txt', 'dir']);
  });

  it('dotfiles under "allow" appear in JSON, under "ignore" they do not', async () => {
    expect((await getJson('/dots-allow/')).rows.map((r) => r.name)).toEqual(['.env', '.well-known', 'visible.txt']);
    expect((await getJson('/dots-ignore/')).rows.map((r) => r.name)).toEqual(['visible.txt']);
  });
});

describe('hostile names render as text', () => {
  it('escapes names in text and percent-encodes them in links', async () => {
    const res = await get('/list/');
    const html = res.body.toString('utf8');
    expect(html).not.toContain('<img src=x');
    // The only images are the icons; the name never becomes a tag.
    expect(html.match(/<img [^>]*>/g)?.every((t) => t.startsWith('<img src="/icons/'))).toBe(true);
    expect(html).toContain('<a href="%3cimg%20src=x%20onerror=alert(1)%3e.html">&lt;img src=x onerror=alert(1)&gt;.html</a>');
    expect(html).toContain('<a href="a&amp;b%20%22q%22.txt">a&amp;b &quot;q&quot;.txt</a>');
    // A name that looks like a scheme is a relative link to the file, never javascript:.
    expect(html).toContain('<a href="./javascript:alert(1)">javascript:alert(1)</a>');
    expect(html).not.toMatch(/href="javascript:/i);
  });

  it('the links lead to the files', async () => {
    expect((await get('/list/%3cimg%20src=x%20onerror=alert(1)%3e.html')).text).toBe('xss\n');
    expect((await get('/list/a&b%20%22q%22.txt')).text).toBe('amp\n');
    expect((await get('/list/./javascript:alert(1)')).text).toBe('js\n');
  });
});

describe('sorting by query', () => {
  const order = async (query: string): Promise<string[]> => rows(await get('/sorted/' + query)).map((r) => r.text);

  it.each([
    ['', ['dir/', 'one.txt', 'three.txt', 'two.txt']],
    ['?C=N;O=A', ['dir/', 'one.txt', 'three.txt', 'two.txt']],
    ['?C=N;O=D', ['two.txt', 'three.txt', 'one.txt', 'dir/']],
    ['?O=D', ['two.txt', 'three.txt', 'one.txt', 'dir/']],
    ['?C=S', ['dir/', 'two.txt', 'one.txt', 'three.txt']],
    ['?C=S;O=A', ['dir/', 'two.txt', 'one.txt', 'three.txt']],
    ['?C=S;O=D', ['three.txt', 'one.txt', 'two.txt', 'dir/']],
    ['?C=M', ['dir/', 'one.txt', 'three.txt', 'two.txt']],
    ['?C=M;O=D', ['two.txt', 'three.txt', 'one.txt', 'dir/']],
    ['?C=S&O=D', ['three.txt', 'one.txt', 'two.txt', 'dir/']],
    ['?C=X;O=D', ['dir/', 'one.txt', 'three.txt', 'two.txt']],
  ])('%s', async (query, expected) => {
    expect(await order(query)).toEqual(expected);
  });

  it('toggles the header link of the current column', async () => {
    const header = async (query: string): Promise<string[]> => {
      const html = (await get('/sorted/' + query)).text;
      const line = html.split('\n').find((l) => l.includes('alt="[ICO]"')) ?? '';
      return [...line.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
    };
    expect(await header('')).toEqual(['?C=N;O=D', '?C=M;O=A', '?C=S;O=A', '?C=D;O=A']);
    expect(await header('?C=S;O=A')).toEqual(['?C=N;O=A', '?C=M;O=A', '?C=S;O=D', '?C=D;O=A']);
    expect(await header('?C=S;O=D')).toEqual(['?C=N;O=A', '?C=M;O=A', '?C=S;O=A', '?C=D;O=A']);
    expect(await header('?C=M;O=A')).toEqual(['?C=N;O=A', '?C=M;O=D', '?C=S;O=A', '?C=D;O=A']);
  });

  it('shows the recorded dates and sizes', async () => {
    const html = (await get('/sorted/')).text;
    expect(html).toMatch(/<a href="three.txt">three.txt<\/a><\/td><td align="right">2002-01-01 \d\d:00  <\/td><td align="right">100 <\/td>/);
    expect(html).toMatch(/<a href="dir\/">dir\/<\/a><\/td><td align="right">2000-01-01 \d\d:00  <\/td><td align="right">  - <\/td>/);
  });
});

describe('a directory the process can search but not read', () => {
  it('with listing on and no index: 403 KC502, in the log too', async () => {
    const res = await get('/noread/', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ error: 'Forbidden', reason: 'KC502' });
    const html = await get('/noread/');
    expect(html.status).toBe(403);
    expect(html.text).toContain("<p>You don't have permission to access this resource.</p>");
    expect(html.text).not.toContain(fx.base);
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/KC502 DIRECTORY_UNREADABLE/), { timeout: 5_000, interval: 20 });
  });

  it('its index is still served, and so are its files', async () => {
    const res = await get('/noread-idx/');
    expect(res.status).toBe(200);
    expect(res.text).toBe('index through x\n');
    expect((await get('/noread/a.txt')).text).toBe('a');
  });
});

describe('navigation', () => {
  it('a subdirectory links back to its parent by absolute path', async () => {
    const html = (await get('/list/subdir/')).text;
    expect(html).toContain('<a href="/list/">Parent Directory</a>');
    expect(rows(await get('/list/subdir/')).map((r) => r.text)).toEqual(['inner.txt']);
  });

  it('the root has no parent link', async () => {
    const html = (await get('/')).text;
    expect(html).toContain('<title>Index of /</title>');
    expect(html).not.toContain('Parent Directory');
  });

  it('a directory without its slash redirects, keeping the query', async () => {
    const res = await get('/list/subdir?C=S;O=D');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/list/subdir/?C=S;O=D');
  });
});

describe('a listing is rendered from what the directory holds now', () => {
  // keycard keeps the last page of each listing and reuses its bytes only while every fact it
  // was rendered from (each entry's name, kind, size, time and mark) is the same again.
  it('sees a write, a new time, a chmod, a new name and a removal on the very next request', async () => {
    const dir = fx.path('site/changing');
    fs.mkdirSync(dir);
    for (const n of ['a.txt', 'b.txt', 'c.txt']) fs.writeFileSync(`${dir}/${n}`, 'x');
    const row = (html: string, name: string) => html.split('\n').find((l) => l.includes(`<a href="${name}">`)) ?? '';
    const page = async () => (await get('/changing/')).text;

    const first = await page();
    expect(await page()).toBe(first);
    expect(row(first, 'a.txt')).toContain('<td align="right">  1 </td>');

    // A new size under the same time.
    fs.utimesSync(`${dir}/a.txt`, day(2002), day(2002));
    expect(row(await page(), 'a.txt')).toMatch(/2002-01-01 \d\d:00  <\/td><td align="right">  1 <\/td>/);
    fs.appendFileSync(`${dir}/a.txt`, 'x'.repeat(99));
    fs.utimesSync(`${dir}/a.txt`, day(2002), day(2002));
    expect(row(await page(), 'a.txt')).toMatch(/2002-01-01 \d\d:00  <\/td><td align="right">100 <\/td>/);

    fs.utimesSync(`${dir}/b.txt`, day(2001), day(2001));
    expect(row(await page(), 'b.txt')).toMatch(/<td align="right">2001-01-01 \d\d:00  <\/td>/);

    fs.chmodSync(`${dir}/c.txt`, 0o000);
    expect(row(await page(), 'c.txt')).toContain('<td class="denied">forbidden</td>');
    fs.chmodSync(`${dir}/c.txt`, 0o644);
    expect(row(await page(), 'c.txt')).not.toContain('forbidden');

    fs.writeFileSync(`${dir}/d.txt`, 'd');
    fs.rmSync(`${dir}/a.txt`);
    expect(rows(await get('/changing/')).map((r) => r.text)).toEqual(['b.txt', 'c.txt', 'd.txt']);
    expect((await getJson('/changing/')).rows.map((r) => r.name)).toEqual(['b.txt', 'c.txt', 'd.txt']);

    // A new name, and nothing else: a directory of one file, renamed.
    fs.mkdirSync(fx.path('site/renamed'));
    fs.writeFileSync(fx.path('site/renamed/old.txt'), 'r');
    expect(rows(await get('/renamed/')).map((r) => r.text)).toEqual(['old.txt']);
    fs.renameSync(fx.path('site/renamed/old.txt'), fx.path('site/renamed/new.txt'));
    expect(rows(await get('/renamed/')).map((r) => r.text)).toEqual(['new.txt']);
  });

  it('each Host gets its own signature line, and each sort order its own page', async () => {
    const a = (await get('/sorted/', { Host: 'one.example' })).text;
    const b = (await get('/sorted/', { Host: 'two.example' })).text;
    expect(a).toContain('Server at one.example Port');
    expect(b).toContain('Server at two.example Port');
    expect((await get('/sorted/', { Host: 'one.example' })).text).toBe(a);
    const bySize = rows(await get('/sorted/?C=S;O=A')).map((r) => r.text);
    const byName = rows(await get('/sorted/')).map((r) => r.text);
    expect(bySize).toEqual(['dir/', 'two.txt', 'one.txt', 'three.txt']);
    expect(byName).toEqual(['dir/', 'one.txt', 'three.txt', 'two.txt']);
  });
});

describe('many listings at once', () => {
  it('each gets the whole page, though clients who left were queued among them', async () => {
    const big = fx.path('site/big');
    fs.mkdirSync(big);
    for (let i = 0; i < 3000; i++) fs.writeFileSync(`${big}/file-${i}.txt`, 'x');
    const page = (await get('/big/')).text;
    // A few listings are built at a time: these take every turn for a while...
    const first = Array.from({ length: 6 }, () => get('/big/'));
    // ...so these clients, who send a listing request and reset the connection, wait in line.
    // The turn each would have had must be handed on, or the requests below would never finish.
    const leavers = Array.from({ length: 8 }, () => {
      const s = net.connect(srv.port, '127.0.0.1', () => s.write('GET /big/ HTTP/1.1\r\nHost: t\r\n\r\n', () => setTimeout(() => s.resetAndDestroy(), 20)));
      s.on('error', () => undefined);
      return new Promise((resolve) => s.on('close', resolve));
    });
    await Promise.all(leavers);
    const pages = await Promise.all([...first, ...Array.from({ length: 12 }, () => get('/big/'))]);
    for (const res of pages) {
      expect(res.status).toBe(200);
      expect(res.text).toBe(page);
    }
    expect((await get('/list/subdir/')).status).toBe(200);
  });
});

it.runIf(SERVER_USER !== undefined)('the servers really run as the unprivileged user', () => {
  for (const s of [srv, omit, bare]) expect(fs.readFileSync(`/proc/${s.child.pid}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
});
