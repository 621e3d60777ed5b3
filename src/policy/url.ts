// URL path → canonical segments, before anything else looks at the request.
//
// SECURITY: this is the only place a request path is decoded. Rules, ACLs, dotfiles and the
// filesystem all see the segments produced here, so `//private/a`, `/x/../private/a` and
// `/%70rivate/a` are the same path to every check. Each raw segment is decoded exactly once
// (so `%252e` stays the literal name `%2e`); dot segments are removed after decoding (so
// `%2e%2e` is `..`), and a `..` that would climb above the root is refused, never clamped.
// A decoded `/` or NUL can never be part of a name (Apache answers 404 for both).

export type ParsedPath =
  | { ok: true; segments: readonly string[]; trailingSlash: boolean; path: string; query: string; /** The first segment that starts with "." (the dotfile rule's subject). */ dotSegment: string | undefined }
  | { ok: false; reason: 'BAD_ESCAPE' | 'PATH_ABOVE_ROOT' | 'ENCODED_SLASH' | 'BAD_REQUEST_TARGET' | 'NOT_UTF8'; raw: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const HEX = /^[0-9A-Fa-f]{2}$/;

function decodeSegment(raw: string): string | 'BAD_ESCAPE' | 'NOT_UTF8' {
  if (!raw.includes('%')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return 'BAD_ESCAPE';
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) {
      bytes.push(ch);
    } else {
      // Node hands us the request target as latin1; a raw non-ASCII byte stays that byte.
      bytes.push(ch & 0xff);
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return 'NOT_UTF8';
  }
}

/** Encodes a canonical path for a Location header or a link: every segment percent-encoded. */
export function encodePath(segments: readonly string[], trailingSlash: boolean): string {
  const body = segments.map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/');
  return '/' + body + (trailingSlash && segments.length > 0 ? '/' : '');
}

// Nearly every request repeats a target seen a moment ago, and parsing is a pure function of
// it: results are remembered (frozen, so no caller can change what the next one gets).
// Only targets up to PARSED_LONGEST characters are kept, so what is held stays small (about
// half a million characters at most) whatever a client sends.
const PARSED = new Map<string, ParsedPath>();
const PARSED_MAX = 1024;
export const PARSED_LONGEST = 512;

export function parseRequestTarget(target: string): ParsedPath {
  let parsed = PARSED.get(target);
  if (parsed === undefined) {
    parsed = parseUncached(target);
    if (parsed.ok) Object.freeze(parsed.segments);
    Object.freeze(parsed);
    if (target.length <= PARSED_LONGEST) {
      if (PARSED.size >= PARSED_MAX) PARSED.clear();
      PARSED.set(target, parsed);
    }
  }
  return parsed;
}

function parseUncached(target: string): ParsedPath {
  let rest = target;
  // absolute-form (RFC 9112 §3.2.2): only the path and query matter to a file server.
  if (!rest.startsWith('/')) {
    const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(rest);
    if (!m) return { ok: false, reason: 'BAD_REQUEST_TARGET', raw: target };
    rest = rest.slice(m[0].length) || '/';
    if (!rest.startsWith('/')) rest = '/' + rest;
  }
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q + 1);
  const hash = rawPath.indexOf('#');
  const pathPart = hash === -1 ? rawPath : rawPath.slice(0, hash);

  const rawSegments = pathPart.split('/');
  const segments: string[] = [];
  let trailingSlash = false;
  for (let i = 1; i < rawSegments.length; i++) {
    const decoded = decodeSegment(rawSegments[i]!);
    if (decoded === 'BAD_ESCAPE' || decoded === 'NOT_UTF8') return { ok: false, reason: decoded, raw: rawPath };
    if (decoded.includes('/') || decoded.includes('\0')) return { ok: false, reason: 'ENCODED_SLASH', raw: rawPath };
    const last = i === rawSegments.length - 1;
    if (decoded === '' || decoded === '.') {
      if (last) trailingSlash = true;
      continue;
    }
    if (decoded === '..') {
      if (segments.length === 0) return { ok: false, reason: 'PATH_ABOVE_ROOT', raw: rawPath };
      segments.pop();
      if (last) trailingSlash = true;
      continue;
    }
    segments.push(decoded);
  }
  const path = '/' + segments.join('/') + (trailingSlash && segments.length > 0 ? '/' : '');
  const dotSegment = segments.find((s) => s.startsWith('.'));
  return { ok: true, segments, trailingSlash: trailingSlash || segments.length === 0, path, query, dotSegment };
}
