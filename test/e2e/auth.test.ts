// 401 versus 403 over real sockets: who are you (401, with a challenge) against I know who you
// are, and no (403, never a challenge); CORS per rule; request filters; the bans file.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync, utimesSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

const HTPASSWD = ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].find((p) => existsSync(p));
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  // Password lines made by Apache's own htpasswd where it is installed (CI installs it).
  const line = (flag: string, user: string, pw: string, fallback: string) => (HTPASSWD ? execFileSync(HTPASSWD, ['-nb' + flag, user, pw], { encoding: 'utf8' }).trim() : fallback);
  fx = makeTree({
    conf: {
      dir: {
        htpasswd: [
          line('B', 'alice', 'wonderland', 'alice:$2b$10$VfJBRGj18C3BLwWJV9ZQoO.RMXrZ/0ZbeQugyHKqUhlxjbrpSnJle'),
          line('m', 'bob', 'builder', 'bob:$apr1$gbVdV2m3$IlVr4RqpsGNlEXMOS6XPR/'),
          'carol:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=',
          'erin:{SHA}OQOtIhG4uYCQorudHyryFVDCIjQ=',
        ].join('\n') + '\n',
        htgroup: 'admins: alice\nstaff: alice bob carol erin\n',
        bans: '# suspended\n',
      },
    },
    site: {
      dir: {
        'hello.txt': 'hello',
        staff: { dir: { 'page.txt': 'staff only', 'locked.txt': { content: 'x', mode: 0o000 } } },
        admin: { dir: { 'page.txt': 'admins only' } },
        ipdeny: { dir: { 'page.txt': 'x' } },
        api: { dir: { 'data.json': '{"ok":true}' } },
        filtered: { dir: { 'page.txt': 'x' } },
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    listing: true,
    bans: 'conf/bans',
    rules: [
      { path: '/staff/**', auth: { realm: 'Staff', users: 'conf/htpasswd', groups: 'conf/htgroup', require: ['group staff'] } },
      { path: '/admin/**', auth: { realm: 'Admins', users: 'conf/htpasswd', groups: 'conf/htgroup', require: ['group admins', 'user carol'] } },
      { path: '/ipdeny/**', ip: { deny: ['127.0.0.0/8'] }, auth: { realm: 'Staff', users: 'conf/htpasswd' } },
      { path: '/api/**', cors: { origins: ['http://app.test'], methods: ['GET', 'PUT'], headers: ['X-Token'], maxAge: 600 } },
      { path: '/filtered/**', filter: { userAgents: ['*sqlmap*'], query: ['*debug=1*'], headers: { 'X-Debug': '*' } } },
    ],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(srv.port, { path, headers, method });

describe('who are you: 401', () => {
  it('no credentials: 401 with a Basic challenge and Apache\'s page', async () => {
    const res = await get('/staff/page.txt');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="Staff", charset="UTF-8"');
    expect(res.text).toContain('<title>401 Unauthorized</title>');
    expect(res.text).toContain('This server could not verify that you\nare authorized');
  });

  it.each([
    ['a wrong password', basic('alice', 'nope')],
    ['an unknown user', basic('mallory', 'x')],
  ])('%s: 401 KC211 with the challenge', async (_what, auth) => {
    const res = await get('/staff/page.txt', { Authorization: auth, Accept: 'application/json' });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text).reason).toBe('KC211');
    expect(res.headers['www-authenticate']).toContain('realm="Staff"');
  });

  it.each([
    ['bcrypt', 'alice', 'wonderland'],
    ['$apr1$', 'bob', 'builder'],
    ['{SHA}', 'carol', 'pw'],
  ])('a %s password admits its user', async (_kind, user, pw) => {
    const res = await get('/staff/page.txt', { Authorization: basic(user, pw) });
    expect(res.status).toBe(200);
    expect(res.text).toBe('staff only');
  });
});

describe('I know who you are, and no: 403', () => {
  it('a valid user the rule does not admit: 403 KC212, no challenge', async () => {
    const res = await get('/admin/page.txt', { Authorization: basic('bob', 'builder'), Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(JSON.parse(res.text).reason).toBe('KC212');
  });

  it('admitted by group or by name', async () => {
    expect((await get('/admin/page.txt', { Authorization: basic('alice', 'wonderland') })).status).toBe(200);
    expect((await get('/admin/page.txt', { Authorization: basic('carol', 'pw') })).status).toBe(200);
  });

  it('an IP ACL refuses before authentication: 403 with or without credentials', async () => {
    for (const headers of [{}, { Authorization: basic('alice', 'wonderland') }]) {
      const res = await get('/ipdeny/page.txt', { ...headers, Accept: 'application/json' });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text).reason).toBe('KC200');
      expect(res.headers['www-authenticate']).toBeUndefined();
    }
  });

  it('a file the server cannot read stays 403 for a logged-in user', async () => {
    const res = await get('/staff/locked.txt', { Authorization: basic('alice', 'wonderland'), Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC402');
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('never logs a password or the Authorization header', async () => {
    await get('/staff/page.txt', { Authorization: basic('alice', 'wrong-secret-xyz') });
    const logs = srv.stderr() + srv.stdout();
    expect(logs).not.toContain('wrong-secret-xyz');
    expect(logs).not.toContain(Buffer.from('alice:wrong-secret-xyz').toString('base64'));
  });
});

describe('CORS per rule', () => {
  const preflight = (origin: string, method: string, headers?: string) =>
    get('/api/data.json', { Origin: origin, 'Access-Control-Request-Method': method, ...(headers ? { 'Access-Control-Request-Headers': headers } : {}), Accept: 'application/json' }, 'OPTIONS');

  it('an allowed preflight: 204 with the allowances', async () => {
    const res = await preflight('http://app.test', 'PUT', 'X-Token');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://app.test');
    expect(res.headers['access-control-allow-methods']).toBe('GET, PUT');
    expect(res.headers['access-control-allow-headers']).toBe('x-token');
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it.each([
    ['an origin', 'http://evil.test', 'GET', undefined],
    ['a method', 'http://app.test', 'DELETE', undefined],
    ['a header', 'http://app.test', 'GET', 'X-Other'],
  ])('a preflight for %s the rule does not allow: 403 KC320', async (_what, origin, method, headers) => {
    const res = await preflight(origin, method, headers);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC320');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a simple request from an allowed origin carries Access-Control-Allow-Origin; from another, none', async () => {
    const ok = await get('/api/data.json', { Origin: 'http://app.test' });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('http://app.test');
    expect(ok.headers.vary).toContain('Origin');
    const other = await get('/api/data.json', { Origin: 'http://evil.test' });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('request filters', () => {
  it.each([
    [{ 'User-Agent': 'sqlmap/1.7' }, '/filtered/page.txt', 'KC311'],
    [{ 'X-Debug': 'yes' }, '/filtered/page.txt', 'KC312'],
    [{}, '/filtered/page.txt?a=1&debug=1', 'KC313'],
  ])('%j %s → 403 %s', async (headers, path, code) => {
    const res = await get(path, { ...headers, Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe(code);
  });

  it('an ordinary request passes', async () => {
    expect((await get('/filtered/page.txt', { 'User-Agent': 'Mozilla/5.0' })).status).toBe(200);
  });
});

describe('bans file', () => {
  it('is re-read when it changes, and honours expiry', async () => {
    expect((await get('/hello.txt')).status).toBe(200);
    const bans = fx.path('conf', 'bans');
    writeFileSync(bans, '127.0.0.1\n');
    utimesSync(bans, new Date(), new Date(Date.now() + 2000));
    await new Promise((r) => setTimeout(r, 1100)); // the file is checked at most once a second
    const res = await get('/hello.txt', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC202');
    writeFileSync(bans, '127.0.0.1 2000-01-01T00:00:00Z\n');
    utimesSync(bans, new Date(), new Date(Date.now() + 4000));
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get('/hello.txt')).status).toBe(200);
  });
});

describe('a listing judges each entry as this client\'s click on it', () => {
  /** The names a listing shows, with ' (forbidden)' on the marked ones. */
  const listed = async (path: string, headers: Record<string, string> = {}) => {
    const res = await get(path, headers);
    expect(res.status).toBe(200);
    return [...res.text.matchAll(/<a href="[^"]*">([^<]*)<\/a><\/td>.*?(<td class="denied">forbidden<\/td>)?<\/tr>/g)]
      .map((m) => m[1] + (m[2] ? ' (forbidden)' : ''))
      .filter((n) => n !== 'Parent Directory');
  };

  it('a logged-in user sees the files of the directory the login opened', async () => {
    expect(await listed('/staff/', { Authorization: basic('alice', 'wonderland') })).toEqual(['locked.txt (forbidden)', 'page.txt']);
  });

  it('entries behind a login the client has not given are left out, as Apache does', async () => {
    expect(await listed('/')).toEqual(['api/', 'filtered/', 'hello.txt', 'ipdeny/ (forbidden)']);
  });

  it('with credentials, each entry is judged by them: admitted, refused (marked), or left out', async () => {
    expect(await listed('/', { Authorization: basic('carol', 'pw') })).toEqual(['admin/', 'api/', 'filtered/', 'hello.txt', 'ipdeny/ (forbidden)', 'staff/']);
    expect(await listed('/', { Authorization: basic('bob', 'builder') })).toEqual(['admin/ (forbidden)', 'api/', 'filtered/', 'hello.txt', 'ipdeny/ (forbidden)', 'staff/']);
  });

  it('credentials first seen in a listing are checked then, as a click would check them', async () => {
    expect(await listed('/', { Authorization: basic('erin', 'erinpw') })).toContain('staff/');
  });

  it('a wrong password met while listing counts as no failed login', async () => {
    for (let i = 0; i < 8; i++) expect(await listed('/', { Authorization: basic('carol', `wrong${i}`) })).not.toContain('staff/');
    expect((await get('/staff/page.txt', { Authorization: basic('carol', 'pw') })).status).toBe(200);
  });
});

describe('repeated failures', () => {
  it('are limited per address: 429 with Retry-After, even for the right password', async () => {
    let last = 0;
    for (let i = 0; i < 12; i++) last = (await get('/staff/page.txt', { Authorization: basic('bob', `wrong${i}`) })).status;
    expect(last).toBe(429);
    const res = await get('/staff/page.txt', { Authorization: basic('bob', 'builder'), Accept: 'application/json' });
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(res.text).reason).toBe('KC213');
  });
});
