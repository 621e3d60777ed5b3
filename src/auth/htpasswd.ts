// Apache's own password and group files, so existing setups carry over: htpasswd entries in
// bcrypt ($2y$/$2a$/$2b$), Apache MD5 ($apr1$) and {SHA}; an htgroup file `group: user user`.
// Plaintext and crypt(3) entries are refused when the file is loaded, with the line named.
//
// SECURITY: comparisons are constant-time (bcrypt by construction; timingSafeEqual for the
// others), and an unknown user costs a bcrypt comparison too, so timing does not tell which
// user names exist. Passwords are never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import apacheMd5 from 'apache-md5';

export type HashKind = 'bcrypt' | 'apr1' | 'sha1';

export interface PasswordFile {
  file: string;
  mtimeMs: number;
  users: ReadonlyMap<string, { hash: string; kind: HashKind }>;
}

export class AuthFileError extends Error {}

export function hashKind(hash: string): HashKind | 'plaintext-or-crypt' {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (/^\$apr1\$[^$]{0,8}\$[./A-Za-z0-9]{22}$/.test(hash)) return 'apr1';
  if (/^\{SHA\}[A-Za-z0-9+/]{27}=$/.test(hash)) return 'sha1';
  return 'plaintext-or-crypt';
}

export function parsePasswordFile(file: string, text: string, mtimeMs = 0): PasswordFile {
  const users = new Map<string, { hash: string; kind: HashKind }>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon < 1) throw new AuthFileError(`${file}:${i + 1}: not "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    const kind = hashKind(hash);
    if (kind === 'plaintext-or-crypt') {
      throw new AuthFileError(`${file}:${i + 1}: user "${user}" has a plaintext or crypt() password; keycard accepts bcrypt (htpasswd -B), $apr1$ (-m) or {SHA} (-s)`);
    }
    users.set(user, { hash, kind });
  });
  return { file, mtimeMs, users };
}

export function loadPasswordFile(file: string): PasswordFile {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = statSync(file).mtimeMs;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new AuthFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parsePasswordFile(file, text, mtimeMs);
}

export function parseGroupFile(file: string, text: string): ReadonlyMap<string, ReadonlySet<string>> {
  const groups = new Map<string, Set<string>>();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon < 1) throw new AuthFileError(`${file}:${i + 1}: not "group: user user…"`);
    const name = line.slice(0, colon).trim();
    const members = groups.get(name) ?? new Set<string>();
    for (const u of line.slice(colon + 1).trim().split(/\s+/).filter(Boolean)) members.add(u);
    groups.set(name, members);
  });
  return groups;
}

export function loadGroupFile(file: string): ReadonlyMap<string, ReadonlySet<string>> {
  try {
    return parseGroupFile(file, readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof AuthFileError) throw err;
    throw new AuthFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

// Compared against when the user does not exist, so a miss costs what a hit costs.
const DUMMY_BCRYPT = '$2b$10$rxKj37GfGouwdoI1iPVjue1OkDnEQe.npTKCYniTSS0rJOMKiGs4O';

/** Verifies a password against one entry. bcrypt runs off the event loop (bcryptjs async). */
export async function verifyPassword(entry: { hash: string; kind: HashKind } | undefined, password: string): Promise<boolean> {
  if (!entry) {
    await bcrypt.compare(password, DUMMY_BCRYPT);
    return false;
  }
  switch (entry.kind) {
    case 'bcrypt':
      // $2y$ is PHP's and Apache's name for the same algorithm as $2b$.
      return bcrypt.compare(password, entry.hash.replace(/^\$2y\$/, '$2b$'));
    case 'apr1':
      return constantTimeEqual(apacheMd5(password, entry.hash), entry.hash);
    case 'sha1':
      return constantTimeEqual('{SHA}' + createHash('sha1').update(password, 'utf8').digest('base64'), entry.hash);
  }
}

export { parseBasic } from '../policy/basic.js';
