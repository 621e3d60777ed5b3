// Hostile input that is about names and timing rather than URL syntax: file names with CR/LF
// (no header injection), a symlink swapped while requests run (the served descriptor is the
// one that was checked), odd address text in X-Forwarded-For, and a property test that no URL
// whatever resolves to a file outside the root.
import { realpathSync, renameSync, symlinkSync, rmSync, readlinkSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { decide } from '../../src/policy/decide.js';
import { kernelProbe } from '../../src/fs/probe.js';
import { isUnder } from '../../src/policy/walk.js';

const CANARY = `CANARY-${process.pid}-${Date.now()}`;
let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  fx = makeTree({
    outside: { dir: { 'secret.txt': CANARY } },
    site: {
      dir: {
        'inside.txt': 'inside',
        'evil\r\nSet-Cookie: x=1': { dir: { 'index.html': 'ok' } },
        list: { dir: { 'a\r\nX-Injected: 1.txt': 'x', 'b\nc.txt': 'y' } },
        'swap.txt': { symlink: 'inside.txt' },
        admin: { dir: { 'page.txt': 'admin' } },
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    trustProxy: ['127.0.0.1'],
    rules: [
      { path: '/list/**', listing: true },
      { path: '/admin/**', ip: { allow: ['10.0.0.0/8'] } },
    ],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

describe('file names with CR/LF never reach a header', () => {
  it('the trailing-slash redirect percent-encodes them in Location', async () => {
    const res = await request(srv.port, { path: '/evil%0D%0ASet-Cookie:%20x=1' });
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/evil%0D%0ASet-Cookie%3A%20x%3D1/');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.rawHeaders.every(([, v]) => !/[\r\n]/.test(v))).toBe(true);
  });

  it('a listing shows them as text, and JSON escapes them', async () => {
    const html = await request(srv.port, { path: '/list/' });
    expect(html.status).toBe(200);
    expect(html.headers['x-injected']).toBeUndefined();
    expect(html.text).toContain('href="./a%0d%0aX-Injected:%201.txt"');
    const json = await request(srv.port, { path: '/list/', headers: { Accept: 'application/json' } });
    expect(JSON.parse(json.text).map((e: { name: string }) => e.name)).toContain('a\r\nX-Injected: 1.txt');
  });
});

describe('X-Forwarded-For address text', () => {
  it.each(['010.1.2.3', '0x0a.1.2.3', '10.1.2.3.4', '167838211', '10.1.2.3 , 10.1.2.3x'])('%j from a trusted peer never passes a 10.0.0.0/8 allow-list', async (xff) => {
    const res = await request(srv.port, { path: '/admin/page.txt', headers: { 'X-Forwarded-For': xff } });
    expect(res.status).toBe(403);
  });

  it('a well-formed address does', async () => {
    expect((await request(srv.port, { path: '/admin/page.txt', headers: { 'X-Forwarded-For': '10.1.2.3' } })).status).toBe(200);
  });
});

describe('a symlink swapped while requests run', () => {
  it('never serves the target outside the root: every answer is the inside file or a 403', async () => {
    const link = fx.path('site', 'swap.txt');
    const inside = readlinkSync(link);
    let stop = false;
    const swapper = (async () => {
      let out = false;
      while (!stop) {
        const tmp = link + '.tmp';
        rmSync(tmp, { force: true });
        symlinkSync(out ? inside : '../outside/secret.txt', tmp);
        renameSync(tmp, link); // atomic replace
        out = !out;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const seen = new Set<string>();
    try {
      for (let i = 0; i < 300; i++) {
        const res = await request(srv.port, { path: '/swap.txt' });
        expect(res.text).not.toContain(CANARY);
        seen.add(res.status === 200 ? `200 ${res.text}` : String(res.status));
      }
    } finally {
      stop = true;
      await swapper;
    }
    expect([...seen].every((s) => s === '200 inside' || s === '403')).toBe(true);
  });
});

describe('property: no URL resolves outside the root', () => {
  let config: Config;
  beforeAll(() => {
    const loaded = loadConfig({ raw: { root: fx.path('site'), dotfiles: 'allow', symlinks: 'inside-root' }, env: {} });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    config = loaded.config;
  });

  const segment = fc.oneof(
    fc.constantFrom('..', '.', '', '%2e%2e', '.%2e', '%2e.', '%252e%252e', '%2f', '%5c', '..%5c', '%00', '%c0%ae', 'outside', 'secret.txt', 'inside.txt', 'swap.txt', 'list', '\\..', '..\\..'),
    fc.string({ maxLength: 4 }),
  );

  it('every allowed answer is a file under the real root', () => {
    const root = realpathSync(fx.path('site'));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segs) => {
        const target = '/' + segs.join('/');
        const d = decide({ method: 'GET', target, peer: '127.0.0.1', forwardedFor: undefined }, config, kernelProbe);
        if (d.file) {
          const real = readlinkSync(`/proc/self/fd/${d.file.opened.fd}`);
          kernelProbe.close(d.file.opened.fd);
          expect(isUnder(real, root), `${target} → ${real}`).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
