#!/usr/bin/env node
// The bare node:http baseline for bench/run.mjs: every request gets the same small in-memory
// 403 page, with no filesystem, no routing and no policy. It is the ceiling for a node:http
// server on this machine, so keycard's refusals (decided before or after the filesystem) are
// compared against it.
//
//   node bench/baseline.mjs [--port N] [--host ADDR]
// prints `listening on http://HOST:PORT` as its first stdout line, like `keycard serve`.
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { serveAndAnnounce } from './lib.mjs';

const { values } = parseArgs({
  options: { port: { type: 'string', short: 'p', default: '0' }, host: { type: 'string', short: 'H', default: '127.0.0.1' } },
});

const BODY = Buffer.from(
  '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>403 Forbidden</title>\n</head><body>\n' +
    '<h1>Forbidden</h1>\n<p>You don\'t have permission to access this resource.</p>\n</body></html>\n',
  'latin1',
);
const HEADERS = { 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': BODY.length };

const server = http.createServer((req, res) => {
  res.writeHead(403, HEADERS);
  res.end(req.method === 'HEAD' ? undefined : BODY);
});
serveAndAnnounce(server, Number(values.port), values.host);
