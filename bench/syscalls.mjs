#!/usr/bin/env node
// What the syscalls of one request cost on this machine, measured alone in a tight loop: the
// part of a 404, 403 or 304 that no server which checks permissions live can skip. Compare the
// figures with the bare server's CPU per request in `npm run bench` (its `CPU µs/req` column):
// 0.75× bare leaves a third of bare's time for everything a request adds, syscalls included.
//
//   node bench/syscalls.mjs [--loops N]
// As root it drops to nobody (uid and gid 65534) after building its fixture, so the kernel checks
// permissions.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { loops: { type: 'string', default: '200000' } } });
const LOOPS = Number(values.loops);
if (!Number.isInteger(LOOPS) || LOOPS < 1) {
  console.error(`syscalls: --loops must be a positive whole number, not ${values.loops}`);
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keycard-syscalls-'));
fs.chmodSync(dir, 0o755); // searchable by nobody
const file = path.join(dir, '1k.txt');
const unreadable = path.join(dir, 'unreadable.txt');
const missing = path.join(dir, 'no-such-file.txt');
fs.writeFileSync(file, 'x'.repeat(1024));
fs.writeFileSync(unreadable, 'secret');
fs.chmodSync(file, 0o644);
fs.chmodSync(unreadable, 0o000);
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
if (process.getuid?.() === 0) {
  fs.chownSync(dir, 65534, 65534); // nobody may then remove the fixture at exit
  process.setgroups([]);
  process.setgid(65534);
  process.setuid(65534);
}

const failedOpen = (p) => {
  try {
    fs.closeSync(fs.openSync(p, 'r'));
  } catch {
    // the exception is part of the cost
  }
};

const CASES = [
  ['a file served or a 304: open, fstat, close', () => { const fd = fs.openSync(file, 'r'); fs.fstatSync(fd); fs.closeSync(fd); }],
  ['a remembered 404: lstat of a missing path, no exception', () => fs.lstatSync(missing, { throwIfNoEntry: false })],
  ['a remembered 403: lstat of the unreadable file', () => fs.lstatSync(unreadable)],
  ['a first 404: open failing with ENOENT (node builds an exception)', () => failedOpen(missing)],
  ['a first 403: open failing with EACCES (node builds an exception)', () => failedOpen(unreadable)],
];

console.log(`${LOOPS} loops each, as uid ${process.getuid?.() ?? '?'}; median of 3`);
for (const [name, op] of CASES) {
  const runs = [];
  for (let r = 0; r < 3; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < LOOPS; i++) op();
    runs.push(Number(process.hrtime.bigint() - t) / LOOPS / 1000);
  }
  runs.sort((a, b) => a - b);
  console.log(`${runs[1].toFixed(2).padStart(7)} µs  ${name}`);
}
