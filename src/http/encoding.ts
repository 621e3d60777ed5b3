// Content-coding negotiation (RFC 9110 §12.5.3) and the "is this worth compressing" rule.
//
// Pure so the Accept-Encoding table is unit-tested against the RFC and against `negotiator`
// (the package Express uses), whose behaviour we follow where the RFC leaves a choice.
// Whenever the response could have varied on Accept-Encoding, the server must send
// `Vary: Accept-Encoding`, including on the identity response, or caches mix variants up.

export type Coding = 'br' | 'gzip' | 'identity';

interface Preference {
  coding: string;
  q: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )   (§12.4.2)
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

function parseAcceptEncoding(header: string): Preference[] {
  const prefs: Preference[] = [];
  for (const element of header.split(',')) {
    const [name = '', ...params] = element.split(';');
    const trimmed = trimOws(name);
    // Empty list elements are allowed (§5.6.1); an element that is not a token is skipped,
    // as negotiator does, rather than poisoning the whole header.
    if (trimmed === '' || !TOKEN.test(trimmed)) continue;
    // Codings are case-insensitive (§8.4.1); x-gzip is gzip (§8.4.1.3).
    let coding = trimmed.toLowerCase();
    if (coding === 'x-gzip') coding = 'gzip';
    let q = 1;
    for (const param of params) {
      const eq = param.indexOf('=');
      // "q=" is a case-insensitive ABNF literal, so Q=0.5 counts (negotiator only sees "q").
      if (eq === -1 || trimOws(param.slice(0, eq)).toLowerCase() !== 'q') continue;
      const value = trimOws(param.slice(eq + 1));
      // A malformed weight makes the coding unacceptable. negotiator gets the same result for
      // non-numbers ("q=abc" is NaN, which fails its q > 0 test); unlike it, we do not honour
      // out-of-grammar numbers such as q=2 or q=0.5x. Refusing is the safe side of a garbled
      // preference: the client always gets identity, which it can read.
      q = QVALUE.test(value) ? Number(value) : 0;
      break;
    }
    prefs.push({ coding, q });
  }
  return prefs;
}

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * The weight the client gives `coding`: an explicit entry beats `*` whatever their weights
 * (§12.5.3: `*` matches codings "not explicitly listed"); duplicate entries take the highest
 * weight, as in negotiator.
 */
function weightOf(coding: Coding, prefs: readonly Preference[]): number {
  let explicit = -1;
  let star = -1;
  for (const p of prefs) {
    if (p.coding === coding) explicit = Math.max(explicit, p.q);
    else if (p.coding === '*') star = Math.max(star, p.q);
  }
  if (explicit >= 0) return explicit;
  if (star >= 0) return star;
  if (coding !== 'identity') return 0;
  // identity is acceptable unless excluded (§12.5.3). Unlisted, negotiator gives it the lowest
  // positive weight in the header, so any coding the client did list wins or ties with it.
  let lowest = 1;
  for (const p of prefs) if (p.q > 0) lowest = Math.min(lowest, p.q);
  return lowest;
}

/**
 * Choose the content-coding to send among `offered` (in server preference order, e.g.
 * ['br', 'gzip', 'identity']). The highest client weight wins; ties go to the earlier entry of
 * `offered` (negotiator's `preferred` argument does the same). Returns null when nothing
 * offered is acceptable.
 *
 * On null the server should still send identity, like nginx, Apache and `compression`: 406 is
 * allowed but a readable body is more useful than an error (§12.5.3 permits either).
 *
 * No header means identity only. §12.5.3 says then "any content coding is considered
 * acceptable", but clients that send no Accept-Encoding (curl, scripts) usually cannot decode;
 * every common server and negotiator send identity, which the RFC also allows. An empty header
 * means "no coding wanted" (§12.5.3), which gives the same answer.
 */
export function negotiateEncoding(acceptEncoding: string | undefined, offered: readonly Coding[]): Coding | null {
  const prefs = parseAcceptEncoding(acceptEncoding ?? '');
  let best: Coding | null = null;
  let bestQ = 0;
  for (const coding of offered) {
    const q = weightOf(coding, prefs);
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}

// Already-compressed formats that happen to sit under otherwise compressible trees.
const INCOMPRESSIBLE = new Set([
  'application/gzip',
  'application/x-gzip',
  'application/zip',
  'application/x-7z-compressed',
  'application/x-bzip2',
  'application/x-xz',
  'application/x-rar-compressed',
  'application/vnd.rar',
  'application/zstd',
  'application/x-brotli',
  'application/pdf',
  'application/octet-stream',
  'font/woff',
  'font/woff2',
  'application/font-woff',
]);

// Text and uncompressed binary formats that compress well (mime-db marks these compressible).
const COMPRESSIBLE = new Set([
  'application/json',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/xml',
  'application/wasm',
  'application/x-ndjson',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/sql',
  'application/graphql',
  'application/rtf',
  'application/postscript',
  'application/x-tar',
  'application/x-sh',
  'application/x-httpd-php',
  'application/x-www-form-urlencoded',
  'application/vnd.ms-fontobject',
  'application/x-font-ttf',
  'application/x-font-opentype',
  'font/ttf',
  'font/otf',
  'font/collection',
  'image/svg+xml',
]);

/**
 * Whether compressing a body of this Content-Type is worth it. An explicit rule set rather
 * than mime-db's `compressible` field: mime-db is only a transitive dependency of mime-types
 * and must not be imported directly. Unknown types are not compressed: a wasted compression
 * costs CPU on every request, a missed one only bytes.
 */
export function isCompressible(contentType: string): boolean {
  let yes = COMPRESSIBLE_TYPES.get(contentType);
  if (yes === undefined) {
    yes = judgeCompressible(contentType);
    if (COMPRESSIBLE_TYPES.size >= 1024) COMPRESSIBLE_TYPES.clear();
    COMPRESSIBLE_TYPES.set(contentType, yes);
  }
  return yes;
}
const COMPRESSIBLE_TYPES = new Map<string, boolean>();

function judgeCompressible(contentType: string): boolean {
  const essence = trimOws(contentType.split(';', 1)[0] ?? '').toLowerCase();
  if (INCOMPRESSIBLE.has(essence)) return false;
  if (COMPRESSIBLE.has(essence)) return true;
  const slash = essence.indexOf('/');
  if (slash <= 0) return false;
  const type = essence.slice(0, slash);
  const subtype = essence.slice(slash + 1);
  if (type === 'text') return subtype !== '';
  // Images (but svg, above), audio and video are already compressed by their codecs;
  // multipart bodies are assembled from other representations.
  if (type !== 'application') return false;
  // Structured-syntax suffixes (RFC 6839): +json and +xml are text, +zip is not.
  return subtype.endsWith('+json') || subtype.endsWith('+xml') || subtype.endsWith('+yaml');
}
