// Sending a file that the decision allowed: validators and conditional requests, ranges,
// content coding (precompressed sidecars or on the fly), and the body itself, streamed from the
// one descriptor whose permissions were checked. Nothing here re-opens the file by name.
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import mime from 'mime-types';
import type { Effective } from '../policy/effective.js';
import type { FsProbe, Opened } from '../fs/probe.js';
import { isUnder } from '../policy/walk.js';
import { evaluatePreconditions, httpDate, ifRangeAllows, makeEtag } from './conditional.js';
import { parseRange, contentRange, unsatisfiedContentRange, multipartByteranges } from './range.js';
import { negotiateEncoding, isCompressible, type Coding } from './encoding.js';

/** Files up to this size are read in one synchronous read and sent with one write. */
const SMALL_FILE = 64 * 1024;
/** Bodies smaller than this are not worth compressing on the fly (nginx's gzip_min_length is 20). */
const COMPRESS_MIN = 1024;
const STREAM_CHUNK = 64 * 1024;

export interface FileContext {
  opened: Opened;
  fsPath: string;
  effective: Effective;
  defaultType: string;
  root: string;
  probe: FsProbe;
  compress: boolean;
  precompressed: boolean;
  /** Headers the server sets on every response (Server, nosniff). */
  baseHeaders: Readonly<Record<string, string>>;
}

export function contentTypeFor(fsPath: string, defaultType: string): string {
  const type = mime.contentType(fsPath.slice(fsPath.lastIndexOf('/') + 1));
  return type === false ? defaultType : type;
}

function closeQuietly(fd: number): void {
  fs.close(fd, () => {});
}

/** A sidecar (`file.br`, `file.gz`) is used only when the server itself may open it, it stays
 *  inside the root, and it is at least as new as the original; otherwise it is skipped. */
function openSidecar(ctx: FileContext, suffix: string): Opened | undefined {
  const p = ctx.fsPath + suffix;
  const r = ctx.probe.open(p);
  if (typeof r === 'string') return undefined;
  const real = ctx.probe.realpathOf(r, p);
  const fresh = r.stat.isFile() && r.stat.mtimeMs >= ctx.opened.stat.mtimeMs;
  const contained = real === p || ctx.effective.symlinks === 'follow' || (ctx.effective.symlinks === 'inside-root' && isUnder(real, ctx.root));
  if (!fresh || !contained) {
    ctx.probe.close(r.fd);
    return undefined;
  }
  return r;
}

function applyPolicyHeaders(headers: Record<string, string | number>, eff: Effective): void {
  if (eff.cacheControl !== undefined) headers['Cache-Control'] = eff.cacheControl;
  for (const set of eff.headers) Object.assign(headers, set);
}

function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, buf, off, size - off, off);
    if (n === 0) break; // truncated since fstat: send what is there
    off += n;
  }
  return off === size ? buf : buf.subarray(0, off);
}

/** Streams bytes start..end of fd with backpressure. `done` runs exactly once: true when every
 *  byte went out; false when the client left (the stream is destroyed at once) or the file came
 *  up short (truncated mid-way: the connection is ended, since the length was promised). */
function streamRange(res: ServerResponse, fd: number, start: number, end: number, done: (ok: boolean) => void): void {
  const stream = fs.createReadStream('', { fd, start, end, autoClose: false, highWaterMark: Math.min(STREAM_CHUNK, end - start + 1) });
  const expected = end - start + 1;
  let sent = 0;
  let settled = false;
  const settle = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    res.off('close', onClose);
    res.off('drain', onDrain);
    if (!ok) {
      stream.destroy();
      res.destroy();
    }
    done(ok);
  };
  const onClose = (): void => settle(false);
  const onDrain = (): void => {
    stream.resume();
  };
  res.on('close', onClose);
  res.on('drain', onDrain);
  stream.on('data', (chunk) => {
    sent += chunk.length;
    if (!res.write(chunk)) stream.pause();
  });
  stream.once('error', () => settle(false));
  stream.once('end', () => settle(sent >= expected));
}

export function sendFile(req: IncomingMessage, res: ServerResponse, ctx: FileContext): void {
  const { opened, effective: eff } = ctx;
  const stat = opened.stat;
  const head = req.method === 'HEAD';
  const type = contentTypeFor(ctx.fsPath, ctx.defaultType);
  const compressible = isCompressible(type);
  const headers: Record<string, string | number> = { ...ctx.baseHeaders, 'Content-Type': type, 'Accept-Ranges': 'bytes', 'Last-Modified': httpDate(stat.mtimeMs) };
  if (compressible && (ctx.compress || ctx.precompressed)) headers.Vary = 'Accept-Encoding';
  applyPolicyHeaders(headers, eff);

  const rangeHeader = req.headers.range;
  // Content coding: never for a range request (the range would apply to the encoded bytes).
  let coding: Coding = 'identity';
  let body: Opened = opened;
  if (compressible && rangeHeader === undefined && req.headers['accept-encoding'] !== undefined) {
    const offered: Coding[] = [];
    let br: Opened | undefined;
    let gz: Opened | undefined;
    if (ctx.precompressed) {
      br = openSidecar(ctx, '.br');
      gz = openSidecar(ctx, '.gz');
      if (br) offered.push('br');
      if (gz) offered.push('gzip');
    }
    if (ctx.compress && stat.size >= COMPRESS_MIN) {
      if (!offered.includes('br')) offered.push('br');
      if (!offered.includes('gzip')) offered.push('gzip');
    }
    offered.push('identity');
    coding = negotiateEncoding(req.headers['accept-encoding'], offered) ?? 'identity';
    if (coding === 'br' && br) body = br;
    if (coding === 'gzip' && gz) body = gz;
    if (br && body !== br) closeQuietly(br.fd);
    if (gz && body !== gz) closeQuietly(gz.fd);
  }
  const onTheFly = coding !== 'identity' && body === opened;
  const etag = makeEtag(stat, coding === 'identity' ? undefined : coding);
  headers.ETag = etag;
  if (coding !== 'identity') headers['Content-Encoding'] = coding;

  const finish = (): void => {
    if (body !== opened) closeQuietly(body.fd);
    closeQuietly(opened.fd);
  };

  const pre = evaluatePreconditions(req.method ?? 'GET', req.headers, { etag, mtimeMs: stat.mtimeMs });
  if (pre !== 'proceed') {
    finish();
    if (pre === 'not-modified') {
      // 304 keeps the validators and cache headers, and has no body (RFC 9110 §15.4.5).
      const h: Record<string, string | number> = { ...ctx.baseHeaders, ETag: etag, 'Last-Modified': headers['Last-Modified']! };
      for (const k of ['Cache-Control', 'Vary', 'Expires'] as const) if (headers[k] !== undefined) h[k] = headers[k]!;
      res.writeHead(304, h).end();
    } else {
      res.writeHead(412, { ...ctx.baseHeaders, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 }).end();
    }
    return;
  }

  if (onTheFly) {
    // Length unknown in advance: chunked. HEAD gets the same headers, without compressing anything.
    if (head) {
      finish();
      res.writeHead(200, headers).end();
      return;
    }
    res.writeHead(200, headers);
    const src = fs.createReadStream('', { fd: opened.fd, autoClose: true, highWaterMark: STREAM_CHUNK });
    const z = coding === 'br'
      ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: stat.size } })
      : zlib.createGzip({ level: 6 });
    res.once('close', () => {
      src.destroy();
      z.destroy();
    });
    src.once('error', () => res.destroy());
    z.once('error', () => res.destroy());
    src.pipe(z).pipe(res);
    return;
  }

  const size = body.stat.size;
  if (coding === 'identity' && rangeHeader !== undefined && ifRangeAllows(req.headers['if-range'] as string | undefined, { etag, mtimeMs: stat.mtimeMs })) {
    const range = parseRange(rangeHeader, size);
    if (range.kind === 'unsatisfiable') {
      finish();
      res.writeHead(416, { ...ctx.baseHeaders, 'Content-Range': unsatisfiedContentRange(size), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 }).end();
      return;
    }
    if (range.kind === 'ranges') {
      if (range.ranges.length === 1) {
        const { start, end } = range.ranges[0]!;
        headers['Content-Range'] = contentRange(start, end, size);
        headers['Content-Length'] = end - start + 1;
        res.writeHead(206, headers);
        if (head) {
          finish();
          res.end();
          return;
        }
        streamRange(res, body.fd, start, end, (ok) => {
          finish();
          if (ok) res.end();
        });
        return;
      }
      const mp = multipartByteranges(range.ranges, size, type, randomBytes(12).toString('hex'));
      headers['Content-Type'] = mp.contentType;
      headers['Content-Length'] = mp.contentLength;
      res.writeHead(206, headers);
      if (head) {
        finish();
        res.end();
        return;
      }
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
  }

  if (head) {
    finish();
    headers['Content-Length'] = size;
    res.writeHead(200, headers).end();
    return;
  }
  if (size <= SMALL_FILE) {
    let buf: Buffer;
    try {
      buf = readWhole(body.fd, size);
    } catch {
      finish();
      res.destroy();
      return;
    }
    finish();
    headers['Content-Length'] = buf.length;
    res.writeHead(200, headers).end(buf);
    return;
  }
  headers['Content-Length'] = size;
  res.writeHead(200, headers);
  if (size === 0) {
    finish();
    res.end();
    return;
  }
  streamRange(res, body.fd, 0, size - 1, (ok) => {
    finish();
    if (ok) res.end();
  });
}
