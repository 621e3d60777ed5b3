// The listening server: node:http with bounded resources per connection, the keycard handler,
// Apache-style answers to requests the parser rejects, and the privilege drop after bind.
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from './config/load.js';
import { createHandler, type Handler, type HandlerOptions } from './http/handler.js';
import { renderErrorPage, statusLine, addressLine } from './http/pages.js';
import { SERVER_BANNER } from './version.js';

export interface KeycardServer {
  server: http.Server;
  handler: Handler;
  /** Resolves with the bound address once listening. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  close(): Promise<void>;
}

/** Longest request target accepted before 414 (Apache's LimitRequestLine is 8190). */
export const MAX_URL_LENGTH = 8190;
/** A connection with no progress in either direction for this long is closed. */
export const IDLE_TIMEOUT = 60_000;

function rawErrorResponse(status: number, host: string, port: number): string {
  const body = renderErrorPage({ status, method: 'GET', address: addressLine(SERVER_BANNER, undefined, host, port) });
  return `HTTP/1.1 ${statusLine(status)}\r\nServer: ${SERVER_BANNER}\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\nConnection: close\r\n\r\n${body}`;
}

// method SP request-target SP HTTP-version (RFC 9112 §3), the method a token.
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}) ([\x21-\x7e\x80-\xff]+) HTTP\/1\.([01])$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/**
 * Node's parser refuses a method it does not know (HPE_INVALID_METHOD) before any handler
 * runs, so `BREW /x` would be a bare 400. Apache parses any token as a method and answers it
 * in the request pipeline: 403 for a refused path, else 501. So the request line and headers
 * of the packet are replayed through the keycard handler, which decides, answers and logs as
 * for any request, on a connection that is then closed. False when the packet is not a
 * well-formed request line (a TLS handshake, garbage): that stays a 400.
 */
function replayUnparsed(handler: Handler, socket: Socket, rawPacket: unknown): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  const text = rawPacket.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const lines = (headEnd === -1 ? text : text.slice(0, headEnd)).split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m || m[2]!.length > MAX_URL_LENGTH) return false;
  // A pipelined response still being written owns the socket: leave it to the plain 400.
  if ((socket as Socket & { _httpMessage?: unknown })._httpMessage) return false;
  const req = new http.IncomingMessage(socket);
  req.method = m[1]!;
  req.url = m[2]!;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = Number(m[3]);
  req.httpVersion = `1.${m[3]}`;
  // Only complete header lines: the packet may end mid-header.
  for (const line of lines.slice(1, headEnd === -1 ? -1 : undefined)) {
    const h = HEADER_LINE.exec(line);
    if (!h) continue;
    const name = h[1]!.toLowerCase();
    req.rawHeaders.push(h[1]!, h[2]!);
    req.headers[name] = req.headers[name] === undefined ? h[2]! : `${String(req.headers[name])}, ${h[2]!}`;
  }
  req.complete = true;
  req.push(null);
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', () => {
    res.detachSocket(socket);
    socket.end();
  });
  try {
    handler(req, res);
  } catch {
    socket.destroy();
  }
  return true;
}

export function urlHost(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function createKeycardServer(config: Config, options: HandlerOptions = {}): KeycardServer {
  const handler = createHandler(config, options);
  const server = http.createServer(
    {
      maxHeaderSize: 16 * 1024,
      requestTimeout: 30_000,
      headersTimeout: 20_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => {
      if ((req.url ?? '').length > MAX_URL_LENGTH) {
        const body = renderErrorPage({ status: 414, method: req.method ?? 'GET', address: addressLine(SERVER_BANNER, req.headers.host, handler.config.data.host, req.socket.localPort ?? 80) });
        res.writeHead(414, { Server: SERVER_BANNER, 'X-Content-Type-Options': 'nosniff', 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': Buffer.byteLength(body, 'latin1'), Connection: 'close' });
        res.end(body);
        return;
      }
      handler(req, res);
    },
  );
  // Apache's Timeout 60: a connection that makes no progress for a minute (a client that
  // stopped reading mid-download) is closed, which frees the descriptor it held.
  server.setTimeout(IDLE_TIMEOUT);
  // A client may half-close after sending its request (`nc -N`, some HTTP/1.0 tools). Node's
  // default answers that with socket.end(), which cuts any body not yet written; Apache and
  // nginx finish the response first. Node's own (long-standing, undocumented) switch for this:
  // the response is completed, and then the connection closed.
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_INVALID_METHOD' && replayUnparsed(handler, socket, (err as { rawPacket?: unknown }).rawPacket)) return;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(rawErrorResponse(status, socket.localAddress ?? handler.config.data.host, socket.localPort ?? 80), 'latin1');
  });

  const ks: KeycardServer = {
    server,
    handler,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(config.data.port, config.data.host, () => {
          server.off('error', onError);
          const addr = server.address();
          const port = typeof addr === 'object' && addr ? addr.port : config.data.port;
          resolve({ host: config.data.host, port, url: urlHost(config.data.host, port) });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
  return ks;
}
