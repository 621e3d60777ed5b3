// The request handler: request → facts → decide() → response and log lines. It decides
// nothing itself; every status it sends comes from the Decision (or, for a file, from the
// HTTP validators and ranges applied to the file the Decision allowed).
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as fs from 'node:fs';
import type { Config } from '../config/load.js';
import { decide, type Decided } from '../policy/decide.js';
import { ALLOW_HEADER } from '../policy/request.js';
import { resolve } from '../policy/resolve.js';
import { effectiveFor } from '../policy/effective.js';
import { parseRequestTarget } from '../policy/url.js';
import { kernelProbe, type FsProbe } from '../fs/probe.js';
import { visibleReason, visibleStatus, type Decision } from '../decision.js';
import { REASONS } from '../reasons.js';
import { SERVER_BANNER } from '../version.js';
import { addressLine, escapeHtml, prefersJson, renderErrorJson, renderErrorPage } from './pages.js';
import { accessLine, errorLine, BufferedWriter } from './log.js';
import { sendFile, contentTypeFor } from './respond.js';
import { gatherListing } from './listing.js';
import { listingJson, parseSortQuery, renderAutoindex } from '../listing/autoindex.js';

export type Next = (err?: unknown) => void;
export type Handler = ((req: IncomingMessage, res: ServerResponse, next?: Next) => void) & { config: Config; setConfig(c: Config): void };

export interface HandlerOptions {
  /** Where access lines go; false for none. Default: buffered stdout when config.accessLog. */
  accessLog?: ((line: string) => void) | false;
  /** Where error lines go; false for none. Default: stderr. */
  errorLog?: ((line: string) => void) | false;
  probe?: FsProbe;
}

const BASE_HEADERS = Object.freeze({ Server: SERVER_BANNER, 'X-Content-Type-Options': 'nosniff' });
// Server-generated HTML never needs scripts, frames or remote loads (send does the same).
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'";

let stdoutWriter: BufferedWriter | undefined;

function localPort(req: IncomingMessage): number {
  return req.socket.localPort ?? 80;
}

function address(req: IncomingMessage, config: Config): string {
  if (!config.data.serverSignature) return '';
  return addressLine(SERVER_BANNER, req.headers.host, req.socket.localAddress ?? config.data.host, localPort(req));
}

/** Reads a configured error page through the same resolver as any request. */
function customPage(config: Config, status: number, probe: FsProbe): { body: Buffer; type: string } | 'failed' | undefined {
  const key = String(status) as keyof typeof config.data.errorPages;
  const page = config.data.errorPages[key];
  if (page === undefined) return undefined;
  const url = parseRequestTarget(page.startsWith('/') ? page : '/' + page);
  if (!url.ok) return 'failed';
  const res = resolve({ root: config.root, segments: url.segments, trailingSlash: false, urlPath: url.path, query: '', effective: effectiveFor(config, url.path), index: [], probe });
  if (!res.file) return 'failed';
  try {
    const { fd, stat } = res.file.opened;
    const buf = Buffer.allocUnsafe(stat.size);
    const n = fs.readSync(fd, buf, 0, stat.size, 0);
    return { body: buf.subarray(0, n), type: contentTypeFor(res.file.fsPath, 'text/html') };
  } catch {
    return 'failed';
  } finally {
    probe.close(res.file.opened.fd);
  }
}

function sendError(req: IncomingMessage, res: ServerResponse, d: Decision, config: Config, probe: FsProbe): void {
  const status = visibleStatus(d);
  const reason = visibleReason(d);
  const head = req.method === 'HEAD';
  const headers: Record<string, string | number> = { ...BASE_HEADERS, Vary: 'Accept' };
  if (d.reason === 'METHOD_NOT_ALLOWED' || d.reason === 'METHOD_NOT_IMPLEMENTED') headers.Allow = ALLOW_HEADER;
  if (d.reason === 'RESOURCES_EXHAUSTED') headers['Retry-After'] = '1';
  const explain = config.data.explainErrors;
  if (explain) headers['Keycard-Reason'] = `${REASONS[reason].code} ${reason}`;
  let body: string | Buffer;
  if (prefersJson(req.headers.accept)) {
    headers['Content-Type'] = 'application/json';
    body = renderErrorJson(status, reason, explain ? { hint: REASONS[reason].hint } : undefined);
  } else {
    const custom = customPage(config, status, probe);
    if (custom !== undefined && custom !== 'failed') {
      headers['Content-Type'] = custom.type;
      body = custom.body;
    } else {
      headers['Content-Type'] = 'text/html; charset=iso-8859-1';
      headers['Content-Security-Policy'] = PAGE_CSP;
      const extra = explain ? `<p>Reason: ${REASONS[reason].code} ${reason}. ${escapeHtml(REASONS[reason].summary)} ${escapeHtml(REASONS[reason].hint)}</p>\n` : undefined;
      body = renderErrorPage({ status, method: req.method ?? 'GET', address: address(req, config), errorDocumentFailed: custom === 'failed' ? status : undefined, extra });
    }
  }
  const buf = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  headers['Content-Length'] = buf.length;
  res.writeHead(status, headers);
  res.end(head ? undefined : buf);
}

function sendRedirect(req: IncomingMessage, res: ServerResponse, d: Decision, config: Config): void {
  const location = d.location ?? '/';
  const body = Buffer.from(renderErrorPage({ status: 301, method: req.method ?? 'GET', address: address(req, config), location }), 'latin1');
  res.writeHead(301, { ...BASE_HEADERS, Location: location, 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Length': body.length, 'Content-Security-Policy': PAGE_CSP });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function sendListing(req: IncomingMessage, res: ServerResponse, d: Decided, config: Config, probe: FsProbe): Promise<Decision> {
  const fsPath = d.dir!.fsPath;
  const result = await gatherListing({ config, fsPath, urlPath: d.decision.urlPath, peer: req.socket.remoteAddress ?? '', forwardedFor: forwarded(req) });
  if (!result.ok) {
    const refused: Decision = { ...d.decision, verdict: 'deny', status: 403, reason: 'DIRECTORY_UNREADABLE', code: REASONS.DIRECTORY_UNREADABLE.code, message: `Can't open directory for index: ${fsPath}/ (${result.errno})`, evidence: { fsPath, errno: result.errno } };
    if (d.effective?.hide) refused.masked = { by: d.effective.source.hide, status: 404 };
    sendError(req, res, refused, config, probe);
    return refused;
  }
  const query = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : '';
  const sort = parseSortQuery(query);
  const json = prefersJson(req.headers.accept);
  const body = Buffer.from(json ? listingJson(result.entries, sort) : renderAutoindex({ urlPath: d.decision.urlPath, entries: result.entries, sort, address: config.data.serverSignature ? `<address>${address(req, config)}</address>` : '' }), 'utf8');
  res.writeHead(200, {
    ...BASE_HEADERS,
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html;charset=UTF-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    Vary: 'Accept',
    'Content-Security-Policy': PAGE_CSP,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return d.decision;
}

function forwarded(req: IncomingMessage): string | undefined {
  const v = req.headers['x-forwarded-for'];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function createHandler(initial: Config, options: HandlerOptions = {}): Handler {
  let config = initial;
  const probe = options.probe ?? kernelProbe;
  let writeAccess: ((line: string) => void) | undefined;
  if (options.accessLog === undefined) {
    writeAccess = (line) => {
      if (!config.data.accessLog) return;
      stdoutWriter ??= new BufferedWriter(1);
      stdoutWriter.write(line);
    };
  } else if (options.accessLog !== false) writeAccess = options.accessLog;
  const writeError = options.errorLog === undefined ? (line: string) => process.stderr.write(line) : options.errorLog === false ? undefined : options.errorLog;

  const handler = function keycard(req: IncomingMessage, res: ServerResponse, next?: Next): void {
    const cfg = config; // a reload mid-request does not change this request's rules
    const started = new Date();
    let decided: Decided;
    try {
      decided = decide({ method: req.method ?? 'GET', target: req.url ?? '/', peer: req.socket.remoteAddress ?? '', forwardedFor: forwarded(req) }, cfg, probe);
    } catch (err) {
      // A bug, never a crash: answer 500 and say so in the log.
      decided = { decision: { verdict: 'error', status: 500, reason: 'INTERNAL', code: REASONS.INTERNAL.code, message: `internal error: ${(err as Error).stack ?? String(err)}`, urlPath: req.url ?? '/', evidence: {} } };
    }
    const d = decided.decision;
    const logDone = (final: Decision): void => {
      const client = decided.client ?? req.socket.remoteAddress ?? '-';
      if (writeError && final.verdict !== 'allow' && final.verdict !== 'listing' && final.verdict !== 'options' && final.verdict !== 'redirect') {
        writeError(errorLine(final, client, req.socket.remotePort, started));
      }
      if (writeAccess) {
        const log = writeAccess;
        const write = (): void => log(accessLine({ client, method: req.method ?? '-', target: req.url ?? '-', httpVersion: req.httpVersion, status: res.statusCode, bytes: bytesSent(res), referer: req.headers.referer, userAgent: req.headers['user-agent'], time: started }));
        if (res.writableFinished) write();
        else res.once('close', write);
      }
    };

    if (next && visibleStatus(d) === 404 && d.verdict !== 'allow') {
      if (decided.file) probe.close(decided.file.opened.fd);
      next();
      return;
    }
    switch (d.verdict) {
      case 'allow':
        sendFile(req, res, { opened: decided.file!.opened, fsPath: decided.file!.fsPath, effective: decided.effective!, defaultType: cfg.data.defaultType, root: cfg.root, probe, compress: cfg.data.compress, precompressed: cfg.data.precompressed, baseHeaders: BASE_HEADERS });
        logDone(d);
        return;
      case 'listing':
        sendListing(req, res, decided, cfg, probe).then(logDone, (err: unknown) => {
          res.destroy();
          logDone({ ...d, verdict: 'error', status: 500, reason: 'INTERNAL', code: REASONS.INTERNAL.code, message: String(err) });
        });
        return;
      case 'options':
        res.writeHead(200, { ...BASE_HEADERS, Allow: ALLOW_HEADER, 'Content-Length': 0 }).end();
        logDone(d);
        return;
      case 'redirect':
        sendRedirect(req, res, d, cfg);
        logDone(d);
        return;
      default:
        sendError(req, res, d, cfg, probe);
        logDone(d);
    }
  } as Handler;
  handler.config = config;
  handler.setConfig = (c: Config) => {
    config = c;
    handler.config = c;
  };
  return handler;
}

function bytesSent(res: ServerResponse): number {
  const len = res.getHeader('content-length');
  if (res.req?.method === 'HEAD' || res.statusCode === 304) return 0;
  return typeof len === 'number' ? len : typeof len === 'string' ? Number(len) : 0;
}
