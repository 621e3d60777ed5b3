// The reason registry: one entry per cause, codes unique and never reused, names equal to
// their keys, and every code reachable: each one is produced by at least one row of the
// decision table below, run through decide() over a fabricated filesystem.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { kernelProbe } from '../../src/fs/probe.js';
import * as os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuthState } from '../../src/policy/request.js';
import { loadConfig } from '../../src/config/load.js';
import { decide } from '../../src/policy/decide.js';
import { memProbe, type MemNode } from '../helpers/memfs.js';
import { REASONS, reasonByCode, type ReasonName } from '../../src/reasons.js';
import { STATUS_TEXT } from '../../src/http/pages.js';

const ROOT = '/kc/www';
const dir = (mode = 0o755): MemNode => ({ kind: 'dir', mode });
const file = (mode = 0o644): MemNode => ({ kind: 'file', mode });
const probe = memProbe(
  {
    '/kc': dir(),
    '/kc/outside.txt': file(),
    [ROOT]: dir(),
    [`${ROOT}/hello.txt`]: file(),
    [`${ROOT}/mode000.txt`]: file(0o000),
    [`${ROOT}/noexec`]: dir(0o644),
    [`${ROOT}/noexec/file.txt`]: file(),
    [`${ROOT}/noread`]: dir(0o711),
    [`${ROOT}/nolist`]: dir(),
    [`${ROOT}/list`]: dir(),
    [`${ROOT}/fifo`]: { kind: 'fifo', mode: 0o644 },
    [`${ROOT}/link-in.txt`]: { kind: 'link', target: 'hello.txt' },
    [`${ROOT}/link-out.txt`]: { kind: 'link', target: '/kc/outside.txt' },
    [`${ROOT}/link-theirs.txt`]: { kind: 'link', target: 'hello.txt', uid: 65534 },
    [`${ROOT}/link-broken`]: { kind: 'link', target: 'missing' },
    [`${ROOT}/emfile.txt`]: file(),
    [`${ROOT}/eio.txt`]: file(),
  },
  { uid: 65534, gid: 65534, groups: [] },
  { [`${ROOT}/emfile.txt`]: 'EMFILE', [`${ROOT}/eio.txt`]: 'EIO' },
);

// Files the auth and bans rows point at; loadConfig checks them when it compiles the rules.
const FILES = mkdtempSync(path.join(os.tmpdir(), 'keycard-reasons-'));
const HTPASSWD = path.join(FILES, 'htpasswd');
const BANS = path.join(FILES, 'bans');
writeFileSync(HTPASSWD, 'alice:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n');
writeFileSync(BANS, '127.0.0.0/8\n');
// A real tree for the .htaccess rows: the reader reads files, not the fabricated probe.
const HT = path.join(FILES, 'ht');
for (const d of ['denied', 'broken', 'loop']) mkdirSync(path.join(HT, d), { recursive: true });
writeFileSync(path.join(HT, 'denied', '.htaccess'), 'Require all denied\n');
writeFileSync(path.join(HT, 'broken', '.htaccess'), 'Require sometimes\n');
symlinkSync('.htaccess', path.join(HT, 'loop', '.htaccess'));
writeFileSync(path.join(HT, 'a.txt'), 'a');
afterAll(() => rmSync(FILES, { recursive: true, force: true }));

const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const authRule = (require: string[]) => ({ rules: [{ path: '/**', auth: { realm: 'Staff', users: HTPASSWD, require } }] });
const cors = { rules: [{ path: '/**', cors: { origins: ['https://app.example'] } }] };

/** Stands in for the running server's verifier: every credential checks out as `verdict`. */
function authState(verdict: boolean, limited?: number): AuthState {
  return { lookup: () => verdict, groupsOf: () => new Set(), recordFailure: () => {}, retryAfter: () => limited };
}

interface Row {
  method?: string;
  target: string;
  peer?: string;
  config?: Record<string, unknown>;
  headers?: Record<string, string>;
  auth?: AuthState;
  /** Decide over the real tree HT with the kernel probe (for .htaccess rows). */
  real?: boolean;
  reason: ReasonName;
}

/** The decision table: one row at least for every reason keycard can give. */
const TABLE: Row[] = [
  { target: '/hello.txt', reason: 'OK' },
  { method: 'OPTIONS', target: '/hello.txt', reason: 'OPTIONS' },
  { method: 'OPTIONS', target: '*', reason: 'OPTIONS' },
  { target: '/%zz', reason: 'BAD_ESCAPE' },
  { target: '/../etc/passwd', reason: 'PATH_ABOVE_ROOT' },
  { target: '/a%2fb', reason: 'ENCODED_SLASH' },
  { target: '/hello.txt%00', reason: 'ENCODED_SLASH' },
  { target: 'hello.txt', reason: 'BAD_REQUEST_TARGET' },
  { method: 'DELETE', target: '/hello.txt', reason: 'METHOD_NOT_ALLOWED' },
  { method: 'FOO', target: '/hello.txt', reason: 'METHOD_NOT_IMPLEMENTED' },
  { target: '/' + 'a'.repeat(9000), reason: 'URI_TOO_LONG' },
  { target: '/%c0%ae', reason: 'NOT_UTF8' },
  { target: '/hello.txt', config: { ip: { deny: ['127.0.0.0/8'] } }, reason: 'IP_DENIED' },
  { target: '/hello.txt', config: { ip: { allow: ['10.0.0.0/8'] } }, reason: 'IP_NOT_ALLOWED' },
  { target: '/hello.txt', peer: '::ffff:10.1.2.3', config: { ip: { allow: ['10.0.0.0/8'] } }, reason: 'OK' },
  { target: '/nolist/x', config: { rules: [{ path: '/nolist/**', access: 'deny' }] }, reason: 'RULE_DENIED' },
  { target: '/.env', reason: 'DOTFILE_DENIED' },
  { target: '/.env', config: { dotfiles: 'ignore' }, reason: 'DOTFILE_IGNORED' },
  { target: '/missing', reason: 'NOT_FOUND' },
  { target: '/noexec/file.txt', reason: 'SEARCH_PERMISSION' },
  { target: '/mode000.txt', reason: 'FILE_PERMISSION' },
  { target: '/link-in.txt', config: { symlinks: 'deny' }, reason: 'SYMLINK_DENIED' },
  { target: '/link-theirs.txt', config: { symlinks: 'owner-match' }, reason: 'SYMLINK_OWNER_MISMATCH' },
  { target: '/link-out.txt', reason: 'SYMLINK_ESCAPES_ROOT' },
  { target: '/link-broken', config: { symlinks: 'follow' }, reason: 'SYMLINK_BROKEN' },
  { target: '/hello.txt/extra', reason: 'PATH_INFO' },
  { target: '/fifo', reason: 'NOT_REGULAR_FILE' },
  { target: '/nolist', reason: 'DIRECTORY_REDIRECT' },
  { target: '/nolist/', reason: 'DIRECTORY_NO_INDEX' },
  { target: '/noread/', config: { listing: true }, reason: 'DIRECTORY_UNREADABLE' },
  { target: '/list/', config: { rules: [{ path: '/list/**', listing: true }] }, reason: 'LISTING' },
  { target: '/eio.txt', reason: 'INTERNAL' },
  { target: '/hello.txt', config: { bans: BANS }, reason: 'BANNED' },
  { target: '/hello.txt', config: authRule(['valid-user']), reason: 'AUTH_REQUIRED' },
  { target: '/hello.txt', config: authRule(['valid-user']), headers: { authorization: basic('alice', 'nope') }, auth: authState(false), reason: 'AUTH_FAILED' },
  { target: '/hello.txt', config: authRule(['user bob']), headers: { authorization: basic('alice', 'pw') }, auth: authState(true), reason: 'AUTH_FORBIDDEN' },
  { target: '/hello.txt', config: authRule(['user alice']), headers: { authorization: basic('alice', 'pw') }, auth: authState(true), reason: 'OK' },
  { target: '/hello.txt', config: authRule(['valid-user']), headers: { authorization: basic('alice', 'pw') }, auth: authState(false, 30), reason: 'AUTH_RATE_LIMITED' },
  { method: 'POST', target: '/hello.txt', config: { rules: [{ path: '/**', filter: { methods: ['POST'] } }] }, reason: 'FILTER_METHOD' },
  { target: '/hello.txt', config: { rules: [{ path: '/**', filter: { userAgents: ['*sqlmap*'] } }] }, headers: { 'user-agent': 'sqlmap/1.7' }, reason: 'FILTER_USER_AGENT' },
  { target: '/hello.txt', config: { rules: [{ path: '/**', filter: { headers: { 'X-Debug': '*' } } }] }, headers: { 'x-debug': '1' }, reason: 'FILTER_HEADER' },
  { target: '/hello.txt?debug=1', config: { rules: [{ path: '/**', filter: { query: ['*debug=1*'] } }] }, reason: 'FILTER_QUERY' },
  { method: 'OPTIONS', target: '/hello.txt', config: cors, headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' }, reason: 'CORS_PREFLIGHT' },
  { method: 'OPTIONS', target: '/hello.txt', config: cors, headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' }, reason: 'CORS_DENIED' },
  { target: '/a.txt', real: true, reason: 'OK' },
  { target: '/denied/a.txt', real: true, reason: 'HTACCESS_DENIED' },
  { target: '/.htpasswd', real: true, reason: 'HTACCESS_FILE' },
  { target: '/loop/a.txt', real: true, reason: 'HTACCESS_UNREADABLE' },
  { target: '/broken/a.txt', real: true, reason: 'HTACCESS_ERROR' },
  { target: '/emfile.txt', reason: 'RESOURCES_EXHAUSTED' },
];

function run(row: Row) {
  const raw = row.real ? { root: HT, htaccess: true, dotfiles: 'allow', ...row.config } : { root: ROOT, ...row.config };
  const loaded = loadConfig({ raw, env: {}, rootMayBeMissing: true });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return decide({ method: row.method ?? 'GET', target: row.target, peer: row.peer ?? '127.0.0.1', forwardedFor: undefined, headers: row.headers ?? {} }, loaded.config, row.real ? kernelProbe : probe, false, row.auth).decision;
}

describe('the decision table', () => {
  it.each(TABLE.map((row) => [`${row.method ?? 'GET'} ${row.target.slice(0, 40)}${row.config ? ' ' + JSON.stringify(row.config) : ''}`, row] as const))('%s', (_name, row) => {
    const d = run(row);
    expect(d.reason).toBe(row.reason);
    expect(d.code).toBe(REASONS[row.reason].code);
    expect(d.status).toBe(REASONS[row.reason].status);
  });

  it('produces every reason in the registry', () => {
    const produced = new Set(TABLE.map((row) => run(row).reason));
    const missing = (Object.keys(REASONS) as ReasonName[]).filter((name) => !produced.has(name));
    expect(missing).toEqual([]);
  });
});

describe('the registry', () => {
  const entries = Object.entries(REASONS);

  it('codes are unique and shaped KCnnn', () => {
    const codes = entries.map(([, r]) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^KC\d{3}$/);
  });

  it('each name is its key', () => {
    for (const [key, r] of entries) expect(r.name).toBe(key);
  });

  it('reasonByCode finds each entry', () => {
    for (const [, r] of entries) expect(reasonByCode(r.code)).toBe(r);
    expect(reasonByCode('KC999')).toBeUndefined();
  });

  it('the hundreds digit is the pipeline stage', () => {
    const stage: Record<string, RegExp> = { '0': /^(OK|OPTIONS|CORS_PREFLIGHT)$/, '1': /METHOD|ESCAPE|ROOT|SLASH|TARGET|URI|UTF8/, '2': /^(IP_|BANNED|AUTH_)/, '3': /^(RULE|DOTFILE|FILTER|CORS|HTACCESS)_/, '4': /FOUND|PERMISSION|SYMLINK|PATH_INFO|REGULAR/, '5': /DIRECTORY|LISTING/, '9': /INTERNAL|RESOURCES|HTACCESS_ERROR/ };
    for (const [key, r] of entries) expect(key).toMatch(stage[r.code[2]!]!);
  });

  it('every status has a status line, and every refusal a hint', () => {
    for (const [, r] of entries) {
      expect(STATUS_TEXT[r.status] ?? (r.status === 200 ? 'OK' : undefined)).toBeDefined();
      if (r.status >= 400) expect(r.hint.length).toBeGreaterThan(0);
      expect(r.summary).toMatch(/\.$/);
    }
  });

  it('Apache tags are AHnnnnn', () => {
    for (const [, r] of entries) if (r.apache !== undefined) expect(r.apache).toMatch(/^AH\d{5}$/);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(REASONS)).toBe(true);
    expect(Object.isFrozen(REASONS.OK)).toBe(true);
  });
});
