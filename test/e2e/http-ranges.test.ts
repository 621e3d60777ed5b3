// Range requests over a real socket (RFC 9110 §14): single ranges in every form, 416 with the
// size, multipart/byteranges, If-Range with an ETag or a date, and Range headers that must be
// ignored. The bytes of every 206 are compared with the file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

const SIZE = 10_000;
const DATA = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const TEXT = 'line of text that compresses well\n'.repeat(200);

let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'data.bin': { content: DATA },
        'page.txt': TEXT,
        'empty.bin': '',
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, accessLog: false, ...(SERVER_USER ? { user: SERVER_USER } : {}) });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(srv.port, { method, path, headers });

/** Splits a multipart/byteranges body into its parts' headers and bytes. */
function parseMultipart(res: RawResponse): { headers: Record<string, string>; body: Buffer }[] {
  const m = /^multipart\/byteranges; boundary=(.+)$/.exec(res.headers['content-type'] ?? '');
  expect(m, res.headers['content-type']).not.toBeNull();
  const delimiter = Buffer.from(`--${m![1]}`);
  const body = res.body;
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  expect(at).toBe(0);
  for (;;) {
    const afterDelim = at + delimiter.length;
    if (body.subarray(afterDelim, afterDelim + 2).toString() === '--') {
      expect(body.subarray(afterDelim).toString()).toBe('--\r\n');
      return parts;
    }
    const headEnd = body.indexOf('\r\n\r\n', afterDelim);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(afterDelim + 2, headEnd).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4);
    parts.push({ headers, body: body.subarray(headEnd + 4, next) });
    at = next + 2;
  }
}

describe('a plain GET', () => {
  it('advertises Accept-Ranges: bytes', async () => {
    const res = await get('/data.bin');
    expect(res.status).toBe(200);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.body.equals(DATA)).toBe(true);
  });
});

describe('a single range is 206 with Content-Range and exactly those bytes', () => {
  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=0-499', 0, 499],
    ['bytes=100-', 100, SIZE - 1],
    ['bytes=-500', SIZE - 500, SIZE - 1],
    ['bytes=9999-9999', 9999, 9999],
    ['bytes=5000-99999', 5000, SIZE - 1], // last-pos past the end is clamped
    ['bytes=-20000', 0, SIZE - 1], // a suffix longer than the file is the whole file
    ['BYTES=10-19', 10, 19], // the unit is case-insensitive
    ['bytes= 10-19 ', 10, 19],
  ])('%s → bytes %i-%i', async (range, start, end) => {
    const res = await get('/data.bin', { Range: range });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(res.headers['content-length']).toBe(String(end - start + 1));
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.body.equals(DATA.subarray(start, end + 1))).toBe(true);
  });

  it('HEAD with a Range gets the 206 headers and no body', async () => {
    const res = await get('/data.bin', { Range: 'bytes=-500' }, 'HEAD');
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes ${SIZE - 500}-${SIZE - 1}/${SIZE}`);
    expect(res.headers['content-length']).toBe('500');
    expect(res.body.length).toBe(0);
  });

  it('overlapping ranges are coalesced into one', async () => {
    const res = await get('/data.bin', { Range: 'bytes=0-10,5-20' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 0-20/${SIZE}`);
    expect(res.body.equals(DATA.subarray(0, 21))).toBe(true);
  });
});

describe('an unsatisfiable range is 416 with Content-Range: bytes */SIZE', () => {
  it.each(['bytes=10000-', 'bytes=20000-30000', 'bytes=-0', 'bytes=10000-10001,20000-'])('%s', async (range) => {
    const res = await get('/data.bin', { Range: range });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${SIZE}`);
    expect(res.body.length).toBe(0);
  });

  it('any range of an empty file', async () => {
    const res = await get('/empty.bin', { Range: 'bytes=0-' });
    expect(res.status).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */0');
  });

  it('one satisfiable range among unsatisfiable ones is served', async () => {
    const res = await get('/data.bin', { Range: 'bytes=20000-,0-9' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBe(`bytes 0-9/${SIZE}`);
  });
});

describe('several ranges are multipart/byteranges', () => {
  it('each part carries its Content-Type, Content-Range and bytes, in the order asked', async () => {
    const res = await get('/data.bin', { Range: 'bytes=0-9,-5,200-299' });
    expect(res.status).toBe(206);
    expect(res.headers['content-range']).toBeUndefined();
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
    const parts = parseMultipart(res);
    expect(parts.map((p) => p.headers['content-range'])).toEqual([`bytes 0-9/${SIZE}`, `bytes ${SIZE - 5}-${SIZE - 1}/${SIZE}`, `bytes 200-299/${SIZE}`]);
    for (const p of parts) expect(p.headers['content-type']).toBe('application/octet-stream');
    expect(parts[0]!.body.equals(DATA.subarray(0, 10))).toBe(true);
    expect(parts[1]!.body.equals(DATA.subarray(SIZE - 5))).toBe(true);
    expect(parts[2]!.body.equals(DATA.subarray(200, 300))).toBe(true);
  });

  it('HEAD gets the same Content-Length and no body', async () => {
    const get1 = await get('/data.bin', { Range: 'bytes=0-9,20-29' });
    const head = await get('/data.bin', { Range: 'bytes=0-9,20-29' }, 'HEAD');
    expect(head.status).toBe(206);
    expect(head.headers['content-length']).toBe(get1.headers['content-length']);
    expect(head.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/);
    expect(head.body.length).toBe(0);
  });

  it('the boundary changes per response (it cannot be predicted and planted in a file)', async () => {
    const a = await get('/data.bin', { Range: 'bytes=0-1,5-6' });
    const b = await get('/data.bin', { Range: 'bytes=0-1,5-6' });
    expect(a.headers['content-type']).not.toBe(b.headers['content-type']);
  });
});

describe('a Range header that is not valid is ignored: 200 with the whole file', () => {
  it.each(['bytes=abc', 'bytes=5-1', 'items=0-1', 'bytes', 'bytes=', 'bytes=1-2-3', 'bytes=--1', 'bytes=0x10-20'])('%s', async (range) => {
    const res = await get('/data.bin', { Range: range });
    expect(res.status).toBe(200);
    expect(res.headers['content-range']).toBeUndefined();
    expect(res.body.equals(DATA)).toBe(true);
  });
});

describe('If-Range', () => {
  let etag: string;
  let lastModified: string;
  beforeAll(async () => {
    const res = await get('/data.bin');
    etag = res.headers.etag!;
    lastModified = res.headers['last-modified']!;
  });

  it('with the current ETag: the range', async () => {
    const res = await get('/data.bin', { Range: 'bytes=0-9', 'If-Range': etag });
    expect(res.status).toBe(206);
    expect(res.body.equals(DATA.subarray(0, 10))).toBe(true);
  });

  it('with the exact Last-Modified date: the range', async () => {
    expect((await get('/data.bin', { Range: 'bytes=0-9', 'If-Range': lastModified })).status).toBe(206);
  });

  it.each([
    ['another ETag', () => '"0-0-0"'],
    ['the weak form of the current ETag (If-Range needs a strong match)', () => `W/${etag}`],
    ['a later date (RFC 9110 wants an exact match)', () => new Date(Date.parse(lastModified) + 5000).toUTCString()],
    ['an earlier date', () => new Date(Date.parse(lastModified) - 5000).toUTCString()],
    ['garbage', () => 'yesterday'],
  ])('with %s: the whole file, 200', async (_name, value) => {
    const res = await get('/data.bin', { Range: 'bytes=0-9', 'If-Range': value() });
    expect(res.status).toBe(200);
    expect(res.body.equals(DATA)).toBe(true);
  });

  it('a failed If-Range also turns an unsatisfiable range into 200', async () => {
    expect((await get('/data.bin', { Range: 'bytes=20000-', 'If-Range': '"other"' })).status).toBe(200);
  });
});

describe('ranges and preconditions', () => {
  it('If-None-Match that matches wins over the range: 304', async () => {
    const { etag } = (await get('/data.bin')).headers;
    const res = await get('/data.bin', { Range: 'bytes=0-9', 'If-None-Match': etag! });
    expect(res.status).toBe(304);
    expect(res.body.length).toBe(0);
  });

  it('If-Match that fails wins over the range: 412', async () => {
    expect((await get('/data.bin', { Range: 'bytes=0-9', 'If-Match': '"nope"' })).status).toBe(412);
  });

  it('If-Match that holds: the range', async () => {
    const { etag } = (await get('/data.bin')).headers;
    expect((await get('/data.bin', { Range: 'bytes=0-9', 'If-Match': etag! })).status).toBe(206);
  });
});

describe('ranges are never compressed', () => {
  it('a range of a compressible file is identity bytes, still with Vary: Accept-Encoding', async () => {
    const res = await get('/page.txt', { Range: 'bytes=10-29', 'Accept-Encoding': 'br, gzip' });
    expect(res.status).toBe(206);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.vary).toBe('Accept-Encoding');
    expect(res.text).toBe(TEXT.slice(10, 30));
  });

  it('its ETag is the identity one, so If-Range with it holds', async () => {
    const identity = await get('/page.txt');
    const res = await get('/page.txt', { Range: 'bytes=0-3', 'If-Range': identity.headers.etag!, 'Accept-Encoding': 'gzip' });
    expect(res.status).toBe(206);
    expect(res.headers.etag).toBe(identity.headers.etag);
  });

  it('If-Range with a date, from a client that accepts gzip: the whole body (the date cannot tell gzip from identity)', async () => {
    const lastModified = (await get('/page.txt')).headers['last-modified']!;
    const resumed = await get('/page.txt', { Range: 'bytes=10-', 'If-Range': lastModified, 'Accept-Encoding': 'gzip' });
    expect(resumed.status).toBe(200);
    expect(resumed.headers['content-encoding']).toBe('gzip');
    const identityOnly = await get('/page.txt', { Range: 'bytes=10-', 'If-Range': lastModified });
    expect(identityOnly.status).toBe(206);
  });

  it('a Range that is ignored does not stop compression', async () => {
    const res = await get('/page.txt', { Range: 'bytes=junk', 'Accept-Encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
  });
});
