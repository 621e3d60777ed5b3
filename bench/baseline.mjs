#!/usr/bin/env node
// The bare node:http baseline for bench/run.mjs: every request gets the same small in-memory
// 403 page, with no filesystem, no routing and no policy. It is the ceiling for a node:http
// server on this machine, so keycard's refusals (decided before or after the filesystem) are
// compared against it.
//
// With `--page keycard` it sends, still prebuilt, the very answer keycard gives a dotfile: its
// six header fields (Server, X-Content-Type-Options, Vary, Content-Type, Content-Security-Policy,
// Content-Length) and its page with the signature line, as one string. What keycard costs above
// this is the decision and the log; what this costs above the plain baseline is node's work on
// the extra header fields.
//
// With `--live ROOT` it first makes, synchronously, only the syscalls each answer's live check
// cannot do without, and answers from what they say. Unconditional: one lstat, then 404 if it
// finds nothing, 403 if it shows a file others may not read (no exception is built either
// way). With If-None-Match: open, fstat and close, then 304 (Server and ETag, the fields
// keycard sends) when it is the file's ETag. The pages and fields are bare's. It is the most
// a server that checks live can reach here: where it falls short of a target, the syscalls
// alone do, whatever else the server does.
//
//   node bench/baseline.mjs [--port N] [--host ADDR] [--page plain|keycard] [--live ROOT [--user NAME]]
// prints `listening on http://HOST:PORT` as its first stdout line, like `keycard serve`.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { etagOf, serveAndAnnounce } from './lib.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', short: 'p', default: '0' },
    host: { type: 'string', short: 'H', default: '127.0.0.1' },
    page: { type: 'string', default: 'plain' },
    live: { type: 'string' },
    user: { type: 'string' },
  },
});
if (values.page !== 'plain' && values.page !== 'keycard') {
  console.error(`baseline: --page must be plain or keycard, not ${values.page}`);
  process.exit(2);
}

const BODY = Buffer.from(
  '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>403 Forbidden</title>\n</head><body>\n' +
    '<h1>Forbidden</h1>\n<p>You don\'t have permission to access this resource.</p>\n</body></html>\n',
  'latin1',
);
const HEADERS = { 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': BODY.length };

function keycardAnswer(port) {
  const { version } = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const banner = `keycard/${version}`;
  const page =
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n<html><head>\n<title>403 Forbidden</title>\n</head><body>\n' +
    `<h1>Forbidden</h1>\n<p>You don't have permission to access this resource.</p>\n<hr>\n<address>${banner} Server at ${values.host} Port ${port}</address>\n</body></html>\n`;
  const headers = {
    Server: banner,
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Accept',
    'Content-Type': 'text/html; charset=iso-8859-1',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
    'Content-Length': Buffer.byteLength(page, 'latin1'),
  };
  return { page, headers };
}

/** The live checks' answers, for requests below `root`. */
function liveHandler(root) {
  const page = (status, title, text) => {
    const body = Buffer.from(`<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>${status} ${title}</title>\n</head><body>\n<h1>${title}</h1>\n<p>${text}</p>\n</body></html>\n`, 'latin1');
    return { body, headers: { 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': body.length } };
  };
  const answers = {
    403: { body: BODY, headers: HEADERS },
    404: page(404, 'Not Found', 'The requested URL was not found on this server.'),
  };
  const refuse = (res, status) => res.writeHead(status, answers[status].headers).end(answers[status].body);
  return (req, res) => {
    const p = root + (req.url ?? '/').split('?')[0];
    const inm = req.headers['if-none-match'];
    if (inm === undefined) {
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) return refuse(res, 404);
      if (!st.isFile() || (st.mode & 0o004) === 0) return refuse(res, 403);
      return res.writeHead(200, { ...HEADERS, ETag: etagOf(st) }).end(BODY);
    }
    // Conditional: the descriptor's own metadata, as a server must before it says "unchanged".
    const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    let st;
    try {
      st = fs.fstatSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    const etag = etagOf(st);
    if (inm === etag) return res.writeHead(304, { Server: 'bare', ETag: etag }).end();
    res.writeHead(200, { ...HEADERS, ETag: etag }).end(BODY);
  };
}

let server;
if (values.live !== undefined) {
  server = http.createServer(liveHandler(fs.realpathSync(values.live)));
} else if (values.page === 'keycard') {
  let answer;
  server = http.createServer((req, res) => {
    answer ??= keycardAnswer(req.socket.localPort);
    res.writeHead(403, answer.headers);
    if (req.method === 'HEAD') res.end();
    else res.end(answer.page, 'latin1'); // one write with the head, as keycard sends it
  });
} else {
  server = http.createServer((req, res) => {
    res.writeHead(403, HEADERS);
    res.end(req.method === 'HEAD' ? undefined : BODY);
  });
}
serveAndAnnounce(server, Number(values.port), values.host, () => {
  if (values.user) process.setuid(values.user);
});
