// Helpers shared by bench/run.mjs and bench/chmod-under-load.mjs: starting servers pinned to a
// core, waiting for them, one-off requests, and reading a process's memory from /proc.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as http from 'node:http';
import * as net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT_DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Is `cmd` on PATH (or an executable path)? */
export function which(cmd) {
  if (cmd.includes('/')) return fs.existsSync(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export const TASKSET = which('taskset');

// Every server started here is killed when this process exits, however it exits.
const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping servers\n`);
    process.exit(130);
  });
}

/** Number of CPUs this process may run on. */
export function cpuCount() {
  try {
    const out = spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
    if (/^\d+$/.test(out)) return Number(out);
  } catch {
    /* fall through */
  }
  return 1;
}

/** Pins an already running process (and its threads) to one core; false when not possible. */
export function pinPid(pid, cpu) {
  if (!TASKSET || cpu === undefined) return false;
  return spawnSync(TASKSET, ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' }).status === 0;
}

/** [cmd, args] prefixed with `taskset -c CPU` when pinning is possible. */
export function pinned(cpu, cmd, args) {
  if (!TASKSET || cpu === undefined) return [cmd, args];
  return [TASKSET, ['-c', String(cpu), cmd, ...args]];
}

/** A port nobody is listening on right now (the usual small race is acceptable here). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Starts a server with stdout and stderr going to files in `logDir` (never a pipe, so a busy
 * access log costs the server what a real log file would, and nothing in this process).
 * Ready when its stdout shows `listening on http://HOST:PORT` (ready: 'line'), or when the port
 * accepts a connection (ready: 'tcp').
 */
export async function startServer({ name, cmd, args, cpu, logDir, env, cwd, ready = 'tcp', port, timeoutMs = 20_000 }) {
  const outPath = path.join(logDir, `${name}.stdout.log`);
  const errPath = path.join(logDir, `${name}.stderr.log`);
  const out = fs.openSync(outPath, 'w');
  const err = fs.openSync(errPath, 'w');
  const [c, a] = pinned(cpu, cmd, args);
  const child = spawn(c, a, { stdio: ['ignore', out, err], env: { ...process.env, ...env }, cwd: cwd ?? ROOT_DIR, detached: false });
  fs.closeSync(out);
  fs.closeSync(err);
  live.add(child);
  let exited;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
    live.delete(child);
  });
  const deadline = Date.now() + timeoutMs;
  let url;
  while (Date.now() < deadline) {
    if (exited) break;
    if (ready === 'line') {
      const text = fs.readFileSync(outPath, 'utf8');
      const nl = text.indexOf('\n');
      if (nl !== -1) {
        const m = /^listening on (http:\/\/\S+)$/.exec(text.slice(0, nl));
        if (!m) throw new Error(`${name}: first stdout line is not "listening on http://HOST:PORT": ${JSON.stringify(text.slice(0, nl))}`);
        url = m[1];
        break;
      }
    } else if (await canConnect(port)) {
      url = `http://127.0.0.1:${port}`;
      break;
    }
    await sleep(25);
  }
  if (!url) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    const tail = fs.existsSync(errPath) ? fs.readFileSync(errPath, 'utf8').slice(-800) : '';
    throw new Error(`${name} did not start${exited ? ` (exited ${exited.code ?? exited.signal})` : ' in time'}: ${tail.trim()}`);
  }
  return {
    name,
    url,
    pid: child.pid,
    child,
    outPath,
    errPath,
    get exited() {
      return exited;
    },
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = await Promise.race([gone.then(() => 'ok'), sleep(3000).then(() => 'timeout')]);
      if (t === 'timeout' && !exited) {
        child.kill('SIGKILL');
        await gone;
      }
    },
  };
}

/** One request on a fresh connection: status, headers and body length (body kept when small). */
export function request(url, { method = 'GET', headers = {}, keepBody = 64 * 1024, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      let length = 0;
      res.on('data', (c) => {
        length += c.length;
        if (length <= keepBody) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, length, body: length <= keepBody ? Buffer.concat(chunks) : undefined }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** VmRSS and VmHWM of a process in KiB, or undefined when it is gone or unreadable. */
export function memOf(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(s);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(s);
    return { rss: rss ? Number(rss[1]) : undefined, hwm: hwm ? Number(hwm[1]) : undefined };
  } catch {
    return undefined;
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, needs permission); false when not possible. */
export function resetPeak(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Direct children of a process (for nginx's worker), from /proc. */
export function childrenOf(pid) {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may contain spaces and parentheses.
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(after[1]) === pid) out.push(Number(e));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export { sleep };

/**
 * A world-traversable temp folder (so a keycard that dropped to `nobody` can reach it) with a
 * `www` docroot and a `logs` folder anyone may write.
 */
export function makeBase(prefix) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(base, 0o755);
  const root = path.join(base, 'www');
  const logs = path.join(base, 'logs');
  fs.mkdirSync(root, { mode: 0o755 });
  fs.mkdirSync(logs, { mode: 0o777 });
  fs.chmodSync(logs, 0o777);
  return { base, root, logs };
}

/**
 * For the small servers the harness starts (baseline, floor): listen, run `then` (drop
 * privileges), print `listening on http://HOST:PORT` as keycard does, and close cleanly on
 * SIGTERM or SIGINT.
 */
export function serveAndAnnounce(server, port, host, then = () => {}) {
  server.keepAliveTimeout = 5_000;
  server.listen(port, host, () => {
    then();
    const addr = server.address();
    const shown = host.includes(':') ? `[${host}]` : host;
    process.stdout.write(`listening on http://${shown}:${typeof addr === 'object' && addr ? addr.port : port}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The ETag the reference servers give a file (keycard's identity form): inode, size, mtime in hex. */
export const etagOf = (st) => `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
