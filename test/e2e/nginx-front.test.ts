// The scale-out example, tested: Debian's nginx on loopback in front of keycard, with the
// server block from docs/nginx-in-front.conf (its ports substituted). keycard trusts
// X-Forwarded-For from nginx only (trustProxy 127.0.0.1), so its ip.allow rule sees the real
// client: from 127.0.0.2 allowed, from 127.0.0.3 denied, and a forged X-Forwarded-For from
// 127.0.0.3 does not help (nginx appends the real address, keycard reads right to left).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, isRoot, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request as direct } from '../helpers/http.js';
import { parseHttp1 } from '../helpers/h2.js';

const DOC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/nginx-in-front.conf');

function findNginx(): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      /* next */
    }
  }
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const NGINX = findNginx();

/**
 * A request that keeps its write side open until the answer (nginx takes a client's half-close
 * for an abort, so the raw helper's `end()` would cancel the request).
 */
function request(port: number, req: { path: string; localAddress: string; headers?: Record<string, string> }): Promise<ReturnType<typeof parseHttp1>> {
  let head = `GET ${req.path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(req.headers ?? {})) head += `${k}: ${v}\r\n`;
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: req.localAddress }, () => sock.write(head + '\r\n'));
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      try {
        resolve(parseHttp1(Buffer.concat(chunks), false));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The documented server block, with keycard's and nginx's ports put in. */
export function siteConfig(doc: string, keycardPort: number, nginxPort: number): string {
  const out = doc.replace(/server 127\.0\.0\.1:8080;/, `server 127.0.0.1:${keycardPort};`).replace(/listen 80;/, `listen 127.0.0.1:${nginxPort};`);
  if (out === doc || !out.includes(`127.0.0.1:${keycardPort}`) || !out.includes(`127.0.0.1:${nginxPort}`)) throw new Error('docs/nginx-in-front.conf no longer has the ports this test substitutes');
  return out;
}

describe.skipIf(NGINX === undefined)('nginx in front (docs/nginx-in-front.conf)', () => {
  let fx: Fixture;
  let srv: Running;
  let nginx: ChildProcess;
  let port: number;

  beforeAll(async () => {
    fx = makeTree({ site: { dir: { 'hello.txt': 'hello\n' } }, nginx: { dir: {} } });
    srv = await startServer(['--config', writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, trustProxy: ['127.0.0.1'], ip: { allow: ['127.0.0.2'] }, ...(SERVER_USER ? { user: SERVER_USER } : {}) })]);
    port = await freePort();
    const dir = fx.path('nginx');
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d));
    writeFileSync(path.join(dir, 'keycard.conf'), siteConfig(readFileSync(DOC, 'utf8'), srv.port, port));
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        'daemon off;',
        'worker_processes 1;',
        ...(isRoot ? ['user nobody nogroup;'] : []),
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log;`,
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => `  ${d === 'body' ? 'client_body' : d}_temp_path ${dir}/${d};`),
        `  include ${dir}/keycard.conf;`,
        '}',
        '',
      ].join('\n'),
    );
    nginx = spawn(NGINX!, ['-e', `${dir}/error.log`, '-p', dir, '-c', `${dir}/nginx.conf`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    nginx.stderr!.on('data', (c) => (err += c));
    const until = Date.now() + 10_000;
    for (;;) {
      if (nginx.exitCode !== null) throw new Error(`nginx exited: ${err} ${readFileSync(`${dir}/error.log`, 'utf8')}`);
      const up = await new Promise<boolean>((r) => {
        const s = net.connect({ port, host: '127.0.0.1' }, () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (up) break;
      if (Date.now() > until) throw new Error(`nginx did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    if (nginx && nginx.exitCode === null) {
      const gone = new Promise((r) => nginx.once('exit', r));
      nginx.kill('SIGQUIT');
      await gone;
    }
    await srv?.stop();
    fx?.cleanup();
  });

  it('a client at 127.0.0.2 (allowed) is served through nginx', async () => {
    const r = await request(port, { path: '/hello.txt', localAddress: '127.0.0.2' });
    expect([r.status, r.text]).toEqual([200, 'hello\n']);
    expect(r.headers.server).toMatch(/^nginx/); // it really went through nginx
  });

  it('a client at 127.0.0.3 is refused 403 by keycard, which names the real client', async () => {
    const r = await request(port, { path: '/hello.txt', localAddress: '127.0.0.3' });
    expect(r.status).toBe(403);
    expect(r.text).toContain("You don't have permission to access this resource.");
    const j = await request(port, { path: '/hello.txt', localAddress: '127.0.0.3', headers: { Accept: 'application/json' } });
    expect(JSON.parse(j.text).reason).toMatch(/^KC2/);
    await new Promise((r) => setTimeout(r, 100));
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/\[client 127\.0\.0\.3:\d+\] KC2\d\d /), { timeout: 5_000, interval: 20 });
  });

  it('a forged X-Forwarded-For from 127.0.0.3 does not pass', async () => {
    const r = await request(port, { path: '/hello.txt', localAddress: '127.0.0.3', headers: { 'X-Forwarded-For': '127.0.0.2' } });
    expect(r.status).toBe(403);
  });

  it('without nginx (straight to keycard) the allowed address is not enough from 127.0.0.1', async () => {
    expect((await direct(srv.port, { path: '/hello.txt' })).status).toBe(403);
  });
});
