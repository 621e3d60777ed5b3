// What the server remembers to go faster (fs/content.ts, fs/recent.ts) never hides a change
// that matters: with the caches warm, a chmod, a write, a replacement, a directory made
// unsearchable or swapped for a link is seen by the very next request. The server runs as
// `nobody` when the tests run as root, so the kernel's permission checks are real.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';
import { MIN_AGE_MS, TEXT_MAX } from '../../src/fs/content.js';

let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'cached.txt': 'first version\n',
        'write.txt': 'first version\n',
        'swap.txt': 'before the swap\n',
        // Every byte value, below and above TEXT_MAX (kept as latin1 text, and as bytes only).
        'bytes-16k.bin': { content: Buffer.from(Array.from({ length: TEXT_MAX }, (_, i) => (i * 7) & 0xff)) },
        'bytes-20k.bin': { content: Buffer.from(Array.from({ length: 20 * 1024 }, (_, i) => (i * 13) & 0xff)) },
        d: { dir: { 'f.txt': 'inside\n' } },
        e: { dir: { 'g.txt': 'inside e\n' } },
        'locked.txt': { content: 'unlocked\n', mode: 0o000 },
        plain: { dir: { 'a.txt': 'a\n' } },
      },
    },
    outside: { dir: { 'f.txt': 'outside the root\n' } },
  });
  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, accessLog: false, explainErrors: true, ...(SERVER_USER ? { user: SERVER_USER } : {}) });
  srv = await startServer(['--config', config]);
  // The content cache keeps only files whose times are older than MIN_AGE_MS (a write in the
  // same clock tick could otherwise keep them); wait until the fixture's files qualify.
  await new Promise((r) => setTimeout(r, MIN_AGE_MS + 200));
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}) => request(srv.port, { path, headers });
const reason = (res: { headers: Record<string, string | string[] | undefined> }): string => String(res.headers['keycard-reason'] ?? '');

describe('the content of small files', () => {
  it('chmod 000 is honoured on the very next request, and 644 again after it', async () => {
    const file = fx.path('site/cached.txt');
    for (let i = 0; i < 3; i++) expect((await get('/cached.txt')).text).toBe('first version\n');
    fs.chmodSync(file, 0o000);
    const refused = await get('/cached.txt');
    expect([refused.status, reason(refused)]).toEqual([403, 'KC402 FILE_PERMISSION']);
    fs.chmodSync(file, 0o644);
    expect((await get('/cached.txt')).text).toBe('first version\n');
  });

  it('a write of the same length with the modification time put back is seen at once', async () => {
    const file = fx.path('site/write.txt');
    for (let i = 0; i < 3; i++) expect((await get('/write.txt')).text).toBe('first version\n');
    const { mtimeNs } = fs.statSync(file, { bigint: true });
    fs.writeFileSync(file, 'other version\n');
    // Same size, and the modification time put back to the nanosecond: only ctime tells.
    const ns = String(mtimeNs % 1_000_000_000n).padStart(9, '0');
    execFileSync('touch', ['-m', '-d', `@${mtimeNs / 1_000_000_000n}.${ns}`, file]);
    expect(fs.statSync(file, { bigint: true }).mtimeNs).toBe(mtimeNs);
    const res = await get('/write.txt');
    expect(res.text).toBe('other version\n');
  });

  it('sends every byte as it is on disk, from memory as from the file', async () => {
    for (const name of ['bytes-16k.bin', 'bytes-20k.bin']) {
      const want = fs.readFileSync(fx.path(`site/${name}`));
      for (let i = 0; i < 3; i++) {
        const res = await get(`/${name}`);
        expect(res.headers['content-length']).toBe(String(want.length));
        expect(res.body.equals(want), `${name}, request ${i + 1}`).toBe(true);
      }
    }
  });

  it('a file renamed over it is seen at once, and a deleted one is 404', async () => {
    for (let i = 0; i < 3; i++) expect((await get('/swap.txt')).text).toBe('before the swap\n');
    fs.writeFileSync(fx.path('site/swap.new'), 'after the swap!\n'); // same length
    fs.renameSync(fx.path('site/swap.new'), fx.path('site/swap.txt'));
    expect((await get('/swap.txt')).text).toBe('after the swap!\n');
    fs.unlinkSync(fx.path('site/swap.txt'));
    expect((await get('/swap.txt')).status).toBe(404);
  });
});

describe('what the walk remembers', () => {
  it('a directory made unsearchable is named on the next refusal', async () => {
    expect((await get('/e/missing.txt')).status).toBe(404); // e is now known searchable
    expect((await get('/e/g.txt')).status).toBe(200);
    fs.chmodSync(fx.path('site/e'), 0o700);
    try {
      if (!SERVER_USER && process.getuid?.() === 0) return; // root searches anything
      for (const path of ['/e/missing.txt', '/e/g.txt']) {
        const res = await get(path);
        expect([path, res.status, reason(res)]).toEqual([path, 403, 'KC401 SEARCH_PERMISSION']);
      }
    } finally {
      fs.chmodSync(fx.path('site/e'), 0o755);
    }
  });

  it('a directory swapped for a link out of the root: the file there is refused on the next request', async () => {
    for (let i = 0; i < 3; i++) expect((await get('/d/f.txt')).text).toBe('inside\n');
    fs.renameSync(fx.path('site/d'), fx.path('site/d.old'));
    fs.symlinkSync(fx.path('outside'), fx.path('site/d'));
    const res = await get('/d/f.txt');
    expect([res.status, reason(res)]).toEqual([403, 'KC405 SYMLINK_ESCAPES_ROOT']);
    expect(res.text).not.toContain('outside the root');
  });
});

// A refusal repeated is answered by the walk before any open (fs/recent.ts); whatever changes
// on disk is still seen by the very next request.
describe('what a refusal remembers', () => {
  it('a missing file is served on the very next request once it exists, and is 404 once gone', async () => {
    for (let i = 0; i < 3; i++) expect((await get('/later.txt')).status).toBe(404);
    fs.writeFileSync(fx.path('site/later.txt'), 'here now\n');
    expect((await get('/later.txt')).text).toBe('here now\n');
    fs.unlinkSync(fx.path('site/later.txt'));
    expect((await get('/later.txt')).status).toBe(404);
  });

  it('an unreadable file refused again and again is served the very next request after chmod 644', async () => {
    if (!SERVER_USER && process.getuid?.() === 0) return; // root reads anything
    const file = fx.path('site/locked.txt');
    for (let i = 0; i < 3; i++) {
      const res = await get('/locked.txt');
      expect([res.status, reason(res)]).toEqual([403, 'KC402 FILE_PERMISSION']);
    }
    fs.chmodSync(file, 0o644);
    expect((await get('/locked.txt')).text).toBe('unlocked\n');
    fs.chmodSync(file, 0o000);
    for (let i = 0; i < 3; i++) expect((await get('/locked.txt')).status).toBe(403);
    // Replaced by a readable file of the same size: another inode, opened at once.
    fs.writeFileSync(fx.path('site/locked.new'), 'replaced\n', { mode: 0o644 });
    fs.renameSync(fx.path('site/locked.new'), file);
    expect((await get('/locked.txt')).text).toBe('replaced\n');
    fs.chmodSync(file, 0o000);
    expect((await get('/locked.txt')).status).toBe(403);
    fs.unlinkSync(file);
    const gone = await get('/locked.txt');
    expect([gone.status, reason(gone)]).toEqual([404, 'KC400 NOT_FOUND']);
  });

  it('a directory without an index serves one on the very next request once it is written', async () => {
    for (let i = 0; i < 3; i++) expect((await get('/plain/')).status).toBe(403);
    fs.writeFileSync(fx.path('site/plain/index.html'), '<p>index</p>\n');
    expect((await get('/plain/')).text).toBe('<p>index</p>\n');
    fs.unlinkSync(fx.path('site/plain/index.html'));
    const res = await get('/plain/');
    expect([res.status, reason(res)]).toEqual([403, 'KC501 DIRECTORY_NO_INDEX']);
  });
});

// A refusal's head and page are prepared once per config (http/handler.ts) and sent as they
// are; everything that can differ between two requests still shows.
describe('what a refusal’s answer remembers', () => {
  let own: Running;
  let configFile: string;
  const ownGet = (path: string, headers: Record<string, string> = {}, method = 'GET', host?: string) => request(own.port, { method, path, headers, ...(host ? { host } : {}) });

  beforeAll(async () => {
    fs.mkdirSync(fx.path('site/errors'));
    fs.writeFileSync(fx.path('site/errors/404.html'), '<p>first 404 page</p>\n');
    configFile = writeConfig(fx.path('own.config.json'), { root: 'site', port: 0, accessLog: true, errorPages: { '404': '/errors/404.html' }, ...(SERVER_USER ? { user: SERVER_USER } : {}) });
    own = await startServer(['--config', configFile]);
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('each Host gets its own signature line, each format its own body, and HEAD the same head without a body', async () => {
    const a = await get('/.env');
    expect(a.text).toContain(`Server at 127.0.0.1 Port ${srv.port}`);
    const b = await request(srv.port, { path: '/.env', host: 'b.example:8080' });
    expect(b.text).toContain('Server at b.example Port 8080');
    expect((await get('/.env')).text).toBe(a.text);
    const json = await get('/.env', { Accept: 'application/json' });
    expect([json.headers['content-type'], JSON.parse(json.text).name]).toEqual(['application/json', 'DOTFILE_DENIED']);
    expect((await get('/.env')).headers['content-type']).toBe('text/html; charset=iso-8859-1');
    const head = await request(srv.port, { method: 'HEAD', path: '/.env' });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([403, a.headers['content-length'], 0]);
    expect(Number(a.headers['content-length'])).toBe(a.body.length);
  });

  it('an error document is read for every refusal: an edit shows on the very next one', async () => {
    expect((await ownGet('/missing-1')).text).toBe('<p>first 404 page</p>\n');
    fs.writeFileSync(fx.path('site/errors/404.html'), '<p>second 404 page</p>\n');
    expect((await ownGet('/missing-1')).text).toBe('<p>second 404 page</p>\n');
    // As JSON the document does not apply, and the answer is keycard's own.
    expect(JSON.parse((await ownGet('/missing-1', { Accept: 'application/json' })).text).status).toBe(404);
  });

  it('the access log counts the bytes of the page sent, and none for HEAD', async () => {
    const sent = await ownGet('/.env');
    await ownGet('/.env', {}, 'HEAD');
    await waitFor(() => own.stdout().includes('"HEAD /.env HTTP/1.1" 403 -'));
    expect(own.stdout()).toContain(`"GET /.env HTTP/1.1" 403 ${sent.body.length} `);
  });

  it('a reload changes the answer on the very next request', async () => {
    expect((await ownGet('/.env')).headers['keycard-reason']).toBeUndefined();
    writeConfig(configFile, { root: 'site', port: 0, accessLog: true, explainErrors: true, errorPages: { '404': '/errors/404.html' }, ...(SERVER_USER ? { user: SERVER_USER } : {}) });
    const before = own.stderr().length;
    own.child.kill('SIGHUP');
    await waitFor(() => /config reloaded/.test(own.stderr().slice(before)));
    const after = await ownGet('/.env');
    expect(after.headers['keycard-reason']).toBe('KC301 DOTFILE_DENIED');
    expect(after.text).toContain('Reason: KC301 DOTFILE_DENIED.');
  });
});

async function waitFor(cond: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
