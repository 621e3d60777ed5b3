// Range requests (RFC 9110 §14): parse `Range: bytes=...` into byte ranges, and lay out a
// multipart/byteranges body the server can stream straight from a file descriptor.
//
// Pure so the edge cases (suffix ranges, clamping, empty files, hostile headers) are tested
// as a table, not through sockets. Three outcomes, because the RFC gives them different
// statuses: `none` → ignore Range and send 200; `unsatisfiable` → 416 with
// `Content-Range: bytes */size`; `ranges` → 206.
//
// Abuse (Apache CVE-2011-3192, "Apache Killer": thousands of overlapping ranges, each a
// multipart part): overlapping and adjacent ranges are coalesced, so the parts never add up
// to more than the file; past MAX_RANGES parts we send one range spanning them all; a header
// with more than MAX_RANGE_PARTS elements is not parsed at all.

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive (as in Content-Range). */
  end: number;
}

export type RangeResult =
  | { kind: 'none' }
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; ranges: ByteRange[] };

/** More parts than this after coalescing are replaced by their span. Apache's MaxRanges is 200. */
export const MAX_RANGES = 50;
/** A Range header with more comma-separated elements than this is ignored (served as 200). */
export const MAX_RANGE_PARTS = 1000;

const NONE: RangeResult = Object.freeze({ kind: 'none' });
const UNSATISFIABLE: RangeResult = Object.freeze({ kind: 'unsatisfiable' });

const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;

/**
 * Parse a Range header against a representation of `size` bytes (RFC 9110 §14.1.2, §14.2).
 *
 * - Only the `bytes` unit, compared case-insensitively (§14.1; `send` only takes lowercase).
 *   Another unit, a missing `=`, garbage, or an int-range whose last-pos < first-pos makes the
 *   whole header invalid → `none`: the RFC lets a server ignore it, and 200 is always safe.
 * - Optional whitespace around each element and empty elements are tolerated (§5.6.1), as
 *   nginx does.
 * - A range is dropped if unsatisfiable (first-pos >= size, or a suffix of 0); if none is
 *   left → `unsatisfiable`. For size 0 every range is unsatisfiable: there is no byte to
 *   name, and `bytes 0--1/0` cannot be written (§14.1.1 would call a non-zero suffix
 *   satisfiable here; like `send` we answer 416).
 * - Overlapping and adjacent ranges are coalesced (§15.3.7.2 allows it). The result keeps
 *   the order the client asked in, a coalesced range taking the place of its first member
 *   (§15.3.7.2 SHOULD; `send` does the same); so ranges are disjoint but not necessarily ascending.
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`parseRange: size must be a non-negative integer, got ${size}`);
  if (header === undefined) return NONE;

  const eq = header.indexOf('=');
  if (eq === -1) return NONE;
  // No whitespace is allowed between the unit and '=' (only before the field value).
  if (header.slice(0, eq).replace(/^[ \t]+/, '').toLowerCase() !== 'bytes') return NONE;
  const set = header.slice(eq + 1);

  // Count before splitting so a megabyte of commas costs one scan, not a million strings.
  let commas = 0;
  for (let i = set.indexOf(','); i !== -1; i = set.indexOf(',', i + 1)) {
    if (++commas >= MAX_RANGE_PARTS) return NONE; // commas + 1 elements
  }

  const wanted: ByteRange[] = [];
  let elements = 0;
  for (const raw of set.split(',')) {
    const spec = trimOws(raw);
    if (spec === '') continue;
    elements++;
    let m = INT_RANGE.exec(spec);
    if (m) {
      const first = m[1]!;
      const last = m[2]!;
      if (last !== '' && compareDigits(last, first) < 0) return NONE;
      const start = Number(first);
      if (start >= size) continue; // unsatisfiable, but the header is still valid
      const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
      wanted.push({ start, end });
      continue;
    }
    m = SUFFIX_RANGE.exec(spec);
    if (m) {
      const length = Number(m[1]);
      if (length === 0 || size === 0) continue;
      wanted.push({ start: Math.max(0, size - length), end: size - 1 });
      continue;
    }
    return NONE;
  }
  if (elements === 0) return NONE; // range-set is 1#range-spec
  if (wanted.length === 0) return UNSATISFIABLE;

  const ranges = coalesce(wanted);
  // Coalescing alone bounds the body to the file size (so Apache's "sum of ranges exceeds
  // the file" check can never trip here); this bounds the number of parts.
  if (ranges.length > MAX_RANGES) {
    let start = Infinity;
    let end = -Infinity;
    for (const r of ranges) {
      start = Math.min(start, r.start);
      end = Math.max(end, r.end);
    }
    return { kind: 'ranges', ranges: [{ start, end }] };
  }
  return { kind: 'ranges', ranges };
}

/** Merge overlapping or adjacent ranges; keep request order by each group's first member. */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  const byStart = ranges.map((r, index) => ({ start: r.start, end: r.end, index })).sort((a, b) => a.start - b.start);
  const merged: typeof byStart = [];
  for (const r of byStart) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.start <= last.end + 1) {
      last.end = Math.max(last.end, r.end);
      last.index = Math.min(last.index, r.index);
    } else {
      merged.push({ ...r });
    }
  }
  return merged.sort((a, b) => a.index - b.index).map(({ start, end }) => ({ start, end }));
}

/** Compare two digit strings as integers, exactly: past 2^53 `Number` would call them equal. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

function checkRange(start: number, end: number, size: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !Number.isSafeInteger(size) || start < 0 || start > end || end >= size) {
    throw new RangeError(`invalid byte range ${start}-${end} of ${size}`);
  }
}

/** `Content-Range` for a 206 part (§14.4): `bytes 0-499/1234`. */
export function contentRange(start: number, end: number, size: number): string {
  checkRange(start, end, size);
  return `bytes ${start}-${end}/${size}`;
}

// Content-Range for a 416 (§14.4, §15.5.17), e.g. `bytes */1234`: the client learns the size.
export function unsatisfiedContentRange(size: number): string {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid size ${size}`);
  return `bytes */${size}`;
}

export interface ByterangesPart {
  start: number;
  end: number;
  /** Written before this part's bytes: the delimiter line and the part's header fields. */
  preamble: string;
}

export interface ByterangesBody {
  /** The 206 response's Content-Type: `multipart/byteranges; boundary=...`. */
  contentType: string;
  parts: ByterangesPart[];
  /** Written after the last part: the close-delimiter. */
  epilogue: string;
  /** Exact body length: all preambles, all part bytes, and the epilogue. */
  contentLength: number;
}

// RFC 2046 §5.1.1: 1-70 bchars, not ending in a space.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// A header value we can write as-is: visible ASCII, space and tab. No CR/LF (header
// injection) and no non-ASCII (the length below counts characters as bytes).
const FIELD_VALUE = /^[\x20-\x7e\t]*$/;

/**
 * Lay out a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1.1) so the server can
 * stream it without buffering: for each part write `preamble`, then bytes start..end of the
 * file; finally write `epilogue`. `contentLength` is the exact total.
 *
 * The CRLF before each boundary belongs to the delimiter (RFC 2046), so the first preamble
 * starts with `--boundary` and later ones with CRLF `--boundary`; the epilogue is
 * CRLF `--boundary--` CRLF, the trailing CRLF as Apache and nginx send it.
 *
 * Send this only when more than one range was requested: a single requested range is a plain
 * 206 with Content-Range (§15.3.7.2 MUST NOT). One part is fine if several were requested but
 * only one survived coalescing. `boundary` must not occur in the file; use a random one.
 * `contentType` undefined omits the parts' Content-Type (the 200 response would have none).
 * Strings are ASCII, so write them as 'latin1' or 'utf8' alike.
 */
export function multipartByteranges(
  ranges: readonly ByteRange[],
  size: number,
  contentType: string | undefined,
  boundary: string,
): ByterangesBody {
  if (ranges.length === 0) throw new RangeError('multipartByteranges: no ranges');
  if (!BOUNDARY.test(boundary)) throw new RangeError(`multipartByteranges: invalid boundary ${JSON.stringify(boundary)}`);
  if (contentType !== undefined && !FIELD_VALUE.test(contentType)) {
    throw new RangeError(`multipartByteranges: invalid content type ${JSON.stringify(contentType)}`);
  }
  const typeLine = contentType === undefined ? '' : `Content-Type: ${contentType}\r\n`;
  let contentLength = 0;
  const parts = ranges.map(({ start, end }, i) => {
    const preamble = `${i === 0 ? '' : '\r\n'}--${boundary}\r\n${typeLine}Content-Range: ${contentRange(start, end, size)}\r\n\r\n`;
    contentLength += preamble.length + (end - start + 1);
    return { start, end, preamble };
  });
  const epilogue = `\r\n--${boundary}--\r\n`;
  contentLength += epilogue.length;
  // Boundary chars such as ':' '?' '=' ' ' are tspecials and need quoting in the parameter.
  const param = TOKEN.test(boundary) ? boundary : `"${boundary}"`;
  return { contentType: `multipart/byteranges; boundary=${param}`, parts, epilogue, contentLength };
}
