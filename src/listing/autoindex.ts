// Directory listings that look like Apache httpd 2.4's mod_autoindex with Debian's defaults
// (FancyIndexing + HTMLTable + NameWidth=*), byte for byte as recorded from 2.4.68 in
// APACHE.md §3.6. People who know Apache recognise the page, and tools that scrape Apache
// listings keep working.
//
// This module is pure: it turns a list of entries into HTML or JSON. The caller reads the
// directory, stats the entries, hides what IndexIgnore would hide (dotfiles), and serves the
// result as `text/html;charset=UTF-8`. renderAutoindex and listingJson build the page in one
// go; renderAutoindexAsync and listingJsonAsync build the same bytes as a Buffer in slices of
// about 2 ms, so a server listing 10,000 entries keeps answering other requests meanwhile.
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
// On a phone (under 40em) the icon column goes (keycard serves no /icons/, so it holds only
// alt text such as "[PARENTDIR]"), and dates, sizes and headers are set smaller: the names
// keep most of a 390 px screen and nothing scrolls sideways.
export const HEAD_ADDITION =
  '  <meta name="viewport" content="width=device-width, initial-scale=1">\n' +
  '  <style type="text/css">table{border-collapse:collapse}td{padding:.15em .5em}' +
  'td:nth-child(2){overflow-wrap:anywhere}td[align=right]{white-space:nowrap}' +
  '.denied{color:#b00;font-weight:bold}' +
  '@media (max-width:40em){td:first-child,th[valign]{display:none}td{padding:.25em .3em}' +
  'td[align=right],.denied,th{font-size:.8em}}</style>\n';

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

/**
 * `YYYY-MM-DD HH:MM` in the server's local time, in UTC, or in an IANA zone. One formatter per
 * page; it remembers the last second it formatted (files written together share it), and it
 * works on whole seconds, which is exact because no zone offset has a fraction of a second.
 */
function dateFormatter(timeZone: string | undefined): (ms: number) => string {
  if (timeZone === undefined || timeZone === 'UTC') {
    const utc = timeZone === 'UTC';
    const d = new Date(0);
    let lastSecond = Number.NaN;
    let lastText = '';
    return (ms) => {
      const second = Math.floor(ms / 1000);
      if (second === lastSecond) return lastText;
      d.setTime(second * 1000);
      lastText = utc
        ? `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`
        : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
      lastSecond = second;
      return lastText;
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


// Apache compares names with strcmp, i.e. in UTF-8 byte order, which is code point order. JS
// `<` compares UTF-16 code units, which differs only where U+E000..U+FFFF meet astral code
// points (surrogate pairs, 0xD800..0xDFFF). Names with a code unit >= 0xD800 get a key in
// which surrogates move above U+FFFF's place, so plain `<` on keys is code point order.
const HIGH_UNIT = /[\ud800-\uffff]/;
const HIGH_UNITS = /[\ud800-\uffff]/g;
function codePointKey(s: string): string {
  if (!HIGH_UNIT.test(s)) return s;
  return s.replace(HIGH_UNITS, (c) => {
    const u = c.charCodeAt(0);
    return String.fromCharCode(u >= 0xe000 ? u - 0x800 : u + 0x2000);
  });
}

interface SortItem {
  entry: ListingEntry;
  /** The name as Apache holds it (directories end in '/'), as a code point order key. */
  key: string;
  /** The primary key: mtime for M, size for S (directories -1, as Apache), 0 otherwise. */
  num: number;
}

function sortItems(entries: readonly ListingEntry[], column: SortOrder['column']): SortItem[] {
  const items: SortItem[] = new Array<SortItem>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const num =
      column === 'M' ? (Number.isFinite(entry.mtimeMs) ? entry.mtimeMs : -Infinity) :
      column === 'S' ? (entry.isDir || !(entry.size >= 0) ? -1 : entry.size) :
      0;
    items[i] = { entry, key: codePointKey(entry.isDir ? entry.name + '/' : entry.name), num };
  }
  return items;
}

/** The primary key, then the name; O=D reverses both. Small, so 10,000 entries sort fast. */
function itemComparator(order: SortOrder['order']): (a: SortItem, b: SortItem) => number {
  const s = order === 'D' ? -1 : 1;
  return (a, b) => (a.num !== b.num ? (a.num < b.num ? -s : s) : a.key < b.key ? -s : a.key > b.key ? s : 0);
}

/**
 * Apache's dsortf without FoldersFirst or VersionSort: directories sort with the files (by
 * their name plus `/`), M by mtime then name, S by size then name (directories are -1), D by
 * description (there are none) then name. O=D reverses the whole order.
 */
export function sortEntries(entries: readonly ListingEntry[], sort: SortOrder): ListingEntry[] {
  const items = sortItems(entries, sort.column);
  items.sort(itemComparator(sort.order));
  const out: ListingEntry[] = new Array<ListingEntry>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = items[i]!.entry;
  return out;
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

const ICON_DIR = '<img src="/icons/folder.gif" alt="[DIR]">';
const ICON_TEXT = '<img src="/icons/text.gif" alt="[TXT]">';
const ICON_OTHER = '<img src="/icons/unknown.gif" alt="[   ]">';

// The icon depends only on the extensions (everything from the first dot), and a directory
// holds few distinct ones: remember them. Bounded, so hostile names cannot grow it.
const iconByExtensions = new Map<string, string>();

function iconCell(entry: ListingEntry): string {
  if (entry.isDir) return ICON_DIR;
  const dot = entry.name.indexOf('.');
  if (dot < 0) return ICON_OTHER;
  const exts = entry.name.slice(dot);
  let icon = iconByExtensions.get(exts);
  if (icon === undefined) {
    icon = isTextName(exts) ? ICON_TEXT : ICON_OTHER;
    if (iconByExtensions.size >= 1024) iconByExtensions.clear();
    iconByExtensions.set(exts, icon);
  }
  return icon;
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

export interface AutoindexOptions {
  /** The decoded, canonical request path, ending in `/`; entry hrefs are relative to it. */
  urlPath: string;
  entries: readonly ListingEntry[];
  sort: SortOrder;
  /** The whole `<address>…</address>` line (already escaped), or '' for none (ServerSignature Off). */
  address: string;
  /** An IANA zone name, or 'UTC'; the server's local time when absent. */
  timeZone?: string;
}

function pageHead(opts: AutoindexOptions): string {
  const { urlPath, sort } = opts;
  // Apache titles with r->uri minus its trailing slashes, but '/' stays '/'.
  let titleEnd = urlPath.length;
  while (titleEnd > 1 && urlPath[titleEnd - 1] === '/') titleEnd--;
  const title = escapeHtml(urlPath.slice(0, titleEnd));
  let out =
    DOCTYPE +
    '<html>\n <head>\n  <title>Index of ' + title + '</title>\n' +
    HEAD_ADDITION +
    ' </head>\n <body>\n<h1>Index of ' + title + '</h1>\n' +
    '  <table>\n   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th>' +
    sortLink('Name', 'N', sort) + '</th><th>' +
    sortLink('Last modified', 'M', sort) + '</th><th>' +
    sortLink('Size', 'S', sort) + '</th><th>' +
    sortLink('Description', 'D', sort) + '</th></tr>\n' +
    RULE_ROW;
  const parent = parentPath(urlPath);
  if (parent !== undefined) {
    out +=
      '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="' +
      escapeHtml(encodePathSegment(parent)) +
      '">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>\n';
  }
  return out;
}

function pageTail(address: string): string {
  let out = RULE_ROW + '</table>\n';
  if (address !== '') out += address.endsWith('\n') ? address : address + '\n';
  return out + '</body></html>\n';
}

function entryRow(entry: ListingEntry, formatDate: (ms: number) => string): string {
  const name = entry.isDir ? entry.name + '/' : entry.name;
  return (
    '<tr><td valign="top">' + iconCell(entry) +
    '</td><td><a href="' + escapeHtml(encodePathSegment(name)) + '">' + escapeHtml(name) +
    (Number.isFinite(entry.mtimeMs) ? '</a></td><td align="right">' + formatDate(entry.mtimeMs) + '  ' : '</a></td><td>&nbsp;') +
    '</td><td align="right">' + (entry.isDir ? '  - ' : formatSize(entry.size)) +
    (entry.denied === true ? '</td><td class="denied">forbidden</td></tr>\n' : '</td><td>&nbsp;</td></tr>\n')
  );
}

/**
 * The HTML listing of one directory. `urlPath` is the decoded, canonical request path ending in
 * `/`; entry hrefs are relative to it. `address` is the whole `<address>…</address>` line
 * (already escaped) or '' for none (ServerSignature Off). Dates are in the server's local
 * time unless `timeZone` (an IANA name, or 'UTC') is given.
 */
export function renderAutoindex(opts: AutoindexOptions): string {
  const formatDate = dateFormatter(opts.timeZone);
  let out = pageHead(opts);
  for (const entry of sortEntries(opts.entries, opts.sort)) out += entryRow(entry, formatDate);
  return out + pageTail(opts.address);
}

// ---------------------------------------------------------------------------------------------
// Yielding: the same pages, built in slices so a large directory never holds the event loop.
//
// The async renderers give the bytes of the plain ones, as a Buffer ready to send, and never
// run more than about `sliceMs` without letting other callbacks (other requests) in: the sort
// is a merge sort of short sorted runs whose merges pause, and the page is encoded to UTF-8
// in 16 KB pieces, so the young generation holds no 10,000-piece string for the GC to copy.

/** How long one synchronous slice of work may run before other work gets a turn. */
export const SLICE_MS = 2;

/** Lets pending I/O callbacks (other requests) run: setImmediate runs after the poll phase. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

class Slicer {
  private started = performance.now();
  constructor(private readonly sliceMs: number) {}
  /** True when the current slice has used its time; then `await pause()`. */
  due(): boolean {
    return performance.now() - this.started >= this.sliceMs;
  }
  async pause(): Promise<void> {
    await yieldToEventLoop();
    this.started = performance.now();
  }
}

const RUN = 256;

/** sortEntries, in slices: sorted runs of RUN items, then bottom-up stable merges. */
async function sortEntriesSliced(entries: readonly ListingEntry[], sort: SortOrder, slicer: Slicer): Promise<ListingEntry[]> {
  const n = entries.length;
  let src = sortItems(entries, sort.column);
  const cmp = itemComparator(sort.order);
  if (slicer.due()) await slicer.pause();
  for (let lo = 0; lo < n; lo += RUN) {
    const run = src.slice(lo, lo + RUN).sort(cmp); // stable, like the whole-array sort
    for (let i = 0; i < run.length; i++) src[lo + i] = run[i]!;
    if (slicer.due()) await slicer.pause();
  }
  let dst: SortItem[] = new Array<SortItem>(n);
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (k < hi) {
        // Left first on ties: stable, so the result equals sortEntries'.
        dst[k++] = j >= hi || (i < mid && cmp(src[i]!, src[j]!) <= 0) ? src[i++]! : src[j++]!;
        if ((k & 1023) === 0 && slicer.due()) await slicer.pause();
      }
    }
    [src, dst] = [dst, src];
  }
  const out: ListingEntry[] = new Array<ListingEntry>(n);
  for (let i = 0; i < n; i++) out[i] = src[i]!.entry;
  return out;
}

const PIECE = 16 * 1024;

async function encodeInSlices(head: string, rows: readonly ListingEntry[], row: (e: ListingEntry, first: boolean) => string, tail: string, slicer: Slicer): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let text = head;
  for (let i = 0; i < rows.length; i++) {
    text += row(rows[i]!, i === 0);
    if (text.length >= PIECE) {
      pieces.push(Buffer.from(text, 'utf8'));
      text = '';
    }
    if ((i & 63) === 63 && slicer.due()) await slicer.pause();
  }
  pieces.push(Buffer.from(text + tail, 'utf8'));
  return Buffer.concat(pieces);
}

/**
 * `Buffer.from(renderAutoindex(opts), 'utf8')`, byte for byte, built in slices of about
 * `sliceMs` (sort included), so 10,000 entries never hold the event loop for long.
 */
export async function renderAutoindexAsync(opts: AutoindexOptions, sliceMs = SLICE_MS): Promise<Buffer> {
  const slicer = new Slicer(sliceMs);
  const formatDate = dateFormatter(opts.timeZone);
  const sorted = await sortEntriesSliced(opts.entries, opts.sort, slicer);
  return encodeInSlices(pageHead(opts), sorted, (e) => entryRow(e, formatDate), pageTail(opts.address), slicer);
}

// ---------------------------------------------------------------------------------------------
// JSON

const JSON_HTML_SPECIAL = /[<>&]/;
const JSON_HTML_SPECIAL_ALL = /[<>&]/g;
const JSON_ESCAPES: Readonly<Record<string, string>> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026' };

const DAY_MS = 86_400_000;
const pad3 = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : String(n));

/**
 * Date#toISOString, without a Date per entry (it is the slow part of a large JSON listing):
 * the date part is formatted once per day, the time of day by arithmetic. Null when the time
 * is not a valid Date.
 */
function isoFormatter(): (ms: number) => string | null {
  let lastDay = Number.NaN;
  let dayText = '';
  return (ms) => {
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return null;
    const t = Math.trunc(ms); // TimeClip, as new Date(ms) does
    const day = Math.floor(t / DAY_MS);
    if (day !== lastDay) {
      dayText = new Date(day * DAY_MS).toISOString().slice(0, -13); // 'YYYY-MM-DDT'
      lastDay = day;
    }
    let rest = t - day * DAY_MS;
    const msec = rest % 1000;
    rest = (rest - msec) / 1000;
    const sec = rest % 60;
    rest = (rest - sec) / 60;
    return `${dayText}${pad2(Math.floor(rest / 60))}:${pad2(rest % 60)}:${pad2(sec)}.${pad3(msec)}Z`;
  };
}

function jsonRow(e: ListingEntry, iso: (ms: number) => string | null): string {
  // Built by hand: JSON.stringify on a whole object per row is the slow part of 10,000 rows.
  const mtime = iso(e.mtimeMs);
  const text =
    '{"name":' + JSON.stringify(e.name) +
    (e.isDir ? ',"type":"directory","size":' : ',"type":"file","size":') +
    (e.size >= 0 && Number.isFinite(e.size) ? String(e.size) : 'null') +
    (mtime === null ? ',"mtime":null' : ',"mtime":"' + mtime + '"') +
    (e.denied === true ? ',"denied":true}' : '}');
  return JSON_HTML_SPECIAL.test(text) ? text.replace(JSON_HTML_SPECIAL_ALL, (c) => JSON_ESCAPES[c] ?? c) : text;
}

/**
 * The same listing as JSON: `[{name, type: 'file'|'directory', size, mtime, denied?: true}]`.
 * `name` has no trailing slash (`type` says what it is); `size` is the entry's byte size as
 * given (null if unknown); `mtime` is an ISO 8601 UTC string (null if unknown). Sorted like
 * the HTML (N/A when no order is given). `<`, `>` and `&` are \u-escaped so the body can never
 * be sniffed as HTML.
 */
export function listingJson(entries: readonly ListingEntry[], sort: SortOrder = DEFAULT_SORT): string {
  const sorted = sortEntries(entries, sort);
  const iso = isoFormatter();
  let out = '[';
  for (let i = 0; i < sorted.length; i++) out += (i === 0 ? '' : ',') + jsonRow(sorted[i]!, iso);
  return out + ']';
}

/** `Buffer.from(listingJson(entries, sort), 'utf8')`, byte for byte, built in slices of about `sliceMs`. */
export async function listingJsonAsync(entries: readonly ListingEntry[], sort: SortOrder = DEFAULT_SORT, sliceMs = SLICE_MS): Promise<Buffer> {
  const slicer = new Slicer(sliceMs);
  const sorted = await sortEntriesSliced(entries, sort, slicer);
  const iso = isoFormatter();
  return encodeInSlices('[', sorted, (e, first) => (first ? jsonRow(e, iso) : ',' + jsonRow(e, iso)), ']', slicer);
}
