import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_RANGES,
  contentRange,
  multipartByteranges,
  parseRange,
  unsatisfiedContentRange,
  type ByteRange,
  type RangeResult,
} from '../../src/http/range.js';

const ranges = (...pairs: [number, number][]): RangeResult => ({
  kind: 'ranges',
  ranges: pairs.map(([start, end]) => ({ start, end })),
});
const NONE: RangeResult = { kind: 'none' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };

describe('parseRange: single ranges', () => {
  it.each<[string, number, RangeResult]>([
    ['bytes=0-0', 200, ranges([0, 0])],
    ['bytes=0-499', 1000, ranges([0, 499])],
    ['bytes=100-', 200, ranges([100, 199])],
    ['bytes=-50', 200, ranges([150, 199])],
    ['bytes=-500', 200, ranges([0, 199])],
    ['bytes=-200', 200, ranges([0, 199])],
    ['bytes=0-999', 200, ranges([0, 199])],
    ['bytes=199-199', 200, ranges([199, 199])],
    ['bytes=199-', 200, ranges([199, 199])],
    ['bytes=007-010', 200, ranges([7, 10])],
    ['bytes=0-99999999999999999999999', 200, ranges([0, 199])],
    ['bytes=-99999999999999999999999', 200, ranges([0, 199])],
  ])('%s of a %i-byte file', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

describe('parseRange: unsatisfiable (416)', () => {
  it.each<[string, number]>([
    ['bytes=200-', 200],
    ['bytes=200-300', 200],
    ['bytes=1000-2000', 200],
    ['bytes=99999999999999999999-', 200],
    ['bytes=-0', 200],
    ['bytes=-000', 200],
    ['bytes=500-600, -0', 200],
    ['bytes=0-', 0],
    ['bytes=0-0', 0],
    ['bytes=-5', 0],
    ['bytes=-0', 0],
  ])('%s of a %i-byte file', (header, size) => {
    expect(parseRange(header, size)).toEqual(UNSATISFIABLE);
  });

  it('drops unsatisfiable ranges when another one is satisfiable', () => {
    expect(parseRange('bytes=-0,0-1', 200)).toEqual(ranges([0, 1]));
    expect(parseRange('bytes=500-,10-20', 200)).toEqual(ranges([10, 20]));
  });
});

describe('parseRange: ignored headers (served as 200)', () => {
  it.each<[string, string | undefined]>([
    ['no header', undefined],
    ['an empty header', ''],
    ['another unit', 'items=0-1'],
    ['a unit with a space before "="', 'bytes =0-1'],
    ['no "="', 'bytes 0-1'],
    ['no unit', '0-1'],
    ['"bytes" alone', 'bytes'],
    ['an empty range set', 'bytes='],
    ['only commas', 'bytes=, ,'],
    ['last-pos before first-pos', 'bytes=5-2'],
    ['last-pos before first-pos beyond 2^53', 'bytes=100000000000000000001-100000000000000000000'],
    ['last-pos with more leading zeros, still smaller', 'bytes=10-007'],
    ['one invalid range among valid ones', 'bytes=0-1,5-2'],
    ['garbage', 'bytes=abc'],
    ['a bare dash', 'bytes=-'],
    ['two dashes', 'bytes=--1'],
    ['three positions', 'bytes=1-2-3'],
    ['a sign', 'bytes=+1-2'],
    ['a fraction', 'bytes=1.5-2'],
    ['hex', 'bytes=0x10-'],
    ['space inside a range', 'bytes=0 -1'],
    ['a negative-looking suffix with spaces', 'bytes=- 5'],
  ])('%s', (_what, header) => {
    expect(parseRange(header, 200)).toEqual(NONE);
  });

  it('checks syntax before satisfiability, so an invalid header on an empty file is still ignored', () => {
    expect(parseRange('bytes=5-2', 0)).toEqual(NONE);
    expect(parseRange('items=0-', 0)).toEqual(NONE);
  });
});

describe('parseRange: syntax leniency', () => {
  it('takes the unit case-insensitively', () => {
    expect(parseRange('Bytes=0-1', 200)).toEqual(ranges([0, 1]));
    expect(parseRange('BYTES=0-1', 200)).toEqual(ranges([0, 1]));
  });

  it('tolerates whitespace around elements and empty elements', () => {
    expect(parseRange('bytes=0-1 , 5-6', 200)).toEqual(ranges([0, 1], [5, 6]));
    expect(parseRange('bytes=0-1\t,\t5-6', 200)).toEqual(ranges([0, 1], [5, 6]));
    expect(parseRange('bytes= 0-1', 200)).toEqual(ranges([0, 1]));
    expect(parseRange('bytes=0-1,,5-6,', 200)).toEqual(ranges([0, 1], [5, 6]));
  });
});

describe('parseRange: several ranges', () => {
  it.each<[string, string, number, RangeResult]>([
    ['disjoint ranges stay separate', 'bytes=0-10,20-30', 200, ranges([0, 10], [20, 30])],
    ['request order is kept', 'bytes=20-30,0-10', 200, ranges([20, 30], [0, 10])],
    ['a first and a last range', 'bytes=0-0,-1', 200, ranges([0, 0], [199, 199])],
    ['overlapping ranges merge', 'bytes=0-10,5-15', 200, ranges([0, 15])],
    ['adjacent ranges merge', 'bytes=0-9,10-19', 200, ranges([0, 19])],
    ['a one-byte gap is kept', 'bytes=0-9,11-19', 200, ranges([0, 9], [11, 19])],
    ['a contained range disappears', 'bytes=0-100,10-20', 200, ranges([0, 100])],
    ['duplicates merge', 'bytes=5-9,5-9,5-9', 200, ranges([5, 9])],
    ['ranges clamped to the end merge', 'bytes=150-,-10', 200, ranges([150, 199])],
    ['a chain of overlaps merges into one', 'bytes=50-60,0-10,5-55', 200, ranges([0, 60])],
    ['a merged range takes the place of its first member', 'bytes=100-110,0-5,105-120', 200, ranges([100, 120], [0, 5])],
    ['a later member can move a merged range forward', 'bytes=100-110,0-5,3-8', 200, ranges([100, 110], [0, 8])],
  ])('%s: %s', (_what, header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

describe('parseRange: abuse (CVE-2011-3192)', () => {
  const disjoint = (count: number): string =>
    'bytes=' + Array.from({ length: count }, (_, i) => `${i * 2}-${i * 2}`).join(',');

  it('ignores the original "Apache Killer" header: 5-0, 5-1, ... are invalid ranges', () => {
    const header = 'bytes=0-,' + Array.from({ length: 900 }, (_, i) => `5-${i}`).join(',');
    expect(parseRange(header, 10_000)).toEqual(NONE);
  });

  it('collapses hundreds of valid overlapping ranges into one range', () => {
    const header = 'bytes=0-,' + Array.from({ length: 900 }, (_, i) => `5-${i + 5}`).join(',');
    expect(parseRange(header, 10_000)).toEqual(ranges([0, 9999]));
  });

  it(`keeps up to ${MAX_RANGES} disjoint ranges`, () => {
    const result = parseRange(disjoint(MAX_RANGES), 10_000);
    expect(result.kind === 'ranges' && result.ranges.length).toBe(MAX_RANGES);
  });

  it(`replaces more than ${MAX_RANGES} disjoint ranges with the one range spanning them`, () => {
    expect(parseRange(disjoint(MAX_RANGES + 1), 10_000)).toEqual(ranges([0, MAX_RANGES * 2]));
    expect(parseRange(disjoint(999), 10_000)).toEqual(ranges([0, 998 * 2]));
  });

  it('ignores a header of more than 1000 elements without parsing them', () => {
    expect(parseRange(disjoint(1000), 10_000)).toEqual(ranges([0, 999 * 2]));
    expect(parseRange(disjoint(1001), 10_000)).toEqual(NONE);
    expect(parseRange('bytes=0-0' + ','.repeat(100_000), 10_000)).toEqual(NONE);
  });

  it('answers a huge header quickly', () => {
    const started = performance.now();
    parseRange('bytes=' + '1'.repeat(1_000_000) + '-', 10);
    parseRange('bytes=' + ',0-0'.repeat(500_000), 10);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('parseRange: properties', () => {
  const rangeChars = fc.constantFrom(...'bytes=0123456789-, \t'.split(''));
  const headers = fc.oneof(
    fc.string(),
    fc.string({ unit: rangeChars }),
    fc.string({ unit: rangeChars }).map((s) => `bytes=${s}`),
  );

  it('never throws, and only returns disjoint, non-adjacent ranges inside [0, size-1]', () => {
    fc.assert(
      fc.property(headers, fc.nat(1000), (header, size) => {
        const result = parseRange(header, size);
        if (result.kind !== 'ranges') return;
        expect(result.ranges.length).toBeGreaterThan(0);
        expect(result.ranges.length).toBeLessThanOrEqual(MAX_RANGES);
        const sorted = [...result.ranges].sort((a, b) => a.start - b.start);
        sorted.forEach((r, i) => {
          expect(Number.isInteger(r.start) && Number.isInteger(r.end)).toBe(true);
          expect(0 <= r.start && r.start <= r.end && r.end <= size - 1).toBe(true);
          if (i > 0) expect(r.start).toBeGreaterThan(sorted[i - 1]!.end + 1);
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('covers exactly the bytes the client asked for', () => {
    type Spec = { first: number; last: number | undefined } | { suffix: number };
    const spec: fc.Arbitrary<Spec> = fc.oneof(
      fc.record({ first: fc.nat(300), last: fc.option(fc.nat(300), { nil: undefined }) }).map((s) =>
        s.last !== undefined && s.last < s.first ? { first: s.last, last: s.first } : s,
      ),
      fc.record({ suffix: fc.nat(300) }),
    );
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 20 }), fc.nat(300), (specs, size) => {
        const header =
          'bytes=' + specs.map((s) => ('suffix' in s ? `-${s.suffix}` : `${s.first}-${s.last ?? ''}`)).join(', ');
        const wanted = new Set<number>();
        for (const s of specs) {
          const [from, to] = 'suffix' in s ? [size - s.suffix, size - 1] : [s.first, s.last ?? size - 1];
          for (let b = Math.max(0, from); b <= Math.min(to, size - 1); b++) wanted.add(b);
        }
        const result = parseRange(header, size);
        if (wanted.size === 0) {
          expect(result).toEqual(UNSATISFIABLE);
          return;
        }
        expect(result.kind).toBe('ranges');
        const covered = new Set<number>();
        for (const r of result.kind === 'ranges' ? result.ranges : []) for (let b = r.start; b <= r.end; b++) covered.add(b);
        expect([...covered].sort((a, b) => a - b)).toEqual([...wanted].sort((a, b) => a - b));
      }),
    );
  });

  it('rejects a size that is not a byte count', () => {
    expect(() => parseRange('bytes=0-1', -1)).toThrow(RangeError);
    expect(() => parseRange('bytes=0-1', 1.5)).toThrow(RangeError);
  });
});

describe('Content-Range', () => {
  it('names the range and the full length', () => {
    expect(contentRange(0, 499, 1234)).toBe('bytes 0-499/1234');
    expect(contentRange(1233, 1233, 1234)).toBe('bytes 1233-1233/1234');
  });

  it('gives only the length for a 416', () => {
    expect(unsatisfiedContentRange(1234)).toBe('bytes */1234');
    expect(unsatisfiedContentRange(0)).toBe('bytes */0');
  });

  it('refuses a range that does not fit the file', () => {
    expect(() => contentRange(0, 1234, 1234)).toThrow(RangeError);
    expect(() => contentRange(5, 4, 1234)).toThrow(RangeError);
    expect(() => contentRange(-1, 4, 1234)).toThrow(RangeError);
  });
});

describe('multipartByteranges', () => {
  // The file is bytes 0, 1, 2, ... so a body can be assembled and checked byte for byte.
  const file = (size: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => i % 256));
  const assemble = (body: ReturnType<typeof multipartByteranges>, data: Buffer): Buffer =>
    Buffer.concat([
      ...body.parts.flatMap((p) => [Buffer.from(p.preamble, 'latin1'), data.subarray(p.start, p.end + 1)]),
      Buffer.from(body.epilogue, 'latin1'),
    ]);

  it('lays out the RFC 9110 §14.6 example with CRLF line ends', () => {
    const body = multipartByteranges(
      [{ start: 500, end: 999 }, { start: 7000, end: 7999 }],
      8000,
      'application/pdf',
      'THIS_STRING_SEPARATES',
    );
    expect(body.contentType).toBe('multipart/byteranges; boundary=THIS_STRING_SEPARATES');
    expect(body.parts.map((p) => p.preamble)).toEqual([
      '--THIS_STRING_SEPARATES\r\nContent-Type: application/pdf\r\nContent-Range: bytes 500-999/8000\r\n\r\n',
      '\r\n--THIS_STRING_SEPARATES\r\nContent-Type: application/pdf\r\nContent-Range: bytes 7000-7999/8000\r\n\r\n',
    ]);
    expect(body.parts.map(({ start, end }) => [start, end])).toEqual([[500, 999], [7000, 7999]]);
    expect(body.epilogue).toBe('\r\n--THIS_STRING_SEPARATES--\r\n');
    expect(body.contentLength).toBe(assemble(body, file(8000)).length);
  });

  it('produces a body whose parts carry exactly the requested bytes', () => {
    const data = file(1000);
    const body = multipartByteranges([{ start: 10, end: 19 }, { start: 0, end: 0 }], 1000, 'text/plain; charset=utf-8', 'b0und');
    const text = assemble(body, data).toString('latin1');
    const sections = text.split('--b0und');
    expect(sections[0]).toBe('');
    expect(sections.at(-1)).toBe('--\r\n');
    const payloads = sections.slice(1, -1).map((s) => s.split('\r\n\r\n').slice(1).join('\r\n\r\n').replace(/\r\n$/, ''));
    expect(payloads).toEqual([data.subarray(10, 20).toString('latin1'), data.subarray(0, 1).toString('latin1')]);
  });

  it('omits the part Content-Type when the representation has none', () => {
    const body = multipartByteranges([{ start: 0, end: 0 }, { start: 2, end: 2 }], 3, undefined, 'x');
    expect(body.parts[0]!.preamble).toBe('--x\r\nContent-Range: bytes 0-0/3\r\n\r\n');
  });

  it('quotes a boundary that is not a token', () => {
    expect(multipartByteranges([{ start: 0, end: 0 }], 1, 'text/plain', 'a:b c').contentType).toBe(
      'multipart/byteranges; boundary="a:b c"',
    );
  });

  it.each([
    ['an empty boundary', ''],
    ['a boundary over 70 characters', 'x'.repeat(71)],
    ['a boundary ending in a space', 'abc '],
    ['a boundary with CRLF', 'a\r\nb'],
    ['a boundary with a quote', 'a"b'],
  ])('refuses %s', (_what, boundary) => {
    expect(() => multipartByteranges([{ start: 0, end: 0 }], 1, 'text/plain', boundary)).toThrow(RangeError);
  });

  it('accepts a 70-character boundary', () => {
    expect(() => multipartByteranges([{ start: 0, end: 0 }], 1, 'text/plain', 'x'.repeat(70))).not.toThrow();
  });

  it('refuses a content type that would inject header lines or is not ASCII', () => {
    expect(() => multipartByteranges([{ start: 0, end: 0 }], 1, 'text/plain\r\nX-Evil: 1', 'b')).toThrow(RangeError);
    expect(() => multipartByteranges([{ start: 0, end: 0 }], 1, 'text/plaïn', 'b')).toThrow(RangeError);
  });

  it('refuses no ranges, or a range outside the file', () => {
    expect(() => multipartByteranges([], 10, 'text/plain', 'b')).toThrow(RangeError);
    expect(() => multipartByteranges([{ start: 5, end: 10 }], 10, 'text/plain', 'b')).toThrow(RangeError);
  });

  it('always reports the exact length of what it lays out', () => {
    const range: fc.Arbitrary<ByteRange> = fc
      .tuple(fc.nat(499), fc.nat(499))
      .map(([a, b]) => ({ start: Math.min(a, b), end: Math.max(a, b) }));
    const data = file(500);
    fc.assert(
      fc.property(fc.array(range, { minLength: 1, maxLength: 10 }), fc.stringMatching(/^[A-Za-z0-9'()+_,\-./:=?]{1,70}$/), (rs, boundary) => {
        const body = multipartByteranges(rs, 500, 'application/octet-stream', boundary);
        expect(body.contentLength).toBe(assemble(body, data).length);
      }),
    );
  });
});
