// decide() over a fabricated filesystem: the order of checks (which reason wins when two
// apply), the directory and symlink stages, and the errno → reason table. No disk, no root:
// the probe judges an unprivileged user from mode bits, as `explain --as` does.
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { decide } from '../../src/policy/decide.js';
import { errnoReason } from '../../src/policy/walk.js';
import type { Creds } from '../../src/policy/perms.js';
import { memProbe, type MemNode } from '../helpers/memfs.js';

const ROOT = '/kc/www';
const nobody: Creds = { uid: 65534, gid: 65534, groups: [] };
const dir = (mode = 0o755, uid = 0): MemNode => ({ kind: 'dir', mode, uid });
const file = (mode = 0o644, uid = 0): MemNode => ({ kind: 'file', mode, uid });
const link = (target: string, uid = 0): MemNode => ({ kind: 'link', target, uid });

const tree: Record<string, MemNode> = {
  '/kc': dir(),
  '/kc/outside': dir(),
  '/kc/outside/canary.txt': file(),
  [ROOT]: dir(),
  [`${ROOT}/hello.txt`]: file(),
  [`${ROOT}/mode000.txt`]: file(0o000),
  [`${ROOT}/.env`]: file(),
  [`${ROOT}/.hidden`]: dir(),
  [`${ROOT}/noexec`]: dir(0o644),
  [`${ROOT}/noexec/file.txt`]: file(),
  [`${ROOT}/noexec/.env`]: file(),
  [`${ROOT}/x711`]: dir(0o711),
  [`${ROOT}/x711/index.html`]: file(),
  [`${ROOT}/x711-noindex`]: dir(0o711),
  [`${ROOT}/x711-noindex/a.txt`]: file(),
  [`${ROOT}/nolist`]: dir(),
  [`${ROOT}/nolist/a.txt`]: file(),
  [`${ROOT}/idx-forbidden`]: dir(),
  [`${ROOT}/idx-forbidden/index.html`]: file(0o000),
  [`${ROOT}/private`]: dir(),
  [`${ROOT}/private/a`]: file(),
  [`${ROOT}/fifo`]: { kind: 'fifo', mode: 0o644 },
  [`${ROOT}/link-in.txt`]: link('hello.txt'),
  [`${ROOT}/link-000`]: link('mode000.txt'),
  [`${ROOT}/link-out.txt`]: link('/kc/outside/canary.txt'),
  [`${ROOT}/link-outdir`]: link('../outside'),
  [`${ROOT}/link-nolist`]: link('nolist'),
  [`${ROOT}/link-broken`]: link('nothing-here'),
  [`${ROOT}/loop1`]: link('loop2'),
  [`${ROOT}/loop2`]: link('loop1'),
  [`${ROOT}/theirs.txt`]: link('hello.txt', 65534),
  [`${ROOT}/emfile.txt`]: file(),
  [`${ROOT}/eio.txt`]: file(),
};
const probe = memProbe(tree, nobody, { [`${ROOT}/emfile.txt`]: 'EMFILE', [`${ROOT}/eio.txt`]: 'EIO' });

function configOf(raw: Record<string, unknown> = {}): Config {
  const r = loadConfig({ raw: { root: ROOT, ...raw }, env: {}, rootMayBeMissing: true });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const ask = (target: string, opts: { method?: string; peer?: string; xff?: string; config?: Config } = {}) =>
  decide({ method: opts.method ?? 'GET', target, peer: opts.peer ?? '127.0.0.1', forwardedFor: opts.xff }, opts.config ?? configOf(), probe).decision;
const reasonOf = (target: string, opts: Parameters<typeof ask>[1] = {}) => ask(target, opts).reason;

describe('each stage on its own', () => {
  it.each([
    ['/hello.txt', 'OK'],
    ['/missing.txt', 'NOT_FOUND'],
    ['/mode000.txt', 'FILE_PERMISSION'],
    ['/noexec/file.txt', 'SEARCH_PERMISSION'],
    ['/noexec/missing.txt', 'SEARCH_PERMISSION'],
    ['/hello.txt/', 'PATH_INFO'],
    ['/hello.txt/extra', 'PATH_INFO'],
    ['/nolist', 'DIRECTORY_REDIRECT'],
    ['/noexec', 'DIRECTORY_REDIRECT'],
    ['/nolist/', 'DIRECTORY_NO_INDEX'],
    ['/idx-forbidden/', 'FILE_PERMISSION'],
    ['/fifo', 'NOT_REGULAR_FILE'],
    ['/.env', 'DOTFILE_DENIED'],
    ['/%zz', 'BAD_ESCAPE'],
    ['/../etc/passwd', 'PATH_ABOVE_ROOT'],
    ['/a%2fb', 'ENCODED_SLASH'],
  ])('%s → %s', (target, reason) => {
    expect(reasonOf(target)).toBe(reason);
  });

  it('the search refusal names the directory and the judged user, never as root', () => {
    const d = ask('/noexec/file.txt');
    expect(d).toMatchObject({ status: 403, code: 'KC401', evidence: { fsPath: `${ROOT}/noexec`, mode: 'drw-r--r-- (0644)', uid: 0 } });
    expect(d.message).toContain('uid 65534 may not search');
  });

  it('a redirect keeps the query and encodes the path', () => {
    expect(ask('/nolist?x=1')).toMatchObject({ status: 301, location: '/nolist/?x=1' });
  });
});

describe('a 0o711 directory', () => {
  it('serves its index through search permission alone', () => {
    expect(ask('/x711/')).toMatchObject({ reason: 'OK', evidence: { fsPath: `${ROOT}/x711/index.html` } });
  });

  it('serves its files', () => {
    expect(reasonOf('/x711-noindex/a.txt')).toBe('OK');
  });

  it('cannot be listed', () => {
    expect(reasonOf('/x711-noindex/', { config: configOf({ listing: true }) })).toBe('DIRECTORY_UNREADABLE');
  });

  it('without listing it is the missing index that is reported', () => {
    expect(reasonOf('/x711-noindex/')).toBe('DIRECTORY_NO_INDEX');
  });
});

describe('which reason wins when two apply', () => {
  const ipAndRule = configOf({ ip: { deny: ['127.0.0.1'] }, rules: [{ path: '/private/**', access: 'deny' }] });

  it('a bad URL before everything, even an IP deny', () => {
    expect(reasonOf('/private/%zz', { config: ipAndRule })).toBe('BAD_ESCAPE');
    expect(reasonOf('/../private', { config: ipAndRule })).toBe('PATH_ABOVE_ROOT');
  });

  it('IP before a rule', () => {
    expect(reasonOf('/private/a', { config: ipAndRule })).toBe('IP_DENIED');
  });

  it('ip.deny wins over ip.allow', () => {
    expect(reasonOf('/hello.txt', { config: configOf({ ip: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1'] } }) })).toBe('IP_DENIED');
  });

  it('a rule before dotfiles', () => {
    expect(reasonOf('/private/.env', { config: configOf({ rules: [{ path: '/private/**', access: 'deny' }] }) })).toBe('RULE_DENIED');
  });

  it('dotfiles before the filesystem: a missing or unreachable dotfile is still 403 KC301', () => {
    expect(reasonOf('/.nonexistent')).toBe('DOTFILE_DENIED');
    expect(reasonOf('/noexec/.env')).toBe('DOTFILE_DENIED');
    expect(reasonOf('/.hidden')).toBe('DOTFILE_DENIED');
  });

  it('a rule before existence and before the directory redirect', () => {
    const c = configOf({ rules: [{ path: '/private/**', access: 'deny' }] });
    expect(reasonOf('/private/missing', { config: c })).toBe('RULE_DENIED');
    expect(reasonOf('/private', { config: c })).toBe('RULE_DENIED');
  });

  it('search permission before existence', () => {
    expect(reasonOf('/noexec/nothing/deeper.txt')).toBe('SEARCH_PERMISSION');
  });

  it('the symlink policy before the target\'s own permissions', () => {
    expect(reasonOf('/link-000', { config: configOf({ symlinks: 'deny' }) })).toBe('SYMLINK_DENIED');
    expect(reasonOf('/link-000', { config: configOf({ symlinks: 'follow' }) })).toBe('FILE_PERMISSION');
  });
});

describe('methods come after the walk, as in Apache', () => {
  it.each([
    ['OPTIONS', '/hello.txt', 'OPTIONS'],
    ['OPTIONS', '/missing.txt', 'OPTIONS'],
    ['DELETE', '/hello.txt', 'METHOD_NOT_ALLOWED'],
    ['TRACE', '/hello.txt', 'METHOD_NOT_ALLOWED'],
    ['DELETE', '/missing.txt', 'METHOD_NOT_ALLOWED'],
    ['DELETE', '/mode000.txt', 'METHOD_NOT_ALLOWED'],
    ['FOO', '/hello.txt', 'METHOD_NOT_IMPLEMENTED'],
    ['FOO', '/missing.txt', 'METHOD_NOT_IMPLEMENTED'],
    ['PURGE', '/hello.txt', 'METHOD_NOT_IMPLEMENTED'],
    ['REPORT', '/hello.txt', 'METHOD_NOT_ALLOWED'],
    ['PROPFIND', '/hello.txt', 'METHOD_NOT_ALLOWED'],
    // …but never before a refusal by configuration, the walk, or the URL
    ['DELETE', '/.env', 'DOTFILE_DENIED'],
    ['TRACE', '/noexec/file.txt', 'SEARCH_PERMISSION'],
    ['DELETE', '/nolist', 'DIRECTORY_REDIRECT'],
    ['FOO', '/nolist', 'DIRECTORY_REDIRECT'],
    ['FOO', '/%zz', 'BAD_ESCAPE'],
    ['PUT', '/link-out.txt', 'SYMLINK_ESCAPES_ROOT'],
  ])('%s %s → %s', (method, target, reason) => {
    expect(reasonOf(target, { method })).toBe(reason);
  });

  it('OPTIONS * asks about the server, not a path', () => {
    expect(reasonOf('*', { method: 'OPTIONS' })).toBe('OPTIONS');
    expect(reasonOf('*', { method: 'GET' })).toBe('BAD_REQUEST_TARGET');
  });
});

describe('symlinks', () => {
  const policy = (symlinks: string) => configOf({ symlinks });
  // [target, follow, owner-match, inside-root, deny]
  it.each([
    ['/link-in.txt', 'OK', 'OK', 'OK', 'SYMLINK_DENIED'],
    ['/link-out.txt', 'OK', 'OK', 'SYMLINK_ESCAPES_ROOT', 'SYMLINK_DENIED'],
    ['/link-outdir/canary.txt', 'OK', 'OK', 'SYMLINK_ESCAPES_ROOT', 'SYMLINK_DENIED'],
    ['/link-nolist/a.txt', 'OK', 'OK', 'OK', 'SYMLINK_DENIED'],
    ['/link-broken', 'SYMLINK_BROKEN', 'SYMLINK_BROKEN', 'SYMLINK_BROKEN', 'SYMLINK_DENIED'],
    ['/loop1', 'SYMLINK_BROKEN', 'SYMLINK_BROKEN', 'SYMLINK_BROKEN', 'SYMLINK_DENIED'],
    ['/theirs.txt', 'OK', 'SYMLINK_OWNER_MISMATCH', 'OK', 'SYMLINK_DENIED'],
  ])('%s: follow %s, owner-match %s, inside-root %s, deny %s', (target, follow, owner, inside, deny) => {
    expect(reasonOf(target, { config: policy('follow') })).toBe(follow);
    expect(reasonOf(target, { config: policy('owner-match') })).toBe(owner);
    expect(reasonOf(target, { config: policy('inside-root') })).toBe(inside);
    expect(reasonOf(target, { config: policy('deny') })).toBe(deny);
  });

  it('a mid-path link is named in the refusal, not the file below it', () => {
    expect(ask('/link-outdir/canary.txt', { config: policy('deny') }).evidence.fsPath).toBe(`${ROOT}/link-outdir`);
  });

  it('a rule sets the policy for its paths only', () => {
    const c = configOf({ symlinks: 'deny', rules: [{ path: '/link-out.txt', symlinks: 'follow' }] });
    expect(reasonOf('/link-out.txt', { config: c })).toBe('OK');
    expect(ask('/link-in.txt', { config: c })).toMatchObject({ reason: 'SYMLINK_DENIED', evidence: { key: 'symlinks' } });
  });
});

describe('errno → reason', () => {
  it.each([
    ['ENOENT', 'NOT_FOUND'],
    ['ENAMETOOLONG', 'NOT_FOUND'],
    ['ENOTDIR', 'PATH_INFO'],
    ['EACCES', 'FILE_PERMISSION'],
    ['EPERM', 'FILE_PERMISSION'],
    ['ELOOP', 'SYMLINK_BROKEN'],
    ['EMFILE', 'RESOURCES_EXHAUSTED'],
    ['ENFILE', 'RESOURCES_EXHAUSTED'],
    ['EIO', 'INTERNAL'],
    ['EISDIR', 'INTERNAL'],
  ])('%s → %s', (errno, reason) => {
    expect(errnoReason(errno)).toBe(reason);
  });

  it('EMFILE on open is 503 KC901, not a 404', () => {
    expect(ask('/emfile.txt')).toMatchObject({ status: 503, code: 'KC901', verdict: 'error' });
  });

  it('an unexpected errno is 500 KC900 and names it for the log', () => {
    expect(ask('/eio.txt')).toMatchObject({ status: 500, code: 'KC900', evidence: { errno: 'EIO' } });
  });

  it('ELOOP on a loop is 403 KC406', () => {
    expect(ask('/loop1', { config: configOf({ symlinks: 'follow' }) })).toMatchObject({ status: 403, code: 'KC406' });
  });
});

describe('hide', () => {
  const hidden = configOf({ hideForbidden: true });

  it('turns a 403 into a 404 and says by which key', () => {
    expect(ask('/mode000.txt', { config: hidden })).toMatchObject({ status: 403, reason: 'FILE_PERMISSION', masked: { by: 'hideForbidden', status: 404 } });
    expect(ask('/private/a', { config: configOf({ rules: [{ path: '/private/**', access: 'deny', hide: true }] }) }).masked).toEqual({ by: 'rules[0].hide', status: 404 });
  });

  it('leaves other statuses alone', () => {
    expect(ask('/%zz', { config: hidden }).masked).toBeUndefined();
    expect(ask('/nolist', { config: hidden }).masked).toBeUndefined();
  });

  it('a rule cannot switch hideForbidden off', () => {
    expect(ask('/.env', { config: configOf({ hideForbidden: true, rules: [{ path: '/**', hide: false }] }) }).masked).toBeDefined();
  });

  it('a hidden path meets the method check a missing file would, and the trace says so once', () => {
    const d = decide({ method: 'DELETE', target: '/.env', peer: '127.0.0.1', forwardedFor: undefined }, hidden, probe, true).decision;
    expect(d.reason).toBe('METHOD_NOT_ALLOWED');
    expect(d.message).toMatch(/hidden: KC301 DOTFILE_DENIED/);
    expect(d.trace?.filter((s) => s.decided)).toEqual([expect.objectContaining({ check: 'method' })]);

    for (const [method, reason] of [['DELETE', 'METHOD_NOT_ALLOWED'], ['OPTIONS', 'OPTIONS'], ['FOO', 'METHOD_NOT_IMPLEMENTED']] as const) {
      expect(reasonOf('/missing.txt', { method, config: hidden })).toBe(reason);
      expect(reasonOf('/.env', { method, config: hidden })).toBe(reason);
      expect(reasonOf('/noexec/file.txt', { method, config: hidden })).toBe(reason);
    }
  });
});

describe('trace', () => {
  it('records every check up to the one that decided', () => {
    const d = decide({ method: 'GET', target: '/noexec/file.txt', peer: '127.0.0.1', forwardedFor: undefined }, configOf(), probe, true).decision;
    expect(d.trace?.map((s) => s.check)).toEqual(expect.arrayContaining(['method', 'url', 'client', 'ip', 'dotfiles', 'path']));
    expect(d.trace?.filter((s) => s.decided)).toHaveLength(1);
  });
});
