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

function rawErrorResponse(status: number, host: string, port: number): string {
  const body = renderErrorPage({ status, method: 'GET', address: addressLine(SERVER_BANNER, undefined, host, port) });
  return `HTTP/1.1 ${statusLine(status)}\r\nServer: ${SERVER_BANNER}\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\nConnection: close\r\n\r\n${body}`;
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
        res.writeHead(414, { Server: SERVER_BANNER, 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': Buffer.byteLength(body, 'latin1'), Connection: 'close' });
        res.end(body);
        return;
      }
      handler(req, res);
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
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
