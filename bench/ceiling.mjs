#!/usr/bin/env node
// keycard with its decision for free, for bench/run.mjs: keycard's own server (its limits, idle
// timeout, half-open handling and connection tracking, from the same config `keycard serve`
// loads) answers every request with keycard's dotfile refusal, prebuilt once at start-up from
// keycard's own decide() and page, and writes keycard's error line for it, as the handler does.
// No URL parsing, no rules, no decision and no page per request: what keycard costs above this
// is the decision and the building of its answer; what this costs above bench/baseline.mjs
// (`--page keycard`, the same answer from a plain node:http server) is the server's framing and
// the error log. With `--quiet` the error line is left out, which separates those two.
//
//   node bench/ceiling.mjs ROOT [--port N] [--host ADDR] [--quiet]
// prints `listening on http://HOST:PORT` as its first stdout line, like `keycard serve`.
import { parseArgs } from 'node:util';
import { serveAndAnnounce } from './lib.mjs';

const dist = new URL('../dist/', import.meta.url);
const { loadConfig } = await import(new URL('config/load.js', dist));
const { createKeycardServer } = await import(new URL('server.js', dist));
const { decide } = await import(new URL('policy/decide.js', dist));
const { servingProbe } = await import(new URL('fs/probe.js', dist));
const { renderErrorPage, addressLine } = await import(new URL('http/pages.js', dist));
const { errorLine, BufferedWriter } = await import(new URL('http/log.js', dist));
const { SERVER_BANNER } = await import(new URL('version.js', dist));

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
let answer;

function prepare(port) {
  const page = renderErrorPage({ status: 403, method: 'GET', address: addressLine(SERVER_BANNER, `${values.host}:${port}`, values.host, port) });
  const headers = Object.freeze({
    Server: SERVER_BANNER,
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Accept',
    'Content-Type': 'text/html; charset=iso-8859-1',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
    'Content-Length': Buffer.byteLength(page, 'latin1'),
  });
  return { page, headers };
}

const ks = createKeycardServer(config, { accessLog: false, errorLog: false });
ks.server.removeAllListeners('request');
ks.server.on('request', (req, res) => {
  const started = Date.now();
  answer ??= prepare(req.socket.localPort);
  res.writeHead(403, answer.headers);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.page, 'latin1');
  if (!values.quiet) errors.write(errorLine(decision, req.socket.remoteAddress ?? '-', req.socket.remotePort, started));
});
// serveAndAnnounce sets node's default keep-alive timeout; keycard's own limits are kept.
const keepAlive = ks.server.keepAliveTimeout;
serveAndAnnounce(ks.server, Number(values.port), values.host, () => {
  ks.server.keepAliveTimeout = keepAlive;
});
