// parseRequestTarget: the only place a request path is decoded. Table rows follow
// shared/APACHE.md §1–2; the properties say it never throws and never yields a segment that
// could climb, split or truncate a path; the differential check holds it to path.posix.
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePath, parseRequestTarget } from '../../src/policy/url.js';

const segmentsOf = (target: string): readonly string[] => {
  const r = parseRequestTarget(target);
  if (!r.ok) throw new Error(`${target} refused: ${r.reason}`);
  return r.segments;
};
const refusal = (target: string): string | undefined => {
  const r = parseRequestTarget(target);
  return r.ok ? undefined : r.reason;
};

describe('canonical segments', () => {
  it.each([
    ['/', []],
    ['/hello.txt', ['hello.txt']],
    ['/./hello.txt', ['hello.txt']],
    ['//hello.txt', ['hello.txt']],
    ['/sub/../hello.txt', ['hello.txt']],
    ['/sub/%2e%2e/hello.txt', ['hello.txt']],
    ['/sub/.%2E/hello.txt', ['hello.txt']],
    ['/hello%2etxt', ['hello.txt']],
    ['/%70rivate/a', ['private', 'a']],
    ['/private//a', ['private', 'a']],
    ['/with%20space', ['with space']],
    ['/caf%C3%A9', ['café']],
    ['/%252e%252e/etc', ['%2e%2e', 'etc']],
    ['/\\evil.com', ['\\evil.com']],
    ['/%5cevil.com', ['\\evil.com']],
    ['/..\\..\\etc\\passwd', ['..\\..\\etc\\passwd']],
    ['/a?x=1/../..', ['a']],
  ])('%s → %j', (target, segments) => {
    expect(segmentsOf(target)).toEqual(segments);
  });

  it('keeps the query apart and undecoded', () => {
    expect(parseRequestTarget('/list?C=N;O=D&x=%2f')).toMatchObject({ ok: true, path: '/list', query: 'C=N;O=D&x=%2f' });
  });

  it('remembers a trailing slash, also after a final dot segment', () => {
    expect(parseRequestTarget('/dir/')).toMatchObject({ trailingSlash: true, path: '/dir/' });
    expect(parseRequestTarget('/dir/.')).toMatchObject({ trailingSlash: true, path: '/dir/' });
    expect(parseRequestTarget('/dir/sub/..')).toMatchObject({ trailingSlash: true, path: '/dir/' });
    expect(parseRequestTarget('/dir')).toMatchObject({ trailingSlash: false, path: '/dir' });
  });

  it('takes only the path of an absolute-form target', () => {
    expect(parseRequestTarget('http://evil.example/hello.txt')).toMatchObject({ ok: true, segments: ['hello.txt'] });
    expect(parseRequestTarget('http://evil.example')).toMatchObject({ ok: true, segments: [] });
    expect(refusal('http://evil.example/../etc/passwd')).toBe('PATH_ABOVE_ROOT');
  });
});

describe('the same target again', () => {
  it('gets the same answer, which no caller can change for the next one', () => {
    const first = parseRequestTarget('/docs/./a%20b/../c.txt');
    const again = parseRequestTarget('/docs/./a%20b/../c.txt');
    expect(again).toEqual(first);
    expect(again).toMatchObject({ ok: true, segments: ['docs', 'c.txt'], path: '/docs/c.txt', dotSegment: undefined });
    expect(() => (again as unknown as { segments: string[] }).segments.push('x')).toThrow(TypeError);
    expect(() => ((again as unknown as { path: string }).path = '/other')).toThrow(TypeError);
    expect(parseRequestTarget('/docs/c.txt')).toMatchObject({ segments: ['docs', 'c.txt'] });
  });

  it('names the first segment that starts with a dot', () => {
    expect(parseRequestTarget('/a/.git/.hidden/x')).toMatchObject({ ok: true, dotSegment: '.git' });
    expect(parseRequestTarget('/a/%2Eenv')).toMatchObject({ ok: true, dotSegment: '.env' });
  });
});

describe('refusals', () => {
  it.each([
    ['/../../../../etc/passwd', 'PATH_ABOVE_ROOT'],
    ['/sub/../../hello.txt', 'PATH_ABOVE_ROOT'],
    ['/%2e%2e/%2e%2e/etc/passwd', 'PATH_ABOVE_ROOT'],
    ['/.%2e/etc/passwd', 'PATH_ABOVE_ROOT'],
    ['/%', 'BAD_ESCAPE'],
    ['/%zz', 'BAD_ESCAPE'],
    ['/a%2', 'BAD_ESCAPE'],
    ['/..%2f..%2fetc%2fpasswd', 'ENCODED_SLASH'],
    ['/sub%2fvisible.txt', 'ENCODED_SLASH'],
    ['/%2F', 'ENCODED_SLASH'],
    ['/hello.txt%00', 'ENCODED_SLASH'],
    ['/hello.txt%00.html', 'ENCODED_SLASH'],
    ['/%c0%ae%c0%ae/etc/passwd', 'NOT_UTF8'],
    ['/%ff', 'NOT_UTF8'],
    ['*', 'BAD_REQUEST_TARGET'],
    ['hello.txt', 'BAD_REQUEST_TARGET'],
    ['', 'BAD_REQUEST_TARGET'],
  ])('%s → %s', (target, reason) => {
    expect(refusal(target)).toBe(reason);
  });
});

describe('encodePath', () => {
  it('percent-encodes every segment so a Location can never start with // or carry a scheme', () => {
    expect(encodePath(['with space', 'a&b'], true)).toBe('/with%20space/a%26b/');
    expect(encodePath(['evil.com'], true)).toBe('/evil.com/');
    expect(encodePath(['\\evil.com'], false)).toBe('/%5Cevil.com');
    expect(encodePath([], true)).toBe('/');
  });

  it('round-trips through parseRequestTarget', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', minLength: 1 }).filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0')), { maxLength: 5 }), (segments) => {
        expect(segmentsOf(encodePath(segments, false))).toEqual(segments);
      }),
    );
  });
});

// Targets built from the pieces traversal attacks are made of.
const piece = fc.oneof(
  fc.constantFrom('a', 'b', 'private', 'hello.txt', '.', '..', '.env', '...', ' ', 'é', '☃', '\u202e', '\\', '/', '//', '?', '#', ';'),
  fc.constantFrom('%2e', '%2E', '%2f', '%2F', '%5c', '%00', '%25', '%252e', '%c0%ae', '%c3%a9', '%e2%98%83', '%ff', '%', '%z', '%2'),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
);
const target = fc.array(piece, { maxLength: 12 }).map((parts) => '/' + parts.join(''));

describe('properties', () => {
  it('never throws, and an accepted path has only real names', () => {
    fc.assert(
      fc.property(target, (t) => {
        const r = parseRequestTarget(t);
        if (!r.ok) return;
        for (const s of r.segments) {
          expect(s).not.toBe('');
          expect(s).not.toBe('.');
          expect(s).not.toBe('..');
          expect(s).not.toContain('/');
          expect(s).not.toContain('\0');
        }
        expect(r.path.startsWith('//')).toBe(false);
        expect(r.path).toBe('/' + r.segments.join('/') + (r.trailingSlash && r.segments.length ? '/' : ''));
      }),
      { numRuns: 5000 },
    );
  });

  it('is idempotent: the canonical path of a canonical path is itself', () => {
    fc.assert(
      fc.property(target, (t) => {
        const r = parseRequestTarget(t);
        if (!r.ok) return;
        const again = parseRequestTarget(encodePath(r.segments, r.trailingSlash));
        expect(again).toMatchObject({ ok: true, segments: r.segments });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('differential: plain paths agree with path.posix.normalize', () => {
  // Names that need no escaping, plus the dot segments and empty segments.
  const plain = fc.array(fc.constantFrom('a', 'b', 'c.txt', '.', '..', '', '.x'), { maxLength: 10 }).map((parts) => '/' + parts.join('/'));
  // A sentinel directory above the names lets normalize reveal a climb above the root.
  const ROOT = '/__root__';

  it('same segments when the path stays inside; refused exactly when it climbs out', () => {
    fc.assert(
      fc.property(plain, (p) => {
        const normal = path.posix.normalize(ROOT + p);
        const climbs = normal !== ROOT && !normal.startsWith(ROOT + '/');
        const r = parseRequestTarget(p);
        if (climbs) {
          expect(r).toMatchObject({ ok: false, reason: 'PATH_ABOVE_ROOT' });
          return;
        }
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.segments).toEqual(normal.slice(ROOT.length).split('/').filter(Boolean));
      }),
      { numRuns: 3000 },
    );
  });
});
