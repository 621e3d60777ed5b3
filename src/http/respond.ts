// Sending a file that the decision allowed: validators and conditional requests, ranges,
// content coding (precompressed sidecars or on the fly), and the body itself, streamed from the
// one descriptor whose permissions were checked. Nothing here re-opens the file by name; a
// sidecar is opened through the same decision as a request for it (FileContext.openVariant).
//
// The order of the steps is RFC 9110's:
//   1. select the representation: a Range that will be honoured (valid, and If-Range true)
//      selects identity, since ranges never apply to an encoded body; otherwise Accept-Encoding
//      chooses among identity, a fresh sidecar, or on-the-fly compression;
//   2. preconditions (§13.2.2 steps 1-4) against that representation's validators → 304 / 412;
//   3. the range (step 5) → 206 / 416; or the whole representation → 200.
import * as fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import mime from 'mime-types';
import type { Effective } from '../policy/effective.js';
import type { Opened } from '../fs/probe.js';
import { TEXT_MAX, type ContentCache } from '../fs/content.js';
import { evaluatePreconditions, httpDate, ifRangeAllows, makeEtag } from './conditional.js';
import { parseRange, contentRange, unsatisfiedContentRange, multipartByteranges, type RangeResult } from './range.js';
import { negotiateEncoding, isCompressible, type Coding } from './encoding.js';

/** Files up to this size are read in one synchronous read and sent with one write. */
const SMALL_FILE = 64 * 1024;
/** Bodies smaller than this are not compressed on the fly: the framing would eat the gain. */
export const COMPRESS_MIN = 1024;
/** Bodies up to this size are joined to the head (one write instead of a writev of two). */
const JOIN_MAX = TEXT_MAX;
const STREAM_CHUNK = 64 * 1024;
const LARGE_CHUNK = 128 * 1024;
const LARGE_BODY = 1024 * 1024;

export type Headers = Record<string, string | number>;

const LENGTH = Symbol('keycard.contentLength');
type Measured = ServerResponse & { [LENGTH]?: number };

/**
 * Sets Content-Length and notes it on the response for the access log: writeHead with an
 * object sends the fields without storing them, and reading them back out of the sent head
 * costs more than the rest of the log line.
 */
export function setLength(res: ServerResponse, headers: Headers, n: number): void {
  headers['Content-Length'] = n;
  (res as Measured)[LENGTH] = n;
}

/** Notes a Content-Length already among the fields (a prepared, frozen set) for the access log. */
export function noteLength(res: ServerResponse, n: number): void {
  (res as Measured)[LENGTH] = n;
}

/** The Content-Length set with setLength, if any. */
export function notedLength(res: ServerResponse): number | undefined {
  return (res as Measured)[LENGTH];
}

export interface FileContext {
  opened: Opened;
  fsPath: string;
  effective: Effective;
  defaultType: string;
  compress: boolean;
  precompressed: boolean;
  /** Headers the server sets on every response (Server, nosniff); a 304 keeps only Server. */
  baseHeaders: Readonly<Record<string, string>>;
  /** Headers the decision adds to every answer about this request (CORS). */
  decisionHeaders?: Readonly<Record<string, string>> | undefined;
  /**
   * Opens `fsPath + suffix` (a `.br` / `.gz` sidecar) only if a GET for its own URL would be
   * allowed: same IP rules, path rules, dotfiles, symlink policy and kernel permissions as any
   * request. Undefined when absent or refused; the caller then owns the descriptor.
   */
  openVariant?: ((suffix: string) => Opened | undefined) | undefined;
  /** Small files' bytes, used only when the fresh fstat matches (fs/content.ts). */
  cache?: ContentCache | undefined;
}

/**
 * Content-Type from the file name's extension (mime-types; text types get `charset=utf-8`),
 * or `defaultType`, verbatim, for a name without a known extension. Only a real extension
 * counts: a file named `json` or `.json` is not JSON (mime-types alone would say it is).
 */
export function contentTypeFor(fsPath: string, defaultType: string): string {
  const ext = path.extname(path.basename(fsPath));
  if (ext === '') return defaultType;
  let type = TYPES.get(ext);
  if (type === undefined) {
    type = mime.contentType(ext);
    if (TYPES.size >= 1024) TYPES.clear();
    TYPES.set(ext, type);
  }
  return type === false ? defaultType : type;
}
// mime-types' answer per extension (a lookup lower-cases and parses on every call).
const TYPES = new Map<string, string | false>();

// Closing a regular file's descriptor does not block: done synchronously it costs a syscall,
// where fs.close costs a thread-pool round trip and a callback per request.
function closeQuietly(fd: number): void {
  if (fd < 0) return;
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed: nothing to free */
  }
}

/**
 * The descriptors a response holds: each is closed exactly once, by release(), or handed over
 * to a stream that closes it itself. A second close could hit a number the kernel has already
 * given to another request's file.
 */
class Held {
  // Rarely more than one (a sidecar adds a second): an array, not a Set per response.
  private readonly fds: number[] = [];
  add(fd: number): void {
    this.fds.push(fd);
  }
  /** Close one now. */
  drop(fd: number): void {
    if (this.forget(fd)) closeQuietly(fd);
  }
  /** Someone else closes it from now on. */
  handOver(fd: number): void {
    this.forget(fd);
  }
  release(): void {
    for (const fd of this.fds) closeQuietly(fd);
    this.fds.length = 0;
  }
  private forget(fd: number): boolean {
    const i = this.fds.indexOf(fd);
    if (i === -1) return false;
    this.fds.splice(i, 1);
    return true;
  }
}

// Headers a rule's `headers` may not set: they describe the framing, the coding or the
// validators, which the server computes (a wrong one corrupts the response or a cache).
const PROTECTED = new Set([
  'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'trailer', 'te',
  'content-range', 'content-encoding', 'etag', 'last-modified', 'date', 'accept-ranges',
]);

/** Content metadata a 304 leaves out (RFC 9110 §15.4.5). */
const CONTENT_FIELDS = ['Content-Type', 'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Range', 'Transfer-Encoding'];

function findKey(headers: Headers, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const k of Object.keys(headers)) if (k.toLowerCase() === lower) return k;
  return undefined;
}

function setHeader(headers: Headers, name: string, value: string | number): void {
  const existing = findKey(headers, name);
  if (existing !== undefined) delete headers[existing];
  headers[name] = value;
}

/**
 * `cacheControl` and `headers` of the matching rules, for a successful response (200, 206, 304
 * and listings). A configured header replaces the server's of the same name, case-insensitively
 * (Apache's `Header set`), except protected ones, which are ignored; a configured Vary is added
 * to the server's, never replaces it (that would let caches mix encodings).
 */
export function applyPolicyHeaders(headers: Headers, eff: Effective): void {
  if (eff.cacheControl !== undefined) headers['Cache-Control'] = eff.cacheControl;
  for (const set of eff.headers) mergeHeaders(headers, set);
}

/**
 * Adds `extra` to `headers`: a name already there is replaced, case-insensitively, except Vary,
 * whose tokens are added to the server's. Protected fields (framing, coding, validators) and
 * values Node would refuse (outside latin1: it would throw mid-response) are skipped.
 */
export function mergeHeaders(headers: Headers, extra: Readonly<Record<string, string>> | undefined): void {
  if (extra === undefined) return;
  for (const [name, value] of Object.entries(extra)) {
    const lower = name.toLowerCase();
    if (PROTECTED.has(lower) || /[^\t\x20-\x7e\x80-\xff]/.test(value)) continue;
    const existing = findKey(headers, name);
    if (lower === 'vary' && existing !== undefined) {
      const have = String(headers[existing]).split(',').map((s) => s.trim().toLowerCase());
      const add = value.split(',').map((s) => s.trim()).filter((s) => s !== '' && !have.includes(s.toLowerCase()));
      if (add.length) headers[existing] = [headers[existing], ...add].join(', ');
      continue;
    }
    setHeader(headers, name, value);
  }
}

/**
 * A 304's head (RFC 9110 §15.4.5): what a cache needs to refresh the copy it holds, and nothing
 * about content the response does not carry. As Apache's: Server, ETag, Vary and Cache-Control
 * (node adds Date and Connection), without Last-Modified, Accept-Ranges or nosniff, which the
 * ETag's match says are those the cache already has. Unlike Apache, configured headers stay
 * (content metadata aside): a cache takes a 304's fields into its stored response, so a changed
 * header reaches the clients that revalidate.
 */
function notModifiedHead(ctx: FileContext, etag: string, mayEncode: boolean, ownFields: boolean): Headers {
  const h: Headers = {};
  const server = ctx.baseHeaders.Server;
  if (server !== undefined) h.Server = server;
  h.ETag = etag;
  if (mayEncode) h.Vary = 'Accept-Encoding';
  applyPolicyHeaders(h, ctx.effective);
  if (ownFields) return h;
  mergeHeaders(h, ctx.decisionHeaders);
  for (const k of CONTENT_FIELDS) {
    const key = findKey(h, k);
    if (key !== undefined) delete h[key];
  }
  return h;
}

/** Reads `length` bytes at `start` in one go; shorter if the file was truncated since fstat. */
function readAt(fd: number, start: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    const n = fs.readSync(fd, buf, off, length - off, start + off);
    if (n === 0) break;
    off += n;
  }
  return off === length ? buf : buf.subarray(0, off);
}

/**
 * Streams bytes start..end of fd: one positional read runs ahead while the previous chunk is
 * being written, into two buffers the response owns and reuses (a buffer is read into again
 * only once the socket has taken it: the write's callback). `done` runs exactly once: true
 * when every byte went out; false when the client left, a read failed, or the file came up
 * short (truncated mid-way; the connection is destroyed, since the length was promised and a
 * short body must not look complete). `done` never runs while a read is in flight, so the
 * caller may close the descriptor at once, and is the only one to close it.
 *
 * Not fs.ReadStream: its destroy() closes the descriptor even with autoClose: false, which
 * would close the one descriptor the parts of a multipart body share, twice. And a fresh
 * buffer per chunk leaves the allocator holding tens of MiB under many large downloads.
 */
function streamRange(res: ServerResponse, fd: number, start: number, end: number, done: (ok: boolean) => void): void {
  const chunk = Math.min(end - start >= LARGE_BODY ? LARGE_CHUNK : STREAM_CHUNK, end - start + 1);
  const free: Buffer[] = [Buffer.allocUnsafeSlow(chunk)];
  if (end - start + 1 > chunk) free.push(Buffer.allocUnsafeSlow(chunk));
  let pos = start;
  let reading = false;
  let writing = false;
  let ready: { buf: Buffer; data: Buffer } | undefined;
  let gone = false;
  let settled = false;
  const settle = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    res.off('close', onClose);
    if (!ok) res.destroy();
    done(ok);
  };
  function onClose(): void {
    gone = true;
    if (!reading) settle(false); // else the pending read's callback settles
  }
  function pump(): void {
    if (settled) return;
    if (gone) {
      if (!reading) settle(false);
      return;
    }
    if (!writing && ready !== undefined) {
      const { buf, data } = ready;
      ready = undefined;
      writing = true;
      res.write(data, (err) => {
        writing = false;
        free.push(buf);
        if (err) gone = true; // destroyed meanwhile: read no further
        pump();
      });
    }
    if (!reading && ready === undefined && pos <= end && free.length > 0) {
      const buf = free.pop()!;
      const want = Math.min(chunk, end - pos + 1);
      reading = true;
      fs.read(fd, buf, 0, want, pos, (err, n) => {
        reading = false;
        if (gone || err || n === 0) return settle(false);
        pos += n;
        ready = { buf, data: n === buf.length ? buf : buf.subarray(0, n) };
        pump();
      });
    }
    if (!reading && !writing && ready === undefined && pos > end) settle(true);
  }
  res.on('close', onClose);
  // The client may have left before the body started (its 'close' already fired).
  if (res.destroyed) gone = true;
  pump();
}

/** Counts what passes; fails at the end if the file came up shorter than its fstat size. */
class LengthCheck extends Transform {
  private seen = 0;
  constructor(private readonly expected: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    cb(this.seen < this.expected ? new Error(`file truncated while compressing: ${this.seen} of ${this.expected} bytes`) : null);
  }
}

interface Selected {
  coding: Coding;
  /** The descriptor the body comes from: the original, or a sidecar. */
  body: Opened;
  /** Compressed by us while sending (length unknown in advance). */
  onTheFly: boolean;
}

/**
 * Content negotiation over what can actually be sent: a sidecar only if it opens under the
 * same policy and is at least as new as the original; on-the-fly compression only above
 * COMPRESS_MIN. Sidecars are opened lazily, best coding first, so a request costs at most
 * the opens it needs.
 */
function selectCoding(ctx: FileContext, acceptEncoding: string, held: Held): Selected {
  const { opened } = ctx;
  const identity: Selected = { coding: 'identity', body: opened, onTheFly: false };
  const canCompress = ctx.compress && opened.stat.size >= COMPRESS_MIN;
  const canSidecar = ctx.precompressed && ctx.openVariant !== undefined;
  if (!canCompress && !canSidecar) return identity;
  let offered: Coding[] = ['br', 'gzip', 'identity'];
  for (;;) {
    const coding = negotiateEncoding(acceptEncoding, offered) ?? 'identity';
    if (coding === 'identity') return identity;
    if (canSidecar) {
      const side = ctx.openVariant!(coding === 'br' ? '.br' : '.gz');
      if (side !== undefined) {
        held.add(side.fd);
        if (side.stat.isFile() && side.stat.mtimeMs >= opened.stat.mtimeMs) return { coding, body: side, onTheFly: false };
        held.drop(side.fd); // stale: the original changed after the sidecar was made
      }
    }
    if (canCompress) return { coding, body: opened, onTheFly: true };
    offered = offered.filter((c) => c !== coding);
  }
}

/**
 * An If-Range *date* cannot tell an encoded body from the identity one: compressed on the fly,
 * both carry the file's Last-Modified. A client resuming a gzip download by date would get
 * identity bytes appended to gzip bytes. So when the client accepts a coding the server could
 * have applied, a date in If-Range is treated as false (200, the whole representation: always
 * safe, §13.1.5). Entity-tags differ per coding, so they need no such care.
 */
function ambiguousIfRange(ifRange: string | undefined, mayEncode: boolean, acceptEncoding: string | undefined): boolean {
  if (ifRange === undefined || !mayEncode || acceptEncoding === undefined) return false;
  if (ifRange.trim().slice(0, 3).includes('"')) return false; // an entity-tag
  return negotiateEncoding(acceptEncoding, ['br', 'gzip', 'identity']) !== 'identity';
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Answers a GET or HEAD for the file the decision allowed. Takes ownership of ctx.opened: the
 * descriptor is closed when the response is done or abandoned, also if this throws.
 */
export function sendFile(req: IncomingMessage, res: ServerResponse, ctx: FileContext): void {
  const held = new Held();
  held.add(ctx.opened.fd);
  try {
    send(req, res, ctx, held);
  } catch (err) {
    held.release();
    throw err;
  }
}

function send(req: IncomingMessage, res: ServerResponse, ctx: FileContext, held: Held): void {
  const { opened, effective: eff } = ctx;
  const stat = opened.stat;
  const head = req.method === 'HEAD';
  const type = contentTypeFor(ctx.fsPath, ctx.defaultType);
  const compressible = isCompressible(type);
  const identityValidators = { etag: makeEtag(stat), mtimeMs: stat.mtimeMs };

  // 1. Which representation. A Range is honoured only if it parses and If-Range holds; then
  //    the identity body is selected whatever Accept-Encoding says.
  const rangeHeader = header(req, 'range');
  const ifRange = header(req, 'if-range');
  const acceptEncoding = header(req, 'accept-encoding');
  const mayEncode = compressible && (ctx.compress || ctx.precompressed);
  let range: RangeResult = { kind: 'none' };
  if (rangeHeader !== undefined && ifRangeAllows(ifRange, identityValidators) && !ambiguousIfRange(ifRange, mayEncode, acceptEncoding)) range = parseRange(rangeHeader, stat.size);
  const sel: Selected = mayEncode && range.kind === 'none' && acceptEncoding !== undefined
    ? selectCoding(ctx, acceptEncoding, held)
    : { coding: 'identity', body: opened, onTheFly: false };
  const { body, coding } = sel;
  // A sidecar is its own representation: its own strong ETag and modification time. On the fly,
  // the encoded body derives from the original, so its validators do, with the coding added.
  const repStat = body === opened ? stat : body.stat;
  const etag = coding === 'identity' ? identityValidators.etag : makeEtag(repStat, coding);
  const lastModified = repStat.mtimeMs;

  // Only the server's own fields: no rule or decision header can add or rename one.
  const ownFields = eff.headers.length === 0 && ctx.decisionHeaders === undefined;
  const finish = (): void => held.release();

  // 2. Preconditions, against the selected representation.
  const pre = evaluatePreconditions(req.method ?? 'GET', req.headers as Record<string, string | undefined>, { etag, mtimeMs: lastModified });
  if (pre !== 'proceed') {
    finish();
    if (pre === 'not-modified') {
      res.writeHead(304, notModifiedHead(ctx, etag, mayEncode, ownFields)).end();
    } else {
      const h: Headers = { ...ctx.baseHeaders };
      setLength(res, h, 0);
      mergeHeaders(h, ctx.decisionHeaders);
      res.writeHead(412, h).end();
    }
    return;
  }

  const headers: Headers = { ...ctx.baseHeaders, 'Content-Type': type };
  if (coding !== 'identity') headers['Content-Encoding'] = coding;
  // Ranges are served of the identity body only; an encoded response does not offer them
  // (as nginx), so a client does not try to resume an encoded body with identity bytes.
  if (coding === 'identity') headers['Accept-Ranges'] = 'bytes';
  headers['Last-Modified'] = httpDate(lastModified);
  headers.ETag = etag;
  // Whenever the answer could have depended on Accept-Encoding, including identity and ranges.
  if (mayEncode) headers.Vary = 'Accept-Encoding';
  applyPolicyHeaders(headers, eff);
  mergeHeaders(headers, ctx.decisionHeaders);

  // 3. Ranges (identity only, see step 1).
  const size = body.stat.size;
  if (range.kind === 'unsatisfiable') {
    finish();
    const h: Headers = { ...ctx.baseHeaders, 'Accept-Ranges': 'bytes', 'Content-Range': unsatisfiedContentRange(size) };
    setLength(res, h, 0);
    mergeHeaders(h, ctx.decisionHeaders);
    res.writeHead(416, h).end();
    return;
  }
  if (range.kind === 'ranges') {
    if (range.ranges.length === 1) {
      const { start, end } = range.ranges[0]!;
      headers['Content-Range'] = contentRange(start, end, size);
      setLength(res, headers, end - start + 1);
      if (head) {
        finish();
        res.writeHead(206, headers).end();
        return;
      }
      if (end - start + 1 <= SMALL_FILE) {
        // Small: one read, one write, whole before the status line goes out.
        let buf: Buffer;
        try {
          buf = readAt(body.fd, start, end - start + 1);
        } finally {
          finish();
        }
        if (buf.length < end - start + 1) res.destroy(); // truncated under us: no honest 206 left
        else res.writeHead(206, headers).end(buf);
        return;
      }
      res.writeHead(206, headers);
      streamRange(res, body.fd, start, end, (ok) => {
        finish();
        if (ok) res.end();
      });
      return;
    }
    // A rule may have replaced the Content-Type; the parts of a multipart body carry the same.
    const configuredType = ownFields ? type : String(headers[findKey(headers, 'Content-Type') ?? 'Content-Type'] ?? type);
    const partType = /^[\x20-\x7e\t]*$/.test(configuredType) ? configuredType : type;
    const mp = multipartByteranges(range.ranges, size, partType, randomBytes(12).toString('hex'));
    setHeader(headers, 'Content-Type', mp.contentType);
    setLength(res, headers, mp.contentLength);
    if (head) {
      finish();
      res.writeHead(206, headers).end();
      return;
    }
    if (mp.contentLength <= SMALL_FILE) {
      const chunks: Buffer[] = [];
      let short = false;
      try {
        for (const part of mp.parts) {
          const bytes = readAt(body.fd, part.start, part.end - part.start + 1);
          short ||= bytes.length < part.end - part.start + 1;
          chunks.push(Buffer.from(part.preamble, 'latin1'), bytes);
        }
      } finally {
        finish();
      }
      chunks.push(Buffer.from(mp.epilogue, 'latin1'));
      if (short) res.destroy();
      else res.writeHead(206, headers).end(Buffer.concat(chunks));
      return;
    }
    res.writeHead(206, headers);
    let i = 0;
    const next = (): void => {
      const part = mp.parts[i++];
      if (!part) {
        finish();
        res.end(mp.epilogue);
        return;
      }
      res.write(part.preamble);
      streamRange(res, body.fd, part.start, part.end, (ok) => (ok ? next() : finish()));
    };
    next();
    return;
  }

  // The whole representation.
  if (sel.onTheFly) {
    // Length unknown in advance: chunked. HEAD gets the same header fields without anything
    // being read or compressed (Transfer-Encoding too, as RFC 9112 §6.1 allows).
    if (head) {
      finish();
      if (req.httpVersion === '1.1') headers['Transfer-Encoding'] = 'chunked';
      res.writeHead(200, headers).end();
      return;
    }
    res.writeHead(200, headers);
    held.handOver(opened.fd); // the read stream closes it (also when pipeline destroys it)
    const src = fs.createReadStream('', { fd: opened.fd, autoClose: true, start: 0, end: stat.size - 1, highWaterMark: STREAM_CHUNK });
    const z = coding === 'br'
      ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: stat.size } })
      : zlib.createGzip({ level: 6 });
    // Any failure (client gone, read error, file truncated) destroys every stage, closing the
    // descriptor and the connection: a chunked body must not end as if it were complete.
    pipeline(src, new LengthCheck(stat.size), z, res, (err) => {
      if (err) res.destroy();
    });
    return;
  }

  if (head) {
    finish();
    setLength(res, headers, size);
    res.writeHead(200, headers).end();
    return;
  }
  if (size <= SMALL_FILE) {
    const kept = ctx.cache?.kept(body.stat);
    if (kept?.text !== undefined) {
      finish();
      setLength(res, headers, kept.text.length);
      res.writeHead(200, headers).end(kept.text, 'latin1');
      return;
    }
    let buf = kept?.bytes;
    if (buf === undefined) {
      try {
        buf = readAt(body.fd, 0, size); // truncated since fstat: what is there, with its length
      } finally {
        finish(); // a read error propagates: the handler answers 500 and logs it
      }
      ctx.cache?.offer(body.stat, buf);
    } else finish();
    setLength(res, headers, buf.length);
    res.writeHead(200, headers);
    // Up to JOIN_MAX, the body goes as a latin1 string (every byte maps to one character and
    // back): node then sends head and body in one write, where a Buffer costs a writev of two.
    if (buf.length <= JOIN_MAX) res.end(buf.toString('latin1'), 'latin1');
    else res.end(buf);
    return;
  }
  setLength(res, headers, size);
  res.writeHead(200, headers);
  streamRange(res, body.fd, 0, size - 1, (ok) => {
    finish();
    if (ok) res.end();
  });
}
