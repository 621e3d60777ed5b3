// Validators and conditional requests (RFC 9110 §8.8, §13): ETag and Last-Modified, the
// If-* preconditions, and If-Range.
//
// Pure: the server passes in header values and the selected representation's validators and
// gets back a decision, so the whole precedence table is unit-testable without a socket.
// Where Apache, nginx or `send` disagree with RFC 9110 we follow the RFC; each case is noted
// at the place it matters.
//
// The server must evaluate preconditions against the representation it would actually send:
// negotiate Content-Encoding first and pass that variant's ETag, or a client holding the
// gzip ETag would never get a 304 (the trap Apache's mod_deflate `-gzip` ETags fell into).
// Preconditions are only evaluated when the response would otherwise be 2xx (§13.2.1), so a
// 404 ignores them, which is why `If-Match: *` here is always true.

export type Precondition = 'proceed' | 'not-modified' | 'failed';

export interface ConditionalHeaders {
  'if-match'?: string | undefined;
  'if-none-match'?: string | undefined;
  'if-modified-since'?: string | undefined;
  'if-unmodified-since'?: string | undefined;
}

export interface Validators {
  /** The selected representation's ETag, as sent in the ETag header. */
  etag: string;
  /** Its modification time; compared at the one-second resolution of Last-Modified. */
  mtimeMs: number;
}

// token (RFC 9110 §5.6.2): a content-coding name is always one.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * A strong ETag from inode, size and mtime, like Apache's `FileETag INode Size MTime`.
 * Milliseconds rather than Apache's microseconds or nginx's seconds: that is what `fs.stat`
 * reliably gives, and a file rewritten twice in one second with the same size still changes it.
 * An encoded body is a different representation, so it gets a different strong ETag (§8.8.3).
 */
export function makeEtag(stat: { size: number; mtimeMs: number; ino: number }, encoding?: string): string {
  const { size, mtimeMs, ino } = stat;
  // Formatting three large numbers in hex costs more than the rest of a 304: the identity tag
  // of each inode is kept while its size and mtime stay the same.
  const known = encoding === undefined ? IDENTITY_TAGS.get(ino) : undefined;
  if (known !== undefined && known.size === size && known.mtimeMs === mtimeMs) return known.tag;
  if (!Number.isFinite(size) || !Number.isFinite(mtimeMs) || !Number.isFinite(ino)) {
    const [name, value] = !Number.isFinite(size) ? ['size', size] : !Number.isFinite(mtimeMs) ? ['mtimeMs', mtimeMs] : ['ino', ino];
    throw new RangeError(`makeEtag: ${name} must be a finite number, got ${value}`);
  }
  let tag = `${Math.floor(ino).toString(16)}-${Math.floor(size).toString(16)}-${Math.floor(mtimeMs).toString(16)}`;
  // identity is the unencoded body, so it keeps the plain tag.
  if (encoding !== undefined && encoding !== 'identity') {
    if (!TOKEN.test(encoding)) throw new RangeError(`makeEtag: encoding must be a token, got ${JSON.stringify(encoding)}`);
    tag += `-${encoding}`;
  }
  const quoted = `"${tag}"`;
  if (encoding === undefined) {
    if (IDENTITY_TAGS.size >= 4096) IDENTITY_TAGS.clear();
    IDENTITY_TAGS.set(ino, { size, mtimeMs, tag: quoted });
  }
  return quoted;
}
const IDENTITY_TAGS = new Map<number, { size: number; mtimeMs: number; tag: string }>();

/** IMF-fixdate (RFC 9110 §5.6.7), the only HTTP-date form a sender may generate. */
let lastDate: { ms: number; text: string } | undefined;

export function httpDate(ms: number): string {
  // The same file is asked for again and again: its Last-Modified text is kept.
  if (lastDate !== undefined && lastDate.ms === ms) return lastDate.text;
  const text = formatHttpDate(ms);
  lastDate = { ms, text };
  return text;
}

function formatHttpDate(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError(`httpDate: not a valid time: ${ms}`);
  return d.toUTCString();
}

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = DAYS.join('|');
const LONG_DAY = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
const MONTH = MONTHS.join('|');
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// The names and "GMT" are case-sensitive (%s"..." in the ABNF), so these regexps are too.
const IMF_FIXDATE = new RegExp(`^(?:${DAY}), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:${LONG_DAY}), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:${DAY}) (${MONTH}) ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * Parse an HTTP-date in any of the three forms a recipient must accept (RFC 9110 §5.6.7).
 * Returns epoch milliseconds (a whole second), or null for anything else, including a list of
 * dates and the lenient forms `Date.parse` would accept ("2024", "1/2/2024"): the RFC says an
 * invalid date makes If-Modified-Since / If-Unmodified-Since be ignored, not guessed at.
 * `nowMs` only resolves the two-digit year of the obsolete RFC 850 form.
 */
export function parseHttpDate(value: string, nowMs: number = Date.now()): number | null {
  const v = trimOws(value);
  let m = IMF_FIXDATE.exec(v);
  if (m) return toMs(+m[3]!, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  m = RFC850_DATE.exec(v);
  if (m) {
    // §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    else if (year <= nowYear - 50) year += 100;
    return toMs(year, m[2]!, +m[1]!, +m[4]!, +m[5]!, +m[6]!);
  }
  m = ASCTIME_DATE.exec(v);
  if (m) return toMs(+m[6]!, m[1]!, Number(m[2]!.trim()), +m[3]!, +m[4]!, +m[5]!);
  return null;
}

function toMs(year: number, month: string, day: number, hour: number, minute: number, second: number): number | null {
  const mon = MONTHS.indexOf(month);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = mon === 1 ? (leap ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mon]!;
  // second 60 is a leap second (§5.6.7); Date.UTC carries it into the next minute.
  if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 60) return null;
  const ms = Date.UTC(year, mon, day, hour, minute, second);
  // Date.UTC maps years 0-99 to 1900-1999; a four-digit "0094" must not become 1994.
  return year < 100 ? new Date(ms).setUTCFullYear(year) : ms;
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

interface EntityTag {
  weak: boolean;
  /** The opaque-tag including its quotes. */
  opaque: string;
}

/**
 * `#entity-tag` (§8.8.3, §5.6.1). Parsed character by character rather than split on commas,
 * because a comma is a legal etagc inside the quotes. Returns null on any syntax error.
 */
function parseEtagList(value: string): EntityTag[] | null {
  const tags: EntityTag[] = [];
  let i = 0;
  let expectElement = true;
  while (i < value.length) {
    const c = value[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === ',') { expectElement = true; i++; continue; } // empty elements are allowed
    if (!expectElement) return null; // two tags without a comma between them
    let weak = false;
    // %s"W/": the weak indicator is case-sensitive.
    if (value.startsWith('W/', i)) { weak = true; i += 2; }
    if (value[i] !== '"') return null;
    const close = value.indexOf('"', i + 1);
    if (close === -1) return null;
    for (let j = i + 1; j < close; j++) {
      const code = value.charCodeAt(j);
      // etagc = %x21 / %x23-7E / obs-text
      if (code < 0x21 || code === 0x7f || code > 0xff) return null;
    }
    tags.push({ weak, opaque: value.slice(i, close + 1) });
    i = close + 1;
    expectElement = false;
  }
  return tags;
}

function parseCurrentEtag(etag: string): EntityTag {
  const tags = parseEtagList(etag);
  if (tags === null || tags.length !== 1) throw new TypeError(`not a single entity-tag: ${JSON.stringify(etag)}`);
  return tags[0]!;
}

type EtagCondition = '*' | EntityTag[];

/** `"*" / #entity-tag`. `*` is only valid alone; a malformed field matches nothing. */
function parseEtagCondition(value: string): EtagCondition {
  if (trimOws(value) === '*') return '*';
  return parseEtagList(value) ?? [];
}

// §8.8.3.2
function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}
function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * RFC 9110 §13.2.2, steps 1-4, in that order. Step 5 (If-Range) is `ifRangeAllows`, which the
 * server applies only when a Range header is present.
 *
 * - An If-Match that is present but malformed or empty matches nothing, so it fails (412), as
 *   in Apache; an If-None-Match that is malformed matches nothing, so the request proceeds.
 * - Method names are case-sensitive (§9.1): only "GET" and "HEAD" get 304 or If-Modified-Since.
 * - If-Modified-Since in the future is compared like any other date. Apache ignores a date
 *   later than the request time (an RFC 2616 rule that RFC 7232 and 9110 dropped); nginx's
 *   default `if_modified_since exact` wants equality; `send`/`fresh` compare <= as we do.
 */
export function evaluatePreconditions(method: string, headers: ConditionalHeaders, current: Validators): Precondition {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  const ifModifiedSince = headers['if-modified-since'];
  const ifUnmodifiedSince = headers['if-unmodified-since'];
  const lastModified = seconds(current.mtimeMs);
  const isGetOrHead = method === 'GET' || method === 'HEAD';

  // Parsed lazily: most requests carry no conditions, and this runs on every one.
  let etag: EntityTag | undefined;
  const currentTag = (): EntityTag => (etag ??= parseCurrentEtag(current.etag));

  // Step 1: If-Match, strong comparison. We have a current representation, so `*` is true.
  if (ifMatch !== undefined) {
    const cond = parseEtagCondition(ifMatch);
    if (cond !== '*' && !cond.some((t) => strongMatch(t, currentTag()))) return 'failed';
  } else if (ifUnmodifiedSince !== undefined) {
    // Step 2: only without If-Match; an invalid date is ignored (§13.1.4).
    const date = parseHttpDate(ifUnmodifiedSince);
    if (date !== null && lastModified > seconds(date)) return 'failed';
  }

  // Step 3: If-None-Match, weak comparison (§13.1.2).
  if (ifNoneMatch !== undefined) {
    // A client echoing the ETag it was sent is the common case: no parsing for that.
    const cond = ifNoneMatch === current.etag ? '*' : parseEtagCondition(ifNoneMatch);
    const matched = cond === '*' || cond.some((t) => weakMatch(t, currentTag()));
    if (matched) return isGetOrHead ? 'not-modified' : 'failed';
  } else if (ifModifiedSince !== undefined && isGetOrHead) {
    // Step 4: only GET/HEAD, only without If-None-Match; an invalid date is ignored (§13.1.3).
    const date = parseHttpDate(ifModifiedSince);
    if (date !== null && lastModified <= seconds(date)) return 'not-modified';
  }

  return 'proceed';
}

/**
 * If-Range (§13.1.5): may the server honour the Range header (true), or must it send the
 * whole representation with 200 (false)? Absent means no condition.
 *
 * - An entity-tag must match strongly; a weak tag never does.
 * - A date must equal Last-Modified exactly, at one-second resolution. `send` accepts any
 *   date >= Last-Modified; the RFC requires an exact match, so a guessed date gets 200.
 * - Anything that is neither (a list, garbage, an empty value) is a false condition: the
 *   safe answer is the full body, never a range of a representation the client may not have.
 *
 * §8.8.2.2 also asks that a date be a *strong* validator, i.e. that the file did not change
 * twice within that second. We cannot know that from a stat; like Apache and nginx we accept
 * the exact match, and rely on the ETag (which clients prefer for If-Range) to be exact.
 */
export function ifRangeAllows(ifRange: string | undefined, current: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = trimOws(ifRange);
  // §13.1.5: a DQUOTE in the first three characters means an entity-tag.
  if (value.slice(0, 3).includes('"')) {
    const tags = parseEtagList(value);
    if (tags === null || tags.length !== 1) return false;
    return strongMatch(tags[0]!, parseCurrentEtag(current.etag));
  }
  const date = parseHttpDate(value);
  return date !== null && seconds(date) === seconds(current.mtimeMs);
}
