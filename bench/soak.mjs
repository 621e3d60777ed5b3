// A bounded soak: many connections on loopback for a fixed time, mixing 200/304/206/403/404,
// slow clients and aborted downloads, then the server's RSS and open descriptors at start and
// end. Not a unit test: `node bench/soak.mjs` after `npm run build`.
//   SOAK_SECONDS (default 30), SOAK_CONNECTIONS (default 100)
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.SOAK_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 100);
const asRoot = process.getuid?.() === 0;

const base = mkdtempSync(path.join(os.tmpdir(), 'keycard-soak-'));
chmodSync(base, 0o755);
const root = path.join(base, 'site');
mkdirSync(root);
writeFileSync(path.join(root, 'small.txt'), 'x'.repeat(1024));
writeFileSync(path.join(root, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
writeFileSync(path.join(root, 'secret.txt'), 'no');
chmodSync(path.join(root, 'secret.txt'), 0o000);
writeFileSync(path.join(root, '.env'), 'no');
writeFileSync(path.join(base, 'server.config.json'), JSON.stringify({ root: 'site', port: 0, accessLog: false, ...(asRoot ? { user: 'nobody' } : {}) }));

const child = spawn(process.execPath, [path.join(here, '../dist/cli.js'), '--config', path.join(base, 'server.config.json')], { stdio: ['ignore', 'pipe', 'ignore'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
    const m = /listening on (\S+)/.exec(out);
    if (m) resolve(m[1]);
  });
  child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
});
const { port } = new URL(url);

/** RSS, and open descriptors split into files (a leak would show here) and sockets (clients). */
function sample() {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
  let files = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${child.pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${child.pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target.startsWith('socket:')) sockets++;
    else if (target.startsWith(root)) files++;
  }
  return { rssMiB: Math.round(rss * 10) / 10, files, sockets };
}

const etag = await fetch(`${url}/small.txt`, { headers: { 'accept-encoding': 'identity' } }).then((r) => r.headers.get('etag'));
// Warm up, so the start sample is not the cold process.
await autocannon({ url, connections: 10, duration: 2, requests: [{ path: '/small.txt' }] });
const start = sample();
const deadline = Date.now() + SECONDS * 1000;

// Slow clients: a header byte a second (the server must cut them off), and aborted downloads.
let slowCut = 0;
let aborted = 0;
const chaos = (async () => {
  while (Date.now() < deadline) {
    const slow = net.connect(Number(port), '127.0.0.1');
    slow.on('error', () => {});
    slow.on('close', () => slowCut++);
    slow.resume(); // read what the server says (a 408), as a client does
    let i = 0;
    const req = 'GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
    const t = setInterval(() => (slow.destroyed || i >= req.length ? clearInterval(t) : slow.write(req[i++])), 1000);
    for (let k = 0; k < 5; k++) {
      const s = net.connect(Number(port), '127.0.0.1', () => s.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => {});
      s.once('data', () => {
        s.destroy();
        aborted++;
      });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
})();

const result = await autocannon({
  url,
  connections: CONNECTIONS,
  duration: SECONDS,
  requests: [
    { path: '/small.txt' },
    { path: '/small.txt', headers: { 'if-none-match': etag } },
    { path: '/big.bin', headers: { range: 'bytes=100-4195' } },
    { path: '/secret.txt' },
    { path: '/.env' },
    { path: '/missing.txt' },
  ],
});
await chaos;
// Slow clients are cut by the headers timeout (20 s), checked every 30 s by Node: wait for them.
let end = sample();
for (let waited = 0; waited < 60_000 && end.sockets > start.sockets + 2; waited += 2000) {
  await new Promise((r) => setTimeout(r, 2000));
  end = sample();
}
child.kill('SIGTERM');
rmSync(base, { recursive: true, force: true });

const codes = { '2xx': result['2xx'], '3xx': result['3xx'], '4xx': result['4xx'], '5xx': result['5xx'] };
console.log(`soak: ${SECONDS}s, ${CONNECTIONS} connections, mixed 200/304/206/403/404`);
console.log(`requests served: ${result.requests.total}  (${Math.round(result.requests.average)} req/s)  status: ${JSON.stringify(codes)}`);
console.log(`errors: ${result.errors}  timeouts: ${result.timeouts}  non-2xx/3xx expected (403/404 rows)`);
console.log(`slow clients cut off by the server: ${slowCut}  aborted downloads: ${aborted}`);
console.log(`server RSS MiB start ${start.rssMiB} end ${end.rssMiB};  open files start ${start.files} end ${end.files};  sockets start ${start.sockets} end ${end.sockets}`);
const ok = end.files <= start.files && end.sockets <= start.sockets + 2 && result['5xx'] === 0;
console.log(ok ? 'PASS: no descriptor growth, no 5xx' : `FAIL: files ${start.files}→${end.files}, sockets ${start.sockets}→${end.sockets}, 5xx ${result['5xx']}`);
process.exit(ok ? 0 : 1);
