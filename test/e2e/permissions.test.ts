// The filesystem causes of 403, with the kernel as the judge: the server runs as `nobody` when
// the tests run as root (root bypasses modes, so a test as root would prove nothing).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'hello.txt': 'hello\n',
        'mode000.txt': { content: 'secret', mode: 0o000 },
        'owner-only.txt': { content: 'secret', mode: 0o600 },
        noexec: { dir: { 'file.txt': 'x', 'index.html': 'idx' }, mode: 0o644 },
        'noread-idx': { dir: { 'index.html': 'served through x' }, mode: 0o711 },
        'noread-noindex': { dir: { 'a.txt': 'a' }, mode: 0o711 },
        'idx-forbidden': { dir: { 'index.html': { content: 'no', mode: 0o000 } } },
        deep: { dir: { a: { dir: { b: { dir: { 'c.txt': 'c' } } }, mode: 0o700 } } },
        fifo: { fifo: true },
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), { root: 'site', port: 0, listing: false, rules: [{ path: '/noread-*/**', listing: true }], ...(SERVER_USER ? { user: SERVER_USER } : {}) });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const get = (path: string, headers: Record<string, string> = {}) => request(srv.port, { path, headers });

describe('file the process cannot read', () => {
  it.each(['/mode000.txt', '/owner-only.txt'])('%s is 403 KC402 with an AH00132-style log line', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(403);
    expect(res.text).toContain("<p>You don't have permission to access this resource.</p>");
    expect(res.text).not.toContain(fx.base);
    const json = await get(path, { Accept: 'application/json' });
    expect(JSON.parse(json.text)).toMatchObject({ error: 'Forbidden', reason: 'KC402' });
    await vi.waitFor(() => expect(srv.stderr()).toMatch(new RegExp(`KC402 FILE_PERMISSION: file permissions deny server access: .*${path.slice(1)}`)), { timeout: 5_000, interval: 20 });
  });

  it('HEAD gets the same status and headers, no body', async () => {
    const res = await request(srv.port, { method: 'HEAD', path: '/mode000.txt' });
    expect(res.status).toBe(403);
    expect(res.body.length).toBe(0);
  });
});

describe('directory without search permission', () => {
  it('a file below it is 403 KC401, naming the directory', async () => {
    const res = await get('/noexec/file.txt');
    expect(res.status).toBe(403);
    expect(JSON.parse((await get('/noexec/file.txt', { Accept: 'application/json' })).text).reason).toBe('KC401');
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/KC401 SEARCH_PERMISSION: access to \/noexec\/file.txt denied \(filesystem path '.*noexec\/file.txt'\).*may not search .*\/noexec/), { timeout: 5_000, interval: 20 });
  });

  it('a missing file below it is 403 too, not 404 (existence is not revealed)', async () => {
    expect((await get('/noexec/missing.txt')).status).toBe(403);
  });

  it('x missing two levels up names that directory', async () => {
    expect((await get('/deep/a/b/c.txt')).status).toBe(403);
    await vi.waitFor(() => expect(srv.stderr()).toMatch(/access to \/deep\/a\/b\/c.txt denied .*may not search .*\/deep\/a\n/), { timeout: 5_000, interval: 20 });
  });

  it('with a slash and an index present: 403 KC401', async () => {
    const res = await get('/noexec/', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC401');
  });

  it('without a slash: 301 (stat of the directory itself works)', async () => {
    const res = await get('/noexec');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/noexec/');
  });
});

describe('directory without read but with search permission', () => {
  it('serves its index', async () => {
    const res = await get('/noread-idx/');
    expect(res.status).toBe(200);
    expect(res.text).toBe('served through x');
  });

  it('with no index and listing on: 403 KC502', async () => {
    const res = await get('/noread-noindex/', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC502');
  });

  it('its files are still served', async () => {
    expect((await get('/noread-noindex/a.txt')).status).toBe(200);
  });
});

describe('index file that exists but cannot be read', () => {
  it('is 403 KC402, never a fallback to a listing', async () => {
    const res = await get('/idx-forbidden/', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC402');
  });
});

describe('permissions are read live', () => {
  it('chmod takes effect on the very next request', async () => {
    const { chmodSync } = await import('node:fs');
    expect((await get('/hello.txt')).status).toBe(200);
    chmodSync(fx.path('site', 'hello.txt'), 0o000);
    try {
      expect((await get('/hello.txt')).status).toBe(403);
    } finally {
      chmodSync(fx.path('site', 'hello.txt'), 0o644);
    }
    expect((await get('/hello.txt')).status).toBe(200);
  });
});

describe('not a regular file', () => {
  it('a FIFO is refused at once, never opened for a blocking read', async () => {
    const res = await get('/fifo', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).reason).toBe('KC408');
    expect((await get('/hello.txt')).status).toBe(200);
  });
});

it.runIf(SERVER_USER !== undefined)('the server really dropped to the unprivileged user', async () => {
  const { readFileSync } = await import('node:fs');
  const status = readFileSync(`/proc/${srv.child.pid}/status`, 'utf8');
  expect(status).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
});
