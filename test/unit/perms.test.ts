// mayAccess: the kernel's rule for plain mode bits. Exactly one class applies (owner, else
// group, else other), even when that class has fewer bits than a class below it.
import { describe, expect, it } from 'vitest';
import { formatMode, mayAccess, permissionClass, R, W, X, type Creds } from '../../src/policy/perms.js';

const FILE = 0o100000;
const DIR = 0o040000;
const alice: Creds = { uid: 1000, gid: 1000, groups: [1000, 27] };
const nobody: Creds = { uid: 65534, gid: 65534, groups: [] };
const root: Creds = { uid: 0, gid: 0, groups: [0] };

describe('permissionClass', () => {
  it.each([
    [{ uid: 1000, gid: 0 }, 'owner'],
    [{ uid: 0, gid: 1000 }, 'group'],
    [{ uid: 0, gid: 27 }, 'group'],
    [{ uid: 0, gid: 5 }, 'other'],
  ])('alice and %j: %s', (owner, cls) => {
    expect(permissionClass({ mode: FILE | 0o644, ...owner }, alice)).toBe(cls);
  });

  it('the primary group counts even when it is not listed among the groups', () => {
    expect(permissionClass({ mode: FILE | 0o640, uid: 0, gid: 65534 }, nobody)).toBe('group');
  });
});

describe('mayAccess', () => {
  // [mode, file owner uid, file gid, who, want, allowed]
  it.each([
    [0o644, 0, 0, nobody, R, true],
    [0o640, 0, 0, nobody, R, false],
    [0o600, 65534, 0, nobody, R, true],
    [0o000, 65534, 0, nobody, R, false],
    [0o200, 65534, 0, nobody, R, false],
    [0o200, 65534, 0, nobody, W, true],
    [0o040, 0, 0, nobody, R, false],
    [0o040, 0, 65534, nobody, R, true],
    [0o040, 0, 27, alice, R, true],
    [0o604, 0, 27, alice, R, false],
    [0o064, 1000, 0, alice, R, false],
    [0o004, 1000, 0, alice, R, false],
    [0o604, 1000, 1000, alice, R | W, true],
    [0o404, 1000, 1000, alice, R | W, false],
  ])('file %o owned %i:%i, %j wants %i → %s', (mode, uid, gid, who, want, allowed) => {
    expect(mayAccess({ mode: FILE | mode, uid, gid }, who, want)).toBe(allowed);
  });

  it.each([
    [0o755, nobody, X, true],
    [0o711, nobody, X, true],
    [0o711, nobody, R, false],
    [0o644, nobody, X, false],
    [0o700, nobody, X, false],
    [0o750, nobody, X, false],
  ])('directory %o owned by root: nobody wants %i → %s', (mode, who, want, allowed) => {
    expect(mayAccess({ mode: DIR | mode, uid: 0, gid: 0 }, who, want)).toBe(allowed);
  });

  it('root reads and searches through any mode', () => {
    expect(mayAccess({ mode: FILE | 0o000, uid: 1000, gid: 1000 }, root, R)).toBe(true);
    expect(mayAccess({ mode: DIR | 0o000, uid: 1000, gid: 1000 }, root, X)).toBe(true);
    expect(mayAccess({ mode: DIR | 0o000, uid: 1000, gid: 1000 }, root, R | X)).toBe(true);
  });

  it('root still cannot execute a file with no x bit at all', () => {
    expect(mayAccess({ mode: FILE | 0o644, uid: 0, gid: 0 }, root, X)).toBe(false);
    expect(mayAccess({ mode: FILE | 0o001, uid: 1000, gid: 1000 }, root, X)).toBe(true);
  });
});

describe('formatMode', () => {
  it.each([
    [DIR | 0o711, 'drwx--x--x (0711)'],
    [FILE | 0o000, '---------- (0000)'],
    [FILE | 0o640, '-rw-r----- (0640)'],
    [0o120777, 'lrwxrwxrwx (0777)'],
  ])('%o is %s', (mode, text) => {
    expect(formatMode(mode)).toBe(text);
  });
});
