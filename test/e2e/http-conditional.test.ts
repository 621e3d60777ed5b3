// Validators and conditional requests over a real socket: a strong ETag from inode, size and
// mtime, Last-Modified, and the If-* precedence of RFC 9110 §13.2.2, as tables.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

let fx: Fixture;
let srv: Running;
/** The served file's validators, as the server sent them. */
let etag: string;
let lastModified: string;
let past: string;
let future: string;

const PAGE = '<!doctype html><title>page</title><p>hello</p>\n';

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'page.html': PAGE,
        'data.bin': 'binary-ish data\n',
        'changing.txt': 'version one\n',
        'swapped.txt': 'AAAA',
        'swapped.new': 'BBBB',
      },
    },
  });
  // A whole-second mtime in the past, so Last-Modified is exact and the dates around it clear.
  const mtime = new Date('2024-03-01T12:00:00Z');
  fs.utimesSync(fx.path('site', 'page.html'), mtime, mtime);
  const config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    accessLog: false,
    rules: [{ path: '/**/*.html', cacheControl: 'no-cache', headers: { 'X-Frame-Options': 'DENY' } }],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
  srv = await startServer(['--config', config]);
  const res = await get('/page.html');
  etag = res.headers.etag!;
  lastModified = res.headers['last-modified']!;
  past = new Date(mtime.getTime() - 86_400_000).toUTCString();
  future = new Date(mtime.getTime() + 86_400_000).toUTCString();
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(srv.port, { method, path, headers });

describe('validators', () => {
  it('a strong ETag (no W/) and Last-Modified equal to the file mtime', async () => {
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(lastModified).toBe('Fri, 01 Mar 2024 12:00:00 GMT');
  });

  it('the ETag is the same on every request for an unchanged file', async () => {
    expect((await get('/page.html')).headers.etag).toBe(etag);
    expect((await get('/page.html', {}, 'HEAD')).headers.etag).toBe(etag);
  });

  it('the ETag and Last-Modified change when the file is rewritten', async () => {
    const before = await get('/changing.txt');
    fs.writeFileSync(fx.path('site', 'changing.txt'), 'version two, longer\n');
    const later = new Date(Date.parse(before.headers['last-modified']!) + 10_000);
    fs.utimesSync(fx.path('site', 'changing.txt'), later, later);
    const after = await get('/changing.txt');
    expect(after.text).toBe('version two, longer\n');
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.headers['last-modified']).toBe(later.toUTCString());
    expect((await get('/changing.txt', { 'If-None-Match': before.headers.etag! })).status).toBe(200);
  });

  it('a file replaced by another of the same size and mtime still gets a new ETag (inode)', async () => {
    const when = new Date('2024-01-01T00:00:00Z');
    fs.utimesSync(fx.path('site', 'swapped.txt'), when, when);
    fs.utimesSync(fx.path('site', 'swapped.new'), when, when);
    const before = await get('/swapped.txt');
    fs.renameSync(fx.path('site', 'swapped.new'), fx.path('site', 'swapped.txt'));
    const after = await get('/swapped.txt');
    expect(after.text).toBe('BBBB');
    expect(after.headers['last-modified']).toBe(before.headers['last-modified']);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect((await get('/swapped.txt', { 'If-None-Match': before.headers.etag! })).status).toBe(200);
  });
});

// RFC 9110 §13.2.2: 1 If-Match (strong) else If-Unmodified-Since; 3 If-None-Match (weak) else
// If-Modified-Since; a failed 1 or 2 is 412 before 3 or 4 is looked at.
type Row = [string, () => Record<string, string>, number];
const table: Row[] = [
  ['no condition', () => ({}), 200],
  ['If-None-Match: the ETag', () => ({ 'If-None-Match': etag }), 304],
  ['If-None-Match: its weak form (weak comparison)', () => ({ 'If-None-Match': `W/${etag}` }), 304],
  ['If-None-Match: a list holding it', () => ({ 'If-None-Match': `"a", W/"b", ${etag}` }), 304],
  ['If-None-Match: *', () => ({ 'If-None-Match': '*' }), 304],
  ['If-None-Match: another tag', () => ({ 'If-None-Match': '"other"' }), 200],
  ['If-None-Match: malformed', () => ({ 'If-None-Match': 'not-a-tag' }), 200],
  ['If-Modified-Since: Last-Modified', () => ({ 'If-Modified-Since': lastModified }), 304],
  ['If-Modified-Since: later', () => ({ 'If-Modified-Since': future }), 304],
  ['If-Modified-Since: earlier', () => ({ 'If-Modified-Since': past }), 200],
  ['If-Modified-Since: not a date (ignored)', () => ({ 'If-Modified-Since': 'yesterday' }), 200],
  ['If-Modified-Since: obsolete RFC 850 form', () => ({ 'If-Modified-Since': 'Friday, 01-Mar-24 12:00:00 GMT' }), 304],
  ['If-Modified-Since: asctime form', () => ({ 'If-Modified-Since': 'Fri Mar  1 12:00:00 2024' }), 304],
  ['If-None-Match other + If-Modified-Since current: INM wins, IMS ignored', () => ({ 'If-None-Match': '"other"', 'If-Modified-Since': lastModified }), 200],
  ['If-None-Match current + If-Modified-Since earlier: INM wins', () => ({ 'If-None-Match': etag, 'If-Modified-Since': past }), 304],
  ['If-Match: the ETag', () => ({ 'If-Match': etag }), 200],
  ['If-Match: *', () => ({ 'If-Match': '*' }), 200],
  ['If-Match: a list holding it', () => ({ 'If-Match': `"x", ${etag}` }), 200],
  ['If-Match: another tag', () => ({ 'If-Match': '"other"' }), 412],
  ['If-Match: its weak form (strong comparison)', () => ({ 'If-Match': `W/${etag}` }), 412],
  ['If-Match: malformed', () => ({ 'If-Match': 'garbage' }), 412],
  ['If-Unmodified-Since: Last-Modified', () => ({ 'If-Unmodified-Since': lastModified }), 200],
  ['If-Unmodified-Since: later', () => ({ 'If-Unmodified-Since': future }), 200],
  ['If-Unmodified-Since: earlier', () => ({ 'If-Unmodified-Since': past }), 412],
  ['If-Unmodified-Since: not a date (ignored)', () => ({ 'If-Unmodified-Since': 'soon' }), 200],
  ['If-Match current + If-Unmodified-Since earlier: IUS ignored', () => ({ 'If-Match': etag, 'If-Unmodified-Since': past }), 200],
  ['If-Match other + If-None-Match current: step 1 first, 412', () => ({ 'If-Match': '"other"', 'If-None-Match': etag }), 412],
  ['If-Unmodified-Since earlier + If-None-Match current: 412', () => ({ 'If-Unmodified-Since': past, 'If-None-Match': etag }), 412],
  ['If-Unmodified-Since earlier + If-Modified-Since current: 412', () => ({ 'If-Unmodified-Since': past, 'If-Modified-Since': lastModified }), 412],
  ['If-Match current + If-None-Match current: 304', () => ({ 'If-Match': etag, 'If-None-Match': etag }), 304],
  ['If-Match current + If-Modified-Since current: 304', () => ({ 'If-Match': etag, 'If-Modified-Since': lastModified }), 304],
];

describe('precedence (RFC 9110 §13.2.2), GET', () => {
  it.each(table)('%s → %i', async (_name, headers, status) => {
    const res = await get('/page.html', headers());
    expect(res.status).toBe(status);
    if (status === 200) expect(res.text).toBe(PAGE);
    else expect(res.body.length).toBe(0);
  });
});

describe('precedence (RFC 9110 §13.2.2), HEAD', () => {
  it.each(table)('%s → %i', async (_name, headers, status) => {
    const res = await get('/page.html', headers(), 'HEAD');
    expect(res.status).toBe(status);
  });
});

describe('the 304 response', () => {
  it("has no body, and Apache's fields: the ETag, Vary, Cache-Control, Server, and the configured headers", async () => {
    const res = await get('/page.html', { 'If-None-Match': etag });
    expect(res.status).toBe(304);
    expect(res.body.length).toBe(0);
    expect(res.headers.etag).toBe(etag);
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers.server).toMatch(/^keycard\//);
    expect(res.headers.date).toBeDefined();
    expect(res.headers['x-frame-options']).toBe('DENY');
  });

  it('of a file no rule touches: Server, ETag, Date and the connection, nothing else', async () => {
    const first = await get('/data.bin');
    const res = await get('/data.bin', { 'If-None-Match': first.headers.etag! });
    expect(res.status).toBe(304);
    const fields = res.rawHeaders.map(([k]) => k).filter((k) => k !== 'connection' && k !== 'keep-alive');
    expect(fields.sort()).toEqual(['date', 'etag', 'server']);
  });

  it('leaves out what describes the content it does not carry (RFC 9110 §15.4.5)', async () => {
    const res = await get('/page.html', { 'If-Modified-Since': lastModified });
    expect(res.status).toBe(304);
    for (const field of ['last-modified', 'accept-ranges', 'x-content-type-options', 'content-type', 'content-length', 'content-encoding', 'transfer-encoding']) {
      expect(res.headers[field], field).toBeUndefined();
    }
  });
});

describe('the 412 response', () => {
  it('has no body and no validators of a representation the client did not get', async () => {
    const res = await get('/page.html', { 'If-Match': '"other"' });
    expect(res.status).toBe(412);
    expect(res.headers['content-length']).toBe('0');
    expect(res.body.length).toBe(0);
  });
});

describe('preconditions apply only to what would be served', () => {
  it('a missing file is 404 whatever If-Match says', async () => {
    expect((await get('/missing.html', { 'If-Match': '*' })).status).toBe(404);
    expect((await get('/missing.html', { 'If-None-Match': '*' })).status).toBe(404);
  });

  it('a refused file is 403, not 304', async () => {
    expect((await get('/.hidden', { 'If-None-Match': '*' })).status).toBe(403);
  });
});
