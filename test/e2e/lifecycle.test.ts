// The server's life after start: graceful shutdown (SIGTERM/SIGINT stop accepting, in-flight
// responses finish within shutdownGrace, exit 0; a second signal exits at once), reload on
// SIGHUP and on a change of the config file (`watch`), an invalid new config logged and the
// old one kept, and in-flight responses finishing under the config they started with.
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { makeCert, type CertPair } from '../helpers/certs.js';
import { request } from '../helpers/http.js';
import { rmSync } from 'node:fs';

let fx: Fixture;
let cert: CertPair;
const user = SERVER_USER ? { user: SERVER_USER } : {};
const BIG = 16 * 1024 * 1024;

beforeAll(() => {
  cert = makeCert('localhost');
  fx = makeTree({ site: { dir: { 'hello.txt': 'hello\n', 'big.bin': { content: Buffer.alloc(BIG, 1) } } } });
});
afterAll(() => {
  fx?.cleanup();
  rmSync(cert.dir, { recursive: true, force: true });
});

let n = 0;
function configFile(extra: Record<string, unknown>): string {
  return writeConfig(fx.path(`life-${++n}.json`), { root: 'site', port: 0, accessLog: false, ...user, ...extra });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const exited = (srv: Running): Promise<number | null> =>
  srv.child.exitCode !== null ? Promise.resolve(srv.child.exitCode) : new Promise((r) => srv.child.once('exit', (code) => r(code)));

/**
 * A download the client holds (reads nothing more) while `stalled`, until `resume()`.
 * `received` counts body bytes; `done` resolves with the status and whether the body is whole.
 */
function heldDownload(port: number, path: string, opts: { stalled?: boolean } = {}) {
  const sock = net.connect({ port, host: '127.0.0.1' }, () => sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
  let head = '';
  let status = 0;
  let length = -1;
  const state = { received: 0, stalled: opts.stalled ?? false };
  const done = new Promise<{ status: number; complete: boolean; received: number }>((resolve) => {
    sock.on('data', (c: Buffer) => {
      let body = c;
      if (length < 0) {
        head += c.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
        length = Number(/\r\ncontent-length: *(\d+)/i.exec(head.slice(0, end))?.[1] ?? 0);
        body = c.subarray(c.length - (head.length - end - 4));
      }
      state.received += body.length;
      if (state.stalled) sock.pause();
    });
    sock.on('error', () => {});
    sock.on('close', () => resolve({ status, complete: length >= 0 && state.received === length, received: state.received }));
  });
  return {
    state,
    done,
    resume() {
      state.stalled = false;
      sock.resume();
    },
    destroy: () => sock.destroy(),
  };
}

/**
 * Connects until the listener is gone: 'ECONNREFUSED' once it is. A connection accepted into
 * the backlog just as the listener closes is reset (ECONNRESET): that one is tried again.
 */
async function listenerClosed(port: number): Promise<string> {
  for (;;) {
    const attempt = await tryConnect(port);
    if (attempt !== 'connected' && attempt !== 'ECONNRESET') return attempt;
    await sleep(20);
  }
}

/** Resolves with the error code of a connection attempt ('connected' when it was accepted). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

describe('graceful shutdown', () => {
  it('SIGTERM: a download in flight completes, new connections are refused, exit 0', async () => {
    const srv = await startServer(['--config', configFile({ shutdownGrace: 60_000 })]);
    // Held by the client until the listener has closed, then read in full: in flight across
    // the shutdown however slow the machine is.
    const dl = heldDownload(srv.port, '/big.bin', { stalled: true });
    await waitFor(() => dl.state.received > 0, 10_000, 'the download to start');
    // An idle keep-alive connection must not hold the shutdown up.
    const idle = net.connect({ port: srv.port, host: '127.0.0.1' });
    idle.on('error', () => {});
    await new Promise((r) => idle.once('connect', r));
    srv.child.kill('SIGTERM');
    expect(await listenerClosed(srv.port)).toBe('ECONNREFUSED');
    expect(dl.state.received, 'the download was still running when the listener closed').toBeLessThan(BIG);
    dl.resume();
    const result = await dl.done;
    expect(result).toEqual({ status: 200, complete: true, received: BIG });
    expect(await exited(srv)).toBe(0);
  }, 60_000);

  it('SIGINT does the same; idle keep-alive connections are closed at once', async () => {
    const srv = await startServer(['--config', configFile({ shutdownGrace: 60_000 })]);
    const sock = net.connect({ port: srv.port, host: '127.0.0.1' });
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.on('error', () => {});
    sock.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => sock.once('data', r));
    srv.child.kill('SIGINT');
    expect(await exited(srv)).toBe(0);
    await waitFor(() => closed);
  });

  it('the grace period ends a response that takes longer; exit 0', async () => {
    const srv = await startServer(['--config', configFile({ shutdownGrace: 500 })]);
    const dl = heldDownload(srv.port, '/big.bin', { stalled: true });
    await waitFor(() => dl.state.received > 0);
    srv.child.kill('SIGTERM');
    expect(await exited(srv)).toBe(0);
    dl.resume();
    expect((await dl.done).complete).toBe(false);
  }, 30_000);

  it('a second signal exits at once', async () => {
    const srv = await startServer(['--config', configFile({ shutdownGrace: 600_000 })]);
    const dl = heldDownload(srv.port, '/big.bin', { stalled: true });
    await waitFor(() => dl.state.received > 0);
    srv.child.kill('SIGTERM');
    await sleep(300);
    expect(srv.child.exitCode, 'still waiting for the stalled download').toBeNull();
    srv.child.kill('SIGTERM');
    expect(await exited(srv)).toBe(0);
    dl.resume();
    expect((await dl.done).complete).toBe(false);
  }, 30_000);

  it('over HTTP/2: a stream in flight completes (GOAWAY), then exit 0', async () => {
    const srv = await startServer(['--config', configFile({ shutdownGrace: 60_000, tls: { cert: cert.cert, key: cert.key } })]);
    const session = http2.connect(`https://127.0.0.1:${srv.port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    const stream = session.request({ ':path': '/big.bin' });
    let received = 0;
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    // Hold the stream (flow control stops the server) until the listener has closed, then read
    // the rest at full speed: in flight across the shutdown, however slow the machine.
    let held = true;
    stream.on('data', (c: Buffer) => {
      received += c.length;
      if (held && received > 1024 * 1024) stream.pause();
    });
    const ended = new Promise<string>((r) => {
      stream.on('end', () => r('end'));
      stream.on('close', () => r(`closed early (rst code ${stream.rstCode})`));
    });
    await waitFor(() => received > 1024 * 1024, 10_000, 'the download to start');
    srv.child.kill('SIGTERM');
    expect(await listenerClosed(srv.port)).toBe('ECONNREFUSED');
    expect(received, 'the download was still running when the listener closed').toBeLessThan(BIG);
    held = false;
    stream.resume();
    expect(await ended).toBe('end');
    expect([status, received]).toEqual([200, BIG]);
    session.close();
    expect(await exited(srv)).toBe(0);
  }, 60_000);
});

describe('reload', () => {
  it('SIGHUP applies a new config; an invalid one is logged and the running one kept', async () => {
    const file = configFile({});
    const srv = await startServer(['--config', file]);
    try {
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
      writeConfig(file, { root: 'site', port: 0, accessLog: false, ...user, rules: [{ path: '/hello.txt', access: 'deny' }] });
      srv.child.kill('SIGHUP');
      await waitFor(() => /config reloaded/.test(srv.stderr()));
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(403);
      writeConfig(file, { root: 'site', port: 0, ...user, rules: [{ path: '/hello.txt', acces: 'allow' }] });
      srv.child.kill('SIGHUP');
      await waitFor(() => /reload rejected/.test(srv.stderr()));
      expect(srv.stderr()).toMatch(/reload rejected, keeping the running config:\nkeycard: config error: .*rules\[0\]\.acces: unknown key \(did you mean "access"\?\)/);
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(403);
      expect(srv.child.exitCode).toBeNull();
    } finally {
      await srv.stop();
    }
  });

  it('watch: a change of the file reloads; an invalid file is logged and the old config kept', async () => {
    const base = { root: 'site', port: 0, accessLog: false, watch: true, ...user };
    const file = configFile({ watch: true });
    const srv = await startServer(['--config', file]);
    try {
      const reloads = (): number => (srv.stderr().match(/config reloaded/g) ?? []).length;
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
      writeConfig(file, { ...base, rules: [{ path: '/hello.txt', access: 'deny' }] });
      await waitFor(() => reloads() === 1, 10_000, 'the first reload');
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(403);
      writeFileSync(file, '{ "root": "site", ');
      await waitFor(() => /reload rejected/.test(srv.stderr()), 10_000, 'the rejection');
      expect(srv.stderr()).toMatch(/is not valid JSON/);
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(403);
      writeConfig(file, base);
      await waitFor(() => reloads() === 2, 10_000, 'the second reload');
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
    } finally {
      await srv.stop();
    }
  });

  it('a response in flight finishes under the config it started with', async () => {
    const file = configFile({});
    const srv = await startServer(['--config', file]);
    try {
      const dl = heldDownload(srv.port, '/big.bin', { stalled: true });
      await waitFor(() => dl.state.received > 0);
      writeConfig(file, { root: 'site', port: 0, accessLog: false, ...user, rules: [{ path: '/big.bin', access: 'deny' }] });
      srv.child.kill('SIGHUP');
      await waitFor(() => /config reloaded/.test(srv.stderr()));
      expect((await request(srv.port, { path: '/big.bin' })).status).toBe(403);
      dl.resume();
      expect(await dl.done).toEqual({ status: 200, complete: true, received: BIG });
    } finally {
      await srv.stop();
    }
  }, 30_000);
});
