#!/usr/bin/env node
// Does listing a large directory hold up other requests? Creates a directory of 10,000 files,
// starts keycard (the built dist/, so `npm run build` first) with listing on, and measures the
// latency of small requests (a 1-byte file, several clients at once) three ways: alone, while
// other clients fetch the HTML listing of the big directory over and over, and while they
// fetch its JSON listing. A listing that holds the event loop for X ms shows up as small
// requests waiting X ms. Beside those client-side figures, from inside the server process:
//   - server loop delay: perf_hooks' event-loop delay (wall time, so it includes time the OS
//     gave the CPU to another process);
//   - main thread busy: CPU time the server's main thread used between two 1 ms timer ticks
//     (Linux schedstat), i.e. the longest stretch of work without a turn for anything else,
//     which stays meaningful on a loaded machine. "alone" is the floor.
//
//   node bench/listing.mjs [--files 10000] [--seconds 5] [--clients 4] [--listers 2] [--cli dist/cli.js]
//
// Not part of the test suite: timings depend on the machine. Client and server share the
// machine's CPUs, so on a small box the client's own work adds to the latency figures.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: opt } = parseArgs({
  options: {
    files: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
    listers: { type: 'string', default: '2' },
    cli: { type: 'string', default: path.join(ROOT_DIR, 'dist/cli.js') },
  },
});
const FILES = Number(opt.files);
const SECONDS = Number(opt.seconds);
const CLIENTS = Number(opt.clients);
const LISTERS = Number(opt.listers);

if (!fs.existsSync(opt.cli)) {
  console.error(`${opt.cli} is missing: run \`npm run build\` first`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// The fixture: site/tiny.txt (1 byte) and site/big/ with FILES files of varied names and sizes.

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'keycard-bench-listing-'));
const site = path.join(base, 'site');
const big = path.join(site, 'big');
fs.mkdirSync(big, { recursive: true });
fs.writeFileSync(path.join(site, 'tiny.txt'), 'x');
for (let i = 0; i < FILES; i++) {
  // Shuffled names (readdir order is not name order) and sizes up to ~2 KB.
  const n = (i * 7919) % FILES;
  fs.writeFileSync(path.join(big, `file-${String(n).padStart(5, '0')}${i % 7 === 0 ? ' & <x>' : ''}.txt`), 'y'.repeat(i % 2048));
}
const configFile = path.join(base, 'server.config.json');
fs.writeFileSync(configFile, JSON.stringify({ root: 'site', port: 0, listing: true, accessLog: false }));
// Preloaded into the server: an event-loop delay histogram (wall time: includes the time the
// OS gave the CPU to someone else), and, on Linux, the longest stretch of CPU time the main
// thread spent between two 1 ms timer ticks (from /proc/self/task/PID/schedstat), which is the
// blocking itself even on a busy machine. Read and reset over IPC.
const monitor = path.join(base, 'eld-monitor.mjs');
fs.writeFileSync(
  monitor,
  `import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as fs from 'node:fs';
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
let fd = -1;
try { fd = fs.openSync('/proc/self/task/' + process.pid + '/schedstat', 'r'); } catch {}
const buf = Buffer.alloc(128);
const cpuNs = () => { const n = fs.readSync(fd, buf, 0, 128, 0); return Number(buf.toString('latin1', 0, n).split(' ')[0]); };
let busy = [];
if (fd >= 0) {
  let last = cpuNs();
  setInterval(() => { const now = cpuNs(); busy.push((now - last) / 1e6); last = now; }, 1).unref();
}
process.on('message', (m) => {
  if (m !== 'eld') return;
  const b = busy.sort((x, y) => x - y);
  const q = (f) => b.length ? b[Math.min(b.length - 1, Math.floor(f * b.length))] : NaN;
  process.send({ p99: h.percentile(99) / 1e6, max: h.max / 1e6, busyP99: q(0.99), busyMax: b.length ? b[b.length - 1] : NaN });
  h.reset();
  busy = [];
});
process.channel?.unref();
`,
);

function cleanup() {
  fs.rmSync(base, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// The server

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', monitor, opt.cli, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`keycard did not start: ${err}`)), 10_000);
    child.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    child.stdout.setEncoding('utf8').on('data', (c) => {
      out += c;
      const m = /^listening on http:\/\/([^:]+):(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, host: m[1], port: Number(m[2]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`keycard exited with ${code}: ${err}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// Clients

function get(agent, host, port, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.get({ agent, host, port, path: p, headers }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** `n` clients each requesting `p` back to back until `until`; returns every latency. */
async function loop(n, host, port, p, headers, until) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  const latencies = [];
  let bytes = 0;
  const worker = async () => {
    while (performance.now() < until) {
      const r = await get(agent, host, port, p, headers);
      if (r.status !== 200) throw new Error(`${p}: status ${r.status}`);
      latencies.push(r.ms);
      bytes = r.bytes;
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
  agent.destroy();
  return { latencies, bytes };
}

function stats(latencies) {
  const s = [...latencies].sort((a, b) => a - b);
  const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))] ?? NaN;
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

/** The server's event-loop delay since the last call (and resets it). */
function serverDelay(child) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send('eld');
  });
}

async function phase(name, server, listing) {
  const { host, port, child } = server;
  await serverDelay(child); // reset
  const until = performance.now() + SECONDS * 1000;
  const small = loop(CLIENTS, host, port, '/tiny.txt', {}, until);
  const load = listing ? loop(LISTERS, host, port, '/big/', listing === 'json' ? { Accept: 'application/json' } : {}, until) : undefined;
  const [s, l] = await Promise.all([small, load]);
  const eld = await serverDelay(child);
  return { name, small: stats(s.latencies), listing: l ? { ...stats(l.latencies), bytes: l.bytes } : undefined, eld };
}

// ---------------------------------------------------------------------------------------------

const f = (ms) => (Number.isFinite(ms) ? ms.toFixed(1).padStart(7) : '      -');
let server;
try {
  server = await startServer();
  const { host, port } = server;
  // Warm up: JIT, the dentry cache, and one listing to check it works.
  const warm = new http.Agent({ keepAlive: true });
  for (let i = 0; i < 3; i++) await get(warm, host, port, '/big/');
  for (let i = 0; i < 200; i++) await get(warm, host, port, '/tiny.txt');
  warm.destroy();

  const results = [];
  results.push(await phase('alone', server, undefined));
  results.push(await phase('+ HTML listing', server, 'html'));
  results.push(await phase('+ JSON listing', server, 'json'));

  console.log(`keycard ${path.relative(process.cwd(), opt.cli) || opt.cli}: ${FILES} files, ${SECONDS}s per phase, ${CLIENTS} clients on a 1-byte file, ${LISTERS} clients listing; ${os.cpus().length} CPUs, Node ${process.version}`);
  console.log('');
  console.log('phase          | 1-byte file: reqs    p50     p99     max | server loop delay: p99     max | main thread busy: p99     max | listing: reqs     p50     max   size');
  console.log('---------------+------------------------------------------+----------------------------------+---------------------------------+-------------------------------------');
  for (const r of results) {
    const l = r.listing;
    console.log(
      `${r.name.padEnd(14)} | ${String(r.small.n).padStart(17)} ${f(r.small.p50)} ${f(r.small.p99)} ${f(r.small.max)} | ${''.padStart(18)} ${f(r.eld.p99)} ${f(r.eld.max)} | ${''.padStart(17)} ${f(r.eld.busyP99)} ${f(r.eld.busyMax)} | ` +
        (l ? `${String(l.n).padStart(13)} ${f(l.p50)} ${f(l.max)} ${(l.bytes / 1024).toFixed(0).padStart(5)} KB` : `${''.padStart(13)}       -       -`),
    );
  }
  console.log('(all times in ms)');
} finally {
  server?.child.kill('SIGKILL');
  cleanup();
}
