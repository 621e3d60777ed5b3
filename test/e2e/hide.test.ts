// hideForbidden and a rule's `hide`: a refusal answered as a 404 that cannot be told from a
// real one (shared/SECURITY.md E). Same status, same headers in the same order (all but Date),
// same body: for HTML, for JSON, for HEAD, with a custom 404 page, and for other methods.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

let fx: Fixture;
let hideAll: Running;
let hideRule: Running;
let custom: Running;

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'hello.txt': 'hello\n',
        '.env': 'SECRET=1\n',
        'mode000.txt': { content: 'secret', mode: 0o000 },
        noexec: { dir: { 'file.txt': 'x' }, mode: 0o644 },
        nolist: { dir: { 'a.txt': 'a' } },
        private: { dir: { 'a.txt': 'private' } },
        'secret-area': { dir: { 'plans.txt': 'plans' } },
        errors: { dir: { '404.html': '<h1>custom not found</h1>\n' } },
      },
    },
  });
  const user = SERVER_USER ? { user: SERVER_USER } : {};
  const config = (name: string, c: Record<string, unknown>) => writeConfig(fx.path(`${name}.json`), { root: 'site', port: 0, ...user, ...c });
  [hideAll, hideRule, custom] = await Promise.all([
    startServer(['--config', config('all', { hideForbidden: true, rules: [{ path: '/private/**', access: 'deny' }] })]),
    startServer(['--config', config('rule', { rules: [{ path: '/secret-area/**', access: 'deny', hide: true }] })]),
    startServer(['--config', config('custom', { hideForbidden: true, errorPages: { '404': '/errors/404.html' } })]),
  ]);
});

afterAll(async () => {
  await Promise.all([hideAll?.stop(), hideRule?.stop(), custom?.stop()]);
  fx?.cleanup();
});

/** What a client can observe of a response: everything but the Date header. */
function observable(res: RawResponse): { status: string; headers: [string, string][]; body: string } {
  return { status: `${res.status} ${res.statusText}`, headers: res.rawHeaders.filter(([k]) => k !== 'date'), body: res.body.toString('base64') };
}
const fetch = (srv: Running, method: string, path: string, headers: Record<string, string> = {}) => request(srv.port, { method, path, headers: { Host: 'example.test', ...headers } });

const FLAVOURS: [string, string, Record<string, string>][] = [
  ['HTML', 'GET', {}],
  ['JSON', 'GET', { Accept: 'application/json' }],
  ['HEAD', 'HEAD', {}],
];

describe('hideForbidden', () => {
  describe.each(FLAVOURS)('%s', (_flavour, method, headers) => {
    it.each(['/.env', '/.nonexistent', '/mode000.txt', '/noexec/file.txt', '/noexec/missing.txt', '/private/a.txt', '/private', '/nolist/'])('%s is byte-identical to a real 404', async (path) => {
      const real = await fetch(hideAll, method, '/missing.txt', headers);
      const hidden = await fetch(hideAll, method, path, headers);
      expect(real.status).toBe(404);
      expect(observable(hidden)).toEqual(observable(real));
    });
  });

  it('the log still tells the operator the real cause', async () => {
    await fetch(hideAll, 'GET', '/mode000.txt');
    await vi.waitFor(() => expect(hideAll.stderr()).toMatch(/KC402 FILE_PERMISSION: file permissions deny server access: .*\/mode000\.txt \(answered 404: hideForbidden\)/), { timeout: 5_000, interval: 20 });
  });

  it('what is not a 403 is left alone', async () => {
    expect((await fetch(hideAll, 'GET', '/%zz')).status).toBe(400);
    expect((await fetch(hideAll, 'GET', '/nolist')).status).toBe(301);
    expect((await fetch(hideAll, 'GET', '/hello.txt')).status).toBe(200);
  });

  it.each(['DELETE', 'OPTIONS', 'PURGE', 'FOO'])('%s on a hidden path answers as on a missing one', async (method) => {
    for (const path of ['/.env', '/private/a.txt', '/noexec/file.txt']) {
      const real = await fetch(hideAll, method, '/missing.txt');
      const hidden = await fetch(hideAll, method, path);
      expect(real.status).not.toBe(404);
      expect(observable(hidden)).toEqual(observable(real));
    }
  });
});

describe('a rule\'s hide', () => {
  describe.each(FLAVOURS)('%s', (_flavour, method, headers) => {
    it.each(['/secret-area/plans.txt', '/secret-area/missing', '/secret-area', '/secret-area/'])('%s is byte-identical to a real 404', async (path) => {
      const real = await fetch(hideRule, method, '/missing.txt', headers);
      const hidden = await fetch(hideRule, method, path, headers);
      expect(observable(hidden)).toEqual(observable(real));
    });
  });

  it('applies only under its path: /.env elsewhere is still 403', async () => {
    expect((await fetch(hideRule, 'GET', '/.env')).status).toBe(403);
  });

  it('the log names the rule that hid it', async () => {
    await fetch(hideRule, 'GET', '/secret-area/plans.txt');
    await vi.waitFor(() => expect(hideRule.stderr()).toMatch(/KC300 RULE_DENIED: .*\(answered 404: rules\[0\]\.hide\)/), { timeout: 5_000, interval: 20 });
  });
});

describe('with a custom 404 page', () => {
  describe.each(FLAVOURS)('%s', (_flavour, method, headers) => {
    it.each(['/.env', '/mode000.txt', '/noexec/file.txt'])('%s is byte-identical to a real 404', async (path) => {
      const real = await fetch(custom, method, '/missing.txt', headers);
      const hidden = await fetch(custom, method, path, headers);
      expect(observable(hidden)).toEqual(observable(real));
    });
  });

  it('and that 404 is the custom page', async () => {
    const res = await fetch(custom, 'GET', '/.env');
    expect([res.status, res.text]).toEqual([404, '<h1>custom not found</h1>\n']);
  });
});
