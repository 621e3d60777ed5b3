// HTTPS: one TLS server, the same table of requests over HTTP/1.1-in-TLS and over HTTP/2 (ALPN),
// and the answers must be the same: status, headers (apart from Date, the connection-level
// fields HTTP/2 forbids, and multipart boundaries), bodies (decoded where compressed) and the
// access log. Then the TLS life cycle: bad material at start, an expired certificate, the
// passphrase from the environment, flags, certificates re-read on SIGHUP, and the plain-HTTP
// listener that redirects to HTTPS without ever becoming an open redirect.
import { copyFileSync, chmodSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { runCli, startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { makeCert, makeExpiredCert, type CertPair } from '../helpers/certs.js';
import { h1tls, h2request, h2session, peerCommonName, type ProtoRequest, type ProtoResponse } from '../helpers/h2.js';
import { request } from '../helpers/http.js';

let fx: Fixture;
let srv: Running;
let cert: CertPair;
const user = SERVER_USER ? { user: SERVER_USER } : {};

const text = (n: number): string => Array.from({ length: n }, (_, i) => `line ${i} of a compressible text file\n`).join('');
const binary = randomBytes(200_000);

beforeAll(async () => {
  cert = makeCert('localhost');
  fx = makeTree({
    site: {
      dir: {
        'hello.txt': 'hello\n',
        'index.html': '<p>home</p>\n',
        '.env': 'SECRET=1',
        'mode000.txt': { content: 'secret', mode: 0o000 },
        'big.txt': text(8000),
        'small.txt': text(100),
        'data.bin': { content: binary },
        'style.css': 'body { color: red }\n'.repeat(100),
        'style.css.gz': { content: zlib.gzipSync('body { color: red }\n'.repeat(100)) },
        sub: { dir: { 'index.html': '<p>sub</p>\n' } },
        listed: { dir: { 'a.txt': 'a', 'b.txt': 'bb', '.hidden': 'h' } },
        nolist: { dir: { 'a.txt': 'a' } },
      },
    },
  });
  // style.css.gz must not be older than style.css to be used.
  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, tls: { cert: cert.cert, key: cert.key }, rules: [{ path: '/listed/**', listing: true }], ...user });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
  rmSync(cert.dir, { recursive: true, force: true });
});

// Fields that belong to one connection or one protocol (RFC 9113 §8.2.2), and Date.
const CONNECTION_LEVEL = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

function normalise(r: ProtoResponse): { status: number; headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = {};
  let boundary: string | undefined;
  for (const [k, v] of Object.entries(r.headers)) {
    if (CONNECTION_LEVEL.has(k)) continue;
    const m = /boundary=([^;\s]+)/.exec(v);
    if (k === 'content-type' && m) boundary = m[1];
    headers[k] = boundary && k === 'content-type' ? v.replace(boundary, 'BOUNDARY') : v;
  }
  let body = r.body;
  const coding = r.headers['content-encoding'];
  if (body.length > 0 && coding === 'gzip') body = zlib.gunzipSync(body);
  else if (body.length > 0 && coding === 'br') body = zlib.brotliDecompressSync(body);
  if (boundary) body = Buffer.from(body.toString('latin1').split(boundary).join('BOUNDARY'), 'latin1');
  return { status: r.status, headers, body };
}

interface Row extends ProtoRequest {
  name: string;
  status: number;
  /** Checks on the answer beyond "the same over both". */
  check?: (r: ProtoResponse) => void;
}

let etag = '';
const json = { Accept: 'application/json' };
const TABLE: Row[] = [
  { name: 'a file', path: '/hello.txt', status: 200, check: (r) => expect(r.text).toBe('hello\n') },
  { name: 'HEAD of a file', method: 'HEAD', path: '/hello.txt', status: 200, check: (r) => expect([r.body.length, r.headers['content-length']]).toEqual([0, '6']) },
  { name: 'the index', path: '/', status: 200, check: (r) => expect(r.text).toContain('home') },
  { name: '403 dotfile', path: '/.env', status: 403, check: (r) => expect(r.text).toContain("You don't have permission") },
  { name: '403 dotfile, JSON', path: '/.env', headers: json, status: 403, check: (r) => expect(JSON.parse(r.text)).toMatchObject({ reason: 'KC301' }) },
  { name: 'HEAD 403', method: 'HEAD', path: '/.env', status: 403 },
  { name: '403 unreadable (mode 000, as the server user)', path: '/mode000.txt', status: 403 },
  { name: '403 unreadable, JSON', path: '/mode000.txt', headers: json, status: 403, check: (r) => expect(JSON.parse(r.text).reason).toBe('KC402') },
  { name: '404', path: '/missing.txt', status: 404, check: (r) => expect(r.text).toContain('Not Found') },
  { name: '404, JSON', path: '/missing.txt', headers: json, status: 404, check: (r) => expect(JSON.parse(r.text).status).toBe(404) },
  { name: '400 bad escape', path: '/%zz', status: 400 },
  { name: '400 above the root', path: '/a/%2e%2e/%2e%2e/etc/passwd', status: 400 },
  { name: '404 encoded slash', path: '/sub%2findex.html', status: 404 },
  { name: '405 DELETE', method: 'DELETE', path: '/hello.txt', status: 405, check: (r) => expect(r.headers.allow).toBeDefined() },
  { name: '405 POST', method: 'POST', path: '/hello.txt', status: 405 },
  { name: '405 TRACE', method: 'TRACE', path: '/hello.txt', status: 405 },
  { name: '403 DELETE of a dotfile', method: 'DELETE', path: '/.env', status: 403 },
  { name: 'OPTIONS', method: 'OPTIONS', path: '/hello.txt', status: 200 },
  { name: '301 directory without slash', path: '/sub', status: 301, check: (r) => expect(r.headers.location).toBe('/sub/') },
  { name: '301 keeps the query', path: '/sub?x=1', status: 301, check: (r) => expect(r.headers.location).toBe('/sub/?x=1') },
  { name: 'a subdirectory index', path: '/sub/', status: 200 },
  { name: 'a listing', path: '/listed/', status: 200, check: (r) => expect(r.text).toContain('b.txt') },
  { name: 'a listing, JSON', path: '/listed/', headers: json, status: 200, check: (r) => expect(r.headers['content-type']).toContain('application/json') },
  { name: '403 no index, listing off', path: '/nolist/', status: 403 },
  { name: 'range, single', path: '/data.bin', headers: { Range: 'bytes=0-9' }, status: 206, check: (r) => expect(r.body).toEqual(binary.subarray(0, 10)) },
  { name: 'range, suffix', path: '/data.bin', headers: { Range: 'bytes=-10' }, status: 206, check: (r) => expect(r.body).toEqual(binary.subarray(-10)) },
  { name: 'range, large (streamed)', path: '/data.bin', headers: { Range: 'bytes=1000-150000' }, status: 206, check: (r) => expect(r.body).toEqual(binary.subarray(1000, 150001)) },
  { name: 'range, multipart', path: '/data.bin', headers: { Range: 'bytes=0-1,5-6' }, status: 206, check: (r) => expect(r.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/) },
  { name: 'range, multipart streamed', path: '/data.bin', headers: { Range: 'bytes=0-70000,100000-180000' }, status: 206 },
  { name: '416', path: '/data.bin', headers: { Range: 'bytes=999999-' }, status: 416, check: (r) => expect(r.headers['content-range']).toBe(`bytes */${binary.length}`) },
  { name: 'HEAD of a range', method: 'HEAD', path: '/data.bin', headers: { Range: 'bytes=0-9' }, status: 206 },
  { name: '304 by ETag', path: '/hello.txt', headers: { 'If-None-Match': 'ETAG' }, status: 304 },
  { name: '304 by date', path: '/hello.txt', headers: { 'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT' }, status: 304 },
  { name: '412', path: '/hello.txt', headers: { 'If-Match': '"nope"' }, status: 412 },
  { name: 'If-Range mismatch: the whole file', path: '/data.bin', headers: { Range: 'bytes=0-9', 'If-Range': '"other"' }, status: 200 },
  { name: 'gzip on the fly', path: '/big.txt', headers: { 'Accept-Encoding': 'gzip' }, status: 200, check: (r) => expect(r.headers['content-encoding']).toBe('gzip') },
  { name: 'brotli on the fly', path: '/big.txt', headers: { 'Accept-Encoding': 'br' }, status: 200, check: (r) => expect(r.headers['content-encoding']).toBe('br') },
  { name: 'gzip, small', path: '/small.txt', headers: { 'Accept-Encoding': 'gzip, br' }, status: 200 },
  { name: 'HEAD, compressed', method: 'HEAD', path: '/big.txt', headers: { 'Accept-Encoding': 'gzip' }, status: 200 },
  { name: 'a precompressed sidecar', path: '/style.css', headers: { 'Accept-Encoding': 'gzip' }, status: 200, check: (r) => expect(r.headers['content-encoding']).toBe('gzip') },
  { name: 'a large file, identity (streamed)', path: '/big.txt', status: 200, check: (r) => expect(r.text).toBe(text(8000)) },
  { name: '501 unknown method', method: 'BREW', path: '/hello.txt', status: 501 },
  { name: '414', path: '/' + 'a'.repeat(9000), status: 414 },
];

describe('one TLS server, the same answers over HTTP/1.1 and HTTP/2', () => {
  it('negotiates h2 by ALPN, and HTTP/1.1 for clients that offer only it or nothing', async () => {
    expect((await h2request(srv.port, { path: '/hello.txt' })).alpn).toBe('h2');
    expect((await h1tls(srv.port, { path: '/hello.txt' })).alpn).toBe('http/1.1');
    const old = await h1tls(srv.port, { path: '/hello.txt', alpn: [] });
    expect([old.status, old.text, old.alpn]).toEqual([200, 'hello\n', false]);
    expect(srv.url).toMatch(/^https:\/\//);
  });

  it(`${TABLE.length} requests: equal status, headers and bodies`, async () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(30);
    etag = (await h1tls(srv.port, { path: '/hello.txt' })).headers.etag!;
    const session = await h2session(srv.port);
    try {
      for (const row of TABLE) {
        const headers = Object.fromEntries(Object.entries(row.headers ?? {}).map(([k, v]) => [k, v === 'ETAG' ? etag : v]));
        const req = { ...(row.method ? { method: row.method } : {}), path: row.path, headers };
        const one = await h1tls(srv.port, req);
        const two = await h2request(srv.port, req, session);
        expect([row.name, one.status], `${row.name} over HTTP/1.1`).toEqual([row.name, row.status]);
        expect([row.name, two.status], `${row.name} over HTTP/2`).toEqual([row.name, row.status]);
        expect(two.alpn).toBe('h2');
        const [a, b] = [normalise(one), normalise(two)];
        expect({ row: row.name, headers: b.headers }).toEqual({ row: row.name, headers: a.headers });
        expect(b.body.equals(a.body), `${row.name}: bodies differ (${a.body.length} vs ${b.body.length} bytes)`).toBe(true);
        row.check?.(one);
        row.check?.(two);
        // HTTP/2 carries no connection-specific fields at all.
        for (const k of ['connection', 'keep-alive', 'transfer-encoding']) expect(two.headers[k], `${row.name}: ${k}`).toBeUndefined();
      }
    } finally {
      session.close();
    }
  });

  it('a header block over limits.maxHeaderSize is 431 over both, and the HTTP/2 session goes on', async () => {
    const big = { path: '/hello.txt', headers: { 'x-big': 'a'.repeat(20 * 1024) } };
    expect((await h1tls(srv.port, big)).status).toBe(431);
    const session = await h2session(srv.port);
    try {
      const refused = await h2request(srv.port, big, session);
      expect(refused.status).toBe(431);
      expect(refused.body.toString('latin1')).toContain('<title>431 Request Header Fields Too Large</title>');
      expect((await h2request(srv.port, { path: '/hello.txt', headers: { 'x-fine': 'a'.repeat(8 * 1024) } }, session)).status).toBe(200);
    } finally {
      session.close();
    }
  });

  it('logs each request the same way, with its protocol version', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const lines = srv.stdout().split('\n').filter((l) => l.includes('"'));
    const entries = (version: string): string[] =>
      lines
        .map((l) => /"(\S+) (\S+) HTTP\/([\d.]+)" (\d{3}) (\S+)/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && m[3] === version)
        .map((m) => `${m[1]} ${m[2]} ${m[4]} ${m[5]}`)
        .sort();
    const h1 = entries('1.1');
    // Over HTTP/1.1 node's parser refuses a header block too large before the request line is
    // known, so that 431 is logged as "-"; over HTTP/2 the request is known.
    const h2 = entries('2.0').filter((e) => !e.includes(' 431 '));
    expect(h2.length).toBeGreaterThanOrEqual(TABLE.length);
    for (const e of h2) expect(h1).toContain(e);
    expect(lines.some((l) => l.includes('"GET /hello.txt HTTP/2.0" 431 '))).toBe(true);
    expect(lines.some((l) => l.includes('"-" 431 '))).toBe(true);
    expect(h2).toContain('GET /.env 403 308');
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/KC301 DOTFILE_DENIED/), { timeout: 5_000, interval: 20 });
  });
});

describe('TLS at start', () => {
  let dir: Fixture;
  beforeAll(() => {
    dir = makeTree({ site: { dir: { 'hello.txt': 'hello\n' } } });
  });
  afterAll(() => dir?.cleanup());

  it('a missing certificate file: one line, exit 1', () => {
    const file = writeConfig(dir.path('missing.json'), { root: 'site', port: 0, tls: { cert: 'nope.crt', key: 'nope.key' } });
    const r = runCli(['--config', file]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`keycard: tls.cert: cannot read ${dir.path('nope.crt')} (ENOENT)`]);
  });

  it('a key that does not match the certificate: one line, exit 1', () => {
    const other = makeCert('other');
    try {
      const file = writeConfig(dir.path('mismatch.json'), { root: 'site', port: 0, tls: { cert: cert.cert, key: other.key } });
      const r = runCli(['--config', file]);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^keycard: tls.key: .* does not match the certificate/);
    } finally {
      rmSync(other.dir, { recursive: true, force: true });
    }
  });

  it('an expired certificate: a warning, and the server still starts', async () => {
    const old = makeExpiredCert();
    const s = await startServer(['--config', writeConfig(dir.path('expired.json'), { root: 'site', port: 0, tls: { cert: old.cert, key: old.key }, ...user })]);
    try {
      expect(s.stderr()).toMatch(/keycard: warning: the certificate .* expired on Jan {1,2}2 00:00:00 2020 GMT/);
      expect((await h2request(s.port, { path: '/hello.txt' })).text).toBe('hello\n');
    } finally {
      await s.stop();
      rmSync(old.dir, { recursive: true, force: true });
    }
  });

  it('an encrypted key: the passphrase only from the named environment variable', async () => {
    const locked = makeCert('localhost', { passphrase: 's3cret' });
    try {
      const file = writeConfig(dir.path('locked.json'), { root: 'site', port: 0, tls: { cert: locked.cert, key: locked.key, passphraseEnv: 'KC_TEST_PASS' }, ...user });
      const unset = runCli(['--config', file]);
      expect(unset.status).toBe(1);
      expect(unset.stderr).toContain('KC_TEST_PASS is not set');
      const s = await startServer(['--config', file], { env: { KC_TEST_PASS: 's3cret' } });
      try {
        expect((await h1tls(s.port, { path: '/hello.txt' })).status).toBe(200);
      } finally {
        await s.stop();
      }
      // A passphrase in the config file itself is not a thing.
      const inline = runCli(['--config', writeConfig(dir.path('inline.json'), { root: 'site', port: 0, tls: { cert: locked.cert, key: locked.key, passphrase: 's3cret' } })]);
      expect(inline.status).toBe(2);
      expect(inline.stderr).toContain('tls.passphrase: unknown key');
    } finally {
      rmSync(locked.dir, { recursive: true, force: true });
    }
  });

  it('--tls-cert and --tls-key (relative to the working directory)', async () => {
    copyFileSync(cert.cert, dir.path('flag.crt'));
    copyFileSync(cert.key, dir.path('flag.key'));
    const s = await startServer(['site', '--port', '0', '--tls-cert', 'flag.crt', '--tls-key', 'flag.key', ...(SERVER_USER ? ['--user', SERVER_USER] : [])], { cwd: dir.base });
    try {
      expect(s.url).toMatch(/^https:/);
      expect((await h2request(s.port, { path: '/hello.txt' })).status).toBe(200);
    } finally {
      await s.stop();
    }
  });
});

describe('certificates re-read on SIGHUP', () => {
  it('a new certificate is served to new connections; a broken one is refused and the old kept', async () => {
    const dir = makeTree({ site: { dir: { 'hello.txt': 'hello\n' } } });
    const first = makeCert('first');
    const second = makeCert('second');
    try {
      // Readable by the server's user: after the privilege drop, it is the one that reads them.
      const put = (c: CertPair, key = c.key): void => {
        copyFileSync(c.cert, dir.path('tls.crt'));
        copyFileSync(key, dir.path('tls.key'));
        chmodSync(dir.path('tls.key'), 0o644); // copyFile gives it the source's 0600
      };
      put(first);
      const s = await startServer(['--config', writeConfig(dir.path('server.config.json'), { root: 'site', port: 0, tls: { cert: 'tls.crt', key: 'tls.key' }, ...user })]);
      try {
        expect(await peerCommonName(s.port)).toBe('first');
        put(second);
        s.child.kill('SIGHUP');
        await waitFor(() => /config reloaded/.test(s.stderr()));
        expect(await peerCommonName(s.port)).toBe('second');
        // A key from another pair: rejected, the running certificate stays.
        put(second, first.key);
        s.child.kill('SIGHUP');
        await waitFor(() => /reload rejected/.test(s.stderr()));
        expect(s.stderr()).toMatch(/reload rejected, keeping the running config:\nkeycard: tls.key: .* does not match the certificate/);
        expect(await peerCommonName(s.port)).toBe('second');
        expect((await h2request(s.port, { path: '/hello.txt' })).status).toBe(200);
      } finally {
        await s.stop();
      }
    } finally {
      dir.cleanup();
      for (const c of [first, second]) rmSync(c.dir, { recursive: true, force: true });
    }
  });
});

describe('plain HTTP redirected to HTTPS (tls.redirectFrom)', () => {
  let s: Running;
  let dir: Fixture;
  let plain: number;
  beforeAll(async () => {
    dir = makeTree({ site: { dir: { 'hello.txt': 'hello\n' } } });
    s = await startServer(['--config', writeConfig(dir.path('server.config.json'), { root: 'site', port: 0, tls: { cert: cert.cert, key: cert.key, redirectFrom: 0 }, ...user })]);
    await waitFor(() => /redirects to https/.test(s.stderr()));
    const m = /keycard: http:\/\/127\.0\.0\.1:(\d+) redirects to https:\/\/127\.0\.0\.1:(\d+)\n/.exec(s.stderr())!;
    expect(Number(m[2])).toBe(s.port);
    plain = Number(m[1]);
  });
  afterAll(async () => {
    await s?.stop();
    dir?.cleanup();
  });

  const location = async (path: string, host?: string): Promise<string | undefined> => {
    const r = await request(plain, { path, ...(host !== undefined ? { host } : {}) });
    expect(r.status).toBe(301);
    return r.headers.location;
  };

  it('301 to the same path and query on https, host from a valid Host header', async () => {
    expect(Number.isInteger(plain)).toBe(true);
    expect(await location('/hello.txt?a=1&b=%20')).toBe(`https://127.0.0.1:${s.port}/hello.txt?a=1&b=%20`);
    expect(await location('/x', 'www.example.com:8080')).toBe(`https://www.example.com:${s.port}/x`);
    expect(await location('/x', '[::1]:80')).toBe(`https://[::1]:${s.port}/x`);
    expect(await location('/x', 'EXAMPLE.org')).toBe(`https://example.org:${s.port}/x`);
    const r = await request(plain, { path: '/hello.txt' });
    expect(r.text).toContain(`<a href="https://127.0.0.1:${s.port}/hello.txt">`);
  });

  it('never an open redirect: a bad Host falls back to the configured host, a bad target to /', async () => {
    for (const host of ['evil.com/x', 'evil.com@good', 'a b', 'evil.com\\x', '-bad-.com', 'javascript:alert(1)', '[nope]']) {
      expect(await location('/p', host), host).toBe(`https://127.0.0.1:${s.port}/p`);
    }
    expect(await location('http://evil.com/x')).toBe(`https://127.0.0.1:${s.port}/`);
    expect(await location('//evil.com/x')).toBe(`https://127.0.0.1:${s.port}//evil.com/x`);
  });

  it('the HTTPS port itself does not speak plain HTTP', async () => {
    const answer = await new Promise<string>((resolve) => {
      const sock = net.connect({ port: s.port, host: '127.0.0.1' }, () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let out = '';
      sock.on('data', (c) => (out += c.toString('latin1')));
      sock.on('error', () => resolve(out));
      sock.on('close', () => resolve(out));
    });
    expect(answer).not.toContain('hello');
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

