#!/usr/bin/env node
// keycard with its decision for free, for bench/run.mjs: keycard's own server (its limits, idle
// timeout, half-open handling and connection tracking, from the same config `keycard serve`
// loads) answers every request with keycard's dotfile refusal, and writes keycard's error line
// for it, as the handler does. The refusal is keycard's own: its first request goes through
// keycard's handler, and the head fields and page it sent are sent again from then on. No URL
// parsing, no rules, no decision and no page per request: what keycard costs above this is the
// decision and the building of its answer; what this costs above bench/baseline.mjs (`--page
// keycard`, the same answer from a plain node:http server) is the server's framing and the
// error log. With `--quiet` the error line is left out, which separates those two.
//
//   node bench/ceiling.mjs ROOT [--port N] [--host ADDR] [--quiet]
// prints `listening on http://HOST:PORT` as its first stdout line, like `keycard serve`.
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { serveAndAnnounce } from './lib.mjs';

const dist = new URL('../dist/', import.meta.url);
const { loadConfig } = await import(new URL('config/load.js', dist));
const { createKeycardServer } = await import(new URL('server.js', dist));
const { decide } = await import(new URL('policy/decide.js', dist));
const { servingProbe } = await import(new URL('fs/probe.js', dist));
const { errorLine, BufferedWriter } = await import(new URL('http/log.js', dist));

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    quiet: { type: 'boolean', default: false },
  },
});
const loaded = loadConfig({ raw: { root: positionals[0] ?? '.', host: values.host, port: 0, accessLog: false, listing: true } });
if (!loaded.ok) {
  console.error(`ceiling: ${loaded.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  process.exit(2);
}
const config = loaded.config;

// The very refusal keycard gives a dotfile: decided once.
const TARGET = '/.secret';
const decided = decide({ method: 'GET', target: TARGET, peer: '127.0.0.1', forwardedFor: undefined, headers: {} }, config, servingProbe());
if (decided.decision.reason !== 'DOTFILE_DENIED') {
  console.error(`ceiling: keycard decided ${decided.decision.reason} for ${TARGET}, not DOTFILE_DENIED`);
  process.exit(2);
}
const decision = decided.decision;
const errors = new BufferedWriter(2);

const ks = createKeycardServer(config, { accessLog: false, errorLog: false });
const keycard = ks.server.listeners('request')[0];
ks.server.removeAllListeners('request');
// Fields node adds to every response by itself.
const PER_RESPONSE = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);
let answer;
ks.server.on('request', (req, res) => {
  if (answer === undefined) {
    // Until keycard's own answer is known, keycard's handler answers.
    keycard(req, res);
    return;
  }
  const started = Date.now();
  res.writeHead(answer.status, answer.headers);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.page, 'latin1');
  if (!values.quiet) errors.write(errorLine(decision, req.socket.remoteAddress ?? '-', req.socket.remotePort, started));
});

/** keycard's answer to GET TARGET, as a client with this Host receives it. */
function fetchAnswer(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: values.host, port, path: TARGET, headers: { Host: `${values.host}:${port}` } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const headers = {};
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            if (!PER_RESPONSE.has(res.rawHeaders[i].toLowerCase())) headers[res.rawHeaders[i]] = res.rawHeaders[i + 1];
          }
          resolve({ status: res.statusCode, headers: Object.freeze(headers), page: Buffer.concat(chunks).toString('latin1') });
        });
      })
      .on('error', reject);
  });
}

// serveAndAnnounce sets node's default keep-alive timeout; keycard's own limits are kept.
const keepAlive = ks.server.keepAliveTimeout;
serveAndAnnounce(ks.server, Number(values.port), values.host, () => {
  ks.server.keepAliveTimeout = keepAlive;
  fetchAnswer(ks.server.address().port).then(
    (a) => (answer = a),
    (err) => {
      console.error(`ceiling: cannot fetch keycard's answer: ${err.message}`);
      process.exit(2);
    },
  );
});
