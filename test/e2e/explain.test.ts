// explain, audit and demo read the server's own Decision. These tests hold them to it: the
// trace of each cause (golden files), the --as evaluation against the kernel, an audit against
// an independently computed table, and the demo site against the promises on its own page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTree, isRoot, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { CLI, runCli, startServer, writeConfig } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../golden');
let fx: Fixture;
let config: string;

beforeAll(() => {
  fx = makeTree({
    outside: { dir: { 'secret.txt': 'CANARY-OUTSIDE' } },
    site: {
      dir: {
        'hello.txt': 'hello',
        'mode000.txt': { content: 'x', mode: 0o000 },
        noexec: { dir: { 'file.txt': 'x' }, mode: 0o644 },
        nolist: { dir: { 'a.txt': 'a' } },
        private: { dir: { 'a.txt': 'a' } },
        admin: { dir: { 'a.txt': 'a' } },
        '.env': 'SECRET',
        'link-out.txt': { symlink: '../outside/secret.txt' },
        hidden: { dir: { 'a.txt': 'a' } },
      },
    },
  });
  config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    rules: [
      { path: '/private/**', access: 'deny' },
      { path: '/admin/**', ip: { allow: ['10.0.0.0/8'] } },
      { path: '/hidden/**', access: 'deny', hide: true },
    ],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
});

afterAll(() => fx?.cleanup());

/** Machine-specific parts of the output (fixture path, owners) replaced by stable names. */
function normalise(text: string): string {
  return text
    .split(fx.base).join('$BASE')
    .replace(/uid \d+, gid \d+/g, 'uid U, gid G')
    .replace(/uid \d+ gid \d+/g, 'uid U gid G')
    .replace(/judged as: .*/g, 'judged as: JUDGE');
}

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, `${name}.txt`);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const cases: [string, string[], number, string][] = [
  ['allowed', ['/hello.txt'], 0, 'KC000'],
  ['file-permission', ['/mode000.txt'], 1, 'KC402'],
  ['search-permission', ['/noexec/file.txt'], 1, 'KC401'],
  ['dotfile', ['/.env'], 1, 'KC301'],
  ['no-index', ['/nolist/'], 1, 'KC501'],
  ['rule-denied', ['/private/a.txt'], 1, 'KC300'],
  ['ip-not-allowed', ['/admin/a.txt', '--ip', '203.0.113.7'], 1, 'KC201'],
  ['symlink-escapes', ['/link-out.txt'], 1, 'KC405'],
  ['hidden', ['/hidden/a.txt'], 1, 'KC300'],
  ['redirect', ['/nolist'], 0, 'KC500'],
  ['bad-escape', ['/%zz'], 1, 'KC100'],
];

describe('keycard explain', () => {
  it.each(cases)('%s: trace, status, code and exit status', (name, args, exit, code) => {
    const r = runCli(['explain', ...args, '--config', config, ...(isRoot ? ['--as', 'nobody'] : [])]);
    expect(r.status).toBe(exit);
    expect(r.stdout).toContain(code);
    if (exit === 1) expect(r.stdout).toMatch(/hint: /);
    golden(`explain-${name}`, normalise(r.stdout));
  });

  it('marks exactly one deciding step', () => {
    const r = runCli(['explain', '/noexec/file.txt', '--config', config, '--json', ...(isRoot ? ['--as', 'nobody'] : [])]);
    const out = JSON.parse(r.stdout);
    expect(out.decision.code).toBe('KC401');
    expect(out.hint).toMatch(/^chmod [ugo]\+x .*noexec$/);
    expect(out.decision.trace.filter((t: { decided?: boolean }) => t.decided)).toHaveLength(1);
  });

  it('gives the ip.allow hint with the client network', () => {
    const r = runCli(['explain', '/admin/a.txt', '--ip', '203.0.113.7', '--config', config]);
    expect(r.stdout).toContain('hint: add 203.0.113.0/24 to rules[1].ip.allow');
  });

  it('believes X-Forwarded-For only from a trusted peer, like the server', () => {
    const r = runCli(['explain', '/admin/a.txt', '--header', 'X-Forwarded-For: 10.1.2.3', '--config', config]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('X-Forwarded-For ignored');
  });

  it('exits 2 on bad input', () => {
    expect(runCli(['explain', '--config', config]).status).toBe(2);
    expect(runCli(['explain', '/x', '--header', 'nocolon', '--config', config]).status).toBe(2);
    expect(runCli(['explain', '/x', '--as', 'no-such-user-kc', '--config', config]).status).toBe(2);
  });

  it('agrees with the running server on every case', async () => {
    const srv = await startServer(['--config', config]);
    try {
      for (const [, args] of cases) {
        if (args.includes('--ip')) continue;
        const out = JSON.parse(runCli(['explain', ...args, '--config', config, '--json', ...(isRoot ? ['--as', 'nobody'] : [])]).stdout);
        const res = await request(srv.port, { path: args[0]!, headers: { Accept: 'application/json' } });
        expect(res.status, args[0]).toBe(out.status);
        if (res.status >= 400) expect(JSON.parse(res.text).reason, args[0]).toBe(out.decision.masked ? 'KC400' : out.decision.code);
      }
    } finally {
      await srv.stop();
    }
  });
});

describe('--as USER agrees with the kernel', () => {
  it.runIf(isRoot)('mode-bit evaluation for nobody equals what the kernel tells nobody, on every path', () => {
    const asKernel = spawnSync(process.execPath, [CLI, 'audit', '--json', '--config', config], { uid: 65534, gid: 65534, encoding: 'utf8', env: { ...process.env, PORT: '' } });
    const asModes = runCli(['audit', '--json', '--as', 'nobody', '--config', config]);
    expect(asKernel.status).toBe(0);
    expect(asModes.status).toBe(0);
    const pick = (s: string) => (JSON.parse(s).entries as { path: string; status: number; code: string }[]).map((e) => `${e.path} ${e.status} ${e.code}`);
    const kernel = pick(asKernel.stdout);
    expect(kernel.length).toBeGreaterThan(10);
    expect(pick(asModes.stdout)).toEqual(kernel);
  });
});

describe('keycard audit', () => {
  it('gives every entry the status an independent table expects', () => {
    const r = runCli(['audit', '--json', '--config', config, ...(isRoot ? ['--as', 'nobody'] : [])]);
    expect(r.status).toBe(0);
    const got = Object.fromEntries((JSON.parse(r.stdout).entries as { path: string; status: number; code: string }[]).map((e) => [e.path, `${e.status} ${e.code}`]));
    expect(got).toEqual({
      '/': '403 KC501',
      '/.env': '403 KC301',
      '/admin/': '403 KC201',
      '/admin/a.txt': '403 KC201',
      '/hello.txt': '200 KC000',
      '/hidden/': '404 KC300',
      '/hidden/a.txt': '404 KC300',
      '/link-out.txt': '403 KC405',
      '/mode000.txt': '403 KC402',
      '/noexec/': '403 KC401',
      '/noexec/file.txt': '403 KC401',
      '/nolist/': '403 KC501',
      '/nolist/a.txt': '200 KC000',
      '/private/': '403 KC300',
      '/private/a.txt': '403 KC300',
    });
  });

  it('prints a table grouped by reason with counts', () => {
    const r = runCli(['audit', '--config', config, ...(isRoot ? ['--as', 'nobody'] : [])]);
    expect(r.stdout).toMatch(/^403 KC402 FILE_PERMISSION — /m);
    expect(r.stdout).toMatch(/^\s+1\s+403 KC402 FILE_PERMISSION$/m);
    expect(r.stdout).toMatch(/^\s+15\s+entries$/m);
  });

  it('finishes on a symlink loop and on a deep tree', () => {
    const loop = makeTree({ site: { dir: { a: { dir: { up: { symlink: '..' }, self: { symlink: 'self' } } } } } });
    try {
      const r = runCli(['audit', loop.path('site'), '--json']);
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout).entries.length).toBe(4);
    } finally {
      loop.cleanup();
    }
  });
});

describe('keycard demo', () => {
  it('writes a site whose every link answers what its page promises', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'keycard-demo-'));
    chmodSync(base, 0o755);
    const dir = path.join(base, 'demo');
    try {
      const w = runCli(['demo', dir]);
      expect(w.status).toBe(0);
      expect(w.stdout).toContain(`keycard serve --config ${dir}/server.config.json`);
      const srv = await startServer(['--config', path.join(dir, 'server.config.json'), '--port', '0']);
      try {
        const index = await request(srv.port, { path: '/' });
        expect(index.status).toBe(200);
        const rows = [...index.text.matchAll(/<tr data-expect="(\d+)" data-code="(KC\d+)"><td><a href="([^"]+)">/g)];
        expect(rows.length).toBeGreaterThanOrEqual(12);
        for (const [, status, code, href] of rows) {
          const res = await request(srv.port, { path: href!, headers: { Accept: 'application/json' } });
          expect(res.status, href).toBe(Number(status));
          if (res.status >= 400 && code !== 'KC300') expect(JSON.parse(res.text).reason, href).toBe(code);
        }
      } finally {
        await srv.stop();
      }
      expect(runCli(['demo', dir]).status).toBe(2);
    } finally {
      for (const p of ['site/no-search', 'site/unlistable']) {
        try {
          chmodSync(path.join(dir, p), 0o755);
        } catch {
          /* not created */
        }
      }
      rmSync(base, { recursive: true, force: true });
    }
  });
});
