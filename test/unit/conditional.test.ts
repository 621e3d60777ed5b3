import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  evaluatePreconditions,
  httpDate,
  ifRangeAllows,
  makeEtag,
  parseHttpDate,
  type ConditionalHeaders,
  type Precondition,
} from '../../src/http/conditional.js';

// A file last modified half a second into 12:00:00, so second-resolution comparisons matter.
const MTIME = Date.UTC(2024, 0, 15, 12, 0, 0) + 500;
const STAT = { size: 1234, mtimeMs: MTIME, ino: 4242 };
const ETAG = makeEtag(STAT);
const CURRENT = { etag: ETAG, mtimeMs: MTIME };
const LAST_MODIFIED = 'Mon, 15 Jan 2024 12:00:00 GMT';
const SECOND_BEFORE = 'Mon, 15 Jan 2024 11:59:59 GMT';
const SECOND_AFTER = 'Mon, 15 Jan 2024 12:00:01 GMT';
const OTHER = '"other"';

function check(headers: ConditionalHeaders, method = 'GET'): Precondition {
  return evaluatePreconditions(method, headers, CURRENT);
}

describe('makeEtag', () => {
  it('is a strong tag of hex inode, size and whole-millisecond mtime', () => {
    expect(makeEtag({ ino: 255, size: 4096, mtimeMs: 1_700_000_000_123.75 })).toBe(
      `"ff-1000-${(1_700_000_000_123).toString(16)}"`,
    );
  });

  it('changes when any of inode, size or mtime changes', () => {
    expect(makeEtag({ ...STAT, ino: STAT.ino + 1 })).not.toBe(ETAG);
    expect(makeEtag({ ...STAT, size: STAT.size + 1 })).not.toBe(ETAG);
    expect(makeEtag({ ...STAT, mtimeMs: STAT.mtimeMs + 1 })).not.toBe(ETAG);
  });

  it('follows one inode through changes and back: a kept tag is used only while size and mtime match', () => {
    const seen = [STAT, { ...STAT, size: STAT.size + 1 }, { ...STAT, mtimeMs: STAT.mtimeMs + 1 }, STAT].map((st) => makeEtag(st));
    expect(seen[0]).toBe(ETAG);
    expect(new Set(seen.slice(0, 3)).size).toBe(3);
    expect(seen[3]).toBe(ETAG);
    expect(makeEtag({ ...STAT, size: STAT.size + 1 })).toBe(seen[1]);
  });

  it('marks an encoded body inside the quotes, so each encoding has its own strong tag', () => {
    const plain = ETAG.slice(1, -1);
    expect(makeEtag(STAT, 'br')).toBe(`"${plain}-br"`);
    expect(makeEtag(STAT, 'gzip')).toBe(`"${plain}-gzip"`);
    expect(makeEtag(STAT, 'identity')).toBe(ETAG);
  });

  it('refuses values that would make a malformed tag', () => {
    expect(() => makeEtag(STAT, 'g"zip')).toThrow(RangeError);
    expect(() => makeEtag(STAT, '')).toThrow(RangeError);
    expect(() => makeEtag({ ...STAT, mtimeMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('httpDate', () => {
  it('writes IMF-fixdate and drops milliseconds', () => {
    expect(httpDate(0)).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
    expect(httpDate(MTIME)).toBe(LAST_MODIFIED);
  });

  it('refuses an invalid time', () => {
    expect(() => httpDate(Number.NaN)).toThrow(RangeError);
  });

  it('round-trips through parseHttpDate at one-second resolution', () => {
    const max = Date.UTC(9999, 11, 31, 23, 59, 59);
    fc.assert(
      fc.property(fc.integer({ min: 0, max }), (ms) => {
        expect(parseHttpDate(httpDate(ms))).toBe(Math.floor(ms / 1000) * 1000);
      }),
    );
  });
});

describe('parseHttpDate', () => {
  const RFC_EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37);
  const NOW_2025 = Date.UTC(2025, 5, 1);

  it.each([
    ['IMF-fixdate', 'Sun, 06 Nov 1994 08:49:37 GMT'],
    ['obsolete RFC 850', 'Sunday, 06-Nov-94 08:49:37 GMT'],
    ['obsolete asctime, space-padded day', 'Sun Nov  6 08:49:37 1994'],
    ['obsolete asctime, two-digit day', 'Sun Nov 06 08:49:37 1994'],
    ['surrounding whitespace', '  Sun, 06 Nov 1994 08:49:37 GMT\t'],
  ])('accepts the %s form', (_form, value) => {
    expect(parseHttpDate(value, NOW_2025)).toBe(RFC_EXAMPLE);
  });

  it.each([
    ['a different zone', 'Sun, 06 Nov 1994 08:49:37 UTC'],
    ['lowercase names (the ABNF is case-sensitive)', 'sun, 06 nov 1994 08:49:37 gmt'],
    ['ISO 8601', '1994-11-06T08:49:37Z'],
    ['a bare number', '784111777'],
    ['a bare year', '1994'],
    ['a list of dates', 'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT'],
    ['a day that does not exist', 'Thu, 31 Feb 1994 08:49:37 GMT'],
    ['February 29 of a common year', 'Wed, 29 Feb 2023 00:00:00 GMT'],
    ['hour 24', 'Sun, 06 Nov 1994 24:00:00 GMT'],
    ['minute 60', 'Sun, 06 Nov 1994 08:60:00 GMT'],
    ['a one-digit day in IMF-fixdate', 'Sun, 6 Nov 1994 08:49:37 GMT'],
    ['the empty string', ''],
  ])('rejects %s', (_what, value) => {
    expect(parseHttpDate(value, NOW_2025)).toBeNull();
  });

  it('accepts February 29 of a leap year and a leap second', () => {
    expect(parseHttpDate('Thu, 29 Feb 2024 00:00:00 GMT')).toBe(Date.UTC(2024, 1, 29));
    expect(parseHttpDate('Sat, 31 Dec 2016 23:59:60 GMT')).toBe(Date.UTC(2017, 0, 1));
  });

  it('reads a two-digit RFC 850 year as at most 50 years ahead', () => {
    expect(parseHttpDate('Sunday, 06-Nov-30 08:49:37 GMT', NOW_2025)).toBe(Date.UTC(2030, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sunday, 06-Nov-75 08:49:37 GMT', NOW_2025)).toBe(Date.UTC(2075, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sunday, 06-Nov-76 08:49:37 GMT', NOW_2025)).toBe(Date.UTC(1976, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sunday, 06-Nov-01 08:49:37 GMT', Date.UTC(2099, 0, 1))).toBe(Date.UTC(2101, 10, 6, 8, 49, 37));
  });

  it('keeps a four-digit year below 100 as written', () => {
    expect(new Date(parseHttpDate('Sat, 01 Jan 0094 00:00:00 GMT')!).getUTCFullYear()).toBe(94);
  });
});

describe('evaluatePreconditions: If-Match (strong comparison, 412 on failure)', () => {
  it.each<[string, string, Precondition]>([
    ['the current tag', ETAG, 'proceed'],
    ['*, since the representation exists', '*', 'proceed'],
    ['a list containing the tag', `${OTHER}, ${ETAG}`, 'proceed'],
    ['a list with spaces and empty elements', ` ${OTHER} ,, ${ETAG} `, 'proceed'],
    ['another tag', OTHER, 'failed'],
    ['the weak form of the current tag', `W/${ETAG}`, 'failed'],
    ['an unquoted tag', ETAG.slice(1, -1), 'failed'],
    ['* inside a list (not valid syntax)', `*, ${ETAG}`, 'failed'],
    ['an empty value (an empty list matches nothing)', '', 'failed'],
    ['garbage', 'garbage', 'failed'],
  ])('If-Match: %s → %s', (_what, value, expected) => {
    expect(check({ 'if-match': value })).toBe(expected);
    expect(check({ 'if-match': value }, 'PUT')).toBe(expected);
  });
});

describe('evaluatePreconditions: If-Unmodified-Since (412 when modified after the date)', () => {
  it.each<[string, string, Precondition]>([
    ['the Last-Modified date', LAST_MODIFIED, 'proceed'],
    ['a later date', SECOND_AFTER, 'proceed'],
    ['an earlier date', SECOND_BEFORE, 'failed'],
    ['an invalid date (ignored)', 'yesterday', 'proceed'],
    ['a list of dates (ignored)', `${SECOND_BEFORE}, ${SECOND_BEFORE}`, 'proceed'],
  ])('If-Unmodified-Since: %s → %s', (_what, value, expected) => {
    expect(check({ 'if-unmodified-since': value })).toBe(expected);
    expect(check({ 'if-unmodified-since': value }, 'DELETE')).toBe(expected);
  });

  it('is ignored when If-Match is present, whether If-Match passes or fails', () => {
    expect(check({ 'if-match': ETAG, 'if-unmodified-since': SECOND_BEFORE })).toBe('proceed');
    expect(check({ 'if-match': '*', 'if-unmodified-since': SECOND_BEFORE })).toBe('proceed');
    expect(check({ 'if-match': OTHER, 'if-unmodified-since': SECOND_AFTER })).toBe('failed');
  });
});

describe('evaluatePreconditions: If-None-Match (weak comparison, 304 for GET/HEAD, else 412)', () => {
  it.each<[string, string, Precondition, Precondition]>([
    ['the current tag', ETAG, 'not-modified', 'failed'],
    ['the weak form of the current tag', `W/${ETAG}`, 'not-modified', 'failed'],
    ['*', '*', 'not-modified', 'failed'],
    ['a list with spaces containing the tag', `${OTHER} , W/"x",${ETAG}`, 'not-modified', 'failed'],
    ['another tag', OTHER, 'proceed', 'proceed'],
    ['a tag differing only in case', ETAG.toUpperCase(), 'proceed', 'proceed'],
    ['the tag of the gzip variant', makeEtag(STAT, 'gzip'), 'proceed', 'proceed'],
    ['garbage', 'garbage', 'proceed', 'proceed'],
    ['an empty value', '', 'proceed', 'proceed'],
  ])('If-None-Match: %s → GET %s, POST %s', (_what, value, forGet, forOthers) => {
    expect(check({ 'if-none-match': value }, 'GET')).toBe(forGet);
    expect(check({ 'if-none-match': value }, 'HEAD')).toBe(forGet);
    expect(check({ 'if-none-match': value }, 'POST')).toBe(forOthers);
    expect(check({ 'if-none-match': value }, 'PUT')).toBe(forOthers);
    expect(check({ 'if-none-match': value }, 'DELETE')).toBe(forOthers);
  });

  it('compares against the ETag of the selected variant', () => {
    const gzip = { etag: makeEtag(STAT, 'gzip'), mtimeMs: MTIME };
    expect(evaluatePreconditions('GET', { 'if-none-match': makeEtag(STAT, 'gzip') }, gzip)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { 'if-none-match': ETAG }, gzip)).toBe('proceed');
  });

  it('parses quoted commas as part of a tag, not as list separators', () => {
    const current = { etag: '"a,b"', mtimeMs: MTIME };
    expect(evaluatePreconditions('GET', { 'if-none-match': '"a,b"' }, current)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { 'if-none-match': '"a", "b"' }, current)).toBe('proceed');
  });
});

describe('evaluatePreconditions: If-Modified-Since (GET/HEAD only, 304 when not modified)', () => {
  it.each<[string, string, Precondition]>([
    ['the Last-Modified date', LAST_MODIFIED, 'not-modified'],
    ['a later date', SECOND_AFTER, 'not-modified'],
    ['a date in the far future (not treated as invalid, unlike Apache)', 'Fri, 31 Dec 9999 23:59:59 GMT', 'not-modified'],
    ['an earlier date', SECOND_BEFORE, 'proceed'],
    ['the RFC 850 form of Last-Modified', 'Monday, 15-Jan-24 12:00:00 GMT', 'not-modified'],
    ['the asctime form of Last-Modified', 'Mon Jan 15 12:00:00 2024', 'not-modified'],
    ['an invalid date (ignored)', 'Mon, 15 Jan 2024 12:00:00 gmt', 'proceed'],
    ['a list of dates (ignored)', `${LAST_MODIFIED}, ${LAST_MODIFIED}`, 'proceed'],
  ])('If-Modified-Since: %s → %s', (_what, value, expected) => {
    expect(check({ 'if-modified-since': value }, 'GET')).toBe(expected);
    expect(check({ 'if-modified-since': value }, 'HEAD')).toBe(expected);
  });

  it('counts the file as not modified within the second it was written', () => {
    // mtime is 12:00:00.500, Last-Modified says 12:00:00: a client echoing it gets a 304.
    expect(evaluatePreconditions('GET', { 'if-modified-since': LAST_MODIFIED }, { etag: ETAG, mtimeMs: MTIME + 499 })).toBe(
      'not-modified',
    );
    expect(evaluatePreconditions('GET', { 'if-modified-since': LAST_MODIFIED }, { etag: ETAG, mtimeMs: MTIME + 500 })).toBe(
      'proceed',
    );
  });

  it('is ignored for methods other than GET and HEAD', () => {
    expect(check({ 'if-modified-since': SECOND_AFTER }, 'POST')).toBe('proceed');
    expect(check({ 'if-modified-since': SECOND_AFTER }, 'OPTIONS')).toBe('proceed');
  });

  it('is ignored when If-None-Match is present, even if If-None-Match is empty or malformed', () => {
    expect(check({ 'if-none-match': OTHER, 'if-modified-since': SECOND_AFTER })).toBe('proceed');
    expect(check({ 'if-none-match': '', 'if-modified-since': SECOND_AFTER })).toBe('proceed');
    expect(check({ 'if-none-match': 'garbage', 'if-modified-since': SECOND_AFTER })).toBe('proceed');
    expect(check({ 'if-none-match': ETAG, 'if-modified-since': SECOND_BEFORE })).toBe('not-modified');
  });
});

describe('evaluatePreconditions: precedence (RFC 9110 §13.2.2)', () => {
  it.each<[string, ConditionalHeaders, string, Precondition]>([
    ['no conditions', {}, 'GET', 'proceed'],
    ['a failing If-Match beats a matching If-None-Match', { 'if-match': OTHER, 'if-none-match': ETAG }, 'GET', 'failed'],
    ['a passing If-Match lets If-None-Match answer 304', { 'if-match': ETAG, 'if-none-match': ETAG }, 'GET', 'not-modified'],
    ['a passing If-Match and non-matching If-None-Match proceed', { 'if-match': '*', 'if-none-match': OTHER }, 'GET', 'proceed'],
    ['a failing If-Unmodified-Since beats a matching If-None-Match', { 'if-unmodified-since': SECOND_BEFORE, 'if-none-match': ETAG }, 'GET', 'failed'],
    ['a failing If-Unmodified-Since beats If-Modified-Since', { 'if-unmodified-since': SECOND_BEFORE, 'if-modified-since': SECOND_AFTER }, 'GET', 'failed'],
    ['a passing If-Unmodified-Since lets If-Modified-Since answer 304', { 'if-unmodified-since': SECOND_AFTER, 'if-modified-since': SECOND_AFTER }, 'GET', 'not-modified'],
    ['an invalid If-Unmodified-Since lets If-None-Match answer 304', { 'if-unmodified-since': 'nonsense', 'if-none-match': '*' }, 'HEAD', 'not-modified'],
    ['a matching If-None-Match on PUT is 412, not 304', { 'if-match': ETAG, 'if-none-match': '*' }, 'PUT', 'failed'],
    ['If-None-Match wins over a modified If-Modified-Since', { 'if-none-match': `W/${ETAG}`, 'if-modified-since': SECOND_BEFORE }, 'GET', 'not-modified'],
    ['all four, all passing, on GET of an unchanged file', { 'if-match': ETAG, 'if-unmodified-since': LAST_MODIFIED, 'if-none-match': ETAG, 'if-modified-since': LAST_MODIFIED }, 'GET', 'not-modified'],
    ['all four on a file changed since', { 'if-match': OTHER, 'if-unmodified-since': SECOND_BEFORE, 'if-none-match': OTHER, 'if-modified-since': SECOND_BEFORE }, 'GET', 'failed'],
  ])('%s', (_what, headers, method, expected) => {
    expect(evaluatePreconditions(method, headers, CURRENT)).toBe(expected);
  });

  it('treats headers explicitly set to undefined as absent', () => {
    expect(check({ 'if-match': undefined, 'if-none-match': undefined, 'if-modified-since': SECOND_AFTER })).toBe('not-modified');
  });

  it('never throws on arbitrary header values', () => {
    const value = fc.option(fc.oneof(fc.string(), fc.constantFrom(ETAG, `W/${ETAG}`, '*', LAST_MODIFIED, '"', 'W/')), { nil: undefined });
    fc.assert(
      fc.property(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT'), value, value, value, value, (method, im, inm, ims, ius) => {
        const result = check({ 'if-match': im, 'if-none-match': inm, 'if-modified-since': ims, 'if-unmodified-since': ius }, method);
        expect(['proceed', 'not-modified', 'failed']).toContain(result);
      }),
    );
  });
});

describe('ifRangeAllows (RFC 9110 §13.1.5)', () => {
  it.each<[string, string | undefined, boolean]>([
    ['no If-Range', undefined, true],
    ['the current ETag', ETAG, true],
    ['the current ETag with surrounding whitespace', ` ${ETAG} `, true],
    ['the weak form of the current ETag (weak tags never match)', `W/${ETAG}`, false],
    ['another ETag', OTHER, false],
    ['a list of ETags (only one is allowed)', `${ETAG}, ${OTHER}`, false],
    ['the ETag of another encoding', makeEtag(STAT, 'br'), false],
    ['Last-Modified exactly', LAST_MODIFIED, true],
    ['Last-Modified in RFC 850 form', 'Monday, 15-Jan-24 12:00:00 GMT', true],
    ['a later date (send would allow it; the RFC wants an exact match)', SECOND_AFTER, false],
    ['an earlier date', SECOND_BEFORE, false],
    ['an invalid date', 'Mon, 15 Jan 2024', false],
    ['an empty value', '', false],
    ['*', '*', false],
  ])('%s → %s', (_what, value, expected) => {
    expect(ifRangeAllows(value, CURRENT)).toBe(expected);
  });

  it('compares dates at the one-second resolution of Last-Modified', () => {
    expect(ifRangeAllows(LAST_MODIFIED, { etag: ETAG, mtimeMs: MTIME - 500 })).toBe(true);
    expect(ifRangeAllows(LAST_MODIFIED, { etag: ETAG, mtimeMs: MTIME + 499 })).toBe(true);
    expect(ifRangeAllows(LAST_MODIFIED, { etag: ETAG, mtimeMs: MTIME + 500 })).toBe(false);
  });
});
