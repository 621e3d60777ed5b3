// Apache's password files, made by Apache's own htpasswd (Debian apache2-utils), and the
// verifier's cache and failure counter.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, utimesSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthFileError, hashKind, parseBasic, parseGroupFile, parsePasswordFile, verifyPassword } from '../../src/auth/htpasswd.js';
import { AuthVerifier, FAIL_LIMIT } from '../../src/auth/verifier.js';

const HTPASSWD = ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].find((p) => existsSync(p));
const made = (flag: string, user: string, pw: string): string => execFileSync(HTPASSWD!, ['-nb' + flag, user, pw], { encoding: 'utf8' }).trim();

describe.skipIf(!HTPASSWD)('hashes made by Apache htpasswd', () => {
  it.each([
    ['-B', 'bcrypt'],
    ['-m', 'apr1'],
    ['-s', 'sha1'],
  ])('htpasswd %s (%s): the right password verifies, a wrong one does not', async (flag, kind) => {
    const line = made(flag.slice(1), 'alice', 'correct horse');
    const pf = parsePasswordFile('htpasswd', line);
    const entry = pf.users.get('alice');
    expect(entry?.kind).toBe(kind);
    expect(await verifyPassword(entry, 'correct horse')).toBe(true);
    expect(await verifyPassword(entry, 'correct horsf')).toBe(false);
    expect(await verifyPassword(entry, '')).toBe(false);
  });

  it.each([['-d'], ['-p']])('htpasswd %s (crypt or plaintext) is refused with the line named', (flag) => {
    const line = made(flag.slice(1), 'bob', 'pw');
    expect(() => parsePasswordFile('conf/htpasswd', `# users\n${line}\n`)).toThrow(/conf\/htpasswd:2: user "bob" has a plaintext or crypt\(\) password/);
  });
});

describe('password file format', () => {
  it('accepts $2a$, $2b$ and $2y$ bcrypt', () => {
    expect(hashKind('$2y$05$AvaOcOMoiXuc1Xses1.a8uKRT6/p84d3naftVgKzfFzPey.dV781i')).toBe('bcrypt');
    expect(hashKind('$2a$05$AvaOcOMoiXuc1Xses1.a8uKRT6/p84d3naftVgKzfFzPey.dV781i')).toBe('bcrypt');
  });
  it('an unknown user costs a comparison and fails', async () => {
    expect(await verifyPassword(undefined, 'x')).toBe(false);
  });
  it('rejects a line without a colon', () => {
    expect(() => parsePasswordFile('f', 'nocolon')).toThrow(AuthFileError);
  });
  it('reads groups, a user in several', () => {
    const g = parseGroupFile('g', 'admins: alice bob\nstaff: alice carol\n# x\n');
    expect([...g.get('admins')!]).toEqual(['alice', 'bob']);
    expect(g.get('staff')!.has('carol')).toBe(true);
  });
});

describe('Authorization: Basic', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  it('parses user and password; the password may contain a colon', () => {
    expect(parseBasic(`Basic ${b64('alice:pa:ss')}`)).toEqual({ user: 'alice', password: 'pa:ss' });
    expect(parseBasic(`basic ${b64('a:b')}`)).toEqual({ user: 'a', password: 'b' });
  });
  it('refuses other schemes and garbage', () => {
    expect(parseBasic('Bearer abc')).toBeUndefined();
    expect(parseBasic('Basic !!!')).toBeUndefined();
    expect(parseBasic(`Basic ${b64('nocolon')}`)).toBeUndefined();
    expect(parseBasic(undefined)).toBeUndefined();
  });
});

describe('AuthVerifier', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keycard-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'htpasswd');
  writeFileSync(file, 'carol:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n'); // password "pw"

  it('caches a verdict, and forgets it when the file changes', async () => {
    let t = 1_000_000;
    const v = new AuthVerifier(() => t);
    expect(v.lookup(file, 'carol', 'pw')).toBeUndefined();
    expect(await v.verify(file, 'carol', 'pw')).toBe(true);
    expect(v.lookup(file, 'carol', 'pw')).toBe(true);
    writeFileSync(file, 'carol:{SHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    t += 1500; // the file is stat'ed at most once a second
    expect(v.lookup(file, 'carol', 'pw')).toBeUndefined();
    expect(await v.verify(file, 'carol', 'pw')).toBe(false);
  });

  it('limits an address after repeated failures, then lets it try again', () => {
    let t = 0;
    const v = new AuthVerifier(() => t);
    for (let i = 0; i < FAIL_LIMIT - 1; i++) v.recordFailure('192.0.2.1');
    expect(v.retryAfter('192.0.2.1')).toBeUndefined();
    v.recordFailure('192.0.2.1');
    expect(v.retryAfter('192.0.2.1')).toBe(60);
    expect(v.retryAfter('192.0.2.2')).toBeUndefined();
    t += 61_000;
    expect(v.retryAfter('192.0.2.1')).toBeUndefined();
  });
});
