// `keycard audit [ROOT]`: every file and directory under the root, with the status a request for
// it would get and why, grouped by reason. Each entry goes through the server's own decide().
// The walk never follows a symlink into a directory (links are judged, not descended), so a
// link loop cannot trap it; it reads directories in batches and reports progress on a TTY.
import * as fs from 'node:fs';

import { decide } from '../policy/decide.js';
import { encodePath } from '../policy/url.js';
import { visibleStatus } from '../decision.js';
import { REASONS, type ReasonName } from '../reasons.js';
import { loadForCommand } from './config.js';
import { EXIT, parse, UsageError } from './args.js';
import { chooseJudge } from './judge.js';
import { formatScan, scanHtaccess } from '../htaccess/scan.js';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  ip: { type: 'string' },
  as: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export interface AuditRow {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  status: number;
  code: string;
  reason: ReasonName;
  message: string;
  masked?: string;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const overrides = positionals[0] !== undefined ? { root: positionals[0] } : {};
  const config = loadForCommand({ file: values.config as string | undefined, overrides });
  if (!config) return EXIT.USAGE;
  const judge = chooseJudge(config, values.as as string | undefined);
  const peer = (values.ip as string | undefined) ?? '127.0.0.1';
  const tty = process.stderr.isTTY === true && !values.json;
  const rows: AuditRow[] = [];

  const judgeOne = (segments: string[], type: AuditRow['type']): void => {
    const target = encodePath(segments, type === 'directory');
    const decided = decide({ method: 'GET', target, peer, forwardedFor: undefined }, config, judge.probe);
    if (decided.file) judge.probe.close(decided.file.opened.fd);
    const d = decided.decision;
    const row: AuditRow = { path: d.urlPath, type, status: visibleStatus(d), code: d.code, reason: d.reason, message: d.message };
    if (d.masked) row.masked = d.masked.by;
    rows.push(row);
    if (tty && rows.length % 1000 === 0) process.stderr.write(`\raudited ${rows.length} entries…`);
  };

  // Depth-first with an explicit stack: no recursion limit on deep trees.
  judgeOne([], 'directory');
  const stack: string[][] = [[]];
  while (stack.length) {
    const segments = stack.pop()!;
    const dirPath = segments.length ? config.root + '/' + segments.join('/') : config.root;
    let dir: fs.Dir;
    try {
      dir = fs.opendirSync(dirPath, { bufferSize: 256 });
    } catch {
      continue; // unreadable or vanished: the directory's own row says why
    }
    const children: fs.Dirent[] = [];
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) children.push(e);
    dir.closeSync();
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[][] = [];
    for (const e of children) {
      const childSegments = [...segments, e.name];
      const type: AuditRow['type'] = e.isDirectory() ? 'directory' : e.isSymbolicLink() ? 'symlink' : e.isFile() ? 'file' : 'other';
      judgeOne(childSegments, type);
      if (type === 'directory') subdirs.push(childSegments);
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  if (tty) process.stderr.write(`\raudited ${rows.length} entries.\n`);

  const htaccess = config.data.htaccess ? scanHtaccess(config.root) : [];
  if (values.json) {
    process.stdout.write(JSON.stringify({ root: config.root, judgedAs: judge.label, client: peer, entries: rows, ...(config.data.htaccess ? { htaccess } : {}) }, null, 2) + '\n');
    return EXIT.OK;
  }
  const groups = new Map<string, AuditRow[]>();
  for (const r of rows) {
    const key = `${r.status} ${r.code} ${r.reason}${r.masked ? ` (as 404: ${r.masked})` : ''}`;
    const list = groups.get(key) ?? [];
    list.push(r);
    groups.set(key, list);
  }
  const out: string[] = [`audit of ${config.root} for client ${peer}`, `judged as: ${judge.label}`, ''];
  const order = [...groups.keys()].sort();
  for (const key of order) {
    const list = groups.get(key)!;
    const reason = list[0]!.reason;
    out.push(`${key} — ${REASONS[reason].summary}`);
    for (const r of list) out.push(`    ${r.path}${r.type === 'symlink' ? ' (symlink)' : ''}`);
    out.push('');
  }
  out.push('totals:');
  for (const key of order) out.push(`  ${String(groups.get(key)!.length).padStart(7)}  ${key}`);
  out.push(`  ${String(rows.length).padStart(7)}  entries`);
  if (htaccess.length) out.push('', '.htaccess:', formatScan(htaccess));
  process.stdout.write(out.join('\n') + '\n');
  return EXIT.OK;
}
