// Clients for the TLS server: HTTP/2 through node:http2 (ALPN h2), and raw HTTP/1.1 over TLS
// (ALPN http/1.1 or none), both returning status, lower-cased headers and the body as sent
// (no decoding of Content-Encoding: the tests compare what the server put on the wire).
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { dechunk } from './http.js';

export interface ProtoResponse {
  status: number;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The protocol ALPN settled on ('h2', 'http/1.1', or false when none was offered). */
  alpn: string | false;
}

export interface ProtoRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
}

/** One HTTP/2 session (reuse it for many requests; close() it at the end). */
export function h2session(port: number, host = '127.0.0.1'): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${host}:${port}`, { rejectUnauthorized: false });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** A request over HTTP/2; opens (and closes) its own session unless one is given. */
export async function h2request(port: number, req: ProtoRequest, session?: http2.ClientHttp2Session): Promise<ProtoResponse> {
  const own = session === undefined;
  const s = session ?? (await h2session(port));
  try {
    return await new Promise<ProtoResponse>((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = { ':method': req.method ?? 'GET', ':path': req.path };
      for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
      const stream = s.request(headers, { endStream: true });
      const chunks: Buffer[] = [];
      let status = 0;
      const out: Record<string, string> = {};
      stream.on('response', (h) => {
        status = Number(h[':status']);
        for (const [k, v] of Object.entries(h)) {
          if (k.startsWith(':') || v === undefined) continue;
          out[k] = Array.isArray(v) ? v.join(', ') : String(v);
        }
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status, headers: out, body, text: body.toString('latin1'), alpn: (s.socket as tls.TLSSocket).alpnProtocol ?? false });
      });
      stream.on('error', reject);
    });
  } finally {
    if (own) s.close();
  }
}

/**
 * A request over HTTP/1.1 inside TLS, the target sent exactly as written. `alpn`: the
 * protocols offered (default ['http/1.1']; [] offers none, as an old client).
 */
export function h1tls(port: number, req: ProtoRequest & { alpn?: string[]; host?: string }): Promise<ProtoResponse> {
  const method = req.method ?? 'GET';
  const headers: Record<string, string> = { Host: req.host ?? `127.0.0.1:${port}`, Connection: 'close', ...req.headers };
  let head = `${method} ${req.path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += '\r\n';
  return new Promise((resolve, reject) => {
    const alpn = req.alpn ?? ['http/1.1'];
    const sock = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(alpn.length ? { ALPNProtocols: alpn } : {}) }, () => sock.write(head, 'latin1'));
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      try {
        resolve({ ...parseHttp1(Buffer.concat(chunks), method === 'HEAD'), alpn: sock.alpnProtocol ?? false });
      } catch (e) {
        reject(e);
      }
    });
  });
}

export function parseHttp1(buf: Buffer, head: boolean): Omit<ProtoResponse, 'alpn'> {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`incomplete response: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (!m) throw new Error(`bad status line ${lines[0]}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let body = head ? Buffer.alloc(0) : buf.subarray(end + 4);
  if (!head && headers['transfer-encoding']?.includes('chunked')) body = dechunk(body);
  return { status: Number(m[1]), headers, body, text: body.toString('latin1') };
}


/** The subject CN of the certificate a TLS server presents. */
export function peerCommonName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      const cn = sock.getPeerCertificate().subject?.CN;
      sock.end();
      resolve(Array.isArray(cn) ? cn.join(',') : (cn ?? ''));
    });
    sock.on('error', reject);
  });
}
