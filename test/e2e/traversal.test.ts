// Path traversal and rule bypass over a raw socket (shared/SECURITY.md A and B): every
// spelling of "up", "slash" and "nothing" that has broken a static server. A canary file sits
// next to the root, outside it; its unique content must never appear in any response. The
// statuses are Apache's (shared/APACHE.md §1): 400 for a climb, 404 for %2f, %00 and double
// encoding, 403 where a literal segment starts with a dot.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

const CANARY = `canary-${randomBytes(8).toString('hex')}`;
const PRIVATE = `private-${randomBytes(8).toString('hex')}`;

let fx: Fixture;
let srv: Running;
const seen: RawResponse[] = [];

beforeAll(async () => {
  fx = makeTree({
    'canary.txt': CANARY,
    etc: { dir: { passwd: CANARY } },
    site: {
      dir: {
        'hello.txt': 'hello\n',
        sub: { dir: { 'visible.txt': 'visible\n' } },
        'evil.com': { dir: { 'index.html': 'not a redirect target' } },
        private: { dir: { a: PRIVATE, 'a.txt': PRIVATE } },
        x: { dir: {} },
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, rules: [{ path: '/private/**', access: 'deny' }], ...(SERVER_USER ? { user: SERVER_USER } : {}) });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

async function get(path: string, method = 'GET'): Promise<RawResponse> {
  const res = await request(srv.port, { method, path, headers: { Accept: 'application/json' } });
  seen.push(res);
  return res;
}
const reasonOf = (res: RawResponse): string | undefined => (res.headers['content-type'] === 'application/json' ? (JSON.parse(res.text) as { reason: string }).reason : undefined);

describe('climbing above the root is 400', () => {
  it.each([
    '/../canary.txt',
    '/../../../../etc/passwd',
    '/../etc/passwd',
    '/sub/../../canary.txt',
    '/sub/../../../canary.txt',
    '/%2e%2e/canary.txt',
    '/%2E%2E/canary.txt',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/.%2e/canary.txt',
    '/%2e./canary.txt',
    '/sub/%2e%2e/%2e%2e/canary.txt',
    '/./../canary.txt',
    '//../canary.txt',
    '/..',
    '/sub/../..',
  ])('%s', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(400);
    expect(reasonOf(res)).toBe('KC101');
  });
});

describe('an encoded slash or NUL is 404', () => {
  it.each([
    '/..%2fcanary.txt',
    '/..%2f..%2fetc%2fpasswd',
    '/%2f..%2fcanary.txt',
    '/sub%2fvisible.txt',
    '/sub%2F..%2F..%2Fcanary.txt',
    '/%2fevil.com',
    '/hello.txt%00',
    '/hello.txt%00.html',
    '/..%00/canary.txt',
  ])('%s', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(reasonOf(res)).toBe('KC102');
  });
});

describe('double encoding and overlong UTF-8 name literal files, which do not exist: 404', () => {
  it.each([
    ['/%252e%252e/canary.txt', 'KC400'],
    ['/%252e%252e/%252e%252e/etc/passwd', 'KC400'],
    ['/%252e%252e%252fcanary.txt', 'KC400'],
    ['/%25%32%65%25%32%65/canary.txt', 'KC400'],
    ['/%c0%ae%c0%ae/canary.txt', 'KC106'],
    ['/%c0%ae%c0%ae%c0%afcanary.txt', 'KC106'],
    ['/%e0%80%ae%e0%80%ae/canary.txt', 'KC106'],
  ])('%s', async (path, code) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(reasonOf(res)).toBe(code);
  });
});

describe('backslashes are literal name characters', () => {
  it.each(['/\\evil.com', '/%5cevil.com', '/%5c..%5ccanary.txt', '/sub\\..\\..\\canary.txt'])('%s is 404', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(reasonOf(res)).toBe('KC400');
  });

  it.each(['/..\\..\\canary.txt', '/..%5c..%5ccanary.txt', '/..\\canary.txt'])('%s is one segment starting with "." : 403 by the dotfile rule', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(403);
    expect(reasonOf(res)).toBe('KC301');
  });
});

describe('dot segments that stay inside are resolved: 200', () => {
  it.each(['/sub/../hello.txt', '/sub/%2e%2e/hello.txt', '/sub/.%2e/hello.txt', '/./hello.txt', '/%2e/hello.txt', '//hello.txt', '///hello.txt', '/hello%2etxt', '/sub/./../sub/visible.txt', '/x/../hello.txt'])('%s', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(200);
  });
});

describe('absolute-form targets', () => {
  it('only the path counts', async () => {
    expect((await get('http://evil.example/hello.txt')).status).toBe(200);
  });

  it.each(['http://127.0.0.1/../canary.txt', 'http://127.0.0.1/%2e%2e/canary.txt', 'http://127.0.0.1/sub/../../etc/passwd'])('%s is 400', async (path) => {
    expect((await get(path)).status).toBe(400);
  });

  it('a directory redirect from an absolute-form target stays on this server', async () => {
    const res = await get('http://evil.example/sub');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/sub/');
  });
});

describe('no open redirect', () => {
  it.each([
    ['//evil.com', '/evil.com/'],
    ['///evil.com', '/evil.com/'],
    ['/./evil.com', '/evil.com/'],
    ['//evil.com?x=1', '/evil.com/?x=1'],
  ])('%s → Location %s', async (path, location) => {
    const res = await get(path);
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(location);
  });
});

describe('a /private/** deny rule holds for every spelling (SECURITY.md B)', () => {
  it.each(['//private/a', '/x/../private/a', '/./private/a', '/private//a', '/private/./a', '/%70rivate/a', '/%70%72%69%76%61%74%65/a', '/private', '/private/', '/private/a.txt', '/sub/../private/a', '/private/missing'])('%s is 403 KC300', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(403);
    expect(reasonOf(res)).toBe('KC300');
  });

  it.each(['/private%2fa', '/private/a%00', '/x/..%2fprivate/a'])('%s is 404 KC102', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(reasonOf(res)).toBe('KC102');
  });

  it.each(['/PRIVATE/a', '/private./a', '/private%20/a', '/private /a'.replace(' ', '%20')])('%s names another directory, which does not exist: 404', async (path) => {
    expect((await get(path)).status).toBe(404);
  });

  it.each(['DELETE', 'OPTIONS', 'HEAD'])('%s //private/a is 403 too', async (method) => {
    expect((await get('//private/a', method)).status).toBe(403);
  });
});

// Runs last (tests in a file run in order): over every response above, nothing from outside
// the root and nothing from behind the rule ever came back, and no Location left the server.
it('no response carried the canary, the private content or /etc/passwd', () => {
  expect(seen.length).toBeGreaterThan(70);
  for (const res of seen) {
    expect(res.text).not.toContain(CANARY);
    expect(res.text).not.toContain(PRIVATE);
    expect(res.text).not.toMatch(/root:.*:0:0:/);
    expect(res.headers.location ?? '/').toMatch(/^\/(?![/\\])/);
  }
});
