// The listening server: node:http (or, with `tls`, node:http2's secure server: HTTP/2 by ALPN,
// HTTP/1.1 for clients that do not offer it), bounded resources per connection (config
// `limits`), the keycard handler behind both protocols, Apache-style answers to requests the
// parser rejects, the optional plain-HTTP listener that redirects to HTTPS, reload (rules,
// limits, certificates) and graceful shutdown.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config } from './config/load.js';
import { createHandler, type Handler, type HandlerOptions } from './http/handler.js';
import { renderErrorPage, statusLine, addressLine } from './http/pages.js';
import { accessLine, BufferedWriter } from './http/log.js';
import { loadTls, type TlsMaterial } from './tls.js';
import { SERVER_BANNER } from './version.js';

export type Limits = Config['data']['limits'];

export interface ServerOptions extends HandlerOptions {
  /** TLS material already loaded (the CLI loads and checks it first); else loaded from config.tls. */
  tls?: TlsMaterial;
  /** Where server notices go (accept errors, refused connections). Default: stderr. */
  notice?: (line: string) => void;
}

export interface Bound {
  host: string;
  port: number;
  url: string;
  /** The plain-HTTP port that redirects to HTTPS (tls.redirectFrom), when there is one. */
  redirectPort?: number;
}

export interface KeycardServer {
  /** node:http's server, or node:http2's secure server (HTTP/2 and HTTP/1.1) with `tls`. */
  server: http.Server | http2.Http2SecureServer;
  /** The plain-HTTP listener that redirects to HTTPS (tls.redirectFrom). */
  redirect: http.Server | undefined;
  handler: Handler;
  readonly secure: boolean;
  /** Resolves with the bound address once listening. */
  listen(): Promise<Bound>;
  /**
   * A reloaded config: the handler's rules (requests already in flight finish under the config
   * they started with), the limits, and the certificate when `tls` is given. The listen
   * address, user, group and workers need a restart.
   */
  reload(config: Config, tls?: TlsMaterial): void;
  /**
   * Stops accepting, closes idle connections, lets in-flight responses finish for up to
   * `graceMs` (default: config.shutdownGrace) and then cuts what is left. Resolves once every
   * connection is closed.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** shutdown() with the configured grace. */
  close(): Promise<void>;
}

/** Longest request target accepted before 414 (Apache's LimitRequestLine is 8190); see limits.maxUrlLength. */
export const MAX_URL_LENGTH = 8190;
/** A connection with no progress in either direction for this long is closed; see limits.idleTimeout. */
export const IDLE_TIMEOUT = 60_000;

/**
 * Sends a last answer and closes. A client that never reads and never closes (a slowloris
 * cut off with 408) would otherwise hold the descriptor in FIN-WAIT until the idle timeout:
 * after a short grace for the answer to drain, the socket is destroyed.
 */
function endAndForget(socket: Socket, text: string): void {
  socket.end(text, 'latin1');
  const t = setTimeout(() => socket.destroy(), 2000);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

function rawErrorResponse(status: number, host: string, port: number): { text: string; bodyLength: number } {
  const body = renderErrorPage({ status, method: 'GET', address: addressLine(SERVER_BANNER, undefined, host, port) });
  const bodyLength = Buffer.byteLength(body, 'latin1');
  return { text: `HTTP/1.1 ${statusLine(status)}\r\nServer: ${SERVER_BANNER}\r\nX-Content-Type-Options: nosniff\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Length: ${bodyLength}\r\nConnection: close\r\n\r\n${body}`, bodyLength };
}

/** The longest request target, referer or user agent an access line repeats of a refused request. */
const LOGGED_TARGET_MAX = 8190;

/**
 * The first line of the packet node's parser gave up on, for the access log of a 400 (Apache
 * logs the request line as received), cut at LOGGED_TARGET_MAX; the log escapes what it
 * holds. For a 431 or 408 that packet is somewhere in the headers, so their line is "-".
 */
function requestLineOf(rawPacket: unknown): string {
  if (!Buffer.isBuffer(rawPacket) || rawPacket.length === 0) return '-';
  const text = rawPacket.toString('latin1', 0, Math.min(rawPacket.length, LOGGED_TARGET_MAX + 2));
  const end = text.indexOf('\r\n');
  const line = end === -1 ? text.slice(0, LOGGED_TARGET_MAX) : text.slice(0, end);
  return line === '' ? '-' : line;
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
function replayUnparsed(handler: Handler, socket: Socket, rawPacket: unknown, maxUrl: number): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  const text = rawPacket.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const lines = (headEnd === -1 ? text : text.slice(0, headEnd)).split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m || m[2]!.length > maxUrl) return false;
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
    // node's parser would emit 'close' on the response (the access log waits for it); this
    // response never went through the parser, and detaching took the socket's own 'close'.
    const r = res as http.ServerResponse & { _closed?: boolean };
    if (!r._closed) {
      r._closed = true;
      process.nextTick(() => res.emit('close'));
    }
  });
  try {
    handler(req, res);
  } catch {
    socket.destroy();
  }
  return true;
}

export function urlHost(host: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * The host of an HTTPS redirect: the Host header's hostname when it is a syntactically valid
 * DNS name or IP address (its port dropped), else the configured host. Nothing else from the
 * request reaches the authority, so the redirect can never point at another scheme or at a
 * host smuggled in with `@`, `/`, `\` or spaces.
 */
export function redirectHost(hostHeader: string | undefined, fallback: string): string {
  const bracket = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  const h = hostHeader?.trim() ?? '';
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(h);
  if (v6 && isIPv6(v6[1]!)) return `[${v6[1]!.toLowerCase()}]`;
  const named = /^([^:]+)(?::\d{1,5})?$/.exec(h);
  if (named && (isIPv4(named[1]!) || HOSTNAME.test(named[1]!))) return named[1]!.toLowerCase();
  return bracket(fallback);
}

/** The path and query of a redirect: origin-form only (else `/`), non-ASCII and controls %-encoded. */
export function redirectPath(url: string | undefined): string {
  if (url === undefined || !url.startsWith('/')) return '/';
  return url.replace(/[^\x21-\x7e]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 256 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : encodeURIComponent(c);
  });
}

/** The status for a request node's parser gave up on: headers too large, too slow, or malformed. */
function clientErrorStatus(code: string | undefined): 400 | 408 | 431 {
  return code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
}

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * The header list an HTTP/2 client may send: room above maxHeaderSize, so that a block a little
 * too large is answered 431 (as over HTTP/1.1) rather than reset by the protocol layer; past
 * this, the stream is reset (ENHANCE_YOUR_CALM), which bounds what a stream may hold.
 */
function h2HeaderListLimit(maxHeaderSize: number): number {
  return Math.max(4 * maxHeaderSize, 64 * 1024);
}

/** A header block's size as HTTP/1.1 would carry it: `name: value` and CRLF per field. */
function headerBlockSize(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 4;
  return n;
}

/** How often node checks the headers and request timeouts: often enough for short ones. */
function checkingInterval(l: Limits): number {
  const shortest = Math.min(l.headersTimeout, l.requestTimeout || Infinity);
  return Math.max(50, Math.min(30_000, Math.floor(shortest / 4)));
}

export function createKeycardServer(config: Config, options: ServerOptions = {}): KeycardServer {
  const handler = createHandler(config, options);
  const notice = options.notice ?? ((line: string) => process.stderr.write(line.endsWith('\n') ? line : line + '\n'));
  const tlsFiles = config.data.tls;
  const material = tlsFiles === undefined ? undefined : (options.tls ?? loadTls(tlsFiles));
  const secure = material !== undefined;
  const limits0 = config.data.limits;
  let stopping = false;

  // Noticed at most once a second each: a flood must not become a flood of log lines.
  const lastNotice = new Map<string, number>();
  const rateLimited = (key: string, line: string): void => {
    const now = Date.now();
    if ((lastNotice.get(key) ?? 0) + 1000 > now) return;
    lastNotice.set(key, now);
    notice(line);
  };

  const onRequest = (req: AnyRequest, res: AnyResponse): void => {
    const h2 = req.httpVersionMajor === 2;
    if (h2) {
      // HTTP/2 names the host in :authority; the handler (error-page signature, logs) reads Host.
      const authority = req.headers[':authority'];
      if (req.headers.host === undefined && typeof authority === 'string') req.headers.host = authority;
    } else if (stopping) {
      (res as http.ServerResponse).shouldKeepAlive = false; // shutting down: this is the last one
    }
    const limits = handler.config.data.limits;
    const refuse = (status: 414 | 431): void => {
      const time = Date.now();
      const body = Buffer.from(renderErrorPage({ status, method: req.method ?? 'GET', address: addressLine(SERVER_BANNER, req.headers.host, handler.config.data.host, req.socket.localPort ?? 80) }), 'latin1');
      const headers: http.OutgoingHttpHeaders = { Server: SERVER_BANNER, 'X-Content-Type-Options': 'nosniff', 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': body.length };
      // Connection-specific fields are invalid in HTTP/2 (RFC 9113 §8.2.2); there the stream ends.
      if (!h2) headers.Connection = 'close';
      res.writeHead(status, headers);
      if (req.method === 'HEAD') res.end();
      else res.end(body);
      const ua = req.headers['user-agent'];
      handler.logAnswered({
        client: req.socket.remoteAddress ?? '-', method: req.method ?? '-', target: (req.url ?? '-').slice(0, LOGGED_TARGET_MAX), httpVersion: req.httpVersion,
        status, bytes: req.method === 'HEAD' ? 0 : body.length, referer: req.headers.referer?.slice(0, LOGGED_TARGET_MAX), userAgent: ua?.slice(0, LOGGED_TARGET_MAX), time,
      });
    };
    if ((req.url ?? '').length > limits.maxUrlLength) return refuse(414);
    // HTTP/1's parser refuses a long header block itself (clientError: 431). HTTP/2 accepts up
    // to h2HeaderListLimit and leaves the answer to us, so it is the same 431.
    if (h2 && headerBlockSize(req.rawHeaders) > limits.maxHeaderSize) return refuse(431);
    // One handler for both protocols: the HTTP/2 compatibility objects have the same surface.
    handler(req as http.IncomingMessage, res as http.ServerResponse);
  };

  let server: http.Server | http2.Http2SecureServer;
  if (material !== undefined) {
    server = http2.createSecureServer(
      {
        ...tlsOptions(material),
        allowHTTP1: true,
        settings: { maxHeaderListSize: h2HeaderListLimit(limits0.maxHeaderSize) },
        maxHeaderSize: limits0.maxHeaderSize,
      } as http2.SecureServerOptions,
      onRequest,
    );
    // The HTTP/1.1 fallback runs node:http's connection code on this server object, which
    // reads these fields from it; http.createServer would have set them.
    const h1 = server as unknown as Record<string, unknown>;
    h1.requireHostHeader = true;
    h1.maxHeadersCount = null;
    h1.maxRequestsPerSocket = 0;
    h1.connectionsCheckingInterval = checkingInterval(limits0);
  } else {
    server = http.createServer(
      {
        maxHeaderSize: limits0.maxHeaderSize,
        requestTimeout: limits0.requestTimeout,
        headersTimeout: Math.min(limits0.headersTimeout, limits0.requestTimeout || Infinity),
        keepAliveTimeout: limits0.keepAliveTimeout,
        connectionsCheckingInterval: checkingInterval(limits0),
      },
      onRequest,
    );
  }
  // A client may half-close after sending its request (`nc -N`, some HTTP/1.0 tools). Node's
  // default answers that with socket.end(), which cuts any body not yet written; Apache and
  // nginx finish the response first. Node's own (long-standing, undocumented) switch for this:
  // the response is completed, and then the connection closed.
  (server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;

  const applyLimits = (l: Limits): void => {
    const s = server as unknown as Record<string, unknown> & { setTimeout(ms: number): void; maxConnections: number };
    s.maxHeaderSize = l.maxHeaderSize;
    s.requestTimeout = l.requestTimeout;
    s.headersTimeout = Math.min(l.headersTimeout, l.requestTimeout || Infinity);
    s.keepAliveTimeout = l.keepAliveTimeout;
    // Apache's Timeout: a connection that makes no progress (a client that stopped reading
    // mid-download) is closed, which frees the descriptor it held. For HTTP/2 it is the
    // session's idle time.
    s.setTimeout(l.idleTimeout);
    s.maxConnections = l.maxConnections;
    if (secure) (server as http2.Http2SecureServer).updateSettings({ maxHeaderListSize: h2HeaderListLimit(l.maxHeaderSize) });
  };
  applyLimits(limits0);

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_INVALID_METHOD' && replayUnparsed(handler, socket, (err as { rawPacket?: unknown }).rawPacket, handler.config.data.limits.maxUrlLength)) return;
    const status = clientErrorStatus(err.code);
    const { text, bodyLength } = rawErrorResponse(status, socket.localAddress ?? handler.config.data.host, socket.localPort ?? 80);
    endAndForget(socket, text);
    handler.logAnswered({ client: socket.remoteAddress ?? '-', method: '-', target: '-', httpVersion: '1.1', status, bytes: bodyLength, referer: undefined, userAgent: undefined, time: Date.now(), line: status === 400 ? requestLineOf((err as { rawPacket?: unknown }).rawPacket) : '-' });
  });
  // Past maxConnections node closes a new connection at once; say so (not for each one).
  server.on('drop', (d?: { remoteAddress?: string }) => rateLimited('drop', `keycard: connection from ${d?.remoteAddress ?? '?'} closed: limits.maxConnections (${handler.config.data.limits.maxConnections}) reached`));

  // Everything open, to cut at the end of the grace period; and the HTTP/1 connections, whose
  // idle ones shutdown closes at once. node's closeIdleConnections() leaves out a connection
  // that has not sent its first request yet, which would hold the shutdown for the whole grace.
  const sockets = new Set<Socket>();
  const h1Sockets = new Set<Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const trackH1 = (s: Socket): void => {
    track(s);
    h1Sockets.add(s);
    s.once('close', () => h1Sockets.delete(s));
    if (stopping) closeIdle();
  };
  // A TLS server's raw TCP sockets are cut only at the end (their TLS socket owns the handle).
  server.on('connection', secure ? track : trackH1);
  if (secure) {
    server.on('secureConnection', (s: TLSSocket) => (s.alpnProtocol === 'h2' ? track(s) : trackH1(s)));
    server.on('session', (session: http2.ServerHttp2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      if (stopping) session.close();
    });
  }

  // tls.redirectFrom: plain HTTP on another port, every request answered 301 to https.
  let redirect: http.Server | undefined;
  let boundPort = config.data.port;
  let redirectWriter: BufferedWriter | undefined;
  if (secure && tlsFiles?.redirectFrom !== undefined) {
    redirect = http.createServer({ maxHeaderSize: limits0.maxHeaderSize, requestTimeout: limits0.requestTimeout, headersTimeout: Math.min(limits0.headersTimeout, limits0.requestTimeout || Infinity), keepAliveTimeout: limits0.keepAliveTimeout }, (req, res) => {
      const cfg = handler.config;
      const host = redirectHost(req.headers.host, cfg.data.host);
      const location = `https://${host}${boundPort === 443 ? '' : `:${boundPort}`}${redirectPath(req.url)}`;
      const body = Buffer.from(renderErrorPage({ status: 301, method: req.method ?? 'GET', address: cfg.data.serverSignature ? addressLine(SERVER_BANNER, req.headers.host, req.socket.localAddress ?? cfg.data.host, req.socket.localPort ?? 80) : '', location }), 'latin1');
      if (stopping) res.shouldKeepAlive = false;
      res.writeHead(301, { Server: SERVER_BANNER, 'X-Content-Type-Options': 'nosniff', Location: location, 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      const write = options.accessLog === undefined ? (cfg.data.accessLog ? (line: string) => (redirectWriter ??= new BufferedWriter(1)).write(line) : undefined) : options.accessLog || undefined;
      write?.(accessLine({ client: req.socket.remoteAddress ?? '-', method: req.method ?? '-', target: req.url ?? '-', httpVersion: req.httpVersion, status: 301, bytes: req.method === 'HEAD' ? 0 : body.length, referer: req.headers.referer, userAgent: req.headers['user-agent'], time: Date.now() }));
    });
    redirect.setTimeout(limits0.idleTimeout);
    redirect.maxConnections = limits0.maxConnections;
    redirect.on('connection', trackH1);
    redirect.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable || err.code === 'ECONNRESET') socket.destroy();
      else endAndForget(socket, rawErrorResponse(clientErrorStatus(err.code), socket.localAddress ?? handler.config.data.host, socket.localPort ?? 80).text);
    });
  }

  const listenOn = (s: http.Server | http2.Http2SecureServer, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      s.once('error', onError);
      s.listen(port, config.data.host, () => {
        s.off('error', onError);
        // Once listening, an error is an accept() that failed (EMFILE: out of descriptors;
        // libuv then closes that connection at once). Logged, never fatal: it recovers by itself.
        s.on('error', (err: NodeJS.ErrnoException) => rateLimited(`accept:${err.code}`, `keycard: cannot accept a connection: ${err.code ?? err.message}${err.code === 'EMFILE' || err.code === 'ENFILE' ? ' (out of file descriptors; raise ulimit -n or lower limits.maxConnections)' : ''}`));
        const addr = s.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });

  let closing: Promise<void> | undefined;
  const ks: KeycardServer = {
    server,
    redirect,
    handler,
    secure,
    async listen() {
      boundPort = await listenOn(server, config.data.port);
      const bound: Bound = { host: config.data.host, port: boundPort, url: urlHost(config.data.host, boundPort, secure ? 'https' : 'http') };
      if (redirect) {
        try {
          bound.redirectPort = await listenOn(redirect, tlsFiles!.redirectFrom!);
        } catch (err) {
          server.close();
          throw Object.assign(err as Error, { redirectPort: tlsFiles!.redirectFrom });
        }
      }
      return bound;
    },
    reload(next, tls) {
      handler.setConfig(next);
      applyLimits(next.data.limits);
      if (redirect) {
        redirect.setTimeout(next.data.limits.idleTimeout);
        redirect.maxConnections = next.data.limits.maxConnections;
      }
      if (tls !== undefined && secure) (server as http2.Http2SecureServer).setSecureContext(tlsOptions(tls));
    },
    shutdown(graceMs = handler.config.data.shutdownGrace) {
      if (closing) return closing;
      stopping = true;
      const servers = [server, ...(redirect ? [redirect] : [])];
      closing = new Promise<void>((resolve) => {
        let open = servers.length;
        const sweep = setInterval(closeIdle, 50);
        const cut = setTimeout(() => {
          for (const session of sessions) session.destroy();
          for (const s of sockets) s.destroy();
        }, graceMs);
        cut.unref();
        for (const s of servers) {
          s.close(() => {
            if (--open > 0) return;
            clearInterval(sweep);
            clearTimeout(cut);
            resolve();
          });
        }
        closeIdle();
      });
      return closing;
    },
    close() {
      return ks.shutdown();
    },
  };
  // Idle keep-alive connections are closed; busy ones after their response (they are told
  // `Connection: close`, or for HTTP/2 a GOAWAY that lets open streams finish).
  function closeIdle(): void {
    (server as http.Server).closeIdleConnections();
    redirect?.closeIdleConnections();
    for (const s of h1Sockets) if (!(s as Socket & { _httpMessage?: unknown })._httpMessage) s.destroy();
    for (const session of sessions) if (!session.closed) session.close();
  }
  return ks;
}

function tlsOptions(m: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer; passphrase?: string } {
  const o: { cert: Buffer; key: Buffer; ca?: Buffer; passphrase?: string } = { cert: m.cert, key: m.key };
  if (m.ca) o.ca = m.ca;
  if (m.passphrase !== undefined) o.passphrase = m.passphrase;
  return o;
}
