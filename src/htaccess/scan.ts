// Every .htaccess under a root, parsed once, for `keycard check` and `audit`: the directives
// keycard ignores and the syntax errors that make a directory 500, each with its file and line.
import * as fs from 'node:fs';
import { parseHtaccess } from './parse.js';
import { ACCESS_FILE } from './reader.js';

export interface ScanIssue {
  file: string;
  line: number;
  kind: 'ignored' | 'error';
  message: string;
}

export function scanHtaccess(root: string): ScanIssue[] {
  const out: ScanIssue[] = [];
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isDirectory()) stack.push(`${dir}/${e.name}`);
      else if (e.isFile() && e.name === ACCESS_FILE) {
        const file = `${dir}/${e.name}`;
        let text: string;
        try {
          text = fs.readFileSync(file, 'utf8');
        } catch (err) {
          out.push({ file, line: 0, kind: 'error', message: `cannot read (${(err as NodeJS.ErrnoException).code})` });
          continue;
        }
        const p = parseHtaccess(file, text);
        for (const i of p.ignored) out.push({ file, line: i.line, kind: 'ignored', message: i.message });
        for (const i of p.errors) out.push({ file, line: i.line, kind: 'error', message: i.message });
      }
    }
  }
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

export function formatScan(issues: readonly ScanIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}: ${i.kind === 'error' ? 'error (the directory answers 500)' : 'ignored'}: ${i.message}`).join('\n');
}
