// Every core: `workers: 2` runs two processes on one port. The primary prints the contract
// line once, every process drops its privileges, a worker killed under load is replaced while
// the other keeps serving (only requests in flight on the killed worker's connections may
// fail), SIGHUP reaches both workers, access lines from both never interleave mid-line, and
// SIGTERM ends it all with exit 0.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

let fx: Fixture;
let srv: Running;
let file: string;
const user = SERVER_USER ? { user: SERVER_USER } : {};

beforeAll(async () => {
  fx = makeTree({ site: { dir: { 'hello.txt': 'hello\n', 'page.html': '<p>' + 'x'.repeat(3000) + '</p>' } } });
  file = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, workers: 2, ...user });
  srv = await startServer(['--config', file]);
  await waitFor(() => workerPids().length === 2, 'both workers listening');
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Workers that said they listen and have not been reported gone. */
function workerPids(): number[] {
  const err = srv.stderr();
  const up = [...err.matchAll(/keycard: worker (\d+) listening/g)].map((m) => Number(m[1]));
  const gone = new Set([...err.matchAll(/keycard: worker (\d+) exited/g)].map((m) => Number(m[1])));
  return up.filter((p) => !gone.has(p));
}

const uidOf = (pid: number): number => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** A kept-alive connection, one request at a time (responses framed by Content-Length). */
class Conn {
  private readonly sock: net.Socket;
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private readonly ready: Promise<void>;
  constructor(port: number) {
    this.sock = net.connect({ port, host: '127.0.0.1' });
    this.ready = new Promise((r) => this.sock.once('connect', () => r()));
    this.sock.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    this.sock.on('error', () => {});
  }
  localPort(): number {
    return this.sock.localPort!;
  }
  async get(path: string): Promise<{ status: number }> {
    await this.ready;
    this.sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end !== -1) {
        const head = this.buf.subarray(0, end).toString('latin1');
        const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (this.buf.length >= end + 4 + len) {
          this.buf = this.buf.subarray(end + 4 + len);
          return { status: Number(head.slice(9, 12)) };
        }
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
  close(): void {
    this.sock.destroy();
  }
}

interface Failure {
  loop: number;
  error: string;
  at: number;
}

/**
 * One client loop: a kept-alive connection, GET after GET; when the connection fails the
 * request in flight is counted as failed and a new connection is opened.
 */
async function clientLoop(loop: number, port: number, quota: number, failures: Failure[], progress: { ok: number }): Promise<void> {
  let ok = 0;
  while (ok < quota) {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    let error: string | undefined;
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      wake?.();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    sock.on('close', () => {
      error ??= 'closed';
      wake?.();
    });
    // A request that gets neither an answer nor an error would hang the loop: 15 s is a
    // failure too (reported as 'timeout', which the assertions below do not allow).
    const timer = setInterval(() => {
      if (Date.now() - lastProgress > 15_000) {
        error ??= 'timeout';
        wake?.();
      }
    }, 500);
    let lastProgress = Date.now();
    while (ok < quota && error === undefined) {
      sock.write('GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      lastProgress = Date.now();
      let answered = false;
      while (!answered && error === undefined) {
        const end = buf.indexOf('\r\n\r\n');
        const len = end === -1 ? -1 : Number(/content-length: (\d+)/i.exec(buf.subarray(0, end).toString('latin1'))?.[1]);
        if (end !== -1 && buf.length >= end + 4 + len) {
          expect(buf.subarray(0, 12).toString('latin1')).toBe('HTTP/1.1 200');
          buf = buf.subarray(end + 4 + len);
          answered = true;
          ok++;
          progress.ok++;
        } else await new Promise<void>((r) => (wake = r));
      }
      if (!answered) failures.push({ loop, error: error ?? 'closed', at: Date.now() });
    }
    clearInterval(timer);
    sock.destroy();
  }
}

describe('workers: 2', () => {
  it('one contract line; primary and both workers run as the configured user', () => {
    expect(srv.stdout().split('\n').filter((l) => l.startsWith('listening on'))).toHaveLength(1);
    expect(workerPids()).toHaveLength(2);
    if (SERVER_USER) {
      const uid = Number(execFileSync('id', ['-u', SERVER_USER], { encoding: 'utf8' }));
      expect(uid).toBeGreaterThan(0);
      for (const pid of [srv.child.pid!, ...workerPids()]) expect(uidOf(pid), `uid of ${pid}`).toBe(uid);
    }
  });

  it('a worker killed under load is replaced; only requests in flight on its connections fail', async () => {
    const LOOPS = 8;
    const QUOTA = 150;
    const failures: Failure[] = [];
    const progress = { ok: 0 };
    const [victim] = workerPids();
    let killedAt = Infinity;
    const load = Promise.all(Array.from({ length: LOOPS }, (_, i) => clientLoop(i, srv.port, QUOTA, failures, progress)));
    await waitFor(() => progress.ok >= 200, 'the load to be under way', 30_000);
    killedAt = Date.now();
    process.kill(victim!, 'SIGKILL');
    await load;
    expect(progress.ok).toBe(LOOPS * QUOTA);
    // A connection reset on the killed worker's sockets is allowed: each of the LOOPS
    // connections has at most one request in flight, so at most LOOPS requests may fail, and
    // only once the worker was killed.
    expect(failures.length, `failed requests (resets on the killed worker's connections are allowed): ${JSON.stringify(failures)}`).toBeLessThanOrEqual(LOOPS);
    for (const f of failures) {
      expect(f.at).toBeGreaterThanOrEqual(killedAt);
      expect(['ECONNRESET', 'EPIPE', 'closed']).toContain(f.error);
    }
    await waitFor(() => new RegExp(`keycard: worker ${victim} exited \\(SIGKILL\\); starting a replacement`).test(srv.stderr()), 'the replacement to be logged');
    await waitFor(() => workerPids().length === 2, 'the replacement to listen');
    expect(workerPids()).not.toContain(victim);
    for (let i = 0; i < 6; i++) expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  }, 120_000);

  it('SIGHUP reaches both workers: connections to each, and fresh ones, answer the new way', async () => {
    // Kept-alive connections to each worker: which process holds a connection is in the
    // error line its refusal writes ([pid N] [client 127.0.0.1:PORT]).
    const held = new Map<number, Conn>();
    const pids = workerPids();
    for (let i = 0; i < 60 && held.size < 2; i++) {
      const c = new Conn(srv.port);
      expect((await c.get('/.env')).status).toBe(403);
      const port = c.localPort();
      await waitFor(() => new RegExp(`\\[client 127\\.0\\.0\\.1:${port}\\] KC301`).test(srv.stderr()), 'the refusal to be logged');
      const pid = Number(new RegExp(`\\[pid (\\d+)\\] \\[client 127\\.0\\.0\\.1:${port}\\] KC301`).exec(srv.stderr())![1]);
      expect(pids).toContain(pid);
      if (held.has(pid)) c.close();
      else held.set(pid, c);
    }
    expect([...held.keys()].sort(), 'a connection to each worker').toEqual([...pids].sort());
    for (const c of held.values()) expect((await c.get('/hello.txt')).status).toBe(200);

    writeConfig(file, { root: 'site', port: 0, workers: 2, ...user, rules: [{ path: '/hello.txt', access: 'deny' }] });
    const before = srv.stderr().length;
    srv.child.kill('SIGHUP');
    await waitFor(() => /keycard: config reloaded \(2 workers\)/.test(srv.stderr().slice(before)), 'both workers to confirm the reload');
    for (const [pid, c] of held) expect((await c.get('/hello.txt')).status, `worker ${pid}`).toBe(403);
    for (const c of held.values()) c.close();
    for (let i = 0; i < 12; i++) expect((await request(srv.port, { path: '/hello.txt' })).status, `fresh connection ${i}`).toBe(403);
    // An invalid config: rejected by the primary, both workers keep the running one.
    writeConfig(file, { root: 'site', port: 0, workers: 2, ...user, rules: 'nope' });
    srv.child.kill('SIGHUP');
    await waitFor(() => /reload rejected, keeping the running config/.test(srv.stderr()), 'the rejection');
    for (let i = 0; i < 4; i++) expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(403);
    writeConfig(file, { root: 'site', port: 0, workers: 2, ...user });
  });

  it('access lines from both workers never interleave mid-line', async () => {
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 40; i++) await request(srv.port, { path: '/page.html?' + 'q'.repeat(200 + i), headers: { 'User-Agent': 'ua-' + 'u'.repeat(300) } });
    }));
    await sleep(300);
    const lines = srv.stdout().split('\n').slice(1).filter((l) => l !== '');
    // Every one of this test's 320 requests has its line (and earlier tests' lines are whole too).
    expect(lines.filter((l) => l.includes('"ua-u')).length).toBe(320);
    for (const l of lines) expect(l).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "[A-Z]+ \S+ HTTP\/1\.1" \d{3} (\d+|-) "[^"]*" "[^"]*"$/);
  }, 60_000);

  it('SIGTERM: every worker stops, exit 0', async () => {
    const pids = workerPids();
    srv.child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => (srv.child.exitCode !== null ? r(srv.child.exitCode) : srv.child.once('exit', (c) => r(c))));
    expect(code).toBe(0);
    await sleep(100);
    for (const pid of pids) expect(() => process.kill(pid, 0), `worker ${pid} is gone`).toThrow();
  }, 30_000);
});
