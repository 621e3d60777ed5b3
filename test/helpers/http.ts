// A raw HTTP/1.1 client over a socket: the request target is sent exactly as written (no
// normalisation by a client library), which traversal and encoding tests need.
import * as net from 'node:net';

export interface RawResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  /** Header names in the order received, lower-cased, with values. */
  rawHeaders: [string, string][];
  body: Buffer;
  text: string;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  host?: string;
  /** Connect from/to this address family: the server's host by default. */
  connectHost?: string;
  localAddress?: string;
}

export function request(port: number, req: RawRequest): Promise<RawResponse> {
  const method = req.method ?? 'GET';
  const headers: Record<string, string> = { Host: req.host ?? `127.0.0.1:${port}`, Connection: 'close', ...req.headers };
  let head = `${method} ${req.path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += '\r\n';
  return new Promise((resolve, reject) => {
    const opts: net.NetConnectOpts = { port, host: req.connectHost ?? '127.0.0.1' };
    if (req.localAddress) opts.localAddress = req.localAddress;
    const sock = net.connect(opts, () => sock.end(head, 'latin1'));
    const chunks: Buffer[] = [];
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      try {
        resolve(parse(Buffer.concat(chunks), method === 'HEAD'));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function parse(buf: Buffer, head: boolean): RawResponse {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete response: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
  if (!m) throw new Error(`bad status line ${lines[0]}`);
  const headers: Record<string, string> = {};
  const rawHeaders: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).toLowerCase();
    const v = line.slice(i + 1).trim();
    rawHeaders.push([k, v]);
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let body = buf.subarray(end + 4);
  if (head) body = Buffer.alloc(0);
  else if (headers['transfer-encoding']?.includes('chunked')) body = dechunk(body);
  return { status: Number(m[1]), statusText: m[2]!, headers, rawHeaders, body, text: body.toString('latin1') };
}

/** Joins a chunked body's chunks (trailers ignored). */
export function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol === -1) break;
    const size = parseInt(buf.subarray(i, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
