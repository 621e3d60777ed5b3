// Reading .htaccess files along a request's path, cached by (mtime, size, inode) and re-read as
// soon as any of them changes: one stat per directory level per request while `htaccess` is on.
// Directives outside keycard's subset are reported once per version of each file.
import { readFileSync, statSync } from 'node:fs';
import { parseHtaccess } from './parse.js';
import type { HtFile } from './evaluate.js';

export const ACCESS_FILE = '.htaccess';

interface Entry {
  key: string;
  file: HtFile;
}

export type ReadResult = { files: HtFile[] } | { errno: string; file: string };

export class HtaccessReader {
  private readonly cache = new Map<string, Entry>();

  constructor(private readonly report: (line: string) => void = (l) => process.stderr.write(l)) {}

  private read(dir: string): HtFile | undefined | { errno: string } {
    const file = `${dir}/${ACCESS_FILE}`;
    let st;
    try {
      st = statSync(file);
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code ?? 'EIO';
      return errno === 'ENOENT' || errno === 'ENOTDIR' ? undefined : { errno };
    }
    if (!st.isFile()) return undefined;
    const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    const hit = this.cache.get(file);
    if (hit && hit.key === key) return hit.file;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return { errno: (err as NodeJS.ErrnoException).code ?? 'EIO' };
    }
    const parsed = parseHtaccess(file, text);
    for (const i of parsed.ignored) this.report(`keycard: ${file}:${i.line}: ignored: ${i.message}\n`);
    for (const e of parsed.errors) this.report(`keycard: ${file}:${e.line}: error: ${e.message}\n`);
    const entry = { key, file: { parsed, dir } };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(file, entry);
    return entry.file;
  }

  /** The files in root and each directory of `segments` below it, root first. */
  along(root: string, segments: readonly string[]): ReadResult {
    const files: HtFile[] = [];
    let dir = root;
    for (let i = 0; i <= segments.length; i++) {
      if (i > 0) dir = `${dir}/${segments[i - 1]!}`;
      const r = this.read(dir);
      if (r === undefined) continue;
      if ('errno' in r) {
        // Apache: "unable to check htaccess file, ensure it is readable and that the
        // directory is executable" is a 403 for the request; ENOTDIR past a file ends the walk.
        return { errno: r.errno, file: `${dir}/${ACCESS_FILE}` };
      }
      files.push(r);
    }
    return { files };
  }
}

/** One cache per process, used when the caller does not bring its own. */
export const defaultReader = new HtaccessReader();
