#!/usr/bin/env node
// The floor for a static server that checks permissions live, for bench/run.mjs: per request,
// synchronously, open the file, fstat the descriptor, read the real path of the descriptor
// (/proc/self/fd), read it and close it; 404 on ENOENT, 403 on EACCES, 304 when If-None-Match
// is its ETag. No policy, no rules, no logs, no validators beyond that one ETag: what keycard
// costs above this is the price of everything else it does.
//
// A path ending in `/` is listed the least a Node server can: the directory read in batches,
// one stat per entry, one line per entry with the escaped name, its link, size and time (in
// seconds, unformatted), in readdir order (nginx's autoindex sorts and formats; this does not).
//
//   node bench/floor.mjs ROOT [--port N] [--host ADDR] [--user NAME]
// prints `listening on http://HOST:PORT` as its first stdout line, like `keycard serve`.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { etagOf, serveAndAnnounce } from './lib.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, user: { type: 'string' } },
});
const root = fs.realpathSync(positionals[0] ?? '.');
const REFUSED = { 403: Buffer.from('<h1>Forbidden</h1>\n'), 404: Buffer.from('<h1>Not Found</h1>\n') };

const HTML = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
const escapeHtml = (s) => (/[&<>"]/.test(s) ? s.replace(/[&<>"]/g, (c) => HTML[c]) : s);
const SAFE = /^[\w.~-]*$/;

function listing(dirPath, res) {
  let dir;
  try {
    dir = fs.opendirSync(dirPath, { bufferSize: 32 });
  } catch (err) {
    const status = err.code === 'EACCES' ? 403 : 404;
    res.writeHead(status, { 'Content-Length': REFUSED[status].length }).end(REFUSED[status]);
    return;
  }
  let out = '<html><body><pre>\n';
  try {
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) {
      const st = fs.statSync(dirPath + '/' + e.name, { throwIfNoEntry: false });
      if (st === undefined) continue;
      const name = st.isDirectory() ? e.name + '/' : e.name;
      const text = escapeHtml(name);
      out += `<a href="${SAFE.test(name) ? text : escapeHtml(encodeURIComponent(name))}">${text}</a> ${Math.floor(st.mtimeMs / 1000)} ${st.size}\n`;
    }
  } finally {
    dir.closeSync();
  }
  const body = Buffer.from(out + '</pre></body></html>\n');
  res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': body.length }).end(body);
}

const server = http.createServer((req, res) => {
  const p = root + decodeURIComponent((req.url ?? '/').split('?')[0]);
  if (p.endsWith('/')) return listing(p.slice(0, -1), res);
  let fd;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const status = err.code === 'EACCES' ? 403 : 404;
    res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': REFUSED[status].length });
    res.end(REFUSED[status]);
    return;
  }
  try {
    const st = fs.fstatSync(fd);
    const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (!st.isFile() || !real.startsWith(root + '/')) {
      res.writeHead(403, { 'Content-Length': REFUSED[403].length }).end(REFUSED[403]);
      return;
    }
    const etag = etagOf(st);
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ETag: etag }).end();
      return;
    }
    const buf = Buffer.allocUnsafe(st.size);
    const n = fs.readSync(fd, buf, 0, st.size, 0);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': n, ETag: etag });
    res.end(n === st.size ? buf : buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
});
serveAndAnnounce(server, Number(values.port), values.host, () => {
  if (values.user) process.setuid(values.user);
});
