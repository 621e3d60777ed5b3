import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCompressible, negotiateEncoding, type Coding } from '../../src/http/encoding.js';

const ALL: readonly Coding[] = ['br', 'gzip', 'identity'];

describe('negotiateEncoding with br, gzip and identity on offer', () => {
  it.each<[string, string | undefined, Coding | null]>([
    // No preference expressed
    ['no header: identity only', undefined, 'identity'],
    ['an empty header: "no coding wanted"', '', 'identity'],
    ['only unknown codings', 'compress, deflate', 'identity'],

    // Plain lists: ties go to the server's order, br before gzip
    ['gzip', 'gzip', 'gzip'],
    ['br', 'br', 'br'],
    ['gzip, br: a tie, server prefers br', 'gzip, br', 'br'],
    ['a browser header', 'gzip, deflate, br, zstd', 'br'],
    ['RFC 9110 example "compress, gzip"', 'compress, gzip', 'gzip'],

    // q-values
    ['br;q=0.5, gzip;q=0.8', 'br;q=0.5, gzip;q=0.8', 'gzip'],
    ['gzip;q=0.5, br;q=0.5: a tie', 'gzip;q=0.5, br;q=0.5', 'br'],
    ['RFC 9110 example "compress;q=0.5, gzip;q=1.0"', 'compress;q=0.5, gzip;q=1.0', 'gzip'],
    ['gzip;q=1.000', 'gzip;q=1.000', 'gzip'],
    ['gzip;q=0.001: an unlisted identity ties at the lowest weight, server order picks gzip', 'gzip;q=0.001', 'gzip'],
    ['identity listed above the codings', 'br;q=0.2, identity;q=0.5', 'identity'],
    ['gzip, identity: a tie, server order picks gzip', 'gzip, identity', 'gzip'],

    // q=0 excludes
    ['gzip;q=0', 'gzip;q=0', 'identity'],
    ['br;q=0, gzip', 'br;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', 'br;q=0, gzip;q=0', 'identity'],
    ['identity;q=0: nothing acceptable', 'identity;q=0', null],
    ['identity;q=0, gzip', 'identity;q=0, gzip', 'gzip'],
    ['gzip;q=0.000', 'gzip;q=0.000', 'identity'],

    // * covers unlisted codings, identity included
    ['*', '*', 'br'],
    ['*;q=0: nothing acceptable', '*;q=0', null],
    ['*;q=0, identity', '*;q=0, identity', 'identity'],
    ['*;q=0, gzip;q=0.5', '*;q=0, gzip;q=0.5', 'gzip'],
    ['br;q=0, *: an explicit entry beats *', 'br;q=0, *', 'gzip'],
    ['*;q=0.1, identity;q=0.5', '*;q=0.1, identity;q=0.5', 'identity'],
    ['gzip, *;q=0: identity excluded by *', 'gzip, *;q=0', 'gzip'],
    ['RFC 9110 example "gzip;q=1.0, identity; q=0.5, *;q=0"', 'gzip;q=1.0, identity; q=0.5, *;q=0', 'gzip'],

    // Case-insensitivity and aliases
    ['GZIP', 'GZIP', 'gzip'],
    ['Br;Q=0.9, GZip;q=0.8', 'Br;Q=0.9, GZip;q=0.8', 'br'],
    ['x-gzip is gzip', 'x-gzip', 'gzip'],
    ['X-GZIP;q=0.5, br;q=0.4', 'X-GZIP;q=0.5, br;q=0.4', 'gzip'],
    ['IDENTITY;Q=0', 'IDENTITY;Q=0', null],

    // Whitespace and empty elements
    ['whitespace everywhere', ' gzip ; q=0.5 ,\tbr ; q=0.4 ', 'gzip'],
    ['empty list elements', ', , gzip,', 'gzip'],

    // Malformed weights make that coding unacceptable (as negotiator does for q=abc)
    ['gzip;q=abc', 'gzip;q=abc', 'identity'],
    ['gzip;q=2 (above 1)', 'gzip;q=2', 'identity'],
    ['gzip;q=-1', 'gzip;q=-1', 'identity'],
    ['gzip;q=0.5x', 'gzip;q=0.5x', 'identity'],
    ['br;q=0.0001 (four decimals)', 'br;q=0.0001', 'identity'],
    ['br;q= (empty), gzip', 'br;q=, gzip', 'gzip'],
    ['a malformed weight is not rescued by *', 'br;q=abc, *', 'gzip'],

    // Other parameters and junk elements
    ['a parameter before q', 'gzip;level=9;q=0.5, br;q=0.4', 'gzip'],
    ['a parameter without q', 'gzip;level=9', 'gzip'],
    ['an element that is not a token is skipped', 'gzip br, deflate', 'identity'],
    ['garbage', '{{{', 'identity'],
  ])('%s → %s', (_what, header, expected) => {
    expect(negotiateEncoding(header, ALL)).toBe(expected);
  });
});

describe('negotiateEncoding with other offers', () => {
  it('only returns something offered', () => {
    expect(negotiateEncoding('br', ['gzip', 'identity'])).toBe('identity');
    expect(negotiateEncoding('br, gzip', ['gzip', 'identity'])).toBe('gzip');
    expect(negotiateEncoding('*', ['gzip'])).toBe('gzip');
    expect(negotiateEncoding('gzip', [])).toBeNull();
  });

  it('returns null when identity is not offered and no offered coding is wanted', () => {
    expect(negotiateEncoding(undefined, ['br', 'gzip'])).toBeNull();
    expect(negotiateEncoding('deflate', ['br', 'gzip'])).toBeNull();
  });

  it('breaks ties by the order of the offer, so the server states its preference', () => {
    expect(negotiateEncoding('gzip, br', ['gzip', 'br'])).toBe('gzip');
    expect(negotiateEncoding('*', ['identity', 'br'])).toBe('identity');
  });

  it('gives an unlisted identity the lowest listed weight, like negotiator', () => {
    // gzip;q=0.3 and identity tie at 0.3, so the offer order decides.
    expect(negotiateEncoding('gzip;q=0.3', ['identity', 'gzip'])).toBe('identity');
    expect(negotiateEncoding('gzip;q=0.3', ['gzip', 'identity'])).toBe('gzip');
    // q=0 entries do not drag identity down to 0.
    expect(negotiateEncoding('br;q=0, gzip;q=0', ['identity'])).toBe('identity');
  });

  it('never throws and always answers with something offered or null', () => {
    const header = fc.option(
      fc.oneof(
        fc.string(),
        fc.array(fc.constantFrom('br', 'gzip', 'x-gzip', 'identity', '*', 'deflate', ';q=0', ';q=0.5', ';q=1', ';q=x', ',', ' ', 'GZIP'))
          .map((parts) => parts.join('')),
      ),
      { nil: undefined },
    );
    const offer = fc.subarray(['br', 'gzip', 'identity'] as Coding[]);
    fc.assert(
      fc.property(header, offer, (h, offered) => {
        const chosen = negotiateEncoding(h, offered);
        expect(chosen === null || offered.includes(chosen)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isCompressible', () => {
  it.each([
    'text/html',
    'text/html; charset=utf-8',
    'TEXT/CSS',
    'text/plain',
    'text/csv',
    'text/markdown',
    'text/javascript',
    'application/javascript',
    'application/json',
    'application/json; charset=utf-8',
    'application/manifest+json',
    'application/ld+json',
    'application/xml',
    'application/rss+xml',
    'application/xhtml+xml',
    'image/svg+xml',
    'application/wasm',
    'application/vnd.ms-fontobject',
    'font/ttf',
    'font/otf',
  ])('compresses %s', (type) => {
    expect(isCompressible(type)).toBe(true);
  });

  it.each([
    'image/png',
    'image/jpeg',
    'image/webp',
    'image/avif',
    'image/gif',
    'image/vnd.microsoft.icon',
    'video/mp4',
    'audio/mpeg',
    'application/zip',
    'application/gzip',
    'application/x-gzip',
    'application/x-brotli',
    'application/x-7z-compressed',
    'application/pdf',
    'application/octet-stream',
    'application/epub+zip',
    'font/woff',
    'font/woff2',
    'multipart/byteranges',
    'application/x-unknown',
    'text/',
    'nonsense',
    '',
  ])('does not compress %s', (type) => {
    expect(isCompressible(type)).toBe(false);
  });
});
