// Response headers over a real socket: Content-Type, nosniff, the methods (lightly: the order
// of method checks is covered elsewhere), Cache-Control and custom headers per rule, and HEAD
// answered with exactly the header fields of GET.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

const CSS = 'body { color: black; }\n'.repeat(200);

let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  const files: Record<string, string> = {};
  for (const name of ['a.html', 'a.css', 'a.js', 'a.mjs', 'a.json', 'a.svg', 'a.png', 'a.txt', 'a.woff2', 'a.wasm', 'a.pdf', 'a.md', 'UPPER.HTML', 'a.unknownext', 'README', 'json', 'archive.tar.gz']) files[name] = 'x';
  fx = makeTree({
    site: {
      dir: {
        ...files,
        'index.html': '<p>home</p>\n',
        'big.css': CSS,
        'pre.css': CSS,
        'pre.css.gz': { content: gzipSync(CSS) },
        assets: { dir: { 'app.3f9a1c.js': 'console.log(1);\n' } },
        download: { dir: { 'report.csv': 'a,b\n1,2\n' } },
        tricky: { dir: { 'page.txt': 'hello\n' } },
        private: { dir: { 'secret.txt': 'no' } },
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    accessLog: false,
    defaultType: 'text/plain; charset=utf-8',
    headers: { 'X-Served-By': 'keycard-test' },
    rules: [
      { path: '/assets/**', cacheControl: 'max-age=31536000, immutable' },
      { path: '/**/*.html', cacheControl: 'no-cache' },
      { path: '/download/**', headers: { 'Content-Disposition': 'attachment', 'content-type': 'text/csv; header=present' } },
      { path: '/tricky/**', headers: { 'Content-Length': '1', ETag: '"forged"', Vary: 'Origin' } },
      { path: '/private/**', access: 'deny' },
    ],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(srv.port, { method, path, headers });

describe('Content-Type', () => {
  it.each([
    ['/a.html', 'text/html; charset=utf-8'],
    ['/a.css', 'text/css; charset=utf-8'],
    ['/a.js', 'text/javascript; charset=utf-8'],
    ['/a.mjs', 'text/javascript; charset=utf-8'],
    ['/a.json', 'application/json; charset=utf-8'],
    ['/a.txt', 'text/plain; charset=utf-8'],
    ['/a.md', 'text/markdown; charset=utf-8'],
    ['/a.svg', 'image/svg+xml'],
    ['/a.png', 'image/png'],
    ['/a.woff2', 'font/woff2'],
    ['/a.wasm', 'application/wasm'],
    ['/a.pdf', 'application/pdf'],
    ['/archive.tar.gz', 'application/gzip'],
    ['/UPPER.HTML', 'text/html; charset=utf-8'],
    ['/', 'text/html; charset=utf-8'],
  ])('%s → %s', async (path, type) => {
    const res = await get(path);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
  });

  it.each(['/a.unknownext', '/README', '/json'])('%s (no known extension) → the configured defaultType', async (path) => {
    expect((await get(path)).headers['content-type']).toBe('text/plain; charset=utf-8');
  });
});

describe('X-Content-Type-Options: nosniff', () => {
  it.each<[string, string, number, string]>([
    ['a file', '/a.txt', 200, 'GET'],
    ['a 404', '/missing', 404, 'GET'],
    ['a 403', '/private/secret.txt', 403, 'GET'],
    ['a 405', '/a.txt', 405, 'POST'],
  ])('on %s', async (_what, path, status, method) => {
    const res = await get(path, {}, method);
    expect(res.status).toBe(status);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('methods', () => {
  it('OPTIONS → 200, Allow, empty body', async () => {
    const res = await get('/a.txt', {}, 'OPTIONS');
    expect(res.status).toBe(200);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(res.headers['content-length']).toBe('0');
    expect(res.body.length).toBe(0);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'TRACE'])('%s → 405 with Allow', async (method) => {
    const res = await get('/a.txt', { 'Content-Length': '0' }, method);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
  });

  it('an unknown method → 501 with Allow (Node\'s parser refuses it; keycard answers as Apache)', async () => {
    const res = await get('/a.txt', {}, 'BREW');
    expect(res.status).toBe(501);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(res.text).toContain('<p>BREW not supported for current URL.<br />');
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/KC\d+ METHOD_NOT_IMPLEMENTED: .*BREW \/a\.txt/), { timeout: 5_000, interval: 20 });
  });

  it('an unknown method on a refused path is refused first: 403', async () => {
    expect((await get('/private/secret.txt', {}, 'BREW')).status).toBe(403);
  });

  it('a request line that is not HTTP at all stays 400', async () => {
    const { connect } = await import('node:net');
    const raw = await new Promise<string>((resolve) => {
      const sock = connect(srv.port, '127.0.0.1', () => sock.write('\x16\x03\x01\x02\x00\x01\x00\r\n\r\n'));
      let out = '';
      sock.setEncoding('latin1').on('data', (c: string) => (out += c));
      sock.on('close', () => resolve(out));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});

describe('Cache-Control and headers per rule', () => {
  it('hashed assets: long-lived and immutable', async () => {
    const res = await get('/assets/app.3f9a1c.js');
    expect(res.headers['cache-control']).toBe('max-age=31536000, immutable');
  });

  it('HTML, the index included: no-cache', async () => {
    expect((await get('/a.html')).headers['cache-control']).toBe('no-cache');
    expect((await get('/')).headers['cache-control']).toBe('no-cache');
  });

  it('elsewhere: no Cache-Control at all', async () => {
    expect((await get('/a.txt')).headers['cache-control']).toBeUndefined();
  });

  it('the global headers appear on every successful response', async () => {
    expect((await get('/a.txt')).headers['x-served-by']).toBe('keycard-test');
    expect((await get('/a.txt', { Range: 'bytes=0-0' })).headers['x-served-by']).toBe('keycard-test');
  });

  it('but not on refusals', async () => {
    const res = await get('/private/secret.txt');
    expect(res.status).toBe(403);
    expect(res.headers['x-served-by']).toBeUndefined();
  });

  it('a rule header replaces the server header of the same name, whatever its case', async () => {
    const res = await get('/download/report.csv');
    expect(res.headers['content-disposition']).toBe('attachment');
    expect(res.rawHeaders.filter(([k]) => k === 'content-type')).toEqual([['content-type', 'text/csv; header=present']]);
  });

  it('framing and validators cannot be configured; a configured Vary is added to the server one', async () => {
    const res = await get('/tricky/page.txt');
    expect(res.text).toBe('hello\n');
    expect(res.headers['content-length']).toBe('6');
    expect(res.headers.etag).not.toBe('"forged"');
    expect(res.headers.vary).toBe('Accept-Encoding, Origin');
  });
});

/** Header fields as a sorted list, without Date (which may tick between the two responses). */
function fields(res: RawResponse): string[] {
  return res.rawHeaders.filter(([k]) => k !== 'date').map(([k, v]) => `${k}: ${v}`).sort();
}

describe('HEAD has the same header fields as GET (all but Date), and no body', () => {
  it.each([
    ['a small file', '/a.txt', {}],
    ['HTML with a rule', '/a.html', {}],
    ['the index of /', '/', {}],
    ['a compressible file, identity', '/big.css', {}],
    ['a compressible file compressed on the fly (chunked)', '/big.css', { 'Accept-Encoding': 'br' }],
    ['a precompressed sidecar', '/pre.css', { 'Accept-Encoding': 'gzip' }],
    ['a range', '/big.css', { Range: 'bytes=10-20' }],
    ['a 304', '/a.txt', { 'If-Modified-Since': new Date(Date.now() + 86_400_000).toUTCString() }],
    ['a 412', '/a.txt', { 'If-Match': '"nope"' }],
    ['a 416', '/a.txt', { Range: 'bytes=100-' }],
    ['a 404', '/missing', {}],
    ['a 403', '/private/secret.txt', {}],
    ['a 301', '/assets', {}],
  ] as const)('%s', async (_what, path, headers) => {
    const g = await get(path, headers);
    const h = await get(path, headers, 'HEAD');
    expect(h.status).toBe(g.status);
    expect(fields(h)).toEqual(fields(g));
    expect(h.body.length).toBe(0);
  });
});
