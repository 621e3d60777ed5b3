// Credential checks for Basic authentication, kept off the decision's synchronous path: the
// decision asks `lookup()` (a cache hit or "unknown"); the handler, on "unknown", awaits
// `verify()` and decides again. Also the per-address failure counter behind 429.
//
// SECURITY: a cached verdict is keyed by the password file's mtime and a SHA-256 of the
// password (never the password itself), and lives at most CACHE_TTL_MS: editing the htpasswd
// file takes effect on the next request; a password changed by other means within 60 s at most.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { loadGroupFile, loadPasswordFile, verifyPassword, type PasswordFile } from './htpasswd.js';

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;
/** Failures allowed per address within FAIL_WINDOW_MS before 429. */
export const FAIL_LIMIT = 10;
const FAIL_WINDOW_MS = 60_000;

interface FileState<T> {
  value: T;
  mtimeMs: number;
  checkedAt: number;
}

export class AuthVerifier {
  private readonly verdicts = new Map<string, { ok: boolean; at: number }>();
  private readonly passwords = new Map<string, FileState<PasswordFile>>();
  private readonly groups = new Map<string, FileState<ReadonlyMap<string, ReadonlySet<string>>>>();
  private readonly failures = new Map<string, { count: number; first: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Re-reads a file when its mtime changed; stats it at most once a second. */
  private fresh<T>(cache: Map<string, FileState<T>>, file: string, load: (f: string) => T): T {
    const t = this.now();
    const cur = cache.get(file);
    if (cur && t - cur.checkedAt < 1000) return cur.value;
    const mtimeMs = statSync(file).mtimeMs;
    if (cur && cur.mtimeMs === mtimeMs) {
      cur.checkedAt = t;
      return cur.value;
    }
    const value = load(file);
    cache.set(file, { value, mtimeMs, checkedAt: t });
    return value;
  }

  passwordFile(file: string): PasswordFile {
    return this.fresh(this.passwords, file, loadPasswordFile);
  }

  groupsOf(file: string, user: string): ReadonlySet<string> {
    const all = this.fresh(this.groups, file, loadGroupFile);
    const mine = new Set<string>();
    for (const [g, members] of all) if (members.has(user)) mine.add(g);
    return mine;
  }

  private key(file: string, user: string, password: string): string {
    const pf = this.passwordFile(file);
    return `${file}\0${pf.mtimeMs}\0${user}\0${createHash('sha256').update(password).digest('hex')}`;
  }

  /** true / false when known, undefined when the password must be verified (await verify). */
  lookup(file: string, user: string, password: string): boolean | undefined {
    const k = this.key(file, user, password);
    const v = this.verdicts.get(k);
    if (!v) return undefined;
    if (this.now() - v.at > CACHE_TTL_MS) {
      this.verdicts.delete(k);
      return undefined;
    }
    return v.ok;
  }

  async verify(file: string, user: string, password: string): Promise<boolean> {
    const pf = this.passwordFile(file);
    const ok = await verifyPassword(pf.users.get(user), password);
    if (this.verdicts.size >= CACHE_MAX) this.verdicts.clear();
    this.verdicts.set(this.key(file, user, password), { ok, at: this.now() });
    return ok;
  }

  recordFailure(client: string): void {
    const t = this.now();
    const f = this.failures.get(client);
    if (!f || t - f.first > FAIL_WINDOW_MS) this.failures.set(client, { count: 1, first: t });
    else f.count++;
    if (this.failures.size > CACHE_MAX) this.failures.clear();
  }

  /** Seconds until the client may try again, or undefined when it is not limited. */
  retryAfter(client: string): number | undefined {
    const f = this.failures.get(client);
    if (!f) return undefined;
    const left = FAIL_WINDOW_MS - (this.now() - f.first);
    if (left <= 0) {
      this.failures.delete(client);
      return undefined;
    }
    return f.count >= FAIL_LIMIT ? Math.ceil(left / 1000) : undefined;
  }
}
