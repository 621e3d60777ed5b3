// Streaming large files over a real socket: the bytes arrive intact; a client that leaves
// mid-download frees the file descriptor (checked in /proc/PID/fd of the server); a file
// replaced or truncated while it is being sent neither crashes the server nor corrupts the
// next response.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

const MiB = 1024 * 1024;
const hasProc = fs.existsSync('/proc/self/fd');

let fx: Fixture;
let srv: Running;
/** Text that compresses to about 3/4: a paused client stalls on-the-fly compression too. */
const BIG_TEXT = randomBytes(12 * MiB).toString('base64');

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'big.bin': '',
        'big.txt': BIG_TEXT,
        'intact.bin': { content: randomBytes(8 * MiB) },
        'swap.bin': { content: Buffer.alloc(32 * MiB, 'a') },
        'trunc.bin': { content: Buffer.alloc(32 * MiB, 't') },
        'small.txt': 'still here\n',
      },
    },
  });
  fs.truncateSync(fx.path('site', 'big.bin'), 256 * MiB); // sparse: big, but costs no disk
  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, accessLog: false, ...(SERVER_USER ? { user: SERVER_USER } : {}) });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

/** The server's descriptors whose link names `file` (or `file (deleted)` once replaced). */
function serverFdsOn(file: string): string[] {
  const dir = `/proc/${srv.child.pid}/fd`;
  const out: string[] = [];
  for (const fd of fs.readdirSync(dir)) {
    let target: string;
    try {
      target = fs.readlinkSync(`${dir}/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    if (target === file || target === `${file} (deleted)`) out.push(`${fd} -> ${target}`);
  }
  return out;
}

/** Resolves once `check` holds; the test's own timeout bounds the wait. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

interface Download {
  socket: net.Socket;
  status(): number;
  headers(): Record<string, string>;
  /** Body bytes received so far. */
  body(): Buffer;
  /** Resolves when at least n body bytes have arrived. */
  atLeast(n: number): Promise<void>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
}

/** A GET whose reading the test controls: pause() stops reading, so the server meets backpressure. */
function download(path: string, headers: Record<string, string> = {}): Download {
  const socket = net.connect(srv.port, '127.0.0.1');
  let req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
  socket.write(req + '\r\n');
  let head = Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let received = 0;
  let status = 0;
  const hdrs: Record<string, string> = {};
  const waiters: (() => void)[] = [];
  const bodyLen = (): number => received;
  socket.on('data', (chunk: Buffer) => {
    if (status === 0) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      status = Number(lines[0]!.split(' ')[1]);
      for (const l of lines.slice(1)) hdrs[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      chunk = head.subarray(end + 4);
    }
    chunks.push(chunk);
    received += chunk.length;
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return {
    socket,
    status: () => status,
    headers: () => hdrs,
    body: () => Buffer.concat(chunks),
    async atLeast(n) {
      while (bodyLen() < n) {
        await Promise.race([new Promise<void>((r) => waiters.push(r)), closed]);
        if (socket.destroyed && bodyLen() < n) throw new Error(`connection closed after ${bodyLen()} body bytes`);
      }
    },
    closed,
  };
}

describe('large files stream intact', () => {
  it('8 MiB of random bytes arrive byte for byte, with the promised length', async () => {
    const res = await request(srv.port, { path: '/intact.bin' });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(8 * MiB));
    expect(res.body.equals(fs.readFileSync(fx.path('site', 'intact.bin')))).toBe(true);
  });

  it('a slow reader still gets every byte', async () => {
    const d = download('/intact.bin');
    await d.atLeast(1);
    d.socket.pause();
    await request(srv.port, { path: '/small.txt' }); // the server serves others meanwhile
    d.socket.resume();
    await d.closed;
    expect(d.body().equals(fs.readFileSync(fx.path('site', 'intact.bin')))).toBe(true);
  });

  it('a large compressed response decodes to the file', async () => {
    const res = await request(srv.port, { path: '/big.txt', headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(res.body).toString()).toBe(BIG_TEXT);
  });
});

describe.runIf(hasProc)('a client that disconnects mid-download', () => {
  it.each([
    ['a plain download', '/big.bin', {}],
    ['a range', '/big.bin', { Range: 'bytes=1000-' }],
    ['several ranges', '/big.bin', { Range: 'bytes=0-99999999,120000000-' }],
    ['compression on the fly', '/big.txt', { 'Accept-Encoding': 'gzip' }],
  ] as const)('%s: no descriptor of the file is left open in the server', async (_what, path, headers) => {
    const file = fs.realpathSync(fx.path('site', path.slice(1)));
    const d = download(path, headers);
    await d.atLeast(64 * 1024);
    d.socket.pause();
    // Mid-download: the server holds the file open (this is what the check below would see).
    expect(serverFdsOn(file).length).toBeGreaterThan(0);
    d.socket.destroy();
    await until(() => serverFdsOn(file).length === 0);
    expect(serverFdsOn(file)).toEqual([]);
    expect((await request(srv.port, { path: '/small.txt' })).text).toBe('still here\n');
  });
});

describe('a file changed while it is being sent', () => {
  it('replaced by rename: the download finishes with the old bytes, the next request gets the new file', async () => {
    const file = fx.path('site', 'swap.bin');
    const d = download('/swap.bin');
    await d.atLeast(64 * 1024);
    d.socket.pause();
    fs.writeFileSync(fx.path('site', 'swap.tmp'), 'the new content\n');
    fs.renameSync(fx.path('site', 'swap.tmp'), file);
    d.socket.resume();
    await d.closed;
    expect(d.status()).toBe(200);
    expect(d.headers()['content-length']).toBe(String(32 * MiB));
    const body = d.body();
    expect(body.length).toBe(32 * MiB);
    expect(body.equals(Buffer.alloc(32 * MiB, 'a'))).toBe(true);

    const next = await request(srv.port, { path: '/swap.bin' });
    expect(next.status).toBe(200);
    expect(next.text).toBe('the new content\n');
    if (hasProc) {
      const real = fs.realpathSync(file);
      await until(() => serverFdsOn(real).length === 0);
    }
  });

  it('truncated: the response stops short of its Content-Length and the connection closes; the server carries on', async () => {
    const file = fx.path('site', 'trunc.bin');
    const d = download('/trunc.bin');
    await d.atLeast(64 * 1024);
    d.socket.pause();
    fs.truncateSync(file, 0);
    d.socket.resume();
    await d.closed;
    expect(d.status()).toBe(200);
    expect(d.headers()['content-length']).toBe(String(32 * MiB));
    expect(d.body().length).toBeLessThan(32 * MiB);
    // What did arrive is the file's bytes, not zeros or another file's.
    expect(d.body().every((b) => b === 't'.charCodeAt(0))).toBe(true);

    const next = await request(srv.port, { path: '/trunc.bin' });
    expect(next.status).toBe(200);
    expect(next.headers['content-length']).toBe('0');
    if (hasProc) {
      const real = fs.realpathSync(file);
      await until(() => serverFdsOn(real).length === 0);
    }
  });
});
