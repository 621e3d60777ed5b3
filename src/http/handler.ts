// The request handler: request → facts → decide() → response and log lines. It decides
// nothing itself; every status it sends comes from the Decision (or, for a file, from the
// HTTP validators and ranges applied to the file the Decision allowed).
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as fs from 'node:fs';
import type { Config } from '../config/load.js';
import { decide, type Decided, type RequestFacts } from '../policy/decide.js';
import { ALLOW_HEADER } from '../policy/request.js';
import { resolve } from '../policy/resolve.js';
import { effectiveFor, type Effective } from '../policy/effective.js';
import { parseRequestTarget } from '../policy/url.js';
import { AuthVerifier } from '../auth/verifier.js';
import { servingProbe, type FsProbe } from '../fs/probe.js';
import { ContentCache } from '../fs/content.js';
import { visibleReason, visibleStatus, type Decision } from '../decision.js';
import { REASONS, type ReasonName } from '../reasons.js';
import { SERVER_BANNER } from '../version.js';
import { addressLine, escapeHtml, prefersJson, renderErrorJson, renderErrorPage } from './pages.js';
import { accessLine, errorLine, BufferedWriter, type AccessEntry } from './log.js';
import { sendFile, setLength, noteLength, notedLength, contentTypeFor, applyPolicyHeaders, mergeHeaders, type Headers } from './respond.js';
import { encodePath } from '../policy/url.js';
import type { Opened } from '../fs/probe.js';
import { gatherListing, LISTINGS_AT_ONCE, Turns } from './listing.js';
import { listingJsonAsync, parseSortQuery, renderAutoindexAsync } from '../listing/autoindex.js';
import { RememberedListings } from '../listing/remembered.js';
import { errnoReason } from '../policy/walk.js';

export type Next = (err?: unknown) => void;
export type Handler = ((req: IncomingMessage, res: ServerResponse, next?: Next) => void) & {
  config: Config;
  setConfig(c: Config): void;
  /** Writes the access line of an answer given before the handler (414, 431, an unparsable request), when the access log is on. */
  logAnswered(entry: AccessEntry): void;
};

export interface HandlerOptions {
  /** Where access lines go; false for none. Default: buffered stdout when config.accessLog. */
  accessLog?: ((line: string) => void) | false;
  /** Where error lines go; false for none. Default: stderr. */
  errorLog?: ((line: string) => void) | false;
  probe?: FsProbe;
  /** Verified-credential cache and login-failure counts (one per server by default). */
  auth?: AuthVerifier;
}

// Frozen on purpose: every response spreads it, and V8 spreads this frozen object fast (an
// unfrozen copy made 1 KiB responses about 30% slower when measured).
const BASE_HEADERS = Object.freeze({ Server: SERVER_BANNER, 'X-Content-Type-Options': 'nosniff' });
// Server-generated HTML never needs scripts, frames or remote loads (send does the same).
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'";

let stdoutWriter: BufferedWriter | undefined;
let stderrWriter: BufferedWriter | undefined;

function localPort(req: IncomingMessage): number {
  return req.socket.localPort ?? 80;
}

// The signature line for the last Host seen: nearly every request repeats it.
let lastAddress = { host: undefined as string | undefined, local: '', port: 0, line: '' };

function address(req: IncomingMessage, config: Config): string {
  if (!config.data.serverSignature) return '';
  const host = req.headers.host;
  const local = req.socket.localAddress ?? config.data.host;
  const port = localPort(req);
  const last = lastAddress;
  if (last.line !== '' && last.host === host && last.local === local && last.port === port) return last.line;
  const line = addressLine(SERVER_BANNER, host, local, port);
  lastAddress = { host, local, port, line };
  return line;
}

/**
 * Reads a configured error page through the same resolver as any request. When it cannot be
 * served, `failed` is the status fetching it met (404 missing, 403 unreadable, as a client
 * would see it), which the page then reports, as Apache's "Additionally, a 404 Not Found
 * error was encountered while trying to use an ErrorDocument".
 */
function customPage(config: Config, status: number, probe: FsProbe, docs?: Effective['errorDocuments']): { body: Buffer; type: string } | { failed: number } | undefined {
  const key = String(status) as keyof typeof config.data.errorPages;
  const doc = docs?.[key];
  // An .htaccess ErrorDocument with a text is sent as that text (Apache does the same).
  if (doc !== undefined && 'text' in doc) return { body: Buffer.from(doc.text, 'latin1'), type: 'text/html; charset=iso-8859-1' };
  const page = doc !== undefined ? doc.path : config.data.errorPages[key];
  if (page === undefined) return undefined;
  const url = parseRequestTarget(page.startsWith('/') ? page : '/' + page);
  if (!url.ok) return { failed: 500 };
  const effective = effectiveFor(config, url.path);
  const res = resolve({ root: config.root, segments: url.segments, trailingSlash: false, urlPath: url.path, query: '', effective, index: [], probe });
  if (!res.file) {
    const failed = res.decision.status === 403 && effective.hide ? 404 : res.decision.status;
    return { failed: failed >= 400 ? failed : 500 };
  }
  try {
    const { fd, stat } = res.file.opened;
    const buf = Buffer.allocUnsafe(stat.size);
    const n = fs.readSync(fd, buf, 0, stat.size, 0);
    return { body: buf.subarray(0, n), type: contentTypeFor(res.file.fsPath, 'text/html') };
  } catch {
    return { failed: 500 };
  } finally {
    probe.close(res.file.opened.fd);
  }
}

interface ErrorAnswer {
  headers: Headers;
  body: string | Buffer;
}

/** The head and page of a refusal, as sendError sends them. */
function errorAnswer(req: IncomingMessage, d: Decision, status: number, reason: ReasonName, json: boolean, config: Config, probe: FsProbe, extra?: Record<string, string>, docs?: Effective['errorDocuments']): ErrorAnswer {
  const headers: Headers = { ...BASE_HEADERS, Vary: 'Accept' };
  // What the policy adds to this answer: WWW-Authenticate, Retry-After, CORS.
  mergeHeaders(headers, extra);
  if (d.reason === 'METHOD_NOT_ALLOWED' || d.reason === 'METHOD_NOT_IMPLEMENTED') headers.Allow = ALLOW_HEADER;
  if (d.reason === 'RESOURCES_EXHAUSTED') headers['Retry-After'] = '1';
  const explain = config.data.explainErrors;
  if (explain) headers['Keycard-Reason'] = `${REASONS[reason].code} ${reason}`;
  let body: string | Buffer;
  if (json) {
    headers['Content-Type'] = 'application/json';
    body = renderErrorJson(status, reason, explain ? { hint: REASONS[reason].hint } : undefined);
  } else {
    const custom = customPage(config, status, probe, docs);
    if (custom !== undefined && !('failed' in custom)) {
      headers['Content-Type'] = custom.type;
      body = custom.body;
    } else {
      headers['Content-Type'] = 'text/html; charset=iso-8859-1';
      headers['Content-Security-Policy'] = PAGE_CSP;
      const extra = explain ? `<p>Reason: ${REASONS[reason].code} ${reason}. ${escapeHtml(REASONS[reason].summary)} ${escapeHtml(REASONS[reason].hint)}</p>\n` : undefined;
      body = renderErrorPage({ status, method: req.method ?? 'GET', address: address(req, config), errorDocumentFailed: custom !== undefined && 'failed' in custom ? custom.failed : undefined, extra });
    }
  }
  headers['Content-Length'] = typeof body === 'string' ? Buffer.byteLength(body, 'latin1') : body.length;
  return { headers, body };
}

// A refusal with no policy fields and no error document is the same for every request with the
// same status, reason, method, format and signature line: prepared once per config, then sent
// as it is (its fields frozen). Keyed by config, so an answer prepared under a config that a
// reload has replaced is never sent under the new one. A refusal is a handful of kinds in
// practice, so the few kept are searched in turn, which allocates nothing.
interface Prepared extends ErrorAnswer {
  status: number;
  reason: ReasonName;
  method: string;
  json: boolean;
  address: string;
}
const PREPARED = new WeakMap<Config, Prepared[]>();
const PREPARED_MAX = 32;

function preparedAnswer(req: IncomingMessage, d: Decision, status: number, reason: ReasonName, method: 'GET' | 'HEAD', json: boolean, config: Config, probe: FsProbe): ErrorAnswer {
  const addr = json ? '' : address(req, config);
  let kept = PREPARED.get(config);
  if (kept === undefined) PREPARED.set(config, (kept = []));
  for (const p of kept) {
    if (p.status === status && p.reason === reason && p.method === method && p.json === json && p.address === addr) return p;
  }
  const answer = errorAnswer(req, d, status, reason, json, config, probe);
  Object.freeze(answer.headers);
  if (kept.length >= PREPARED_MAX) kept.length = 0;
  kept.push({ ...answer, status, reason, method, json, address: addr });
  return answer;
}

function sendError(req: IncomingMessage, res: ServerResponse, d: Decision, config: Config, probe: FsProbe, extra?: Record<string, string>, docs?: Effective['errorDocuments']): void {
  const status = visibleStatus(d);
  const reason = visibleReason(d);
  const json = prefersJson(req.headers.accept);
  const plain = extra === undefined && docs === undefined && (json || config.data.errorPages[String(status) as keyof typeof config.data.errorPages] === undefined);
  const method = req.method;
  const { headers, body } = plain && (method === 'GET' || method === 'HEAD') ? preparedAnswer(req, d, status, reason, method, json, config, probe) : errorAnswer(req, d, status, reason, json, config, probe, extra, docs);
  noteLength(res, headers['Content-Length'] as number);
  res.writeHead(status, headers);
  // A page given as a string goes out in one write with the head (node joins them); a Buffer
  // would take a writev of two pieces, which costs a refusal a quarter of its time.
  if (method === 'HEAD') res.end();
  else if (typeof body === 'string') res.end(body, 'latin1');
  else res.end(body);
}

function sendRedirect(req: IncomingMessage, res: ServerResponse, d: Decision, config: Config, extra?: Record<string, string>): void {
  const location = d.location ?? '/';
  const body = renderErrorPage({ status: 301, method: req.method ?? 'GET', address: address(req, config), location });
  const headers: Headers = { ...BASE_HEADERS, Location: location, 'Content-Type': 'text/html; charset=iso-8859-1', 'Content-Security-Policy': PAGE_CSP };
  mergeHeaders(headers, extra);
  setLength(res, headers, Buffer.byteLength(body, 'latin1'));
  res.writeHead(301, headers);
  if (req.method === 'HEAD') res.end();
  else res.end(body, 'latin1'); // one write with the head
}

interface Listings {
  /** A few are built at a time. */
  turns: Turns;
  remembered: RememberedListings;
  /** The server's verified credentials: entries are judged as the client's clicks would be. */
  auth: AuthVerifier;
}

async function sendListing(req: IncomingMessage, res: ServerResponse, d: Decided, config: Config, probe: FsProbe, listings: Listings): Promise<Decision> {
  await listings.turns.take();
  try {
    // A client that left while waiting gets nothing built for it.
    if (res.destroyed) return d.decision;
    return await buildListing(req, res, d, config, probe, listings);
  } finally {
    listings.turns.give();
  }
}

async function buildListing(req: IncomingMessage, res: ServerResponse, d: Decided, config: Config, probe: FsProbe, { remembered, auth }: Listings): Promise<Decision> {
  const fsPath = d.dir!.fsPath;
  const result = await gatherListing({ config, fsPath, urlPath: d.decision.urlPath, peer: req.socket.remoteAddress ?? '', forwardedFor: forwarded(req), headers: req.headers, auth });
  if (!result.ok) {
    // The directory was readable a moment ago; map what went wrong since, as the resolver does.
    const reason = result.errno === 'EACCES' || result.errno === 'EPERM' ? 'DIRECTORY_UNREADABLE' : errnoReason(result.errno);
    const verdict = reason === 'NOT_FOUND' || reason === 'PATH_INFO' ? 'notFound' : reason === 'DIRECTORY_UNREADABLE' ? 'deny' : 'error';
    const refused: Decision = { ...d.decision, verdict, status: REASONS[reason].status, reason, code: REASONS[reason].code, message: `Can't open directory for index: ${fsPath}/ (${result.errno})`, evidence: { fsPath, errno: result.errno } };
    if (d.effective?.hide && refused.status === 403) refused.masked = { by: d.effective.source.hide, status: 404 };
    sendError(req, res, refused, config, probe, d.headers);
    return refused;
  }
  const query = (req.url ?? '').includes('?') ? (req.url ?? '').slice((req.url ?? '').indexOf('?') + 1) : '';
  const sort = parseSortQuery(query);
  const json = prefersJson(req.headers.accept);
  const signature = json || !config.data.serverSignature ? '' : `<address>${address(req, config)}</address>`;
  // Everything the page is rendered from, besides the entries.
  const key = `${json ? 'json' : 'html'} ${sort.column}${sort.order} ${d.decision.urlPath}\n${signature}`;
  let body = remembered.get(key, result.entries);
  if (body === undefined) {
    // Rendered in slices of a few milliseconds, so a 10,000-entry listing never holds other requests up.
    body = json ? await listingJsonAsync(result.entries, sort) : await renderAutoindexAsync({ urlPath: d.decision.urlPath, entries: result.entries, sort, address: signature });
    remembered.keep(key, result.entries, body);
  }
  const headers: Headers = {
    ...BASE_HEADERS,
    'Content-Type': json ? 'application/json; charset=utf-8' : 'text/html;charset=UTF-8',
    'Cache-Control': 'no-cache',
    Vary: 'Accept',
    'Content-Security-Policy': PAGE_CSP,
  };
  // A listing is a successful response under its path: the rule's cacheControl and headers apply.
  if (d.effective) applyPolicyHeaders(headers, d.effective);
  mergeHeaders(headers, d.headers);
  setLength(res, headers, body.length);
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
  return d.decision;
}

/** The URL segments of a file below the root (resolve builds fsPath as root + '/' + segments). */
function segmentsOf(cfg: Config, fsPath: string): string[] | undefined {
  const prefix = cfg.root.endsWith('/') ? cfg.root : cfg.root + '/';
  if (!fsPath.startsWith(prefix)) return undefined;
  const segments = fsPath.slice(prefix.length).split('/').filter((s) => s !== '');
  return segments.length ? segments : undefined;
}

function urlPathOf(cfg: Config, fsPath: string): string | undefined {
  const segments = segmentsOf(cfg, fsPath);
  return segments && '/' + segments.join('/');
}

/**
 * A precompressed sidecar (`file.br`, `file.gz`) is served only where a GET for its own URL
 * would be: the whole decision runs for it (IP and path rules, dotfiles, symlink policy, the
 * kernel's permission check on open), so a sidecar can never show what a request could not.
 */
function sidecar(req: IncomingMessage, cfg: Config, probe: FsProbe, fsPath: string, suffix: string, auth: AuthVerifier): Opened | undefined {
  const segments = segmentsOf(cfg, fsPath);
  if (segments === undefined) return undefined;
  segments[segments.length - 1] += suffix;
  let v: Decided;
  try {
    v = decide({ method: 'GET', target: encodePath(segments, false), peer: req.socket.remoteAddress ?? '', forwardedFor: forwarded(req), headers: req.headers }, cfg, probe, false, auth);
  } catch {
    return undefined;
  }
  if (v.decision.verdict === 'allow' && v.file) return v.file.opened;
  if (v.file) probe.close(v.file.opened.fd);
  return undefined;
}

function forwarded(req: IncomingMessage): string | undefined {
  const v = req.headers['x-forwarded-for'];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function createHandler(initial: Config, options: HandlerOptions = {}): Handler {
  let config = initial;
  const probe = options.probe ?? servingProbe();
  // Only over the real filesystem: an injected probe's facts need not describe real files.
  const cache = options.probe === undefined ? new ContentCache() : undefined;
  let writeAccess: ((line: string) => void) | undefined;
  if (options.accessLog === undefined) {
    writeAccess = (line) => {
      if (!config.data.accessLog) return;
      stdoutWriter ??= new BufferedWriter(1);
      stdoutWriter.write(line);
    };
  } else if (options.accessLog !== false) writeAccess = options.accessLog;
  const verifier = options.auth ?? new AuthVerifier();
  const listings: Listings = { turns: new Turns(LISTINGS_AT_ONCE), remembered: new RememberedListings(), auth: verifier };
  // Error lines are buffered like access lines (written every FLUSH_MS): a flood of
  // refusals must not cost a synchronous pipe write each.
  const writeError = options.errorLog === undefined ? (line: string) => (stderrWriter ??= new BufferedWriter(2)).write(line) : options.errorLog === false ? undefined : options.errorLog;

  // The steps of a request are written once here, not as closures made anew for each request:
  // a refusal is answered in a few tens of microseconds, and each closure is an allocation.
  const judge = (facts: RequestFacts, cfg: Config): Decided => {
    try {
      return decide(facts, cfg, probe, false, verifier);
    } catch (err) {
      // A bug, never a crash: answer 500 and say so in the log.
      return { decision: { verdict: 'error', status: 500, reason: 'INTERNAL', code: REASONS.INTERNAL.code, message: `internal error: ${(err as Error).stack ?? String(err)}`, urlPath: facts.target, evidence: {} } };
    }
  };

  const logDone = (req: IncomingMessage, res: ServerResponse, cfg: Config, started: number, decided: Decided, final: Decision): void => {
    const client = decided.client ?? req.socket.remoteAddress ?? '-';
    if (writeError && final.verdict !== 'allow' && final.verdict !== 'listing' && final.verdict !== 'options' && final.verdict !== 'redirect') {
      writeError(errorLine(final, client, req.socket.remotePort, started));
    }
    if (writeAccess && (options.accessLog !== undefined || cfg.data.accessLog)) {
      const log = writeAccess;
      const write = (): void => log(accessLine({ client, method: req.method ?? '-', target: req.url ?? '-', httpVersion: req.httpVersion, status: res.statusCode, bytes: bytesSent(res), referer: req.headers.referer, userAgent: req.headers['user-agent'], time: started }));
      // Once end() has been called, status and length are final: log now, without a
      // listener per request; likewise once destroyed ('close' may have fired already).
      // A body still streaming is logged when it closes.
      if (res.writableEnded || res.destroyed) write();
      else res.once('close', write);
    }
  };

  const answer = (req: IncomingMessage, res: ServerResponse, next: Next | undefined, cfg: Config, started: number, decided: Decided): void => {
    const d = decided.decision;
    if (next && visibleStatus(d) === 404 && d.verdict !== 'allow') {
      // Mounted as middleware: "not here" lets the next handler try. A hidden 403 looks exactly
      // like a missing file to the client, but it is a real refusal, so the error log says why.
      if (decided.file) probe.close(decided.file.opened.fd);
      if (d.masked && writeError) writeError(errorLine(d, decided.client ?? req.socket.remoteAddress ?? '-', req.socket.remotePort, started));
      next();
      return;
    }
    switch (d.verdict) {
      case 'allow': {
        const { opened, fsPath } = decided.file!;
        const openVariant = (suffix: string): Opened | undefined => sidecar(req, cfg, probe, fsPath, suffix, verifier);
        // Response headers follow the file actually sent: an index is served with the rules
        // for /dir/index.html (as after Apache's DirectoryIndex internal redirect), so a
        // `**/*.html` rule covers it. Access was decided on the request's own path.
        const fileUrl = fsPath === cfg.root + d.urlPath ? d.urlPath : urlPathOf(cfg, fsPath);
        const effective = fileUrl !== undefined && fileUrl !== d.urlPath ? effectiveFor(cfg, fileUrl) : decided.effective!;
        try {
          sendFile(req, res, { opened, fsPath, effective, defaultType: cfg.data.defaultType, compress: cfg.data.compress, precompressed: cfg.data.precompressed, baseHeaders: BASE_HEADERS, decisionHeaders: decided.headers, openVariant, cache });
        } catch (err) {
          // A bug, never a crash (sendFile has closed the descriptor).
          const failed: Decision = { ...d, verdict: 'error', status: 500, reason: 'INTERNAL', code: REASONS.INTERNAL.code, message: `internal error: ${(err as Error).stack ?? String(err)}` };
          if (res.headersSent) res.destroy();
          else sendError(req, res, failed, cfg, probe, decided.headers, decided.effective?.errorDocuments);
          logDone(req, res, cfg, started, decided, failed);
          return;
        }
        logDone(req, res, cfg, started, decided, d);
        return;
      }
      case 'listing':
        sendListing(req, res, decided, cfg, probe, listings).then(
          (final) => logDone(req, res, cfg, started, decided, final),
          (err: unknown) => {
            res.destroy();
            logDone(req, res, cfg, started, decided, { ...d, verdict: 'error', status: 500, reason: 'INTERNAL', code: REASONS.INTERNAL.code, message: String(err) });
          },
        );
        return;
      case 'options':
        {
          const headers: Headers = { ...BASE_HEADERS, Allow: ALLOW_HEADER };
          mergeHeaders(headers, decided.headers); // a CORS preflight's answer
          setLength(res, headers, 0);
          res.writeHead(d.status, headers).end();
        }
        logDone(req, res, cfg, started, decided, d);
        return;
      case 'redirect':
        sendRedirect(req, res, d, cfg, decided.headers);
        logDone(req, res, cfg, started, decided, d);
        return;
      default:
        sendError(req, res, d, cfg, probe, decided.headers, decided.effective?.errorDocuments);
        logDone(req, res, cfg, started, decided, d);
    }
  };

  const handler = function keycard(req: IncomingMessage, res: ServerResponse, next?: Next): void {
    if (next && req.method !== 'GET' && req.method !== 'HEAD') {
      // As middleware keycard serves files and nothing else: other methods belong to the
      // routes after it (as with serve-static's fallthrough), so they are not answered 405 here.
      next();
      return;
    }
    const cfg = config; // a reload mid-request does not change this request's rules
    const started = Date.now();
    const facts: RequestFacts = { method: req.method ?? 'GET', target: req.url ?? '/', peer: req.socket.remoteAddress ?? '', forwardedFor: forwarded(req), headers: req.headers };
    const first = judge(facts, cfg);
    if (first.authPending) {
      // Credentials not seen before: verify off the event loop (bcrypt), then decide again,
      // now with the verdict cached. A failure to verify keeps the safe 401.
      const p = first.authPending;
      verifier.verify(p.file, p.user, p.password).then(
        () => answer(req, res, next, cfg, started, judge(facts, cfg)),
        () => answer(req, res, next, cfg, started, first),
      );
      return;
    }
    answer(req, res, next, cfg, started, first);
  } as Handler;
  handler.config = config;
  handler.logAnswered = (entry: AccessEntry) => {
    if (writeAccess && (options.accessLog !== undefined || config.data.accessLog)) writeAccess(accessLine(entry));
  };
  handler.setConfig = (c: Config) => {
    probe.recent?.clear();
    cache?.clear();
    listings.remembered.clear();
    config = c;
    handler.config = c;
  };
  return handler;
}

function bytesSent(res: ServerResponse): number {
  if (res.req?.method === 'HEAD' || res.statusCode === 304) return 0;
  const noted = notedLength(res);
  if (noted !== undefined) return noted;
  // Otherwise from the fields: HTTP/2's compatibility response stores them; over HTTP/1.1,
  // writeHead(status, object) does not, so the sent head is read.
  const stored = res.getHeader('content-length');
  const len = stored ?? /\r\ncontent-length: *(\d+)/i.exec((res as { _header?: string | null })._header ?? '')?.[1];
  return typeof len === 'number' ? len : typeof len === 'string' ? Number(len) : 0;
}
