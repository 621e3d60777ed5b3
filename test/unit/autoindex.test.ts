import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SORT,
  HEAD_ADDITION,
  encodePathSegment,
  escapeHtml,
  formatSize,
  listingJson,
  listingJsonAsync,
  parseSortQuery,
  renderAutoindex,
  renderAutoindexAsync,
  sortEntries,
  type ListingEntry,
  type SortOrder,
} from '../../src/listing/autoindex.js';

const T = Date.UTC(2026, 10, 22, 0, 9, 41); // 2026-11-22 00:09 UTC
const ADDRESS = '<address>Apache/2.4.68 (Debian) Server at 127.0.0.1 Port 18105</address>';

// The fixture of APACHE.md §3.6, in readdir-like (unsorted) order.
const RECORDED: ListingEntry[] = [
  { name: 'with space.txt', isDir: false, size: 11, mtimeMs: T },
  { name: 'subdir', isDir: true, size: 4096, mtimeMs: T },
  { name: 'b.html', isDir: false, size: 9, mtimeMs: T },
  { name: 'a.txt', isDir: false, size: 2, mtimeMs: T },
  { name: 'a&b "q".txt', isDir: false, size: 9, mtimeMs: T },
  { name: '<img src=x onerror=alert(1)>.txt', isDir: false, size: 9, mtimeMs: T },
];

// APACHE.md §3.6, verbatim (Apache/2.4.68, FancyIndexing + HTMLTable, GET /list/).
const APACHE_BODY = [
  '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">',
  '<html>',
  ' <head>',
  '  <title>Index of /list</title>',
  ' </head>',
  ' <body>',
  '<h1>Index of /list</h1>',
  '  <table>',
  '   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>',
  '   <tr><th colspan="5"><hr></th></tr>',
  '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>',
  '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="%3cimg%20src=x%20onerror=alert(1)%3e.txt">&lt;img src=x onerror=alert(1)&gt;.txt</a></td><td align="right">2026-11-22 00:09  </td><td align="right">  9 </td><td>&nbsp;</td></tr>',
  '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="a&amp;b%20%22q%22.txt">a&amp;b &quot;q&quot;.txt</a></td><td align="right">2026-11-22 00:09  </td><td align="right">  9 </td><td>&nbsp;</td></tr>',
  '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="a.txt">a.txt</a></td><td align="right">2026-11-22 00:09  </td><td align="right">  2 </td><td>&nbsp;</td></tr>',
  '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="b.html">b.html</a></td><td align="right">2026-11-22 00:09  </td><td align="right">  9 </td><td>&nbsp;</td></tr>',
  '<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="subdir/">subdir/</a></td><td align="right">2026-11-22 00:09  </td><td align="right">  - </td><td>&nbsp;</td></tr>',
  '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="with%20space.txt">with space.txt</a></td><td align="right">2026-11-22 00:09  </td><td align="right"> 11 </td><td>&nbsp;</td></tr>',
  '   <tr><th colspan="5"><hr></th></tr>',
  '</table>',
  ADDRESS,
  '</body></html>',
  '',
].join('\n');

const render = (over: Partial<Parameters<typeof renderAutoindex>[0]> = {}): string =>
  renderAutoindex({ urlPath: '/list/', entries: RECORDED, sort: DEFAULT_SORT, address: ADDRESS, timeZone: 'UTC', ...over });

const names = (entries: readonly ListingEntry[]): string[] => entries.map((e) => (e.isDir ? e.name + '/' : e.name));

/** The table rows for entries (not the parent, not the header). */
const entryRows = (html: string): string[] => html.split('\n').filter((l) => l.startsWith('<tr><td') && !l.includes('alt="[PARENTDIR]"'));

describe('renderAutoindex: the recorded Apache page', () => {
  it('equals Apache 2.4.68 byte for byte, apart from the head addition', () => {
    const html = render();
    expect(html).toContain(HEAD_ADDITION);
    expect(html.replace(HEAD_ADDITION, '')).toBe(APACHE_BODY);
  });

  it('puts the addition (viewport meta and a small style) inside the head, after the title', () => {
    const html = render();
    expect(html).toContain('  <title>Index of /list</title>\n' + HEAD_ADDITION + ' </head>\n');
    expect(HEAD_ADDITION).toMatch(/^  <meta name="viewport" content="width=device-width, initial-scale=1">\n  <style type="text\/css">[^\n]*<\/style>\n$/);
    expect(HEAD_ADDITION.length).toBeLessThan(600);
  });

  it('without an address line (ServerSignature Off) goes straight from the table to the end', () => {
    const html = render({ address: '' });
    expect(html.endsWith('</table>\n</body></html>\n')).toBe(true);
    expect(html).not.toContain('<address>');
  });

  it('does not double a trailing newline on the address', () => {
    expect(render({ address: ADDRESS + '\n' })).toBe(render());
  });

  it('hostile names in the recorded fixture are inert', () => {
    const html = render();
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('onerror=alert(1)>');
    expect(html).toContain('href="a&amp;b%20%22q%22.txt"');
    expect(html).toContain('href="with%20space.txt"');
    expect(html).toContain('href="subdir/">subdir/</a>');
  });
});

describe('renderAutoindex: structure', () => {
  it('titles "/" as "/" and has no parent row there', () => {
    const html = render({ urlPath: '/' });
    expect(html).toContain('<title>Index of /</title>');
    expect(html).toContain('<h1>Index of /</h1>');
    expect(html).not.toContain('Parent Directory');
    expect(html).not.toContain('back.gif');
  });

  it('links the parent by its absolute, encoded path', () => {
    expect(render({ urlPath: '/list/subdir/' })).toContain('<a href="/list/">Parent Directory</a>');
    expect(render({ urlPath: '/a b/c:d/' })).toContain('<a href="/a%20b/">Parent Directory</a>');
    expect(render({ urlPath: '/x:y/z/' })).toContain('<a href="/x:y/">Parent Directory</a>');
    expect(render({ urlPath: '/a&b/c/' })).toContain('<a href="/a&amp;b/">Parent Directory</a>');
  });

  it('escapes the path in the title and h1, dropping trailing slashes', () => {
    const html = render({ urlPath: '/<b>&"x"/' });
    expect(html).toContain('<title>Index of /&lt;b&gt;&amp;&quot;x&quot;</title>');
    expect(html).toContain('<h1>Index of /&lt;b&gt;&amp;&quot;x&quot;</h1>');
    expect(render({ urlPath: '/deep/er/' })).toContain('<title>Index of /deep/er</title>');
  });

  it('toggles the sort link of the current column and leaves the others ascending', () => {
    const header = (sort: SortOrder): string => render({ sort }).split('\n')[10] ?? '';
    const links = (sort: SortOrder): string[] => [...header(sort).matchAll(/href="(\?[^"]*)"/g)].map((m) => m[1] ?? '');
    expect(links({ column: 'N', order: 'A' })).toEqual(['?C=N;O=D', '?C=M;O=A', '?C=S;O=A', '?C=D;O=A']);
    expect(links({ column: 'N', order: 'D' })).toEqual(['?C=N;O=A', '?C=M;O=A', '?C=S;O=A', '?C=D;O=A']);
    expect(links({ column: 'M', order: 'A' })).toEqual(['?C=N;O=A', '?C=M;O=D', '?C=S;O=A', '?C=D;O=A']);
    expect(links({ column: 'S', order: 'A' })).toEqual(['?C=N;O=A', '?C=M;O=A', '?C=S;O=D', '?C=D;O=A']);
    expect(links({ column: 'D', order: 'D' })).toEqual(['?C=N;O=A', '?C=M;O=A', '?C=S;O=A', '?C=D;O=A']);
  });

  it('renders rows in the requested order', () => {
    const rows = entryRows(render({ sort: { column: 'N', order: 'D' } }));
    expect(rows.map((r) => /<a href="([^"]*)"/.exec(r)?.[1])).toEqual([
      'with%20space.txt',
      'subdir/',
      'b.html',
      'a.txt',
      'a&amp;b%20%22q%22.txt',
      '%3cimg%20src=x%20onerror=alert(1)%3e.txt',
    ]);
  });

  it('marks denied entries in the Description column', () => {
    const html = render({
      entries: [
        { name: 'mode000.txt', isDir: false, size: 5, mtimeMs: T, denied: true },
        { name: 'noexec', isDir: true, size: 4096, mtimeMs: T, denied: true },
        { name: 'ok.txt', isDir: false, size: 5, mtimeMs: T, denied: false },
      ],
    });
    const rows = entryRows(html);
    expect(rows[0]).toBe(
      '<tr><td valign="top"><img src="/icons/text.gif" alt="[TXT]"></td><td><a href="mode000.txt">mode000.txt</a></td><td align="right">2026-11-22 00:09  </td><td align="right">  5 </td><td class="denied">forbidden</td></tr>',
    );
    expect(rows[1]).toContain('<a href="noexec/">noexec/</a>');
    expect(rows[1]).toContain('<td class="denied">forbidden</td></tr>');
    expect(rows[2]).toContain('<td>&nbsp;</td></tr>');
    expect(HEAD_ADDITION).toContain('.denied{');
  });

  it('picks icons as Apache with Debian defaults (text/* is TXT, else unknown)', () => {
    const html = render({
      entries: [
        { name: '.secret', isDir: false, size: 1, mtimeMs: T },
        { name: 'photo.bin', isDir: false, size: 1, mtimeMs: T },
        { name: 'README', isDir: false, size: 1, mtimeMs: T },
        { name: 'style.CSS', isDir: false, size: 1, mtimeMs: T },
        { name: 'notes.txt.bak', isDir: false, size: 1, mtimeMs: T },
        { name: 'data.json', isDir: false, size: 1, mtimeMs: T },
        { name: 'docs.txt', isDir: true, size: 1, mtimeMs: T },
      ],
    });
    const icon = (name: string): string | undefined =>
      entryRows(html)
        .find((r) => r.includes(`">${name}</a>`))
        ?.match(/<img src="([^"]*)" alt="([^"]*)">/)
        ?.slice(1)
        .join(' ');
    expect(icon('.secret')).toBe('/icons/unknown.gif [   ]');
    expect(icon('photo.bin')).toBe('/icons/unknown.gif [   ]');
    expect(icon('README')).toBe('/icons/unknown.gif [   ]');
    expect(icon('style.CSS')).toBe('/icons/text.gif [TXT]');
    expect(icon('notes.txt.bak')).toBe('/icons/text.gif [TXT]'); // mod_mime: the last known extension wins
    expect(icon('data.json')).toBe('/icons/unknown.gif [   ]');
    expect(icon('docs.txt/')).toBe('/icons/folder.gif [DIR]');
  });

  it('formats sizes with apr_strfsize and dashes for directories, and handles unknown times', () => {
    const rows = entryRows(
      render({
        entries: [
          { name: 'big', isDir: false, size: 1258291, mtimeMs: T },
          { name: 'dir', isDir: true, size: 123456789, mtimeMs: T },
          { name: 'nodate', isDir: false, size: 4096, mtimeMs: Number.NaN },
        ],
      }),
    );
    expect(rows[0]).toContain('<td align="right">1.2M</td>');
    expect(rows[1]).toContain('<td align="right">  - </td>');
    expect(rows[2]).toContain('</a></td><td>&nbsp;</td><td align="right">4.0K</td>');
  });
});

describe('dates', () => {
  const row = (mtimeMs: number, timeZone?: string): string =>
    entryRows(
      renderAutoindex({
        urlPath: '/',
        entries: [{ name: 'f', isDir: false, size: 1, mtimeMs }],
        sort: DEFAULT_SORT,
        address: '',
        ...(timeZone === undefined ? {} : { timeZone }),
      }),
    )[0] ?? '';
  const date = (mtimeMs: number, timeZone?: string): string | undefined => /<td align="right">([^<]*)<\/td><td align="right">/.exec(row(mtimeMs, timeZone))?.[1];

  it('uses YYYY-MM-DD HH:MM plus two spaces, 24-hour', () => {
    expect(date(Date.UTC(2024, 0, 5, 13, 7, 59), 'UTC')).toBe('2024-01-05 13:07  ');
    expect(date(Date.UTC(2024, 0, 5, 0, 0), 'UTC')).toBe('2024-01-05 00:00  ');
  });

  it('honours an IANA time zone, including DST', () => {
    expect(date(T, 'Europe/Berlin')).toBe('2026-11-22 01:09  ');
    expect(date(Date.UTC(2026, 6, 1, 23, 30), 'Europe/Berlin')).toBe('2026-07-02 01:30  ');
    expect(date(Date.UTC(2026, 0, 1, 0, 0), 'America/New_York')).toBe('2025-12-31 19:00  ');
    expect(date(Date.UTC(2026, 0, 1, 0, 0), 'Asia/Kolkata')).toBe('2026-01-01 05:30  ');
  });

  it('defaults to the server local time', () => {
    const d = new Date(T);
    const p = (n: number): string => String(n).padStart(2, '0');
    expect(date(T)).toBe(`${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}  `);
  });

  it('rejects an unknown time zone', () => {
    expect(() => row(T, 'Not/AZone')).toThrow(RangeError);
  });
});

describe('escapeHtml', () => {
  it('escapes & < > " \'', () => {
    expect(escapeHtml(`a&b<c>d"e'f`)).toBe('a&amp;b&lt;c&gt;d&quot;e&#39;f');
    expect(escapeHtml('plain.txt')).toBe('plain.txt');
    expect(escapeHtml('&amp;')).toBe('&amp;amp;');
  });
});

describe('encodePathSegment', () => {
  it('encodes the recorded names as Apache does', () => {
    expect(encodePathSegment('<img src=x onerror=alert(1)>.txt')).toBe('%3cimg%20src=x%20onerror=alert(1)%3e.txt');
    expect(encodePathSegment('a&b "q".txt')).toBe('a&b%20%22q%22.txt');
    expect(encodePathSegment('with space.txt')).toBe('with%20space.txt');
    expect(encodePathSegment('subdir/')).toBe('subdir/');
  });

  it("keeps Apache's safe set and escapes everything else as lower-case UTF-8", () => {
    expect(encodePathSegment("AZaz09$-_.+!*'(),;@&=/~")).toBe("AZaz09$-_.+!*'(),;@&=/~");
    expect(encodePathSegment('%#?[]{}|\\^`<>"')).toBe('%25%23%3f%5b%5d%7b%7d%7c%5c%5e%60%3c%3e%22');
    expect(encodePathSegment('\n\t\x7f')).toBe('%0a%09%7f');
    expect(encodePathSegment('é€😀')).toBe('%c3%a9%e2%82%ac%f0%9f%98%80');
    expect(encodePathSegment('abc é')).toBe('abc%20%c3%a9');
  });

  it('prefixes ./ when a colon comes before any slash, so no name can be a scheme', () => {
    expect(encodePathSegment('javascript:alert(1)')).toBe('./javascript:alert(1)');
    expect(encodePathSegment('JavaScript:alert(1)/')).toBe('./JavaScript:alert(1)/');
    expect(encodePathSegment('data:text/html,x')).toBe('./data:text/html,x');
    expect(encodePathSegment('c:')).toBe('./c:');
    expect(encodePathSegment(':x')).toBe('./:x');
    expect(encodePathSegment('a/b:c')).toBe('a/b:c');
    expect(encodePathSegment('/x:y/')).toBe('/x:y/');
    expect(encodePathSegment('ＪＳ:x')).toBe('./%ef%bc%aa%ef%bc%b3:x');
  });

  it('renders a scheme-like name as a relative link', () => {
    const html = render({ entries: [{ name: 'javascript:alert(1)', isDir: false, size: 1, mtimeMs: T }] });
    expect(html).toContain('<a href="./javascript:alert(1)">javascript:alert(1)</a>');
  });

  it('never yields a scheme, a quote or a tag, and round-trips (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (name) => {
        const href = encodePathSegment(name);
        expect(href).toMatch(/^[A-Za-z0-9$\-_.+!*'(),:;@&=/~%]*$/);
        expect(href).not.toMatch(/^[A-Za-z][A-Za-z0-9+.-]*:/);
        expect(decodeURIComponent(href.startsWith('./') && !name.startsWith('./') ? href.slice(2) : href)).toBe(name);
        const attr = escapeHtml(href);
        expect(attr).not.toMatch(/["<>']/);
        expect(escapeHtml(name)).not.toMatch(/[<>"']/);
      }),
    );
  });

  it('rows for arbitrary names contain exactly the expected tags (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), fc.boolean(), (name, isDir) => {
        const rows = entryRows(
          renderAutoindex({ urlPath: '/', entries: [{ name, isDir, size: 1, mtimeMs: T }], sort: DEFAULT_SORT, address: '', timeZone: 'UTC' }),
        );
        if (name.includes('\n')) return; // the row spans lines; the text is still escaped
        expect(rows).toHaveLength(1);
        const row = rows[0] ?? '';
        expect(row.match(/</g)).toHaveLength(15);
        expect(row.match(/"/g)).toHaveLength(12);
      }),
    );
  });
});

describe('formatSize (apr_strfsize)', () => {
  // Computed with APR's apr_strfsize compiled from source.
  const table: [number, string][] = [
    [0, '  0 '], [1, '  1 '], [8, '  8 '], [9, '  9 '], [26, ' 26 '], [99, ' 99 '], [972, '972 '],
    [973, '1.0K'], [1000, '1.0K'], [1023, '1.0K'], [1024, '1.0K'], [1075, '1.0K'], [1100, '1.1K'],
    [1536, '1.5K'], [4096, '4.0K'], [9215, '9.0K'], [9216, '9.0K'], [9728, '9.5K'], [9900, '9.7K'],
    [10239, ' 10K'], [10240, ' 10K'], [10752, ' 11K'], [102400, '100K'], [996147, '973K'],
    [996351, '973K'], [996352, '1.0M'], [997376, '1.0M'], [1048576, '1.0M'], [1258291, '1.2M'],
    [5000000, '4.8M'], [1073741824, '1.0G'], [1099511627776, '1.0T'], [1125899906842624, '1.0P'],
    [9007199254740991, '8.0P'],
  ];
  it.each(table)('%d -> %j', (n, s) => {
    expect(formatSize(n)).toBe(s);
  });

  it('gives "  - " for negative and non-finite sizes, and is always four characters', () => {
    expect(formatSize(-1)).toBe('  - ');
    expect(formatSize(Number.NaN)).toBe('  - ');
    expect(formatSize(Number.POSITIVE_INFINITY)).toBe('  - ');
    fc.assert(fc.property(fc.maxSafeNat(), (n) => formatSize(n).length === 4));
  });
});

describe('parseSortQuery', () => {
  const cases: [string, SortOrder][] = [
    ['', { column: 'N', order: 'A' }],
    ['C=N;O=D', { column: 'N', order: 'D' }],
    ['?C=M;O=A', { column: 'M', order: 'A' }],
    ['C=S&O=D', { column: 'S', order: 'D' }],
    ['O=D;C=D', { column: 'D', order: 'D' }],
    ['C=M', { column: 'M', order: 'A' }],
    ['O=D', { column: 'N', order: 'D' }],
    ['C=M;O=D;', { column: 'M', order: 'D' }],
    ['F=2;C=S;V=1;O=D', { column: 'S', order: 'D' }],
    ['P=*.txt;C=M;O=D', { column: 'M', order: 'D' }],
    ['C=X;O=D', { column: 'N', order: 'A' }], // a bad pair ends parsing
    ['C=M;junk;O=D', { column: 'M', order: 'A' }],
    ['c=m;o=d', { column: 'N', order: 'A' }],
    ['C=MM;O=D', { column: 'N', order: 'A' }],
    ['C=;O=D', { column: 'N', order: 'A' }],
    ['C', { column: 'N', order: 'A' }],
    ['%43=M', { column: 'N', order: 'A' }],
    ['garbage', { column: 'N', order: 'A' }],
  ];
  it.each(cases)('%j', (q, expected) => {
    expect(parseSortQuery(q)).toEqual(expected);
  });

  it('never throws and always returns a valid order (property)', () => {
    fc.assert(
      fc.property(fc.string(), (q) => {
        const s = parseSortQuery(q);
        expect('NMSD').toContain(s.column);
        expect('AD').toContain(s.order);
      }),
    );
  });
});

describe('sortEntries', () => {
  const e = (name: string, isDir = false, size = 0, mtimeMs = 0): ListingEntry => ({ name, isDir, size, mtimeMs });

  it('sorts by name in byte order, with directories among the files', () => {
    const list = [e('b'), e('a', true), e('B'), e('_'), e('subdir', true), e('subdir.txt'), e('subdir0'), e('a.txt')];
    expect(names(sortEntries(list, DEFAULT_SORT))).toEqual(['B', '_', 'a.txt', 'a/', 'b', 'subdir.txt', 'subdir/', 'subdir0']);
  });

  it('compares UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF5E is 0xEF.. in UTF-8, U+1F600 is 0xF0..; in UTF-16 the emoji (0xD83D) comes first.
    expect(names(sortEntries([e('\u{1F600}'), e('\uFF5E'), e('z'), e('é')], DEFAULT_SORT))).toEqual(['z', 'é', '\uFF5E', '\u{1F600}']);
  });

  it('reverses everything for O=D', () => {
    const list = [e('b'), e('a', true), e('c')];
    expect(names(sortEntries(list, { column: 'N', order: 'D' }))).toEqual(['c', 'b', 'a/']);
  });

  it('sorts by mtime then name', () => {
    const list = [e('c', false, 0, 2), e('a', false, 0, 3), e('b', false, 0, 2), e('d', true, 0, 1)];
    expect(names(sortEntries(list, { column: 'M', order: 'A' }))).toEqual(['d/', 'b', 'c', 'a']);
    expect(names(sortEntries(list, { column: 'M', order: 'D' }))).toEqual(['a', 'c', 'b', 'd/']);
  });

  it('sorts by size then name, directories as -1', () => {
    const list = [e('big', false, 5000), e('zero', false, 0), e('dir', true, 4096), e('adir', true, 99), e('also0', false, 0)];
    expect(names(sortEntries(list, { column: 'S', order: 'A' }))).toEqual(['adir/', 'dir/', 'also0', 'zero', 'big']);
    expect(names(sortEntries(list, { column: 'S', order: 'D' }))).toEqual(['big', 'zero', 'also0', 'dir/', 'adir/']);
  });

  it('sorts by description (none) as by name', () => {
    const list = [e('b'), e('a', true), e('c', false, 9, 9)];
    expect(names(sortEntries(list, { column: 'D', order: 'A' }))).toEqual(['a/', 'b', 'c']);
    expect(names(sortEntries(list, { column: 'D', order: 'D' }))).toEqual(['c', 'b', 'a/']);
  });

  it('does not modify its input', () => {
    const list = [e('b'), e('a')];
    sortEntries(list, DEFAULT_SORT);
    expect(names(list)).toEqual(['b', 'a']);
  });
});

describe('listingJson', () => {
  it('lists name, type, size, ISO mtime and denied, sorted by name by default', () => {
    const json = listingJson([...RECORDED, { name: 'locked', isDir: false, size: 3, mtimeMs: T, denied: true }]);
    const rows = JSON.parse(json) as unknown[];
    expect(rows).toEqual([
      { name: '<img src=x onerror=alert(1)>.txt', type: 'file', size: 9, mtime: '2026-11-22T00:09:41.000Z' },
      { name: 'a&b "q".txt', type: 'file', size: 9, mtime: '2026-11-22T00:09:41.000Z' },
      { name: 'a.txt', type: 'file', size: 2, mtime: '2026-11-22T00:09:41.000Z' },
      { name: 'b.html', type: 'file', size: 9, mtime: '2026-11-22T00:09:41.000Z' },
      { name: 'locked', type: 'file', size: 3, mtime: '2026-11-22T00:09:41.000Z', denied: true },
      { name: 'subdir', type: 'directory', size: 4096, mtime: '2026-11-22T00:09:41.000Z' },
      { name: 'with space.txt', type: 'file', size: 11, mtime: '2026-11-22T00:09:41.000Z' },
    ]);
    expect(json).not.toMatch(/[<>&]/);
  });

  it('follows the given order and survives an unknown mtime', () => {
    const rows = JSON.parse(
      listingJson(
        [
          { name: 'a', isDir: false, size: 1, mtimeMs: 1 },
          { name: 'b', isDir: false, size: 2, mtimeMs: Number.NaN },
        ],
        { column: 'S', order: 'D' },
      ),
    ) as { name: string; mtime: string | null }[];
    expect(rows.map((r) => r.name)).toEqual(['b', 'a']);
    expect(rows[0]?.mtime).toBeNull();
    expect(listingJson([])).toBe('[]');
  });

  it('gives null for a size that is not known (an entry the process could not stat)', () => {
    const rows = JSON.parse(
      listingJson([
        { name: 'a', isDir: false, size: -1, mtimeMs: Number.NaN, denied: true },
        { name: 'b', isDir: true, size: Number.NaN, mtimeMs: 0 },
        { name: 'c', isDir: false, size: 0, mtimeMs: 0 },
      ]),
    ) as { size: number | null }[];
    expect(rows.map((r) => r.size)).toEqual([null, null, 0]);
  });

  it('writes mtime exactly as Date#toISOString, fractions and far dates included (property)', () => {
    const mtimeOf = (ms: number): unknown => (JSON.parse(listingJson([{ name: 'f', isDir: false, size: 1, mtimeMs: ms }])) as { mtime: unknown }[])[0]?.mtime;
    for (const ms of [0, 1, -1, -1.5, 1.5, 999.9, 86_399_999, 86_400_000, -86_400_001, T + 0.999, 8.64e15, -8.64e15, -62_198_755_200_000, 253_402_300_800_000]) {
      expect(mtimeOf(ms)).toBe(new Date(ms).toISOString());
    }
    fc.assert(
      fc.property(fc.double({ min: -8.64e15, max: 8.64e15, noNaN: true }), (ms) => {
        expect(mtimeOf(ms)).toBe(new Date(ms).toISOString());
      }),
    );
    expect(mtimeOf(8.64e15 + 1)).toBeNull();
    expect(mtimeOf(Number.POSITIVE_INFINITY)).toBeNull();
  });
});

describe('large directories', () => {
  const many = (n: number): ListingEntry[] =>
    Array.from({ length: n }, (_, i) => ({
      name: `file-${(i * 7919) % n} <&> ${i % 3 ? 'x' : 'é'}.txt`,
      isDir: i % 10 === 0,
      size: i * 37,
      mtimeMs: T - i * 61_000,
    }));
  it('renders 10,000 entries, one row each', () => {
    const html = renderAutoindex({ urlPath: '/big/', entries: many(10_000), sort: DEFAULT_SORT, address: ADDRESS, timeZone: 'UTC' });
    expect(entryRows(html)).toHaveLength(10_000);
  });

  it.each<SortOrder>([
    { column: 'N', order: 'A' },
    { column: 'M', order: 'D' },
    { column: 'S', order: 'A' },
  ])('the sliced renderers give the same bytes as the plain ones (%j)', async (sort) => {
    const entries = many(3_000);
    const opts = { urlPath: '/big/', entries, sort, address: ADDRESS };
    const html = await renderAutoindexAsync(opts, 0);
    expect(Buffer.isBuffer(html)).toBe(true);
    expect(html.equals(Buffer.from(renderAutoindex(opts), 'utf8'))).toBe(true);
    expect((await renderAutoindexAsync({ ...opts, timeZone: 'Europe/Berlin' })).toString('utf8')).toBe(renderAutoindex({ ...opts, timeZone: 'Europe/Berlin' }));
    expect((await renderAutoindexAsync({ ...opts, entries: [] })).toString('utf8')).toBe(renderAutoindex({ ...opts, entries: [] }));
    expect((await listingJsonAsync(entries, sort, 0)).toString('utf8')).toBe(listingJson(entries, sort));
    expect((await listingJsonAsync([], sort)).toString('utf8')).toBe('[]');
  });

  it('the sliced sort (runs and merges) orders exactly as the whole-array sort, ties included (property)', async () => {
    const entry = fc.record({
      name: fc.constantFrom('a', 'b', 'é', '\u{1F600}', '\uFF5E', 'a b'),
      isDir: fc.boolean(),
      size: fc.integer({ min: -1, max: 3 }),
      mtimeMs: fc.constantFrom(0, 1, Number.NaN),
    });
    const sortOrder = fc.record({ column: fc.constantFrom<SortOrder['column']>('N', 'M', 'S', 'D'), order: fc.constantFrom<SortOrder['order']>('A', 'D') });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 257, maxLength: 1100, size: "max" }), sortOrder, async (entries, sort) => {
        // Duplicate names are impossible in a directory, but with different sizes and times they
        // make the stability of the merges visible.
        const tagged = entries;
        expect((await listingJsonAsync(tagged, sort, 0)).toString('utf8')).toBe(listingJson(tagged, sort));
        const html = (await renderAutoindexAsync({ urlPath: '/', entries: tagged, sort, address: '', timeZone: 'UTC' }, 0)).toString('utf8');
        expect(html).toBe(renderAutoindex({ urlPath: '/', entries: tagged, sort, address: '', timeZone: 'UTC' }));
      }),
      { numRuns: 60 },
    );
  });

  it('the sliced renderers let other callbacks run while a large page is built', async () => {
    for (const build of [() => renderAutoindexAsync({ urlPath: '/big/', entries: many(10_000), sort: DEFAULT_SORT, address: '' }, 0), () => listingJsonAsync(many(10_000), DEFAULT_SORT, 0)]) {
      let ran = false;
      const page = build();
      setImmediate(() => (ran = true));
      await page;
      expect(ran).toBe(true);
    }
  });
});

describe('sortEntries agrees with UTF-8 byte order', () => {
  const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  it('for arbitrary names, in both directions (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), { maxLength: 30 }), (list) => {
        const entries = list.map((name) => ({ name, isDir: false, size: 0, mtimeMs: 0 }));
        const expected = [...list].sort(byBytes);
        expect(sortEntries(entries, DEFAULT_SORT).map((e) => e.name)).toEqual(expected);
        expect(sortEntries(entries, { column: 'N', order: 'D' }).map((e) => e.name)).toEqual(expected.reverse());
      }),
    );
  });

  it('for the characters where UTF-16 order differs', () => {
    const list = ['\u{10000}', '\uE000', '\uFFFF', '\uD7FF', '\u{1F600}x', '\u{1F600}', '\uFF5Ez'];
    const entries = list.map((name) => ({ name, isDir: false, size: 0, mtimeMs: 0 }));
    expect(sortEntries(entries, DEFAULT_SORT).map((e) => e.name)).toEqual([...list].sort(byBytes));
  });

});
