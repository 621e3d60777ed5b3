// What one client can hold, bounded (config `limits`): the request-head timeout against a
// slowloris, keep-alive and idle timeouts, header size (431), URL length (414), a cap on
// concurrent connections, and running out of file descriptors (503 KC901, or the connection
// refused), each recovering by itself once the pressure is gone.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { CLI, runCli, startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';
import { parseHttp1 } from '../helpers/h2.js';

let fx: Fixture;
const user = SERVER_USER ? { user: SERVER_USER } : {};
const BIG = 48 * 1024 * 1024;

beforeAll(() => {
  fx = makeTree({ site: { dir: { 'hello.txt': 'hello\n', 'big.bin': { content: Buffer.alloc(BIG, 7) } } } });
});
afterAll(() => fx?.cleanup());

let n = 0;
const config = (limits: Record<string, unknown>, extra: Record<string, unknown> = {}): string =>
  writeConfig(fx.path(`limits-${++n}.json`), { root: 'site', port: 0, accessLog: false, limits, ...user, ...extra });

/** A kept-alive HTTP/1.1 connection: one request at a time, responses framed by Content-Length. */
class Conn {
  readonly sock: net.Socket;
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  closed = false;
  readonly ready: Promise<void>;
  constructor(port: number) {
    this.sock = net.connect({ port, host: '127.0.0.1' });
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', () => resolve());
      this.sock.once('error', reject);
    });
    this.sock.on('error', () => {});
    this.sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiting?.();
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }
  /** The response, or undefined when the server closed the connection without one. */
  async get(path: string, headers: Record<string, string> = {}): Promise<ReturnType<typeof parseHttp1> | undefined> {
    await this.ready.catch(() => undefined);
    if (this.closed) return undefined;
    let head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    this.sock.write(head + '\r\n');
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end !== -1) {
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(this.buf.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (this.buf.length >= end + 4 + len) {
          const r = parseHttp1(this.buf.subarray(0, end + 4 + len), false);
          this.buf = this.buf.subarray(end + 4 + len);
          return r;
        }
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => (this.waiting = r));
    }
  }
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => {
      this.sock.once('close', () => r());
      this.sock.destroy();
    });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await sleep(25);
  }
}

describe('limits: timeouts', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await startServer(['--config', config({ headersTimeout: 2000, keepAliveTimeout: 1000, idleTimeout: 1600 })]);
  });
  afterAll(() => srv?.stop());

  it('a slowloris (one header byte a second) is cut off with 408 long before its head ends', async () => {
    const sock = net.connect({ port: srv.port, host: '127.0.0.1' });
    let answer = '';
    let closed = false;
    sock.on('data', (c) => (answer += c.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => (closed = true));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    let sent = 0;
    const planned = 30; // a head that would take 30 s to finish
    while (!closed && sent < planned) {
      await sleep(1000);
      if (closed) break;
      sock.write('a');
      sent++;
    }
    await waitFor(() => closed);
    expect(sent, 'bytes trickled before the server closed the connection').toBeLessThan(6);
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  }, 40_000);

  it('an idle keep-alive connection is closed after keepAliveTimeout, and says so', async () => {
    const c = new Conn(srv.port);
    const r = await c.get('/hello.txt');
    expect(r?.status).toBe(200);
    expect(r?.headers['keep-alive']).toBe('timeout=1');
    await waitFor(() => c.closed);
    expect(c.closed).toBe(true);
  });

  it('a client that stops reading mid-download is cut off after idleTimeout', async () => {
    const sock = net.connect({ port: srv.port, host: '127.0.0.1' });
    let received = 0;
    let closed = false;
    sock.on('data', (c: Buffer) => (received += c.length));
    sock.on('error', () => (closed = true));
    sock.on('close', () => (closed = true));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await waitFor(() => received > 0);
    sock.pause(); // stop reading: the socket buffers fill, the server can write no more
    await sleep(3500);
    sock.resume();
    await waitFor(() => closed, 20_000);
    expect(received, 'bytes received of the whole file before the cut').toBeLessThan(BIG);
    expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  }, 40_000);
});

describe('limits: sizes', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await startServer(['--config', config({ maxHeaderSize: 2048, maxUrlLength: 100 })]);
  });
  afterAll(() => srv?.stop());

  it('headers over maxHeaderSize: 431; under it: served', async () => {
    const big = await request(srv.port, { path: '/hello.txt', headers: { 'X-Big': 'a'.repeat(3000) } }).catch(() => undefined);
    expect(big?.status).toBe(431);
    expect((await request(srv.port, { path: '/hello.txt', headers: { 'X-Big': 'a'.repeat(1500) } })).status).toBe(200);
  });

  it('a target over maxUrlLength: 414; at the limit: decided as usual', async () => {
    expect((await request(srv.port, { path: '/' + 'a'.repeat(150) })).status).toBe(414);
    expect((await request(srv.port, { path: '/' + 'a'.repeat(99) })).status).toBe(404);
    expect((await request(srv.port, { path: '/hello.txt?' + 'q'.repeat(89) })).status).toBe(200);
  });

  it('a bad limit is a config error naming the key', () => {
    const r = runCli(['check', '--config', config({ maxUrlLength: 100_000, headersTimeout: 'soon' })]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('limits.maxUrlLength');
    expect(r.stderr).toContain('limits.headersTimeout');
  });
});

describe('answers given before a request is decided', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await startServer(['--config', config({ maxHeaderSize: 2048, maxUrlLength: 100 }, { accessLog: true })]);
  });
  afterAll(() => srv?.stop());
  const accessLines = () => srv.stdout().split('\n').filter((l) => l.startsWith('127.0.0.1 - - ['));

  it('414, 431 and 400 each write an access line, with the request line where there is one', async () => {
    expect((await request(srv.port, { path: '/' + 'a'.repeat(150), headers: { 'User-Agent': 'long-url' } })).status).toBe(414);
    expect((await request(srv.port, { path: '/hello.txt', headers: { 'X-Big': 'a'.repeat(3000) } }).catch(() => undefined))?.status).toBe(431);
    const raw = net.connect({ port: srv.port, host: '127.0.0.1' });
    raw.on('error', () => {});
    let answer = '';
    raw.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    raw.write('NOT A REQUEST\x01\r\n\r\n');
    await new Promise((r) => raw.once('close', r));
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    await waitFor(() => accessLines().length >= 3);
    const [long, big, bad] = accessLines();
    expect(long).toMatch(new RegExp(`"GET /${'a'.repeat(150)} HTTP/1\\.1" 414 \\d+ "-" "long-url"$`));
    expect(big).toMatch(/"-" 431 \d+ "-" "-"$/); // node gives up in the headers: no request line to repeat
    expect(bad).toMatch(/"NOT A REQUEST\\x01" 400 \d+ "-" "-"$/);
    expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  });
});

describe('limits: concurrent connections', () => {
  it('connection N+1 is closed at once while N are held; served again once they close', async () => {
    const srv = await startServer(['--config', config({ maxConnections: 3, keepAliveTimeout: 60_000 })]);
    try {
      const held = [new Conn(srv.port), new Conn(srv.port), new Conn(srv.port)];
      for (const c of held) expect((await c.get('/hello.txt'))?.status).toBe(200);
      const extra = new Conn(srv.port);
      expect(await extra.get('/hello.txt'), 'the connection past maxConnections gets no answer').toBeUndefined();
      expect(extra.closed).toBe(true);
      // The held ones still work.
      expect((await held[0]!.get('/hello.txt'))?.status).toBe(200);
      await waitFor(() => /limits\.maxConnections \(3\) reached/.test(srv.stderr()));
      await held[0]!.close();
      await sleep(100); // the server sees the close
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
      for (const c of held) await c.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('out of file descriptors', () => {
  it('a request gets 503 with Retry-After (KC901) or the connection is refused; it recovers by itself', async () => {
    // Node needs about 100 descriptors while it loads its modules, then about 20.
    const limit = 128;
    const child = spawn('prlimit', [`--nofile=${limit}:${limit}`, process.execPath, CLI, '--config', config({ keepAliveTimeout: 60_000 })], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORT: '' } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    try {
      await waitFor(() => out.includes('\n') || child.exitCode !== null);
      const port = Number(/^listening on http:\/\/127\.0\.0\.1:(\d+)$/m.exec(out)?.[1]);
      expect(port, err).toBeGreaterThan(0);
      const held: Conn[] = [];
      let refused = 0;
      let unavailable: ReturnType<typeof parseHttp1> | undefined;
      for (let i = 0; i < limit + 20 && refused === 0 && !unavailable; i++) {
        const c = new Conn(port);
        const r = await c.get('/hello.txt', { Accept: 'application/json' });
        if (r === undefined) refused++;
        else if (r.status === 503) unavailable = r;
        else expect(r.status).toBe(200);
        held.push(c);
      }
      expect(refused + (unavailable ? 1 : 0), 'descriptors were exhausted').toBe(1);
      // Every descriptor is taken now: a request on a connection already open cannot open the file.
      unavailable ??= await held.find((c) => !c.closed)!.get('/hello.txt', { Accept: 'application/json' });
      expect(unavailable?.status).toBe(503);
      expect(unavailable?.headers['retry-after']).toBe('1');
      expect(JSON.parse(unavailable!.text)).toMatchObject({ status: 503, reason: 'KC901' });
      await waitFor(() => /KC901 RESOURCES_EXHAUSTED/.test(err));
      // A new connection now cannot even be accepted: libuv accepts it on its spare descriptor
      // and closes it at once (the refusal); the server stays up.
      const late = new Conn(port);
      expect(await late.get('/hello.txt'), 'a connection past the descriptor limit gets no answer').toBeUndefined();
      held.push(late);
      expect(child.exitCode).toBeNull();
      for (const c of held) await c.close();
      // Recovers by itself: new connections are served again.
      await sleep(200);
      for (let i = 0; i < 5; i++) expect((await request(port, { path: '/hello.txt' })).status).toBe(200);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});

