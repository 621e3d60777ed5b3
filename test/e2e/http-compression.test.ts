// Content coding over a real socket: Accept-Encoding with q-values, precompressed sidecars
// (served byte for byte when present, fresh and allowed), on-the-fly brotli and gzip above a
// size threshold, Vary, and distinct ETags per coding. Every encoded body is decoded with zlib
// and compared with the file. Sidecars that the server may not read, that a rule refuses or
// that point outside the root are skipped and never leak: the server runs as nobody.
import * as fs from 'node:fs';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync, constants as zc } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

/** Text that compresses, but not trivially: every line differs. */
function text(lines: number, word: string): string {
  let out = '';
  for (let i = 0; i < lines; i++) out += `const ${word}${i} = ${(i * 2654435761) % 1000003}; // ${word} line ${i}\n`;
  return out;
}
const APP = text(2000, 'app'); // ~90 KB: streamed, compressed on the fly
const SMALL = 'a{b:c}\n'.repeat(20); // below the threshold
const PRE = text(10, 'pre'); // small: only a sidecar can encode it
const BIG_PRE = text(2000, 'bigpre');
const SECRET = 'SECRET: the unreadable sidecar must never be sent\n';
const PNG = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251));

const PRE_BR = brotliCompressSync(PRE, { params: { [zc.BROTLI_PARAM_QUALITY]: 11 } });
const PRE_GZ = gzipSync(PRE, { level: 9 });
const BIG_PRE_BR = brotliCompressSync(BIG_PRE, { params: { [zc.BROTLI_PARAM_QUALITY]: 11 } });

let fx: Fixture;
let srv: Running;

function sidecarsFor(content: string): { br: Buffer; gz: Buffer } {
  return { br: brotliCompressSync(content), gz: gzipSync(content) };
}

beforeAll(async () => {
  const locked = 'locked { color: red }\n';
  fx = makeTree({
    'outside.css.gz': { content: gzipSync(SECRET) },
    site: {
      dir: {
        'app.js': APP,
        'small.css': SMALL,
        'photo.png': { content: PNG },
        'bundle.zip': { content: PNG },
        'pre.css': PRE,
        'pre.css.br': { content: PRE_BR },
        'pre.css.gz': { content: PRE_GZ },
        'big-pre.js': BIG_PRE,
        'big-pre.js.br': { content: BIG_PRE_BR },
        'stale.js': APP,
        'stale.js.gz': { content: gzipSync(SECRET) },
        'locked.css': locked,
        'locked.css.br': { content: brotliCompressSync(SECRET), mode: 0o000 },
        'locked.css.gz': { content: sidecarsFor(locked).gz },
        'owner-only.css': locked,
        'owner-only.css.gz': { content: gzipSync(SECRET), mode: 0o600 },
        'link.css': locked,
        'link.css.gz': { symlink: '../outside.css.gz' },
        'dir.css': locked,
        'dir.css.gz': { dir: {} },
        ruled: { dir: { 'app.css': locked, 'app.css.br': { content: brotliCompressSync(SECRET) } } },
      },
    },
  });
  // The stale sidecar is older than its original.
  const old = new Date('2020-01-01T00:00:00Z');
  fs.utimesSync(fx.path('site', 'stale.js.gz'), old, old);
  // Every other sidecar is newer than its original, so only the policy can skip it.
  for (const f of ['locked.css', 'owner-only.css', 'link.css', 'dir.css', 'ruled/app.css']) fs.utimesSync(fx.path('site', f), old, old);
  const config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    accessLog: false,
    rules: [{ path: '/ruled/*.br', access: 'deny' }],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(srv.port, { method, path, headers });

function decode(res: RawResponse): Buffer {
  switch (res.headers['content-encoding']) {
    case undefined:
      return res.body;
    case 'br':
      return brotliDecompressSync(res.body);
    case 'gzip':
      return gunzipSync(res.body);
    default:
      throw new Error(`unexpected coding ${res.headers['content-encoding']}`);
  }
}

describe('on-the-fly compression round-trips to the file, byte for byte', () => {
  it.each(['br', 'gzip'])('%s', async (coding) => {
    const res = await get('/app.js', { 'Accept-Encoding': coding });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe(coding);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.body.length).toBeLessThan(APP.length / 2);
    // Ranges are of the identity body only, so an encoded response does not offer them.
    expect(res.headers['accept-ranges']).toBeUndefined();
    expect(decode(res).equals(Buffer.from(APP))).toBe(true);
  });
});

describe('Accept-Encoding negotiation (q-values)', () => {
  it.each([
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, br', 'br'], // equal weights: the server's preference, br
    ['br;q=0.5, gzip', 'gzip'],
    ['gzip;q=1, br;q=0.999', 'gzip'],
    ['br;q=0, *', 'gzip'],
    ['*', 'br'],
    ['x-gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['gzip;Q=0.5, identity;q=0.1', 'gzip'],
    ['identity', undefined],
    ['deflate', undefined],
    ['gzip;q=0, br;q=0', undefined],
    ['gzip;q=abc', undefined],
    ['', undefined],
    // Nothing acceptable, identity included: still 200 with identity, never 406.
    ['*;q=0', undefined],
    ['identity;q=0', undefined],
  ] as const)('%j → %s', async (accept, coding) => {
    const res = await get('/app.js', { 'Accept-Encoding': accept });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe(coding);
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(decode(res).toString()).toBe(APP);
  });

  it('no Accept-Encoding at all: identity, with its length', async () => {
    const res = await get('/app.js');
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(APP)));
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers.vary).toBe('Accept-Encoding');
  });
});

describe('what is not compressed', () => {
  it('a file below the size threshold', async () => {
    const res = await get('/small.css', { 'Accept-Encoding': 'br, gzip' });
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.text).toBe(SMALL);
    expect(res.headers.vary).toBe('Accept-Encoding');
  });

  it.each(['/photo.png', '/bundle.zip'])('%s: an already-compressed type, and no Vary', async (path) => {
    const res = await get(path, { 'Accept-Encoding': 'br, gzip' });
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.vary).toBeUndefined();
    expect(res.body.equals(PNG)).toBe(true);
  });

  it('a range', async () => {
    const res = await get('/app.js', { 'Accept-Encoding': 'gzip', Range: 'bytes=0-99' });
    expect(res.status).toBe(206);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.text).toBe(APP.slice(0, 100));
  });
});

describe('precompressed sidecars', () => {
  it.each([
    ['br', PRE_BR],
    ['gzip', PRE_GZ],
  ] as const)('%s: the sidecar itself, with its length', async (coding, sidecar) => {
    const res = await get('/pre.css', { 'Accept-Encoding': coding });
    expect(res.headers['content-encoding']).toBe(coding);
    expect(res.headers['content-length']).toBe(String(sidecar.length));
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(res.body.equals(sidecar)).toBe(true);
    expect(decode(res).toString()).toBe(PRE);
  });

  it('preferred over compressing on the fly', async () => {
    const res = await get('/big-pre.js', { 'Accept-Encoding': 'br' });
    expect(res.body.equals(BIG_PRE_BR)).toBe(true);
    expect(res.headers['content-length']).toBe(String(BIG_PRE_BR.length));
  });

  it('the client weights still decide between two sidecars', async () => {
    expect((await get('/pre.css', { 'Accept-Encoding': 'br;q=0.1, gzip' })).body.equals(PRE_GZ)).toBe(true);
  });

  it('a sidecar older than its file is skipped: compressed on the fly instead', async () => {
    const res = await get('/stale.js', { 'Accept-Encoding': 'gzip' });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(decode(res).toString()).toBe(APP);
  });

  it('a sidecar the server may not read is skipped, and the next coding tried', async () => {
    const res = await get('/locked.css', { 'Accept-Encoding': 'br, gzip' });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(decode(res).toString()).toBe('locked { color: red }\n');
  });

  it.each([
    ['mode 000', '/locked.css', 'br'],
    ['mode 600, owned by root', '/owner-only.css', 'gzip'],
    ['a rule denies its URL', '/ruled/app.css', 'br'],
    ['a symlink out of the root', '/link.css', 'gzip'],
    ['a directory', '/dir.css', 'gzip'],
  ])('%s: never served, the original is', async (_why, path, coding) => {
    const res = await get(path, { 'Accept-Encoding': coding });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.text).toBe('locked { color: red }\n');
    expect(res.text).not.toContain('SECRET');
  });

  it('requesting the refused sidecar directly is refused too', async () => {
    expect((await get('/locked.css.br')).status).toBe(403);
    expect((await get('/ruled/app.css.br')).status).toBe(403);
  });
});

describe('each coding is its own representation, with its own ETag', () => {
  it('identity, br and gzip ETags all differ; each gives 304 for its own coding only', async () => {
    const identity = await get('/app.js');
    const br = await get('/app.js', { 'Accept-Encoding': 'br' });
    const gz = await get('/app.js', { 'Accept-Encoding': 'gzip' });
    const tags = [identity.headers.etag, br.headers.etag, gz.headers.etag];
    expect(new Set(tags).size).toBe(3);
    for (const t of tags) expect(t).toMatch(/^"/);

    const cached = await get('/app.js', { 'Accept-Encoding': 'gzip', 'If-None-Match': gz.headers.etag! });
    expect(cached.status).toBe(304);
    expect(cached.headers.etag).toBe(gz.headers.etag);
    expect(cached.headers.vary).toBe('Accept-Encoding');
    expect(cached.headers['content-encoding']).toBeUndefined();
    // The gzip tag does not validate the identity body, which this client would get.
    expect((await get('/app.js', { 'If-None-Match': gz.headers.etag! })).status).toBe(200);
  });

  it('a sidecar has its own ETag, different from the on-the-fly one', async () => {
    const side = await get('/big-pre.js', { 'Accept-Encoding': 'br' });
    const identity = await get('/big-pre.js');
    expect(side.headers.etag).not.toBe(identity.headers.etag);
    expect((await get('/big-pre.js', { 'Accept-Encoding': 'br', 'If-None-Match': side.headers.etag! })).status).toBe(304);
  });

  it('HEAD with Accept-Encoding: the same coding and ETag, and nothing compressed', async () => {
    const g = await get('/app.js', { 'Accept-Encoding': 'br' });
    const h = await get('/app.js', { 'Accept-Encoding': 'br' }, 'HEAD');
    expect(h.headers['content-encoding']).toBe('br');
    expect(h.headers.etag).toBe(g.headers.etag);
    expect(h.body.length).toBe(0);
  });
});

describe('the switches', () => {
  let fx2: Fixture;
  let noCompress: Running;
  let noPre: Running;
  beforeAll(async () => {
    fx2 = makeTree({ site: { dir: { 'app.js': APP, 'pre.css': PRE, 'pre.css.br': { content: PRE_BR } } } });
    const user = SERVER_USER ? { user: SERVER_USER } : {};
    noCompress = await startServer(['--config', writeConfig(fx2.path('a.json'), { root: 'site', port: 0, accessLog: false, compress: false, ...user })]);
    noPre = await startServer(['--config', writeConfig(fx2.path('b.json'), { root: 'site', port: 0, accessLog: false, precompressed: false, ...user })]);
  });
  afterAll(async () => {
    await noCompress?.stop();
    await noPre?.stop();
    fx2?.cleanup();
  });

  it('compress: false — nothing is compressed on the fly, sidecars are still served', async () => {
    const app = await request(noCompress.port, { path: '/app.js', headers: { 'Accept-Encoding': 'br, gzip' } });
    expect(app.headers['content-encoding']).toBeUndefined();
    expect(app.text).toBe(APP);
    const pre = await request(noCompress.port, { path: '/pre.css', headers: { 'Accept-Encoding': 'br' } });
    expect(pre.body.equals(PRE_BR)).toBe(true);
  });

  it('precompressed: false — sidecars are ignored, compression on the fly still works', async () => {
    const pre = await request(noPre.port, { path: '/pre.css', headers: { 'Accept-Encoding': 'br' } });
    expect(pre.headers['content-encoding']).toBeUndefined();
    expect(pre.text).toBe(PRE);
    const app = await request(noPre.port, { path: '/app.js', headers: { 'Accept-Encoding': 'br' } });
    expect(decode(app).toString()).toBe(APP);
  });
});
