#!/usr/bin/env node
// Correctness under load (not a unit test): keycard reads permissions and files live, so while
// a load generator hammers a file, every change to that file must show in the very next
// responses. Steps, each followed by a burst of sampled requests (keep-alive and fresh
// connections, plain and with If-None-Match carrying the ETag the client last saw):
//
//   1. chmod 000            → every sample 403 (never 200, never 304)
//   2. chmod 644 again      → every sample 200 with the original body
//   3. replace (rename over) → every sample 200 with the new body, new length and new ETag;
//                              If-None-Match with the old ETag → 200, never 304
//   4. delete               → every sample 404
//   5. create it again      → every sample 200 with the third body
//
// A sample that shows the state before the change (status, body, length or ETag) is a FAIL.
// Prints PASS or FAIL and exits 0 or 1.
//
//   npm run build && node bench/chmod-under-load.mjs
// Environment: BENCH_KEYCARD=path/to/dist/cli.js, SAMPLES=60 per step, BENCH_KEEP=1.
import * as fs from 'node:fs';
import * as http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT_DIR, TASKSET, which, cpuCount, pinPid, pinned, startServer, sleep, makeBase } from './lib.mjs';

const KEYCARD_CLI = path.resolve(process.env.BENCH_KEYCARD ?? path.join(ROOT_DIR, 'dist/cli.js'));
const SAMPLES = Number(process.env.SAMPLES ?? 60);
const KEEP = process.env.BENCH_KEEP === '1';
const IS_ROOT = process.getuid?.() === 0;
const PIN = TASKSET !== undefined && cpuCount() >= 2;
const WRK = which('wrk');

const body = (tag, size) => {
  const line = `${tag} `.repeat(16) + '\n';
  return line.repeat(Math.ceil(size / line.length)).slice(0, size);
};
const V1 = body('ORIGINAL-v1', 2048);
const V2 = body('REPLACED-v2', 3000);
const V3 = body('RECREATED-v3', 1500);
const tagOf = (text) => /^(ORIGINAL-v1|REPLACED-v2|RECREATED-v3) /.exec(text)?.[1] ?? (text.length ? 'other' : 'empty');

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });

function get(url, { fresh = false, headers = {} } = {}) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: fresh ? false : keepAlive, headers }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, etag: res.headers.etag, length: Number(res.headers['content-length'] ?? text.length), tag: res.statusCode === 200 ? tagOf(text) : undefined, bodyLength: text.length }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
  });
}

/** SAMPLES requests, 8 at a time: half keep-alive, half fresh; a third conditional on `oldEtag`. */
async function sample(url, oldEtag) {
  const out = [];
  for (let i = 0; i < SAMPLES; i += 8) {
    const batch = [];
    for (let j = i; j < Math.min(i + 8, SAMPLES); j++) {
      const conditional = oldEtag !== undefined && j % 3 === 0;
      batch.push(get(url, { fresh: j % 2 === 1, headers: conditional ? { 'If-None-Match': oldEtag } : {} }).then((r) => ({ ...r, conditional })));
    }
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

function startLoad(url, seconds) {
  if (WRK) {
    const [cmd, args] = pinned(PIN ? 1 : undefined, WRK, ['-t1', '-c50', `-d${seconds}s`, url]);
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    const done = new Promise((r) => p.on('close', () => r(out)));
    return {
      name: 'wrk -t1 -c50',
      async stop() {
        p.kill('SIGINT');
        const text = await done;
        return /Requests\/sec:\s+([\d.]+)/.exec(text)?.[1];
      },
    };
  }
  // No wrk: 50 keep-alive connections from this process, each sending requests back to back.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  let stopped = false;
  let n = 0;
  const t0 = Date.now();
  const loop = async () => {
    while (!stopped) {
      await new Promise((r) => http.get(url, { agent }, (res) => res.resume().on('end', r)).on('error', r));
      n++;
    }
  };
  const loops = Array.from({ length: 50 }, loop);
  return {
    name: 'in-process, 50 keep-alive connections',
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return (n / ((Date.now() - t0) / 1000)).toFixed(0);
    },
  };
}

async function main() {
  if (!fs.existsSync(KEYCARD_CLI)) throw new Error(`${KEYCARD_CLI} does not exist: run npm run build first`);
  if (PIN) pinPid(process.pid, 1);
  const { base, root, logs } = makeBase('keycard-chmod-');
  const target = path.join(root, 'target.txt');
  fs.writeFileSync(target, V1, { mode: 0o644 });
  fs.chmodSync(target, 0o644);
  if (!KEEP) process.on('exit', () => fs.rmSync(base, { recursive: true, force: true }));

  const cfgPath = path.join(base, 'keycard.json');
  const cfg = { root, host: '127.0.0.1', port: 0, accessLog: false };
  if (IS_ROOT) cfg.user = 'nobody'; // root reads anything: the server must be an ordinary user
  fs.writeFileSync(cfgPath, JSON.stringify(cfg));
  const server = await startServer({ name: 'keycard', cmd: process.execPath, args: [KEYCARD_CLI, 'serve', root, '--config', cfgPath, '--port', '0'], cpu: PIN ? 0 : undefined, logDir: logs, ready: 'line' });
  const url = `${server.url}/target.txt`;
  console.log(`keycard ${server.url} (pid ${server.pid}${IS_ROOT ? ', as nobody' : ''}), file ${target}`);

  const first = await get(url, { fresh: true });
  if (first.status !== 200 || first.tag !== 'ORIGINAL-v1') throw new Error(`before any change: expected 200 ORIGINAL-v1, got ${first.status} ${first.tag}`);
  const etagV1 = first.etag;

  const load = startLoad(url, 120);
  console.log(`load: ${load.name} on ${url}${PIN ? ' (server core 0, load core 1)' : ''}`);
  // keycard keeps a small file's bytes once its times are 2 s old (src/fs/content.ts): let every
  // state age past that under load, so each change meets a warm cache.
  await sleep(2500);

  let etagV2;
  const steps = [
    {
      name: 'chmod 000',
      change: () => fs.chmodSync(target, 0o000),
      oldEtag: () => etagV1,
      ok: (r) => r.status === 403,
      stale: (r) => r.status === 200 || r.status === 304,
      want: '403',
    },
    {
      name: 'chmod 644',
      change: () => fs.chmodSync(target, 0o644),
      oldEtag: () => undefined,
      ok: (r) => r.status === 200 && r.tag === 'ORIGINAL-v1' && r.bodyLength === V1.length,
      stale: (r) => r.status === 403,
      want: '200 ORIGINAL-v1',
    },
    {
      name: 'replace (rename over)',
      change: () => {
        const tmp = path.join(root, '.target.txt.new');
        fs.writeFileSync(tmp, V2, { mode: 0o644 });
        fs.chmodSync(tmp, 0o644);
        fs.renameSync(tmp, target);
      },
      oldEtag: () => etagV1,
      ok: (r) => r.status === 200 && r.tag === 'REPLACED-v2' && r.length === V2.length && r.bodyLength === V2.length && r.etag !== etagV1,
      stale: (r) => r.status === 304 || r.tag === 'ORIGINAL-v1' || r.length === V1.length || (r.etag !== undefined && r.etag === etagV1),
      want: '200 REPLACED-v2, new length and ETag',
      after: (rs) => (etagV2 = rs.find((r) => r.status === 200)?.etag),
    },
    {
      name: 'delete',
      change: () => fs.unlinkSync(target),
      oldEtag: () => etagV2,
      ok: (r) => r.status === 404,
      stale: (r) => r.status === 200 || r.status === 304,
      want: '404',
    },
    {
      name: 'create again',
      change: () => {
        fs.writeFileSync(target, V3, { mode: 0o644 });
        fs.chmodSync(target, 0o644);
      },
      oldEtag: () => etagV2,
      ok: (r) => r.status === 200 && r.tag === 'RECREATED-v3' && r.bodyLength === V3.length,
      stale: (r) => r.status === 404 || r.status === 304 || r.tag === 'REPLACED-v2',
      want: '200 RECREATED-v3',
    },
  ];

  let failed = false;
  const report = [];
  try {
    for (const step of steps) {
      step.change();
      const rs = await sample(url, step.oldEtag());
      step.after?.(rs);
      const stale = rs.filter((r) => step.stale(r));
      const wrong = rs.filter((r) => !step.ok(r));
      const seen = {};
      for (const r of rs) {
        const k = `${r.status}${r.tag ? ' ' + r.tag : ''}${r.error ? ' ' + r.error : ''}`;
        seen[k] = (seen[k] ?? 0) + 1;
      }
      const pass = stale.length === 0 && wrong.length === 0;
      if (!pass) failed = true;
      report.push({ step: step.name, want: step.want, samples: rs.length, stale: stale.length, wrong: wrong.length, seen });
      console.log(`${pass ? 'ok  ' : 'FAIL'}  ${step.name.padEnd(22)} want ${step.want}; ${rs.length} samples: ${Object.entries(seen).map(([k, v]) => `${v}× ${k}`).join(', ')}${stale.length ? `; ${stale.length} showed the OLD state` : ''}`);
      await sleep(2500); // the new state runs under load, and ages into the content cache
    }
  } finally {
    const rps = await load.stop();
    keepAlive.destroy();
    await server.stop();
    console.log(`load ran throughout: ${rps ?? '?'} req/s`);
  }
  console.log(failed ? 'FAIL: some response after a change showed the old state or a wrong answer' : 'PASS: every response after each change showed the new state (permissions and files are read live)');
  process.exitCode = failed ? 1 : 0;
  return report;
}

main().catch((err) => {
  console.error(`chmod-under-load: ${err.stack ?? err}`);
  console.log('FAIL');
  process.exitCode = 1;
});
