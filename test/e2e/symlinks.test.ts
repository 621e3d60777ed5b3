// Symbolic links under each policy, over real sockets (shared/APACHE.md §1, SECURITY.md G).
// A canary file lives outside the root: only `follow` and `owner-match` (as Apache's
// FollowSymLinks and SymLinksIfOwnerMatch do) may ever serve it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isRoot, makeTree, SERVER_USER, type Fixture, type Tree } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';

const CANARY = `canary-${randomBytes(8).toString('hex')}`;
const NOBODY = 65534;
const POLICIES = ['follow', 'owner-match', 'inside-root', 'deny'] as const;
type Policy = (typeof POLICIES)[number];

let fx: Fixture;
const servers = {} as Record<Policy | 'per-rule' | 'per-rule-deny', Running>;

const site: Tree = {
  'hello.txt': 'hello\n',
  sub: { dir: { 'f.txt': 'in sub\n' } },
  'link-in.txt': { symlink: 'hello.txt' },
  'link-out.txt': { symlink: '../outside/canary.txt' },
  'link-outdir': { symlink: '../outside/dir' },
  'link-subdir': { symlink: 'sub' },
  'link-chain.txt': { symlink: 'link-in.txt' },
  'link-broken': { symlink: 'nothing-here' },
  loop1: { symlink: 'loop2' },
  loop2: { symlink: 'loop1' },
  perrule: { dir: { 'link-out.txt': { symlink: '../../outside/canary.txt' } } },
  locked: { dir: { 'link-in.txt': { symlink: '../hello.txt' } } },
  // owner-match rows; the owners only differ when the tests can chown (as root)
  'theirs-owned.txt': { content: 'owned by nobody\n', uid: NOBODY },
  'link-root-to-nobody.txt': { symlink: 'theirs-owned.txt' },
  'link-nobody-to-nobody.txt': { symlink: 'theirs-owned.txt', uid: NOBODY },
  'link-nobody-to-root.txt': { symlink: 'hello.txt', uid: NOBODY },
};

beforeAll(async () => {
  fx = makeTree({ outside: { dir: { 'canary.txt': CANARY, dir: { dir: { 'secret.txt': CANARY } } } }, site: { dir: site } });
  const user = SERVER_USER ? { user: SERVER_USER } : {};
  const start = (name: string, config: Record<string, unknown>) => startServer(['--config', writeConfig(fx.path(`${name}.json`), { root: 'site', port: 0, ...user, ...config })]);
  const started = await Promise.all([
    ...POLICIES.map((symlinks) => start(symlinks, { symlinks })),
    start('per-rule', { symlinks: 'deny', rules: [{ path: '/perrule/**', symlinks: 'follow' }] }),
    start('per-rule-deny', { symlinks: 'follow', rules: [{ path: '/locked/**', symlinks: 'deny' }] }),
  ]);
  POLICIES.forEach((p, i) => (servers[p] = started[i]!));
  servers['per-rule'] = started[4]!;
  servers['per-rule-deny'] = started[5]!;
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  fx?.cleanup();
});

async function answer(policy: keyof typeof servers, path: string): Promise<string> {
  const res = await request(servers[policy].port, { path, headers: { Accept: 'application/json' } });
  if (res.status !== 200) {
    expect(res.text).not.toContain(CANARY);
    return `${res.status} ${(JSON.parse(res.text) as { reason: string }).reason}`;
  }
  return res.text.includes(CANARY) ? '200 canary' : '200';
}

// [path, follow, owner-match, inside-root, deny]
const TABLE: [string, string, string, string, string][] = [
  ['/link-in.txt', '200', '200', '200', '403 KC403'],
  ['/link-chain.txt', '200', '200', '200', '403 KC403'],
  ['/link-out.txt', '200 canary', '200 canary', '403 KC405', '403 KC403'],
  ['/link-outdir/secret.txt', '200 canary', '200 canary', '403 KC405', '403 KC403'],
  ['/link-outdir', '301', '301', '403 KC405', '403 KC403'],
  ['/link-subdir/f.txt', '200', '200', '200', '403 KC403'],
  ['/link-broken', '403 KC406', '403 KC406', '403 KC406', '403 KC403'],
  ['/loop1', '403 KC406', '403 KC406', '403 KC406', '403 KC403'],
  ['/loop1/x', '403 KC406', '403 KC406', '403 KC406', '403 KC403'],
  ['/hello.txt', '200', '200', '200', '200'],
];

describe.each(POLICIES.map((p, i) => [p, i] as const))('symlinks: %s', (policy, column) => {
  it.each(TABLE.map((row) => [row[0], row[column + 1]!] as const))('%s → %s', async (path, expected) => {
    if (expected.startsWith('301')) {
      const res = await request(servers[policy].port, { path });
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe(`${path}/`);
      return;
    }
    expect(await answer(policy, path)).toBe(expected);
  });
});

describe('the error log names the link', () => {
  const logged = (policy: Policy, pattern: RegExp) => vi.waitFor(() => expect(servers[policy].stderr()).toMatch(pattern), { timeout: 5_000, interval: 20 });

  it('deny: the link in mid-path, not the file below it', async () => {
    await answer('deny', '/link-outdir/secret.txt');
    await logged('deny', /KC403 SYMLINK_DENIED: Symbolic link not allowed or link target not accessible: .*\/site\/link-outdir \(symlinks is "deny"\)/);
  });

  it('inside-root: where the link resolves', async () => {
    await answer('inside-root', '/link-out.txt');
    await logged('inside-root', /KC405 SYMLINK_ESCAPES_ROOT: Symbolic link not allowed or link target not accessible: .*\/site\/link-out\.txt resolves to .*\/outside\/canary\.txt, outside the document root/);
  });

  it('follow: a dangling link', async () => {
    await answer('follow', '/link-broken');
    await logged('follow', /KC406 SYMLINK_BROKEN: Symbolic link not allowed or link target not accessible: .*\/site\/link-broken \(ENOENT\)/);
  });

  it('follow: a loop', async () => {
    await answer('follow', '/loop1');
    await logged('follow', /KC406 SYMLINK_BROKEN: .*\/site\/loop1 \(ELOOP\)/);
  });
});

describe('owner-match compares the owners of link and target', () => {
  it('same owner: served', async () => {
    expect(await answer('owner-match', '/link-in.txt')).toBe('200');
    expect(await answer('owner-match', '/link-nobody-to-nobody.txt')).toBe('200');
  });

  it.runIf(isRoot)('link owned by root, target by nobody: 403 KC404', async () => {
    expect(await answer('owner-match', '/link-root-to-nobody.txt')).toBe('403 KC404');
    expect(await answer('follow', '/link-root-to-nobody.txt')).toBe('200');
  });

  it.runIf(isRoot)('link owned by nobody (lchown), target by root: 403 KC404', async () => {
    expect(await answer('owner-match', '/link-nobody-to-root.txt')).toBe('403 KC404');
    expect(await answer('inside-root', '/link-nobody-to-root.txt')).toBe('200');
    await vi.waitFor(() => expect(servers['owner-match'].stderr()).toMatch(/KC404 SYMLINK_OWNER_MISMATCH: .*link-nobody-to-root\.txt \(owner uid 65534, target .*\/site\/hello\.txt owner uid 0\)/), { timeout: 5_000, interval: 20 });
  });
});

describe('a rule sets the policy for its paths', () => {
  it('follow under /perrule/ while the rest is deny', async () => {
    expect(await answer('per-rule', '/perrule/link-out.txt')).toBe('200 canary');
    expect(await answer('per-rule', '/link-in.txt')).toBe('403 KC403');
    expect(await answer('per-rule', '/link-out.txt')).toBe('403 KC403');
  });

  it('deny under /locked/ while the rest is follow', async () => {
    expect(await answer('per-rule-deny', '/locked/link-in.txt')).toBe('403 KC403');
    expect(await answer('per-rule-deny', '/link-in.txt')).toBe('200');
  });

  it('the refusal names the rule\'s key', async () => {
    await answer('per-rule-deny', '/locked/link-in.txt');
    await vi.waitFor(() => expect(servers['per-rule-deny'].stderr()).toMatch(/KC403 SYMLINK_DENIED: .*\/locked\/link-in\.txt \(rules\[0\]\.symlinks is "deny"\)/), { timeout: 5_000, interval: 20 });
  });
});
