// The bans file: suspended clients, one address or CIDR a line, optionally followed by an
// ISO 8601 expiry (`203.0.113.7 2026-12-01T00:00:00Z`); `#` starts a comment. Re-read when its
// mtime changes, checked at most once a second; a file that fails to parse keeps the last good
// list and says so once on stderr.
import { readFileSync, statSync } from 'node:fs';
import { parseCidr } from '../config/schema.js';
import type ipaddr from 'ipaddr.js';
import type { Addr } from '../policy/ip.js';

export interface Ban {
  text: string;
  range: [Addr, number];
  expires: number | undefined;
  line: number;
}

export function parseBans(text: string, file = 'bans'): Ban[] {
  const out: Ban[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [addr, expiry, extra] = line.split(/\s+/);
    const range = parseCidr(addr!);
    if (!range || extra !== undefined) throw new Error(`${file}:${i + 1}: expected "ADDRESS_OR_CIDR [EXPIRY]"`);
    let expires: number | undefined;
    if (expiry !== undefined) {
      expires = Date.parse(expiry);
      if (!/^\d{4}-\d\d-\d\d/.test(expiry) || Number.isNaN(expires)) throw new Error(`${file}:${i + 1}: ${JSON.stringify(expiry)} is not an ISO 8601 date`);
    }
    out.push({ text: addr!, range, expires, line: i + 1 });
  });
  return out;
}

export class BanList {
  private bans: Ban[] = [];
  private mtimeMs = -1;
  private checkedAt = -Infinity;

  constructor(readonly file: string, private readonly now: () => number = Date.now) {
    this.refresh(true);
  }

  private refresh(strict: boolean): void {
    const t = this.now();
    if (!strict && t - this.checkedAt < 1000) return;
    this.checkedAt = t;
    let mtimeMs: number;
    try {
      mtimeMs = statSync(this.file).mtimeMs;
    } catch (err) {
      if (strict) throw new Error(`cannot read bans file ${this.file}: ${(err as NodeJS.ErrnoException).code}`);
      return;
    }
    if (mtimeMs === this.mtimeMs) return;
    try {
      this.bans = parseBans(readFileSync(this.file, 'utf8'), this.file);
      this.mtimeMs = mtimeMs;
    } catch (err) {
      if (strict) throw err;
      this.mtimeMs = mtimeMs;
      process.stderr.write(`keycard: bans file rejected, keeping the previous list: ${(err as Error).message}\n`);
    }
  }

  /** The ban that matches addr now, if any. */
  find(addr: Addr): Ban | undefined {
    this.refresh(false);
    const t = this.now();
    for (const b of this.bans) {
      if (b.expires !== undefined && b.expires <= t) continue;
      const [net, bits] = b.range;
      if (net.kind() === addr.kind() && (addr as ipaddr.IPv4).match(net as ipaddr.IPv4, bits)) return b;
    }
    return undefined;
  }
}
