// Directory listings that look like Apache httpd 2.4's mod_autoindex with Debian's defaults
// (FancyIndexing + HTMLTable + NameWidth=*), byte for byte as recorded from 2.4.68 in
// APACHE.md §3.6. People who know Apache recognise the page, and tools that scrape Apache
// listings keep working.
//
// This module is pure: it turns a list of entries into HTML or JSON. The caller reads the
// directory, stats the entries, hides what IndexIgnore would hide (dotfiles), and serves the
// result as `text/html;charset=UTF-8`.
//
// Differences from Apache's bytes, all deliberate:
//   - HEAD_ADDITION: a viewport <meta> and a tiny <style> in the head, so the table is readable
//     on a phone. It sits where Apache's IndexHeadInsert would put it. This is the only
//     difference for the entries Apache itself would list.
//   - `denied: true` entries (the server cannot read or search them, so a click will 403) get
//     `<td class="denied">forbidden</td>` in the Description column instead of `&nbsp;`.
//   - escapeHtml also escapes `'` (as `&#39;`); Apache's ap_escape_html leaves it alone.
//
// SECURITY: every name is HTML-escaped in text and percent-encoded in hrefs exactly as Apache's
// ap_os_escape_path does (UTF-8 bytes, lower-case hex), then HTML-escaped, so a name can never
// close an attribute or a tag. A name with a `:` before any `/` gets a `./` prefix, so
// `javascript:alert(1)` is a relative link to a file, never a scheme.
import { lookup as mimeLookup } from 'mime-types';

export interface ListingEntry {
  name: string;
  isDir: boolean;
  size: number;
  mtimeMs: number;
  /** The server process cannot read/search it: a click will 403. */
  denied?: boolean;
}

export interface SortOrder {
  column: 'N' | 'M' | 'S' | 'D';
  order: 'A' | 'D';
}

export const DEFAULT_SORT: Readonly<SortOrder> = Object.freeze({ column: 'N', order: 'A' });

const DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n';

/** keycard's one addition to Apache's <head>; exported so tests can compare the rest to Apache. */
export const HEAD_ADDITION =
  '  <meta name="viewport" content="width=device-width, initial-scale=1">\n' +
  '  <style type="text/css">table{border-collapse:collapse}td{padding:.15em .5em}' +
  'td:nth-child(2){overflow-wrap:anywhere}td[align=right]{white-space:nowrap}' +
  '.denied{color:#b00;font-weight:bold}</style>\n';

const RULE_ROW = '   <tr><th colspan="5"><hr></th></tr>\n';

// ---------------------------------------------------------------------------------------------
// Escaping

const HTML_SPECIAL = /[&<>"']/;
const HTML_SPECIAL_ALL = /[&<>"']/g;
const HTML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes `& < > " '` for HTML text and double-quoted attribute values. */
export function escapeHtml(s: string): string {
  if (!HTML_SPECIAL.test(s)) return s;
  return s.replace(HTML_SPECIAL_ALL, (c) => HTML_ENTITIES[c] ?? c);
}

// httpd's gen_test_char.c: T_OS_ESCAPE_PATH is set for every byte except alnum and
// `$-_.+!*'(),:;@&=/~`. Bytes >= 0x80 (UTF-8) are always escaped.
const PATH_SAFE: readonly boolean[] = (() => {
  const safe: boolean[] = new Array<boolean>(128).fill(false);
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789$-_.+!*'(),:;@&=/~";
  for (let i = 0; i < chars.length; i++) safe[chars.charCodeAt(i)] = true;
  return safe;
})();
const HEX = '0123456789abcdef';
const utf8 = new TextEncoder();

/**
 * Apache's ap_os_escape_path(name, partial=0), used for autoindex hrefs: UTF-8 bytes outside
 * alnum and `$-_.+!*'(),:;@&=/~` become `%xx` (lower case); `&` stays raw (escape it with
 * escapeHtml before putting it in an attribute, as the renderer does). A `:` before any `/`
 * gets a `./` prefix, so the result is never read as a URL scheme. `/` is kept, so this also
 * encodes whole paths (the parent link).
 */
export function encodePathSegment(name: string): string {
  const colon = name.indexOf(':');
  const slash = name.indexOf('/');
  const prefix = colon >= 0 && (slash < 0 || colon < slash) ? './' : '';
  let i = 0;
  for (; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || !PATH_SAFE[c]) break;
  }
  if (i === name.length) return prefix + name;
  const bytes = utf8.encode(name.slice(i));
  let out = prefix + name.slice(0, i);
  for (const b of bytes) {
    if (b < 128 && PATH_SAFE[b]) out += String.fromCharCode(b);
    else out += '%' + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sizes and dates

const ORDERS = 'KMGTPE';

/**
 * apr_strfsize: four characters, binary magnitudes. `  8 `, ` 26 `, `972 `, `1.0K`, ` 10K`,
 * `1.2M`. Negative (and non-finite) sizes give `  - `, which is also what directories show.
 */
export function formatSize(bytes: number): string {
  if (!(bytes >= 0) || !Number.isFinite(bytes)) return '  - ';
  let size = Math.floor(bytes);
  if (size < 973) return String(size).padStart(3, ' ') + ' ';
  let o = 0;
  for (;;) {
    let remain = size % 1024;
    size = Math.floor(size / 1024);
    if (size >= 973 && o < ORDERS.length - 1) {
      o++;
      continue;
    }
    const unit = ORDERS[o]!;
    if (size < 9 || (size === 9 && remain < 973)) {
      remain = Math.floor((remain * 5 + 256) / 512);
      if (remain >= 10) {
        size++;
        remain = 0;
      }
      return `${size}.${remain}${unit}`.slice(0, 4);
    }
    if (remain >= 512) size++;
    return (String(size).padStart(3, ' ') + unit).slice(0, 4);
  }
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/** `YYYY-MM-DD HH:MM` in the server's local time, in UTC, or in an IANA zone. */
function dateFormatter(timeZone: string | undefined): (ms: number) => string {
  if (timeZone === undefined) {
    return (ms) => {
      const d = new Date(ms);
      return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
    };
  }
  if (timeZone === 'UTC') {
    return (ms) => {
      const d = new Date(ms);
      return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
    };
  }
  // Throws RangeError for an unknown zone: that is a configuration error, say it loudly.
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });
  // Files in one directory often share a second; formatToParts is the slow part.
  const cache = new Map<number, string>();
  return (ms) => {
    const second = Math.floor(ms / 1000);
    let text = cache.get(second);
    if (text === undefined) {
      const p: Record<string, string> = {};
      for (const part of fmt.formatToParts(second * 1000)) p[part.type] = part.value;
      text = `${p['year']}-${p['month']}-${p['day']} ${p['hour']}:${p['minute']}`;
      cache.set(second, text);
    }
    return text;
  };
}

// ---------------------------------------------------------------------------------------------
// Query and sorting

const COLUMNS = 'NMSD';

/**
 * Apache's reading of the listing query: `C=N;O=A` pairs, `;` or `&` separated, values upper
 * case. F=, V= and P= pairs are skipped as Apache parses them; the first pair it does not
 * understand ends parsing (what came before still counts). Anything else gives N/A.
 */
export function parseSortQuery(query: string): SortOrder {
  let column: SortOrder['column'] = DEFAULT_SORT.column;
  let order: SortOrder['order'] = DEFAULT_SORT.order;
  let q = query.startsWith('?') ? query.slice(1) : query;
  while (q.length > 0) {
    const k = q[0];
    const v = q[2];
    const sep = q[3];
    const pair = q[1] === '=' && v !== undefined && (sep === undefined || sep === '&' || sep === ';');
    if (pair && k === 'C' && COLUMNS.includes(v)) column = v as SortOrder['column'];
    else if (pair && k === 'O' && (v === 'A' || v === 'D')) order = v;
    else if (pair && ((k === 'F' && '012'.includes(v)) || (k === 'V' && (v === '0' || v === '1')))) {
      // F= (output format) and V= (version sort): keycard always renders the table, byte order.
    } else if (k === 'P' && q[1] === '=') {
      // P= (name pattern) runs to the next separator; keycard does not filter.
      const rest = q.slice(2);
      const eos = rest.search(/[&;]/);
      q = eos < 0 ? '' : rest.slice(eos + 1);
      continue;
    } else break; // Apache: "Syntax error?  Ignore the remainder!"
    q = q.slice(4);
  }
  return { column, order };
}

/** UTF-8 byte order (= code point order), what strcmp gives Apache. JS `<` is UTF-16 order. */
function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // Surrogates (astral code points) sort after U+E000..U+FFFF in code point order.
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

interface SortItem {
  entry: ListingEntry;
  key: string; // the name as Apache holds it: directories end in '/'
  size: number; // -1 for directories, as Apache
  lm: number;
}

/**
 * Apache's dsortf without FoldersFirst or VersionSort: directories sort with the files (by
 * their name plus `/`), M by mtime then name, S by size then name (directories are -1), D by
 * description (there are none) then name. O=D reverses the whole order.
 */
export function sortEntries(entries: readonly ListingEntry[], sort: SortOrder): ListingEntry[] {
  const items: SortItem[] = entries.map((entry) => ({
    entry,
    key: entry.isDir ? entry.name + '/' : entry.name,
    size: entry.isDir || !(entry.size >= 0) ? -1 : entry.size,
    lm: Number.isFinite(entry.mtimeMs) ? entry.mtimeMs : -Infinity,
  }));
  const sign = sort.order === 'D' ? -1 : 1;
  const column = sort.column;
  items.sort((a, b) => {
    let r = 0;
    if (column === 'M') r = a.lm < b.lm ? -1 : a.lm > b.lm ? 1 : 0;
    else if (column === 'S') r = a.size < b.size ? -1 : a.size > b.size ? 1 : 0;
    if (r === 0) r = compareBytes(a.key, b.key);
    return sign * r;
  });
  return items.map((i) => i.entry);
}

// ---------------------------------------------------------------------------------------------
// Icons

/**
 * mod_mime reads every extension after the first dot and the last known one sets the type;
 * Debian's `AddIconByType (TXT,/icons/text.gif) text/*` then picks the icon.
 */
function isTextName(name: string): boolean {
  let type: string | false = false;
  let dot = name.indexOf('.');
  while (dot >= 0) {
    const next = name.indexOf('.', dot + 1);
    const ext = name.slice(dot + 1, next < 0 ? undefined : next);
    if (ext !== '') {
      const t = mimeLookup(ext);
      if (t !== false) type = t;
    }
    dot = next;
  }
  return type !== false && type.startsWith('text/');
}

function iconCell(entry: ListingEntry): string {
  if (entry.isDir) return '<img src="/icons/folder.gif" alt="[DIR]">';
  if (isTextName(entry.name)) return '<img src="/icons/text.gif" alt="[TXT]">';
  return '<img src="/icons/unknown.gif" alt="[   ]">';
}

// ---------------------------------------------------------------------------------------------
// Rendering

function sortLink(label: string, column: SortOrder['column'], sort: SortOrder): string {
  const order = column === sort.column && sort.order === 'A' ? 'D' : 'A';
  return `<a href="?C=${column};O=${order}">${label}</a>`;
}

/** The parent of a canonical directory path ('/list/sub/' -> '/list/'), or undefined for '/'. */
function parentPath(urlPath: string): string | undefined {
  let end = urlPath.length;
  while (end > 0 && urlPath[end - 1] === '/') end--;
  if (end === 0) return undefined;
  const slash = urlPath.lastIndexOf('/', end - 1);
  return slash < 0 ? '/' : urlPath.slice(0, slash + 1);
}

/**
 * The HTML listing of one directory. `urlPath` is the decoded, canonical request path ending in
 * `/`; entry hrefs are relative to it. `address` is the whole `<address>…</address>` line
 * (already escaped) or '' for none (ServerSignature Off). Dates are in the server's local
 * time unless `timeZone` (an IANA name, or 'UTC') is given.
 */
export function renderAutoindex(opts: {
  urlPath: string;
  entries: readonly ListingEntry[];
  sort: SortOrder;
  address: string;
  timeZone?: string;
}): string {
  const { urlPath, sort, address } = opts;
  const formatDate = dateFormatter(opts.timeZone);

  // Apache titles with r->uri minus its trailing slashes, but '/' stays '/'.
  let titleEnd = urlPath.length;
  while (titleEnd > 1 && urlPath[titleEnd - 1] === '/') titleEnd--;
  const title = escapeHtml(urlPath.slice(0, titleEnd));

  const out: string[] = [
    DOCTYPE,
    '<html>\n <head>\n  <title>Index of ', title, '</title>\n',
    HEAD_ADDITION,
    ' </head>\n <body>\n<h1>Index of ', title, '</h1>\n',
    '  <table>\n   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th>',
    sortLink('Name', 'N', sort), '</th><th>',
    sortLink('Last modified', 'M', sort), '</th><th>',
    sortLink('Size', 'S', sort), '</th><th>',
    sortLink('Description', 'D', sort), '</th></tr>\n',
    RULE_ROW,
  ];

  const parent = parentPath(urlPath);
  if (parent !== undefined) {
    out.push(
      '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="',
      escapeHtml(encodePathSegment(parent)),
      '">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>\n',
    );
  }

  for (const entry of sortEntries(opts.entries, sort)) {
    const name = entry.isDir ? entry.name + '/' : entry.name;
    out.push(
      '<tr><td valign="top">', iconCell(entry),
      '</td><td><a href="', escapeHtml(encodePathSegment(name)), '">', escapeHtml(name),
      Number.isFinite(entry.mtimeMs)
        ? '</a></td><td align="right">' + formatDate(entry.mtimeMs) + '  '
        : '</a></td><td>&nbsp;',
      '</td><td align="right">', entry.isDir ? '  - ' : formatSize(entry.size),
      entry.denied === true ? '</td><td class="denied">forbidden</td></tr>\n' : '</td><td>&nbsp;</td></tr>\n',
    );
  }

  out.push(RULE_ROW, '</table>\n');
  if (address !== '') out.push(address.endsWith('\n') ? address : address + '\n');
  out.push('</body></html>\n');
  return out.join('');
}

/**
 * The same listing as JSON: `[{name, type: 'file'|'directory', size, mtime, denied?: true}]`.
 * `name` has no trailing slash (`type` says what it is); `size` is the entry's byte size as
 * given; `mtime` is an ISO 8601 UTC string (null if unknown). Sorted like the HTML (N/A when
 * no order is given). `<`, `>` and `&` are \u-escaped so the body can never be sniffed as HTML.
 */
export function listingJson(entries: readonly ListingEntry[], sort: SortOrder = DEFAULT_SORT): string {
  const rows = sortEntries(entries, sort).map((e) => {
    const mtime = Number.isFinite(e.mtimeMs) && Math.abs(e.mtimeMs) <= 8.64e15 ? new Date(e.mtimeMs).toISOString() : null;
    const row: { name: string; type: 'file' | 'directory'; size: number; mtime: string | null; denied?: true } = {
      name: e.name,
      type: e.isDir ? 'directory' : 'file',
      size: e.size,
      mtime,
    };
    if (e.denied === true) row.denied = true;
    return row;
  });
  return JSON.stringify(rows).replace(/[<>&]/g, (c) => (c === '<' ? '\\u003c' : c === '>' ? '\\u003e' : '\\u0026'));
}
