// The IP ACL over real sockets: IPv4 clients from several loopback addresses, IPv6, IPv4-mapped
// clients on a dual-stack socket, and X-Forwarded-For from trusted and untrusted peers
// (mod_remoteip's rows in shared/APACHE.md §1).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { runCli, startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawRequest } from '../helpers/http.js';

let fx: Fixture;
const user = SERVER_USER ? { user: SERVER_USER } : {};
const files = Object.fromEntries(['allowonly', 'both', 'override', 'v6deny', 'v6allow', 'v4deny', 'v4allow', 'open'].map((d) => [d, { dir: { 'f.txt': d } }]));

beforeAll(() => {
  fx = makeTree({ site: { dir: { 'hello.txt': 'hello\n', ...files } } });
});
afterAll(() => fx?.cleanup());

async function serve(name: string, config: Record<string, unknown>): Promise<Running> {
  return startServer(['--config', writeConfig(fx.path(`${name}.json`), { root: 'site', port: 0, ...user, ...config })]);
}
async function answer(srv: Running, req: RawRequest): Promise<{ status: number; reason?: string }> {
  const res = await request(srv.port, { ...req, headers: { Accept: 'application/json', ...req.headers } });
  return res.status === 200 ? { status: 200 } : { status: res.status, reason: (JSON.parse(res.text) as { reason: string }).reason };
}

describe('IPv4 clients', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await serve('v4', {
      ip: { deny: ['127.0.0.2'] },
      rules: [
        { path: '/allowonly/**', ip: { allow: ['127.0.0.3'] } },
        { path: '/both/**', ip: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] } },
        { path: '/override/**', ip: { deny: [] } },
      ],
    });
  });
  afterAll(() => srv?.stop());

  const from = (localAddress: string, path: string) => answer(srv, { path, localAddress });

  it('a client not in ip.deny is served', async () => {
    expect(await from('127.0.0.1', '/hello.txt')).toEqual({ status: 200 });
  });

  it('a client in ip.deny is 403 KC200, logged with its address', async () => {
    expect(await from('127.0.0.2', '/hello.txt')).toEqual({ status: 403, reason: 'KC200' });
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/\[client 127\.0\.0\.2:\d+\] KC200 IP_DENIED: client 127\.0\.0\.2 denied by server configuration: matches ip\.deny 127\.0\.0\.2/), { timeout: 5_000, interval: 20 });
  });

  it('ip.allow admits only its own: 403 KC201 for anyone else', async () => {
    expect(await from('127.0.0.3', '/allowonly/f.txt')).toEqual({ status: 200 });
    expect(await from('127.0.0.1', '/allowonly/f.txt')).toEqual({ status: 403, reason: 'KC201' });
  });

  it('deny wins over allow', async () => {
    expect(await from('127.0.0.1', '/both/f.txt')).toEqual({ status: 403, reason: 'KC200' });
    expect(await from('127.0.0.3', '/both/f.txt')).toEqual({ status: 200 });
  });

  it('a rule\'s ip list replaces the global one for its paths', async () => {
    expect(await from('127.0.0.2', '/override/f.txt')).toEqual({ status: 200 });
    expect(await from('127.0.0.2', '/open/f.txt')).toEqual({ status: 403, reason: 'KC200' });
  });

  it('the refusal holds for a missing file and a directory without its slash', async () => {
    expect(await from('127.0.0.2', '/missing.txt')).toEqual({ status: 403, reason: 'KC200' });
    expect(await from('127.0.0.2', '/open')).toEqual({ status: 403, reason: 'KC200' });
  });
});

describe('a dual-stack socket (host "::")', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await serve('dual', {
      host: '::',
      rules: [
        { path: '/v4deny/**', ip: { deny: ['127.0.0.0/8'] } },
        { path: '/v4allow/**', ip: { allow: ['127.0.0.1'] } },
        { path: '/v6deny/**', ip: { deny: ['::1'] } },
        { path: '/v6allow/**', ip: { allow: ['2001:db8::/32'] } },
      ],
    });
  });
  afterAll(() => srv?.stop());

  const v4 = (path: string) => answer(srv, { path, connectHost: '127.0.0.1' });
  const v6 = (path: string) => answer(srv, { path, connectHost: '::1', host: `[::1]:${srv.port}` });

  it('listens on both families', async () => {
    expect(await v4('/hello.txt')).toEqual({ status: 200 });
    expect(await v6('/hello.txt')).toEqual({ status: 200 });
  });

  it('an IPv4 client arrives as ::ffff:127.0.0.1, and v4 rules still apply to it', async () => {
    expect(await v4('/v4deny/f.txt')).toEqual({ status: 403, reason: 'KC200' });
    expect(await v4('/v4allow/f.txt')).toEqual({ status: 200 });
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/\[client 127\.0\.0\.1:\d+\] KC200 IP_DENIED: client 127\.0\.0\.1 denied .*matches rules\[0\]\.ip\.deny 127\.0\.0\.0\/8/), { timeout: 5_000, interval: 20 });
  });

  it('an IPv6 client is judged by v6 rules, and v4 rules never match it', async () => {
    expect(await v6('/v6deny/f.txt')).toEqual({ status: 403, reason: 'KC200' });
    expect(await v6('/v6allow/f.txt')).toEqual({ status: 403, reason: 'KC201' });
    expect(await v6('/v4deny/f.txt')).toEqual({ status: 200 });
    expect(await v6('/v4allow/f.txt')).toEqual({ status: 403, reason: 'KC201' });
  });

  it('v6 rules never match an IPv4 client', async () => {
    expect(await v4('/v6deny/f.txt')).toEqual({ status: 200 });
  });
});

describe('an IPv6-only socket (host "::1")', () => {
  it('judges ::1', async () => {
    const srv = await serve('v6', { host: '::1', ip: { deny: ['::1/128'] } });
    try {
      expect(srv.url).toBe(`http://[::1]:${srv.port}`);
      expect(await answer(srv, { path: '/hello.txt', connectHost: '::1', host: `[::1]:${srv.port}` })).toEqual({ status: 403, reason: 'KC200' });
    } finally {
      await srv.stop();
    }
  });
});

describe('behind a proxy', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await serve('proxy', { trustProxy: ['127.0.0.1'], ip: { allow: ['10.0.0.0/8'], deny: ['10.6.6.6'] } });
  });
  afterAll(() => srv?.stop());

  const via = (xff: string, localAddress = '127.0.0.1') => answer(srv, { path: '/hello.txt', localAddress, headers: { 'X-Forwarded-For': xff } });

  // mod_remoteip, RemoteIPInternalProxy 127.0.0.1, Require ip 10.0.0.0/8, Require not ip 10.6.6.6
  it.each([
    ['10.1.2.3', { status: 200 }],
    ['10.6.6.6', { status: 403, reason: 'KC200' }],
    ['192.0.2.7, 10.1.2.3', { status: 200 }],
    ['10.1.2.3, 192.0.2.7', { status: 403, reason: 'KC201' }],
    ['10.1.2.3, 127.0.0.1', { status: 200 }],
    ['garbage', { status: 403, reason: 'KC201' }],
  ])('from the trusted proxy, X-Forwarded-For %j', async (xff, expected) => {
    expect(await via(xff)).toEqual(expected);
  });

  it('the log names the client the header gave', async () => {
    await via('10.6.6.6');
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/\[client 10\.6\.6\.6:\d+\] KC200 IP_DENIED: client 10\.6\.6\.6 denied/), { timeout: 5_000, interval: 20 });
  });

  it('the header is ignored from a peer that is not trusted: a spoofed address cannot pass ip.allow', async () => {
    expect(await via('10.1.2.3', '127.0.0.2')).toEqual({ status: 403, reason: 'KC201' });
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/\[client 127\.0\.0\.2:\d+\] KC201 IP_NOT_ALLOWED: client 127\.0\.0\.2 denied/), { timeout: 5_000, interval: 20 });
  });

  it('repeated X-Forwarded-For headers are read as one list', async () => {
    const res = await request(srv.port, { path: '/hello.txt', headers: { 'X-Forwarded-For': '10.1.2.3', 'x-forwarded-for': '192.0.2.7' } });
    expect(res.status).toBe(403);
  });
});

describe('config', () => {
  it.each([
    ['ip.allow[0]', { ip: { allow: ['010.0.0.1'] } }],
    ['ip.deny[1]', { ip: { deny: ['10.0.0.1', '10.0.0.01'] } }],
    ['trustProxy[0]', { trustProxy: ['0127.0.0.1'] }],
    ['rules[0].ip.allow[0]', { rules: [{ path: '/a/**', ip: { allow: ['10.1'] } }] }],
  ])('refuses zero-padded or short IPv4 (%s) with exit 2, naming the key', (key, config) => {
    const file = writeConfig(fx.path('bad-ip.json'), { root: 'site', port: 0, ...config });
    const r = runCli(['serve', '--config', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${key}:`);
    expect(r.stdout).not.toContain('listening on');
  });

  it('--deny with a zero-padded address is refused the same way', () => {
    const r = runCli(['serve', fx.path('site'), '--port', '0', '--deny', '010.0.0.1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('ip.deny[0]');
  });
});
